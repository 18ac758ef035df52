// mma.cu - warp-level mma.sync throughput loops, one kernel per format.
//
// Each lane holds the A/B fragments of one mma.sync shape, loaded from `in` so
// that nothing folds to a constant, and runs SMBENCH_CHAINS independent
// accumulator chains for `iters` iterations (a multiple of SMBENCH_UNROLL):
// independent chains keep the tensor pipe busy instead of waiting on one
// accumulator's latency. Every chain's accumulators are stored, which keeps the
// loop alive and gives the host values to validate.
//
// Why the operands move: where a format is emulated (FP8 on sm_90 becomes an
// F2FP unpack, HMMA with a zero accumulator, then FADD), ptxas is free to keep one
// product for every chain and to hoist it out of the loop, and the loop would
// time FADD. So each chain's A fragment differs by chain * step, and every
// iteration adds `step` to it, with B different in each unrolled step. The host
// passes step = 0, so the values never change, but the compiler cannot know it.
// That costs one integer add per chain per iteration (per SMBENCH_UNROLL mma).
//
// Layouts: in[lane * 8 + 0..3] = A fragment, [4..5] = B fragment, [6..7] = block
// scales (block-scaled kinds only), in[256] = step. out[(thread * SMBENCH_CHAINS
// + chain) * R + r] for the R accumulator registers of the shape. clock: the SM clock
// the loop ran at (smbench_clock.cuh), added to by block 0's first thread.
//
// A target that lacks a format compiles the kernel to a stub that writes
// SMBENCH_STATUS_UNSUPPORTED to *status: one format missing never fails the file.
#include "mma_ops.cuh"
#include "smbench_clock.cuh"

#ifndef SMBENCH_CHAINS
#define SMBENCH_CHAINS 4
#endif
#ifndef SMBENCH_UNROLL
#define SMBENCH_UNROLL 4
#endif

template <class Op>
__device__ __forceinline__ void throughput_loop(const unsigned *in, void *out, int iters, unsigned long long *clock) {
    const bool keeper = smbench_clock_keeper(clock);
    SmbenchClock started = {};
    if (keeper) started = smbench_clock_start();
    const unsigned *mine = in + 8u * (threadIdx.x & 31u);
    const unsigned step = in[256];
    Fragments f;
#pragma unroll
    for (int j = 0; j < 4; ++j) f.a[j] = mine[j];
    f.b[0] = mine[4];
    f.b[1] = mine[5];
    f.scale_a = mine[6];
    f.scale_b = mine[7];

    unsigned a0[SMBENCH_CHAINS], b0[SMBENCH_UNROLL];
#pragma unroll
    for (int c = 0; c < SMBENCH_CHAINS; ++c) a0[c] = f.a[0] + c * step;
#pragma unroll
    for (int u = 0; u < SMBENCH_UNROLL; ++u) b0[u] = f.b[0] + u * step;

    typename Op::Acc acc[SMBENCH_CHAINS][Op::kRegs];
#pragma unroll
    for (int c = 0; c < SMBENCH_CHAINS; ++c)
#pragma unroll
        for (int r = 0; r < Op::kRegs; ++r) acc[c][r] = 0;

#pragma unroll 1
    for (int i = 0; i < iters; i += SMBENCH_UNROLL) {
#pragma unroll
        for (int u = 0; u < SMBENCH_UNROLL; ++u)
#pragma unroll
            for (int c = 0; c < SMBENCH_CHAINS; ++c) Op::step(acc[c], a0[c], b0[u], f);
#pragma unroll
        for (int c = 0; c < SMBENCH_CHAINS; ++c) a0[c] += step;
    }

    typename Op::Acc *dst =
        (typename Op::Acc *)out + (size_t)(blockIdx.x * blockDim.x + threadIdx.x) * SMBENCH_CHAINS * Op::kRegs;
#pragma unroll
    for (int c = 0; c < SMBENCH_CHAINS; ++c)
#pragma unroll
        for (int r = 0; r < Op::kRegs; ++r) dst[c * Op::kRegs + r] = acc[c][r];
    if (keeper) smbench_clock_stop(started, clock);
}

__device__ __forceinline__ void report_unsupported(unsigned *status) {
    if (threadIdx.x == 0 && blockIdx.x == 0) *status = SMBENCH_STATUS_UNSUPPORTED;
}

#define SMBENCH_MMA_PARAMS const unsigned *in, void *out, int iters, unsigned *status, unsigned long long *clock

// The guards are preprocessor conditions, not runtime ones: an instruction the
// target lacks must never reach ptxas. Each kernel opens with its guard (the tests
// read the guard of each kernel from this file).

extern "C" __global__ void mma_f16_f16acc(SMBENCH_MMA_PARAMS) {
#if SMBENCH_HAS_MMA_SM80
    throughput_loop<OpF16F16>(in, out, iters, clock);
#else
    report_unsupported(status);
#endif
}

extern "C" __global__ void mma_f16_f32acc(SMBENCH_MMA_PARAMS) {
#if SMBENCH_HAS_MMA_SM80
    throughput_loop<OpF16F32>(in, out, iters, clock);
#else
    report_unsupported(status);
#endif
}

extern "C" __global__ void mma_bf16_f32acc(SMBENCH_MMA_PARAMS) {
#if SMBENCH_HAS_MMA_SM80
    throughput_loop<OpBF16F32>(in, out, iters, clock);
#else
    report_unsupported(status);
#endif
}

