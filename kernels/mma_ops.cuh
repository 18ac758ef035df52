// mma_ops.cuh - one mma.sync instruction per format, shared by the throughput loops
// (mma.cu) and the numerics probes (precision.cu).
//
// Each Op has `Acc` (the accumulator register type), `kRegs` (how many a lane holds)
// and step(d, a0, b0, fragments): one mma with D = C = d. `a0` and `b0` replace the
// first A and B words, so a caller can move them (see mma.cu).
#pragma once
#include "smbench_arch.cuh"

#define SMBENCH_STATUS_UNSUPPORTED 0x0badf00du

struct Fragments {
    unsigned a[4], b[2], scale_a, scale_b;
};

// One mma.sync instruction per format. `Acc` is the accumulator register type,
// `kRegs` how many of them a lane holds. `a0` and `b0` replace the first A and B
// words (the ones that move, see above).
#define SMBENCH_OP_4REG(NAME, ACC_T, CONS, PTX, SCALE_OPS)                                    \
    struct NAME {                                                                             \
        typedef ACC_T Acc;                                                                    \
        enum { kRegs = 4 };                                                                   \
        static __device__ __forceinline__ void step(Acc (&d)[4], unsigned a0, unsigned b0,   \
                                                    const Fragments &f) {                     \
            asm volatile(PTX " {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3}"           \
                         SCALE_OPS ";"                                                        \
                         : "+" CONS(d[0]), "+" CONS(d[1]), "+" CONS(d[2]), "+" CONS(d[3])       \
                         : "r"(a0), "r"(f.a[1]), "r"(f.a[2]), "r"(f.a[3]), "r"(b0), "r"(f.b[1]), \
                           "r"(f.scale_a), "r"(f.scale_b));                                   \
        }                                                                                     \
    };

// The same with an f16 accumulator: D is two f16x2 registers.
#define SMBENCH_OP_F16ACC(NAME, PTX)                                                          \
    struct NAME {                                                                             \
        typedef unsigned Acc;                                                                 \
        enum { kRegs = 2 };                                                                   \
        static __device__ __forceinline__ void step(Acc (&d)[2], unsigned a0, unsigned b0,   \
                                                    const Fragments &f) {                     \
            asm volatile(PTX " {%0,%1}, {%2,%3,%4,%5}, {%6,%7}, {%0,%1};"                       \
                         : "+r"(d[0]), "+r"(d[1])                                             \
                         : "r"(a0), "r"(f.a[1]), "r"(f.a[2]), "r"(f.a[3]), "r"(b0), "r"(f.b[1])); \
        }                                                                                     \
    };

#define SMBENCH_NO_SCALE ""
// Block-scaled kinds: scale-a, {byte-id, thread-id}, scale-b, {byte-id, thread-id}.
#define SMBENCH_SCALES ", %10, {0, 0}, %11, {0, 0}"
#define SMBENCH_MMA(SHAPE) "mma.sync.aligned." SHAPE ".row.col."

