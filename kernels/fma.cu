// fma.cu - CUDA-core throughput loops: FP32 FFMA, FP16x2 HFMA2, BF16x2 HFMA2.BF16,
// FP64 DFMA and INT32 IMAD.
//
// Each thread runs SMBENCH_FMA_CHAINS independent chains x = x * y + z for `iters`
// iterations (a multiple of SMBENCH_FMA_UNROLL). y and z come from memory, so the
// compiler can neither fold the multiply nor merge the chains; each chain starts
// from its own value in memory, so no two chains are provably the same.
//
// Layout, in units of the loop's type T (4 bytes, 8 for double): in[0] = y,
// in[1] = z, in[2 + c] = chain c's starting value. out[thread * CHAINS + c] = the
// chain's final value. With y = 1 and z = 1 every chain ends at its start + iters,
// exactly, which is how the host validates a run. clock: the SM clock the loop ran at
// (smbench_clock.cuh).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "smbench_clock.cuh"

#ifndef SMBENCH_FMA_CHAINS
#define SMBENCH_FMA_CHAINS 8
#endif
#ifndef SMBENCH_FMA_UNROLL
#define SMBENCH_FMA_UNROLL 8
#endif

// One multiply-add per type, the instruction the CUDA cores issue for it.
__device__ __forceinline__ float madd(float x, float y, float z) { return __fmaf_rn(x, y, z); }
__device__ __forceinline__ double madd(double x, double y, double z) { return __fma_rn(x, y, z); }
__device__ __forceinline__ __half2 madd(__half2 x, __half2 y, __half2 z) { return __hfma2(x, y, z); }
__device__ __forceinline__ __nv_bfloat162 madd(__nv_bfloat162 x, __nv_bfloat162 y, __nv_bfloat162 z) {
    return __hfma2(x, y, z);
}
__device__ __forceinline__ int madd(int x, int y, int z) { return x * y + z; }

template <class T>
__device__ __forceinline__ void fma_loop(const void *in_, void *out_, int iters, unsigned long long *clock) {
    const bool keeper = smbench_clock_keeper(clock);
    SmbenchClock started = {};
    if (keeper) started = smbench_clock_start();
    const T *in = (const T *)in_;
    const T y = in[0], z = in[1];
    T x[SMBENCH_FMA_CHAINS];
#pragma unroll
    for (int c = 0; c < SMBENCH_FMA_CHAINS; ++c) x[c] = in[2 + c];
#pragma unroll 1
    for (int i = 0; i < iters; i += SMBENCH_FMA_UNROLL) {
#pragma unroll
        for (int u = 0; u < SMBENCH_FMA_UNROLL; ++u)
#pragma unroll
            for (int c = 0; c < SMBENCH_FMA_CHAINS; ++c) x[c] = madd(x[c], y, z);
    }
    T *out = (T *)out_ + (size_t)(blockIdx.x * blockDim.x + threadIdx.x) * SMBENCH_FMA_CHAINS;
#pragma unroll
    for (int c = 0; c < SMBENCH_FMA_CHAINS; ++c) out[c] = x[c];
    if (keeper) smbench_clock_stop(started, clock);
}

// Same parameters as the mma loops (status is unused: every target from sm_80 has
// these instructions; clock as in smbench_clock.cuh), so one launcher serves both files.
#define SMBENCH_FMA_PARAMS const unsigned *in, void *out, int iters, unsigned *status, unsigned long long *clock

extern "C" __global__ void fma_f32(SMBENCH_FMA_PARAMS) { fma_loop<float>(in, out, iters, clock); }
extern "C" __global__ void fma_f16x2(SMBENCH_FMA_PARAMS) { fma_loop<__half2>(in, out, iters, clock); }
extern "C" __global__ void fma_bf16x2(SMBENCH_FMA_PARAMS) { fma_loop<__nv_bfloat162>(in, out, iters, clock); }
extern "C" __global__ void fma_f64(SMBENCH_FMA_PARAMS) { fma_loop<double>(in, out, iters, clock); }
extern "C" __global__ void mad_s32(SMBENCH_FMA_PARAMS) { fma_loop<int>(in, out, iters, clock); }
