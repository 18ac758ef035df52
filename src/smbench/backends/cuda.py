"""The CUDA backend: NVRTC-built kernels launched through CuPy, timed with CUDA events.

Primitives the families build on: the device's facts, compile-and-load a kernels/ file,
allocate each memory kind, the device timer (the blocking kernel, the L2 flush). Needs a
GPU, CuPy and a driver; everything here is imported lazily so that the package works
without them. What a family runs lives in its folder (families/<name>/cuda.py).
"""

from __future__ import annotations

import functools
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from smbench import targets as target_table
from smbench import telemetry
from smbench.backends.facts import DeviceFacts, blocks_per_sm_limit, memory_kinds
from smbench.compile import compile_file
from smbench.errors import SmbenchError
from smbench.paths import kernels_dir
from smbench.timing import Stats, TimingPolicy, calls_per_sample, measure

NAME = "cuda"
BLOCK = 256
# The host needs well under a millisecond to queue a sample; 4e9 cycles (2 s at 2 GHz, 12 s
# at an idle 345 MHz) only ends a wait that went wrong, and a lost host cannot hang the GPU.
SPIN_TIMEOUT_CYCLES = 4_000_000_000
# Launches queued behind the blocking kernel in one sample (a split-K GEMM queues two per
# call); far below the driver's queue depth, which would otherwise stall the host.
MAX_QUEUED = 64


def _cupy():
    try:
        import cupy
    except Exception as exc:  # noqa: BLE001 - no CuPy, no CUDA runtime, no driver
        raise SmbenchError(f"the CUDA backend needs CuPy and a GPU: {exc}") from None
    return cupy


def available() -> tuple[bool, str]:
    """(a GPU is usable, why not)."""
    from smbench.gpuinfo import list_gpus

    gpus, why = list_gpus()
    if not gpus:
        return False, why or "no GPU"
    try:
        _cupy().cuda.runtime.getDeviceCount()
    except Exception as exc:  # noqa: BLE001
        return False, f"CuPy cannot use the GPU: {exc}"
    return True, ""


def device_facts(device: int = 0) -> DeviceFacts:
    cupy = _cupy()
    runtime = cupy.cuda.runtime
    props = runtime.getDeviceProperties(device)

    def attribute(name: str, default: int = 0) -> int:
        code = getattr(runtime, name, None)
        if code is None:
            return default
        try:
            return int(runtime.deviceGetAttribute(code, device))
        except Exception:  # noqa: BLE001
            return default

    name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
    return DeviceFacts(
        name=name, compute_capability=f"{props['major']}.{props['minor']}",
        sm_count=int(props["multiProcessorCount"]), max_threads_per_sm=int(props["maxThreadsPerMultiProcessor"]),
        l2_bytes=int(props["l2CacheSize"]), total_bytes=int(props["totalGlobalMem"]),
        integrated=bool(props.get("integrated", 0)),
        managed_memory=bool(attribute("cudaDevAttrManagedMemory", props.get("managedMemory", 0))),
        concurrent_managed_access=bool(attribute("cudaDevAttrConcurrentManagedAccess")),
        can_map_host_memory=bool(attribute("cudaDevAttrCanMapHostMemory", props.get("canMapHostMemory", 0))),
        pageable_memory_access=bool(attribute("cudaDevAttrPageableMemoryAccess")),
        memory_clock_khz=float(attribute("cudaDevAttrMemoryClockRate", props.get("memoryClockRate", 0)) or 0) or None,
        bus_width_bits=int(attribute("cudaDevAttrGlobalMemoryBusWidth", props.get("memoryBusWidth", 0)) or 0) or None,
    )


def free_bytes() -> int:
    free, _ = _cupy().cuda.runtime.memGetInfo()
    return int(free)


def pci_bus_id(device: int = 0) -> str | None:
    try:
        return str(_cupy().cuda.Device(device).pci_bus_id)
    except Exception:  # noqa: BLE001
        return None


def max_sm_clock_mhz(device: int = 0) -> float | None:
    """The SM clock the driver reports as the maximum (kHz attribute), or None."""
    runtime = _cupy().cuda.runtime
    try:
        return int(runtime.deviceGetAttribute(runtime.cudaDevAttrClockRate, device)) / 1e3 or None
    except Exception:  # noqa: BLE001
        return None


