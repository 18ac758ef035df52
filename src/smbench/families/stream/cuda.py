"""The stream family on a GPU: BabelStream's kernels on each memory kind, timed behind the
blocking kernel, validated from the index patterns without copying inputs back."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from smbench.backends import cuda as backend
from smbench.backends.facts import DeviceFacts
from smbench.cases import Validation
from smbench.families import stream
from smbench.families.stream.part import Measured, Work
from smbench.timing import Stats, TimingPolicy

BLOCK = backend.BLOCK


def module(runner) -> backend.Module:
    """stream.cu built for the device's own target (loaded once: backend.load is cached)."""
    return backend.load(stream.KERNEL_FILE, runner.target)


def builds(case, runner) -> list[backend.Build]:
    """What a case compiles (smbench.prebuild): stream.cu for the device's own target."""
    return [backend.Build(stream.KERNEL_FILE, runner.target, read_sass=False)]


plan_cases = None  # the family's axes, in device memory, then every other memory kind the GPU offers


def run_case(runner, work: Work, policy: TimingPolicy) -> Measured:
    """The operation's kernel in the work's memory kind, timed behind the blocking kernel."""
    built = module(runner)
    case = prepare(built, runner.facts, work.op, work.dtype, work.width, work.elements, work.memory)
    timer, first_touch = None, None
    try:
        timer = runner.timer()
        with runner.sampler() as sampler:
            if work.memory in FIRST_TOUCH_KINDS:
                # The first launch alone, behind the blocking kernel: the pages start where the
                # CPU wrote them, and this launch's faults move them (managed; pageable memory
                # under HMM). Every later launch finds them wherever the driver left them.
                first_touch = timer.sample(lambda: case.function((case.grid,), (case.block,), case.args,
                                                                 stream=timer.stream_), 1)
            stats = time_case(case, policy, timer)
        validation = validate(case)
    finally:
        if timer is not None:
            timer.close()
        release(case.allocations)
    return Measured(stats, validation, {"grid": case.grid, "block": case.block}, sampler.summary,
                    built.provenance, first_touch)


# Memory whose pages may move on the GPU's first touch: that launch is timed on its own.
FIRST_TOUCH_KINDS = ("managed", "pageable")


@functools.lru_cache(maxsize=None)
def _pattern_kernel(dtype_name: str):
    cupy = backend._cupy()
    ctype = {"float32": "float", "float64": "double"}[dtype_name]
    # The parameter's type must be the NumPy name: CuPy reads "float" as float64.
    return cupy.ElementwiseKernel(
        "int64 period, float64 divisor, float64 offset", f"{dtype_name} x",
        f"x = ({ctype})((double)(i % period) / divisor + offset)", f"smbench_pattern_{dtype_name}")


def fill_pattern_on_host(view: np.ndarray, name: str, chunk: int = 1 << 20) -> None:
    """The same pattern written by the CPU. The pattern repeats every `period` elements, so
    one block of whole periods is computed once and copied along: a memory copy, where
    computing every element took the host ~1.5 s per 512 MiB (the quick suite fills nine
    such arrays for the memory kinds on an H200)."""
    period = stream._PATTERNS[name][0]
    length = min(len(view), -(-chunk // period) * period)
    block = stream.pattern(name, np.arange(length, dtype=np.int64), view.dtype)
    for start in range(0, len(view), length):  # each start a whole number of periods in
        stop = min(len(view), start + length)
        view[start:stop] = block[:stop - start]


def fill_pattern(array, name: str) -> None:
    period, divisor, offset = stream._PATTERNS[name]
    _pattern_kernel(np.dtype(array.dtype).name)(period, divisor, offset, array)


@dataclass
class Case(stream.CaseShape):
    kind: str
    allocations: dict
    partial: object
    grid: int
    block: int
    function: object
    args: tuple


def prepare(module: backend.Module, facts: DeviceFacts, op: str, dtype: str, width: int, elements: int,
            kind: str, device: int = 0) -> Case:
    cupy = backend._cupy()
    np_type = stream.DTYPES[dtype]
    operation = stream.OPERATIONS[op]
    allocations = {}
    try:
        for name in operation.arrays:
            allocations[name] = backend.allocate(kind, elements, np_type, device)
        # Host-reachable memory is written by the CPU, so that its pages start where that kind
        # of memory lives (a GPU first touch would pull managed or HMM pages into GPU memory and
        # measure device memory under another name). Device memory is filled on the GPU.
        for name in operation.reads:
            if allocations[name].host is not None:
                fill_pattern_on_host(allocations[name].host, name)
            else:
                fill_pattern(allocations[name].array, name)
        if operation.writes:
            written = allocations[operation.writes]
            if written.host is not None:
                written.host[:] = np_type(stream.SENTINEL)
            else:
                written.array.fill(np_type(stream.SENTINEL))
        if kind == "managed-prefetch":
            current = cupy.cuda.get_current_stream()
            for allocation in allocations.values():
                cupy.cuda.runtime.memPrefetchAsync(allocation.array.data.ptr, allocation.array.nbytes, device,
                                                   current.ptr)
        function = module.module.get_function(stream.kernel_name(op, dtype, width))
        packs = elements // (width // np.dtype(np_type).itemsize)
        grid = stream.grid_size(facts.sm_count, backend.blocks_per_sm(function, facts, BLOCK), BLOCK, packs)
        partial = cupy.zeros(grid, dtype=np_type) if operation.reduction else None
        # Everything above ran on the default stream; the timed launches use another one.
        cupy.cuda.runtime.deviceSynchronize()
    except Exception:
        release(allocations)
        raise
    args = [allocations[name].array for name in operation.arrays]
    if partial is not None:
        args.append(partial)
    if operation.scalar:
        args.append(np_type(stream.SCALAR))
    args.append(np.uint64(packs))
    return Case(op, dtype, width, elements, kind, allocations, partial, grid, BLOCK, function, tuple(args))


def release(allocations: dict) -> None:
    for allocation in allocations.values():
        if allocation.release is not None:
            try:
                allocation.release()
            except Exception:  # noqa: BLE001
                pass
    allocations.clear()


def time_case(case: Case, policy: TimingPolicy, timer: backend.DeviceTimer) -> Stats:
    def launch():
        case.function((case.grid,), (case.block,), case.args, stream=timer.stream_)

    # Cold L2: a flush before every timed launch, or only the first would be cold.
    return backend.time_calls(timer, launch, policy, reps=1 if timer.flush_bytes else None)


def validate(case: Case) -> Validation:
    cupy = backend._cupy()
    np_type = stream.DTYPES[case.dtype]
    operation = stream.OPERATIONS[case.op]
    cupy.cuda.runtime.deviceSynchronize()
    if operation.reduction:
        total = float(cupy.asnumpy(case.partial).astype(np.float64).sum())
        return stream.validate_sum(case.op, np_type, case.elements, total, case.grid * case.block)
    index = stream.check_indices(case.elements)
    got = cupy.asnumpy(case.allocations[operation.writes].array[cupy.asarray(index)])
    return stream.validate_elements(case.op, np_type, index, got)