extern "C" __global__ void mma_tf32_f32acc(SMBENCH_MMA_PARAMS) {
#if SMBENCH_HAS_MMA_SM80
    throughput_loop<OpTF32F32>(in, out, iters, clock);
#else
    report_unsupported(status);
#endif
}

extern "C" __global__ void mma_s8_s32acc(SMBENCH_MMA_PARAMS) {
#if SMBENCH_HAS_MMA_SM80
    throughput_loop<OpS8S32>(in, out, iters, clock);
#else
    report_unsupported(status);
#endif
}

extern "C" __global__ void mma_s4_s32acc(SMBENCH_MMA_PARAMS) {
#if SMBENCH_HAS_MMA_INT4
    throughput_loop<OpS4S32>(in, out, iters, clock);
#else
    report_unsupported(status);
#endif
}

extern "C" __global__ void mma_f64_f64acc(SMBENCH_MMA_PARAMS) {
#if SMBENCH_HAS_MMA_F64
    throughput_loop<OpF64>(in, out, iters, clock);
#else
    report_unsupported(status);
#endif
}

extern "C" __global__ void mma_e4m3_f32acc_sm89(SMBENCH_MMA_PARAMS) {
#if SMBENCH_HAS_MMA_FP8_SM89
    throughput_loop<OpE4M3Sm89>(in, out, iters, clock);
#else
    report_unsupported(status);
#endif
}

extern "C" __global__ void mma_e5m2_f32acc_sm89(SMBENCH_MMA_PARAMS) {
#if SMBENCH_HAS_MMA_FP8_SM89
    throughput_loop<OpE5M2Sm89>(in, out, iters, clock);
#else
    report_unsupported(status);
#endif
}

extern "C" __global__ void mma_e4m3_f16acc_sm89(SMBENCH_MMA_PARAMS) {
#if SMBENCH_HAS_MMA_FP8_SM89
    throughput_loop<OpE4M3F16Sm89>(in, out, iters, clock);
#else
    report_unsupported(status);
#endif
}

extern "C" __global__ void mma_e4m3_f32acc_f8f6f4(SMBENCH_MMA_PARAMS) {
#if SMBENCH_HAS_MMA_F8F6F4_FP8
    throughput_loop<OpE4M3F8F6F4>(in, out, iters, clock);
#else
    report_unsupported(status);
#endif
}

extern "C" __global__ void mma_e5m2_f32acc_f8f6f4(SMBENCH_MMA_PARAMS) {
#if SMBENCH_HAS_MMA_F8F6F4_FP8
    throughput_loop<OpE5M2F8F6F4>(in, out, iters, clock);
#else
    report_unsupported(status);
#endif
}

extern "C" __global__ void mma_e4m3_f16acc_f8f6f4(SMBENCH_MMA_PARAMS) {
#if SMBENCH_HAS_MMA_F8F6F4_FP8
    throughput_loop<OpE4M3F16F8F6F4>(in, out, iters, clock);
#else
    report_unsupported(status);
#endif
}

extern "C" __global__ void mma_e3m2_f32acc_f8f6f4(SMBENCH_MMA_PARAMS) {
#if SMBENCH_HAS_MMA_F8F6F4_FP6FP4
    throughput_loop<OpE3M2F8F6F4>(in, out, iters, clock);
#else
    report_unsupported(status);
#endif
}

extern "C" __global__ void mma_e2m3_f32acc_f8f6f4(SMBENCH_MMA_PARAMS) {
#if SMBENCH_HAS_MMA_F8F6F4_FP6FP4
    throughput_loop<OpE2M3F8F6F4>(in, out, iters, clock);
#else
    report_unsupported(status);
#endif
}

extern "C" __global__ void mma_e2m1_f32acc_f8f6f4(SMBENCH_MMA_PARAMS) {
#if SMBENCH_HAS_MMA_F8F6F4_FP6FP4
    throughput_loop<OpE2M1F8F6F4>(in, out, iters, clock);
#else
    report_unsupported(status);
#endif
}

extern "C" __global__ void mma_mxf8f6f4_e4m3_x1_f32acc(SMBENCH_MMA_PARAMS) {
#if SMBENCH_HAS_MMA_BLOCK_SCALE
    throughput_loop<OpMXF8E4M3>(in, out, iters, clock);
#else
    report_unsupported(status);
#endif
}

extern "C" __global__ void mma_mxf8f6f4_e2m1_x1_f32acc(SMBENCH_MMA_PARAMS) {
#if SMBENCH_HAS_MMA_BLOCK_SCALE
    throughput_loop<OpMXF8E2M1>(in, out, iters, clock);
#else
    report_unsupported(status);
#endif
}

extern "C" __global__ void mma_mxf4_e2m1_x2_f32acc(SMBENCH_MMA_PARAMS) {
#if SMBENCH_HAS_MMA_BLOCK_SCALE
    throughput_loop<OpMXF4>(in, out, iters, clock);
#else
    report_unsupported(status);
#endif
}

extern "C" __global__ void mma_mxf4nvf4_e2m1_x2_f32acc(SMBENCH_MMA_PARAMS) {
#if SMBENCH_HAS_MMA_BLOCK_SCALE
    throughput_loop<OpMXF4NVF4X2>(in, out, iters, clock);
#else
    report_unsupported(status);
#endif
}

extern "C" __global__ void mma_nvfp4_f32acc(SMBENCH_MMA_PARAMS) {
#if SMBENCH_HAS_MMA_BLOCK_SCALE
    throughput_loop<OpNVFP4>(in, out, iters, clock);
#else
    report_unsupported(status);
#endif
}