def device_info(device: int = 0) -> dict:
    """What a run records of the device. unified_memory: the driver's integrated flag or the
    device table's row (a GB10 is unified whatever the flag says); free_bytes on a unified
    device is the operating system's MemAvailable where cudaMemGetInfo reports less (it leaves
    out the page cache the kernel would give back), see usable_free_bytes."""
    from smbench import devices

    facts = device_facts(device)
    cupy = _cupy()
    spec = devices.match(facts.name, facts.compute_capability)
    unified = facts.integrated or bool(spec is not None and spec.unified_memory)
    free, free_source = usable_free_bytes(free_bytes(), unified)
    bus = pci_bus_id(device)
    return {"backend": NAME, "name": facts.name, "compute_capability": facts.compute_capability,
            "sm_count": facts.sm_count, "l2_bytes": facts.l2_bytes, "total_bytes": facts.total_bytes,
            "free_bytes": free, "free_bytes_source": free_source, "unified_memory": unified,
            "integrated": facts.integrated,
            "memory_clock_khz": facts.memory_clock_khz, "bus_width_bits": facts.bus_width_bits,
            "pci_bus_id": bus, "sm_clock_max_mhz": max_sm_clock_mhz(device),
            "host_link": {"why": "unified memory: no host link"} if unified else telemetry.pcie_link(bus, device),
            "driver_version": cupy.cuda.runtime.driverGetVersion(),
            "runtime_version": cupy.cuda.runtime.runtimeGetVersion(),
            "memory_kinds": memory_kinds(facts), "facts": facts.__dict__}


def mem_available(meminfo: str | None = None) -> int | None:
    """The kernel's MemAvailable (/proc/meminfo), bytes: free memory plus the page cache and
    reclaimable memory it would give back; None where there is none."""
    try:
        text = meminfo if meminfo is not None else Path("/proc/meminfo").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("MemAvailable:"):
            parts = line.split()
            return int(parts[1]) * 1024 if len(parts) >= 2 and parts[1].isdigit() else None
    return None


def usable_free_bytes(cuda_free: int, unified: bool, meminfo: str | None = None) -> tuple[int, str]:
    """(bytes a run may plan with, where the figure comes from). On a unified-memory device the
    GPU allocates from the operating system's memory, and cudaMemGetInfo is reported to leave
    out the page cache (on GB10 it can read far below what an allocation gets): there the
    larger of it and MemAvailable. On a discrete GPU, cudaMemGetInfo."""
    if not unified:
        return cuda_free, "cudaMemGetInfo"
    available = mem_available(meminfo)
    if available is not None and available > cuda_free:
        return available, "MemAvailable (/proc/meminfo): cudaMemGetInfo reported less on this unified-memory device"
    return cuda_free, "cudaMemGetInfo (not below MemAvailable here)"


COMPUTE_MODES = {0: "default", 2: "prohibited", 3: "exclusive-process"}  # CUcomputemode


def compute_mode(device: int = 0) -> str:
    """The GPU's compute mode (the driver's attribute: no context needed, so it can be asked
    after a fault): default, exclusive-process or prohibited; "unknown" where it cannot be."""
    try:
        from cuda.bindings import driver

        driver.cuInit(0)
        err, handle = driver.cuDeviceGet(device)
        if err != driver.CUresult.CUDA_SUCCESS:
            return "unknown"
        err, mode = driver.cuDeviceGetAttribute(driver.CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_MODE, handle)
        return COMPUTE_MODES.get(int(mode), str(int(mode))) if err == driver.CUresult.CUDA_SUCCESS else "unknown"
    except Exception:  # noqa: BLE001 - no driver bindings: nothing to say
        return "unknown"


def release_context(device: int = 0) -> str:
    """Destroy this process's primary context, so that another process can open the GPU: in
    EXCLUSIVE_PROCESS compute mode a worker cannot while this process holds one, broken or
    not, and in any mode the memory it holds goes back. For a process done with CUDA (after
    a sticky fault, its cases handed to workers): CuPy's objects here must not be used again.
    Returns what happened, in words."""
    try:
        from cuda.bindings import driver

        err, handle = driver.cuDeviceGet(device)
        if err == driver.CUresult.CUDA_SUCCESS:
            (err,) = driver.cuDevicePrimaryCtxReset(handle)
        if err == driver.CUresult.CUDA_SUCCESS:
            return "this process's CUDA context was destroyed (cuDevicePrimaryCtxReset) before the workers started"
        return f"this process's CUDA context could not be destroyed ({err.name})"
    except Exception as exc:  # noqa: BLE001
        return f"this process's CUDA context could not be destroyed ({type(exc).__name__}: {exc})"


# ---------------------------------------------------------------- kernels

@dataclass
class Module:
    module: object
    target: str
    options: list[str]
    source_hash: str

    @property
    def provenance(self) -> dict:
        """What a result record needs to say which build it measured."""
        return {"target": self.target, "compile_options": self.options, "kernel_source_hash": self.source_hash}


@dataclass(frozen=True)
class Build:
    """One compile a case needs, as the run makes it: a kernels/ file for a target with extra
    options, its SASS read; with `assemble_for`, the file's compute_80 PTX assembled by
    nvJitLink for that real target (the fallback builds), its SASS read too where the run
    reads it. Each family's
    cuda part says which of these its cases need (`builds(case, runner)`), so that gpu-check
    can make them all, in parallel, before anything is timed (smbench.prebuild)."""

    kernel_file: str
    target: str
    options: tuple[str, ...] = ()
    assemble_for: str | None = None
    read_sass: bool = True  # the run reads its SASS (peak loops and GEMMs do; a stream kernel's load does not)


