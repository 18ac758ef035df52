// latency.cu - dependent-load (pointer-chase) latency.
//
// `next` is a uint32 array of n indices that forms a ring: a random single cycle or a
// fixed stride (built on the GPU by smbench/families/latency; the host checks it). A
// chain starts at an index and follows next[] for `steps` loads; each load's address is
// the previous load's value, so no two loads of a chain can overlap: time / steps is the
// latency of one load (plus the one IMAD.WIDE that turns the index into an address).
//
// Kernels: latency_chase_<cache>_c<K>, K = 1, 2, 4, 8 independent chains per thread.
//   cache "ca": an ordinary load, ld.global (PTX's default .ca; SASS LDG.E): cached in
//               L1 and L2, what `x = p[i]` does;
//   cache "cg": __ldcg, ld.global.cg (SASS LDG.E.STRONG.GPU): L1 bypassed, cached in the
//               L2 only, so small sets show the L2's own latency.
// Every load's value is the next one's index and the last one is stored, so the compiler
// can neither drop, merge nor reorder them (tests/test_latency_family.py reads the SASS of
// every target: the loop's loads, each address made from the previous load's value).
// One thread with K = 1 measures latency; every SM full of threads with K chains each
// measures loaded latency.
//
// Chain c = thread * K + k reads its start from position[c] and writes back where it
// stopped, so successive launches walk on around the ring (a launch never repeats the
// previous one's loads); steps_done[c] += steps counts what the device did, for the
// host to check against its own count. Thread 0 writes the clock64() cycles of its loop
// to cycles[0]. `steps` must be a multiple of SMBENCH_LATENCY_UNROLL.
//
// latency_touch: every element read once by a grid-stride loop (brings the array into
// the L2 as far as it fits, and its pages into the TLBs, before a chase).

#define SMBENCH_LATENCY_UNROLL 8

template <bool L1>
__device__ __forceinline__ unsigned smbench_load_next(const unsigned *next, unsigned index) {
    // An ordinary load (LDG.E) or __ldcg (LDG.E.STRONG.GPU); `next` is not __restrict__, so
    // the compiler cannot take the read-only (LDG.CONSTANT) path either.
    return L1 ? next[index] : __ldcg(next + index);
}

template <int CHAINS, bool L1>
__device__ __forceinline__ void smbench_chase(const unsigned *next, unsigned *position,
                                              unsigned long long *steps_done, unsigned long long *cycles,
                                              unsigned long long steps) {
    const unsigned long long thread = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x;
    unsigned index[CHAINS];
#pragma unroll
    for (int k = 0; k < CHAINS; ++k) index[k] = position[thread * CHAINS + k];
    const long long start = clock64();
    for (unsigned long long s = 0; s < steps; s += SMBENCH_LATENCY_UNROLL) {
#pragma unroll
        for (int u = 0; u < SMBENCH_LATENCY_UNROLL; ++u) {
#pragma unroll
            for (int k = 0; k < CHAINS; ++k) index[k] = smbench_load_next<L1>(next, index[k]);
        }
    }
    const long long stop = clock64();
#pragma unroll
    for (int k = 0; k < CHAINS; ++k) {
        position[thread * CHAINS + k] = index[k];
        steps_done[thread * CHAINS + k] += steps;
    }
    if (thread == 0) cycles[0] = (unsigned long long)(stop - start);
}

#define SMBENCH_CHASE_KERNEL(CACHE, L1, K)                                                                 \
    extern "C" __global__ void latency_chase_##CACHE##_c##K(const unsigned *next, unsigned *position,     \
                                                             unsigned long long *steps_done,               \
                                                             unsigned long long *cycles,                   \
                                                             unsigned long long steps) {                   \
        smbench_chase<K, L1>(next, position, steps_done, cycles, steps);                                   \
    }

SMBENCH_CHASE_KERNEL(ca, true, 1)
SMBENCH_CHASE_KERNEL(ca, true, 2)
SMBENCH_CHASE_KERNEL(ca, true, 4)
SMBENCH_CHASE_KERNEL(ca, true, 8)
SMBENCH_CHASE_KERNEL(cg, false, 1)
SMBENCH_CHASE_KERNEL(cg, false, 2)
SMBENCH_CHASE_KERNEL(cg, false, 4)
SMBENCH_CHASE_KERNEL(cg, false, 8)

extern "C" __global__ void latency_touch(const unsigned *next, unsigned long long n, unsigned *sink) {
    unsigned acc = 0;
    for (unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (unsigned long long)gridDim.x * blockDim.x)
        acc ^= next[i];
    if (acc == 0xFFFFFFFFu) sink[0] = acc;  // never true for a ring of n < 2^32, but the loads must happen
}
