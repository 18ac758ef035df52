"""Device properties of an H100 SXM and a GB10 (DGX Spark), given as data for tests of the
GPU path's decisions on a machine with no GPU. Values as the CUDA driver reports them
(memory clock in kHz is the DDR half-rate: 2 x clock x bus width = peak bandwidth)."""

from smbench.backends.facts import DeviceFacts

H100_SXM = DeviceFacts(
    name="NVIDIA H100 80GB HBM3", compute_capability="9.0", sm_count=132, max_threads_per_sm=2048,
    l2_bytes=50 * 2**20, total_bytes=80 * 2**30, integrated=False, managed_memory=True,
    concurrent_managed_access=True, can_map_host_memory=True, pageable_memory_access=False,
    memory_clock_khz=2_619_000, bus_width_bits=5120)

GB10 = DeviceFacts(
    name="NVIDIA GB10", compute_capability="12.1", sm_count=48, max_threads_per_sm=1536,
    l2_bytes=24 * 2**20, total_bytes=119 * 2**30, integrated=True, managed_memory=True,
    concurrent_managed_access=True, can_map_host_memory=True, pageable_memory_access=True,
    memory_clock_khz=4_266_000, bus_width_bits=256)

# The H200 the project is checked on (shared/facts.md): 132 SMs, L2 50 MiB as the device
# table has it, 141 GB HBM3e, an x86 host (no pageable access).
H200 = DeviceFacts(
    name="NVIDIA H200", compute_capability="9.0", sm_count=132, max_threads_per_sm=2048,
    l2_bytes=50 * 2**20, total_bytes=141 * 10**9, integrated=False, managed_memory=True,
    concurrent_managed_access=True, can_map_host_memory=True, pageable_memory_access=False)