TIMING_BUILD_FILE = "timing.cu"  # the blocking kernel every timed GPU case uses


@functools.lru_cache(maxsize=None)
def load(kernel_file: str, target: str, options: tuple[str, ...] = ()) -> Module:
    """Compile a kernels/ file for the device's own target (with extra NVRTC options, such
    as a GEMM's tile) and load it."""
    cupy = _cupy()
    result = compile_file(kernels_dir() / kernel_file, target, options=options)
    if not result.ok:
        raise SmbenchError(f"{kernel_file} does not compile for {target}: {result.first_error}")
    directory = Path(tempfile.mkdtemp(prefix="smbench-cubin-"))
    path = directory / f"{Path(kernel_file).stem}-{target}-{len(options)}.cubin"
    path.write_bytes(result.cubin)
    return Module(cupy.RawModule(path=str(path)), target, result.options, result.source_hash)


def native_target(facts: DeviceFacts) -> str:
    major, minor = (int(x) for x in facts.compute_capability.split("."))
    return target_table.best_native(major, minor).name


def blocks_per_sm(function, facts: DeviceFacts, block: int) -> int:
    """Occupancy from the driver where CuPy exposes it, else the thread-count bound."""
    cupy = _cupy()
    try:
        pointer = getattr(function, "ptr", None) or function.kernel.ptr
        return max(1, int(cupy.cuda.driver.occupancyMaxActiveBlocksPerMultiprocessor(pointer, block, 0)))
    except Exception:  # noqa: BLE001
        return blocks_per_sm_limit(facts.max_threads_per_sm, block)


# ---------------------------------------------------------------- memory

@dataclass
class Allocation:
    array: object  # a cupy.ndarray over the memory
    release: object = None  # callable freeing memory CuPy does not own
    keep: list = field(default_factory=list)
    host: np.ndarray | None = None  # the same memory seen from the CPU (host-reachable kinds)


def _host_view(pointer: int, elements: int, dtype) -> np.ndarray:
    import ctypes

    buffer = (ctypes.c_byte * (elements * np.dtype(dtype).itemsize)).from_address(pointer)
    return np.frombuffer(buffer, dtype=dtype, count=elements)


def allocate(kind: str, elements: int, dtype, device: int = 0) -> Allocation:
    cupy = _cupy()
    runtime = cupy.cuda.runtime
    nbytes = elements * np.dtype(dtype).itemsize
    if kind == "device":
        return Allocation(cupy.empty(elements, dtype=dtype))
    if kind in ("managed", "managed-prefetch"):
        memory = cupy.cuda.malloc_managed(nbytes)
        array = cupy.ndarray(elements, dtype=dtype, memptr=memory)
        return Allocation(array, keep=[memory], host=_host_view(memory.ptr, elements, dtype))
    if kind == "pinned-mapped":
        pointer = runtime.hostAlloc(nbytes, runtime.hostAllocMapped)
        # With unified addressing (every 64-bit CUDA platform) the mapped host pointer is
        # also the device pointer.
        memory = cupy.cuda.UnownedMemory(pointer, nbytes, object(), device)
        array = cupy.ndarray(elements, dtype=dtype, memptr=cupy.cuda.MemoryPointer(memory, 0))
        return Allocation(array, release=lambda: runtime.freeHost(pointer),
                          host=_host_view(pointer, elements, dtype))
    if kind == "pageable":
        host = np.empty(elements, dtype=dtype)
        memory = cupy.cuda.UnownedMemory(host.ctypes.data, nbytes, host, device)
        array = cupy.ndarray(elements, dtype=dtype, memptr=cupy.cuda.MemoryPointer(memory, 0))
        return Allocation(array, keep=[host], host=host)
    raise SmbenchError(f"unknown memory kind {kind!r}")


# ---------------------------------------------------------------- timing

@functools.lru_cache(maxsize=None)
def spin_kernel():
    """The blocking kernel (kernels/timing.cu), built for this GPU's own target."""
    return load(TIMING_BUILD_FILE, native_target(device_facts())).module.get_function("smbench_spin_until")


