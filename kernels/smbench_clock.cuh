// smbench_clock.cuh - the SM clock a kernel ran at, measured inside it.
//
// NVML samples clocks every 20 ms or so: a loop timed for a few milliseconds sees no sample
// of its own, and the clock a "% of the clock-based peak" divides by would be a guess (the
// application clock, which H100/H200 do not hold under tensor load). Instead the first
// thread of block 0 reads clock64() (its SM's cycles) and %globaltimer (the GPU's
// nanosecond timer) when it starts and when it is done, and adds both spans to clock[0]
// (cycles) and clock[1] (ns): over every launch since the host zeroed them, cycles / ns is
// the SM clock the loop ran at, in GHz. One thread, two reads at each end, outside the loop.
// clock may be null (no measurement).
#pragma once

struct SmbenchClock {
    long long cycles;
    unsigned long long ns;
};

__device__ __forceinline__ unsigned long long smbench_globaltimer() {
    unsigned long long ns;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(ns));
    return ns;
}

__device__ __forceinline__ bool smbench_clock_keeper(const unsigned long long *clock) {
    return clock != nullptr && threadIdx.x == 0 && threadIdx.y == 0 && threadIdx.z == 0 && blockIdx.x == 0 &&
           blockIdx.y == 0 && blockIdx.z == 0;
}

__device__ __forceinline__ SmbenchClock smbench_clock_start() {
    SmbenchClock start;
    start.ns = smbench_globaltimer();
    start.cycles = clock64();
    return start;
}

__device__ __forceinline__ void smbench_clock_stop(const SmbenchClock &start, unsigned long long *clock) {
    const long long cycles = clock64();
    const unsigned long long ns = smbench_globaltimer();
    clock[0] += (unsigned long long)(cycles - start.cycles);
    clock[1] += ns - start.ns;
}
