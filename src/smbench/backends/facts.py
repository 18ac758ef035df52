"""What the harness knows of a CUDA device, as data: its properties, the memory kinds it
offers and the thread-count bound on occupancy. Read from the driver by the CUDA backend,
given as data in the tests (an H100's and a GB10's), so every decision that depends on
them is tested without a GPU."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

MEMORY_KINDS = ("device", "managed", "managed-prefetch", "pinned-mapped", "pageable")


@dataclass(frozen=True)
class DeviceFacts:
    """The device properties the family's decisions depend on (from the driver, or given)."""

    name: str
    compute_capability: str
    sm_count: int
    max_threads_per_sm: int
    l2_bytes: int
    total_bytes: int
    integrated: bool
    managed_memory: bool
    concurrent_managed_access: bool
    can_map_host_memory: bool
    pageable_memory_access: bool
    memory_clock_khz: float | None = None
    bus_width_bits: int | None = None


class MemoryKind(NamedTuple):
    """A kind of memory a case can run in: its name, whether this device offers it, and how it
    is allocated or why it is not offered. (A tuple underneath: the result file's device
    description holds each as [kind, offered, why], as files written before it do.)"""

    kind: str
    offered: bool
    why: str


def memory_kinds(facts: DeviceFacts) -> list[MemoryKind]:
    """Every memory kind, offered or not and why, from the device's attributes."""
    return [MemoryKind(*kind) for kind in (
        ("device", True, "cudaMalloc"),
        ("managed", facts.managed_memory,
         "cudaMallocManaged, no prefetch, written by the CPU: the first launch (timed alone, first_touch) moves "
         "the pages; the median is of the launches after it" if facts.managed_memory
         else "no managed memory on this device"),
        ("managed-prefetch", facts.managed_memory and facts.concurrent_managed_access,
         "cudaMallocManaged + cudaMemPrefetchAsync to the GPU" if facts.concurrent_managed_access
         else "prefetching needs concurrentManagedAccess, which this device lacks"),
        ("pinned-mapped", facts.can_map_host_memory,
         "cudaHostAlloc(mapped): the kernel reads and writes host memory over its link (held to that link, "
         "not to the GPU's DRAM)" if facts.can_map_host_memory
         else "the device cannot map host memory"),
        ("pageable", facts.pageable_memory_access,
         "plain malloc'd host memory used directly by the kernel; the first launch (timed alone, first_touch) "
         "may move its pages" if facts.pageable_memory_access
         else "the device cannot access pageable host memory (pageableMemoryAccess = 0)"),
    )]


def blocks_per_sm_limit(max_threads_per_sm: int, block: int) -> int:
    """The thread-count bound on resident blocks (the occupancy API also weighs registers
    and shared memory; stream kernels use few of either)."""
    return max(1, max_threads_per_sm // block)