@dataclass
class DeviceTimer:
    """Times `launch` (which enqueues `reps` calls on `stream_`) with CUDA events, device-bound.

    Every timed sample is queued behind the blocking kernel (nvbench's method): one thread
    spins on a flag in mapped host memory while the host enqueues the start event, every
    launch and the end event; the flag is then set and the GPU runs them back to back. The
    events time the kernels, never the host's launch rate (CuPy's 5-10 us per launch would
    otherwise be the figure for any kernel under ~10 us). A pilot (blocking=False) runs
    unblocked, so that lazy work (module loading, library workspaces, anything that
    synchronizes) happens before the first blocked sample. A flush buffer written before
    each sample evicts the L2 (cold-cache timing). Each blocked sample is reported to the
    telemetry as timed work."""

    stream_: object
    flush_bytes: int = 0
    spin: object = None  # the blocking kernel; None: spin_kernel() (a test may pass a stand-in)
    _flag: np.ndarray | None = None
    _flag_pointer: int = 0
    _timed_out: object = None
    _flush: object = None

    def __post_init__(self) -> None:
        cupy = _cupy()
        if self.flush_bytes:
            self._flush = cupy.empty(self.flush_bytes, dtype=cupy.uint8)
        if self.spin is None:
            self.spin = spin_kernel()
        runtime = cupy.cuda.runtime
        self._flag_pointer = runtime.hostAlloc(4, runtime.hostAllocMapped)
        self._flag = np.ctypeslib.as_array((np.ctypeslib.ctypes.c_uint32 * 1).from_address(self._flag_pointer))
        self._flag[0] = 1
        with self.stream_:  # zeroed on the stream the spin kernel will run on
            self._timed_out = cupy.zeros(1, dtype=cupy.uint32)

    def close(self) -> None:
        if self._flag_pointer:
            self._flag[0] = 1
            self.stream_.synchronize()  # no spin kernel may still read the flag when it is freed
            _cupy().cuda.runtime.freeHost(self._flag_pointer)
            self._flag_pointer = 0

    def sample(self, launch, reps: int, blocking: bool = True, work: bool = True) -> float:
        """Device seconds per call of `launch`, over `reps` calls queued behind the blocking
        kernel. blocking=False: launched as the host issues them (the pilot; a copy that is
        synchronous to the host, which would wait for the spinning kernel forever). work:
        the sample is timed work for the telemetry (not the pilot's)."""
        cupy = _cupy()
        if blocking and reps > MAX_QUEUED:
            raise SmbenchError(f"{reps} launches behind the blocking kernel: at most {MAX_QUEUED} fit the queue")
        # Everything goes on the timer's stream: a non-blocking stream does not wait for the
        # default stream, so a flush or a spin issued there would overlap the timed kernels.
        if self._flush is not None:
            with self.stream_:
                self._flush.fill(np.uint8(int(time.perf_counter_ns()) & 0xFF))
        start, end = cupy.cuda.Event(), cupy.cuda.Event()
        if blocking:
            self._flag[0] = 0
            self.spin((1,), (1,), (np.uint64(self._flag_pointer), np.uint64(SPIN_TIMEOUT_CYCLES),
                                   self._timed_out), stream=self.stream_)
        began = time.perf_counter()
        try:
            start.record(self.stream_)
            for _ in range(reps):
                launch()
            end.record(self.stream_)
        finally:
            released = time.perf_counter()
            if blocking:
                self._flag[0] = 1  # never leave the GPU spinning, whatever happened above
        end.synchronize()
        if work:
            telemetry.mark_work(released if blocking else began, time.perf_counter())
        if blocking:
            if int(self._timed_out[0]):
                self._timed_out.fill(0)
                raise SmbenchError("the blocking kernel timed out before the host released it (a call that "
                                   "synchronizes, or a launch queue too deep, while it held the stream)")
        return cupy.cuda.get_elapsed_time(start, end) / 1e3 / reps


def reps_for(pilot_seconds: float, target_seconds: float = 200e-6, most: int = MAX_QUEUED) -> int:
    """Calls per timed sample, so that a sample lasts at least ~200 us (event resolution is
    about 0.5 us; one short kernel would be mostly noise), within the blocking kernel's
    queue."""
    return calls_per_sample(pilot_seconds, target_seconds, most)


def time_calls(timer: DeviceTimer, launch, policy: TimingPolicy, reps: int | None = None,
               most: int = MAX_QUEUED, blocking: bool = True) -> Stats:
    """A first call unblocked (lazy work happens there: module loading, a library's workspace),
    then a pilot of one call behind the blocking kernel, which sizes the samples: `reps`
    calls each (by default enough for ~200 us, at most `most`: fewer where one call queues
    several kernels), behind the blocking kernel (unless blocking=False), until the policy
    stops. An unblocked pilot would also time the host's launch gap (5-10 us through CuPy):
    a 2 us kernel would look like 10 and its samples would last a fifth of their target."""
    first = timer.sample(launch, 1, blocking=False, work=False)
    pilot = timer.sample(launch, 1, blocking=True, work=False) if blocking and reps is None else first
    reps = reps_for(pilot, most=most) if reps is None else reps
    return measure(lambda: timer.sample(launch, reps, blocking=blocking), policy)