SMBENCH_OP_F16ACC(OpF16F16, SMBENCH_MMA("m16n8k16") "f16.f16.f16.f16")
SMBENCH_OP_4REG(OpF16F32, float, "f", SMBENCH_MMA("m16n8k16") "f32.f16.f16.f32", SMBENCH_NO_SCALE)
SMBENCH_OP_4REG(OpBF16F32, float, "f", SMBENCH_MMA("m16n8k16") "f32.bf16.bf16.f32", SMBENCH_NO_SCALE)
SMBENCH_OP_4REG(OpTF32F32, float, "f", SMBENCH_MMA("m16n8k8") "f32.tf32.tf32.f32", SMBENCH_NO_SCALE)
SMBENCH_OP_4REG(OpS8S32, int, "r", SMBENCH_MMA("m16n8k32") "s32.s8.s8.s32", SMBENCH_NO_SCALE)
SMBENCH_OP_4REG(OpS4S32, int, "r", SMBENCH_MMA("m16n8k64") "s32.s4.s4.s32", SMBENCH_NO_SCALE)
// FP8 in the sm_89 form (no kind).
SMBENCH_OP_4REG(OpE4M3Sm89, float, "f", SMBENCH_MMA("m16n8k32") "f32.e4m3.e4m3.f32", SMBENCH_NO_SCALE)
SMBENCH_OP_4REG(OpE5M2Sm89, float, "f", SMBENCH_MMA("m16n8k32") "f32.e5m2.e5m2.f32", SMBENCH_NO_SCALE)
SMBENCH_OP_F16ACC(OpE4M3F16Sm89, SMBENCH_MMA("m16n8k32") "f16.e4m3.e4m3.f16")
// kind::f8f6f4: FP8, FP6 and FP4 operands, each element in an 8-bit container.
#define SMBENCH_F8F6F4 SMBENCH_MMA("m16n8k32") "kind::f8f6f4."
SMBENCH_OP_4REG(OpE4M3F8F6F4, float, "f", SMBENCH_F8F6F4 "f32.e4m3.e4m3.f32", SMBENCH_NO_SCALE)
SMBENCH_OP_4REG(OpE5M2F8F6F4, float, "f", SMBENCH_F8F6F4 "f32.e5m2.e5m2.f32", SMBENCH_NO_SCALE)
SMBENCH_OP_F16ACC(OpE4M3F16F8F6F4, SMBENCH_F8F6F4 "f16.e4m3.e4m3.f16")
SMBENCH_OP_4REG(OpE3M2F8F6F4, float, "f", SMBENCH_F8F6F4 "f32.e3m2.e3m2.f32", SMBENCH_NO_SCALE)
SMBENCH_OP_4REG(OpE2M3F8F6F4, float, "f", SMBENCH_F8F6F4 "f32.e2m3.e2m3.f32", SMBENCH_NO_SCALE)
SMBENCH_OP_4REG(OpE2M1F8F6F4, float, "f", SMBENCH_F8F6F4 "f32.e2m1.e2m1.f32", SMBENCH_NO_SCALE)
// Block-scaled kinds. mxf8f6f4: one ue8m0 scale per 32 elements of K (scale_vec::1X);
// mxf4 / mxf4nvf4: e2m1 packed two per byte, K = 64, two ue8m0 scales (2X, MXFP4)
// or four ue4m3 scales (4X, NVFP4) per row of A and column of B.
#define SMBENCH_BLOCK_SCALE(SHAPE, KIND, VEC) SMBENCH_MMA(SHAPE) "kind::" KIND ".block_scale.scale_vec::" VEC "."
SMBENCH_OP_4REG(OpMXF8E4M3, float, "f", SMBENCH_BLOCK_SCALE("m16n8k32", "mxf8f6f4", "1X") "f32.e4m3.e4m3.f32.ue8m0",
                SMBENCH_SCALES)
SMBENCH_OP_4REG(OpMXF8E2M1, float, "f", SMBENCH_BLOCK_SCALE("m16n8k32", "mxf8f6f4", "1X") "f32.e2m1.e2m1.f32.ue8m0",
                SMBENCH_SCALES)
SMBENCH_OP_4REG(OpMXF4, float, "f", SMBENCH_BLOCK_SCALE("m16n8k64", "mxf4", "2X") "f32.e2m1.e2m1.f32.ue8m0",
                SMBENCH_SCALES)
SMBENCH_OP_4REG(OpMXF4NVF4X2, float, "f",
                SMBENCH_BLOCK_SCALE("m16n8k64", "mxf4nvf4", "2X") "f32.e2m1.e2m1.f32.ue8m0", SMBENCH_SCALES)
SMBENCH_OP_4REG(OpNVFP4, float, "f",
                SMBENCH_BLOCK_SCALE("m16n8k64", "mxf4nvf4", "4X") "f32.e2m1.e2m1.f32.ue4m3", SMBENCH_SCALES)

// f64 (DMMA): m8n8k4, one double of A and of B per lane (words 0-1 and 4-5), two
// doubles of D.
struct OpF64 {
    typedef double Acc;
    enum { kRegs = 2 };
    static __device__ __forceinline__ void step(Acc (&d)[2], unsigned a0, unsigned b0, const Fragments &f) {
        const double a = __hiloint2double((int)f.a[1], (int)a0);
        const double b = __hiloint2double((int)f.b[1], (int)b0);
        asm volatile("mma.sync.aligned.m8n8k4.row.col.f64.f64.f64.f64 {%0,%1}, {%2}, {%3}, {%0,%1};"
                     : "+d"(d[0]), "+d"(d[1])
                     : "d"(a), "d"(b));
    }
};

