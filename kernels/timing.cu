// timing.cu - helpers for device timing.
//
// smbench_spin_until: one thread waits until the host sets *flag (in mapped pinned
// memory) or `timeout_cycles` pass. Launched before the timed kernels, it holds the
// stream so that every timed launch is queued before the first one starts: the
// events then time the kernels, not the CPU's launch rate (nvbench's "blocking kernel").
// The timeout keeps a lost host from hanging the GPU.
extern "C" __global__ void smbench_spin_until(volatile unsigned *flag, unsigned long long timeout_cycles,
                                              unsigned *timed_out) {
    const long long start = clock64();
    while (*flag == 0u) {
        if ((unsigned long long)(clock64() - start) > timeout_cycles) {
            *timed_out = 1u;
            return;
        }
    }
}
