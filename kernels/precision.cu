// precision.cu - tensor-core numerics probes: chains of single mma.sync instructions on
// inputs chosen by the host, one problem per warp, every result returned.
//
// Warp w of the grid runs problem w: its accumulator starts from c, then `steps` mma
// follow, each with its own A and B fragments (a GEMM along K when steps > 1; one
// probe when steps = 1). Layouts, per problem and step, lane-major:
//   a[((w * steps + s) * 32 + lane) * 4 + 0..3]   the A fragment words
//   b[((w * steps + s) * 32 + lane) * 2 + 0..1]   the B fragment words
//   scales[(w * 32 + lane) * 2 + 0..1]            block scales (block-scaled kinds): A's word, B's
//                                                 word, read with {byte-id 0, thread-id 0} (smbench.fragments.
//                                                 pack_scales); the same for every step of a chain
//   c, d[(w * 32 + lane) * kRegs + r]             accumulator registers, as 32-bit words
// The host (smbench.families.precision) places each matrix element by the PTX ISA's
// fragment layout. A target that lacks a format writes SMBENCH_STATUS_UNSUPPORTED.
#include "mma_ops.cuh"

template <class Op>
__device__ __forceinline__ void probe(const unsigned *a, const unsigned *b, const unsigned *c, unsigned *d,
                                      const unsigned *scales, int steps) {
    const unsigned lane = threadIdx.x & 31u;
    const unsigned warp = (blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    typedef typename Op::Acc Acc;
    Acc acc[Op::kRegs];
    const Acc *c_in = (const Acc *)c + (size_t)(warp * 32 + lane) * Op::kRegs;
#pragma unroll
    for (int r = 0; r < Op::kRegs; ++r) acc[r] = c_in[r];
    Fragments f;
    f.scale_a = scales[(warp * 32 + lane) * 2 + 0];
    f.scale_b = scales[(warp * 32 + lane) * 2 + 1];
    for (int s = 0; s < steps; ++s) {
        const size_t slot = ((size_t)warp * steps + s) * 32 + lane;
#pragma unroll
        for (int j = 0; j < 4; ++j) f.a[j] = a[slot * 4 + j];
        f.b[0] = b[slot * 2 + 0];
        f.b[1] = b[slot * 2 + 1];
        Op::step(acc, f.a[0], f.b[0], f);
    }
    Acc *d_out = (Acc *)d + (size_t)(warp * 32 + lane) * Op::kRegs;
#pragma unroll
    for (int r = 0; r < Op::kRegs; ++r) d_out[r] = acc[r];
}

#define SMBENCH_PROBE_PARAMS \
    const unsigned *a, const unsigned *b, const unsigned *c, unsigned *d, const unsigned *scales, int steps, \
        unsigned *status

__device__ __forceinline__ void probe_unsupported(unsigned *status) {
    if (threadIdx.x == 0 && blockIdx.x == 0) *status = SMBENCH_STATUS_UNSUPPORTED;
}

extern "C" __global__ void precision_f16_f32acc(SMBENCH_PROBE_PARAMS) {
#if SMBENCH_HAS_MMA_SM80
    probe<OpF16F32>(a, b, c, d, scales, steps);
#else
    probe_unsupported(status);
#endif
}

extern "C" __global__ void precision_f16_f16acc(SMBENCH_PROBE_PARAMS) {
#if SMBENCH_HAS_MMA_SM80
    probe<OpF16F16>(a, b, c, d, scales, steps);
#else
    probe_unsupported(status);
#endif
}

extern "C" __global__ void precision_bf16_f32acc(SMBENCH_PROBE_PARAMS) {
#if SMBENCH_HAS_MMA_SM80
    probe<OpBF16F32>(a, b, c, d, scales, steps);
#else
    probe_unsupported(status);
#endif
}

extern "C" __global__ void precision_tf32_f32acc(SMBENCH_PROBE_PARAMS) {
#if SMBENCH_HAS_MMA_SM80
    probe<OpTF32F32>(a, b, c, d, scales, steps);
#else
    probe_unsupported(status);
#endif
}

extern "C" __global__ void precision_e4m3_f32acc(SMBENCH_PROBE_PARAMS) {
#if SMBENCH_HAS_MMA_FP8_SM89
    probe<OpE4M3Sm89>(a, b, c, d, scales, steps);
#else
    probe_unsupported(status);
#endif
}

extern "C" __global__ void precision_e5m2_f32acc(SMBENCH_PROBE_PARAMS) {
#if SMBENCH_HAS_MMA_FP8_SM89
    probe<OpE5M2Sm89>(a, b, c, d, scales, steps);
#else
    probe_unsupported(status);
#endif
}

extern "C" __global__ void precision_e4m3_f16acc(SMBENCH_PROBE_PARAMS) {
#if SMBENCH_HAS_MMA_FP8_SM89
    probe<OpE4M3F16Sm89>(a, b, c, d, scales, steps);
#else
    probe_unsupported(status);
#endif
}

extern "C" __global__ void precision_e3m2_f32acc(SMBENCH_PROBE_PARAMS) {
#if SMBENCH_HAS_MMA_F8F6F4_FP6FP4
    probe<OpE3M2F8F6F4>(a, b, c, d, scales, steps);
#else
    probe_unsupported(status);
#endif
}

extern "C" __global__ void precision_e2m3_f32acc(SMBENCH_PROBE_PARAMS) {
#if SMBENCH_HAS_MMA_F8F6F4_FP6FP4
    probe<OpE2M3F8F6F4>(a, b, c, d, scales, steps);
#else
    probe_unsupported(status);
#endif
}

extern "C" __global__ void precision_e2m1_f32acc(SMBENCH_PROBE_PARAMS) {
#if SMBENCH_HAS_MMA_F8F6F4_FP6FP4
    probe<OpE2M1F8F6F4>(a, b, c, d, scales, steps);
#else
    probe_unsupported(status);
#endif
}

extern "C" __global__ void precision_nvfp4_f32acc(SMBENCH_PROBE_PARAMS) {
#if SMBENCH_HAS_MMA_BLOCK_SCALE
    probe<OpNVFP4>(a, b, c, d, scales, steps);
#else
    probe_unsupported(status);
#endif
}

extern "C" __global__ void precision_mxf4_f32acc(SMBENCH_PROBE_PARAMS) {
#if SMBENCH_HAS_MMA_BLOCK_SCALE
    probe<OpMXF4>(a, b, c, d, scales, steps);
#else
    probe_unsupported(status);
#endif
}

extern "C" __global__ void precision_mxf8_e4m3_f32acc(SMBENCH_PROBE_PARAMS) {
#if SMBENCH_HAS_MMA_BLOCK_SCALE
    probe<OpMXF8E4M3>(a, b, c, d, scales, steps);
#else
    probe_unsupported(status);
#endif
}
