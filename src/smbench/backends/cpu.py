"""The CPU reference backend: the stream operations in NumPy, timed with perf_counter.

It runs on any machine, so the whole pipeline (sweep, validation, statistics, result
files, reports) is exercised without a GPU. Its figures are the host's, labelled so;
NumPy's triad takes two passes (multiply, then add), which a reader of its GB/s
should know. There is only one memory kind here: host memory.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass

import numpy as np

from smbench.families import stream
from smbench.timing import Stats, TimingPolicy, measure

NAME = "cpu"


def cache_bytes(level: int, default: int) -> int:
    """The host's cache size at this level (Linux sysfs), or the default."""
    base = "/sys/devices/system/cpu/cpu0/cache"
    try:
        for entry in sorted(os.listdir(base)):
            directory = os.path.join(base, entry)
            with open(os.path.join(directory, "level")) as handle:
                if int(handle.read()) != level:
                    continue
            with open(os.path.join(directory, "type")) as handle:
                if handle.read().strip() == "Instruction":
                    continue
            with open(os.path.join(directory, "size")) as handle:
                text = handle.read().strip().upper()
            multiplier = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1], 1)
            return int(text.rstrip("KMG")) * multiplier
    except (OSError, ValueError):
        pass
    return default


def available_bytes() -> int:
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 4 << 30


def device_info() -> dict:
    return {"backend": NAME, "name": f"CPU reference ({platform.machine()}, {os.cpu_count()} CPUs, NumPy {np.__version__})",
            "l2_bytes": cache_bytes(2, 1 << 20), "l3_bytes": cache_bytes(3, 0), "free_bytes": available_bytes(),
            "unified_memory": True, "memory_kinds": [("host", True, "NumPy arrays in host memory")]}


@dataclass
class Case(stream.CaseShape):
    arrays: dict


def prepare(op: str, dtype: str, width: int, elements: int) -> Case:
    np_type = stream.DTYPES[dtype]
    index = np.arange(elements, dtype=np.int64)
    operation = stream.OPERATIONS[op]
    arrays = {name: stream.pattern(name, index, np_type) for name in operation.reads}
    if operation.writes:
        arrays[operation.writes] = np.full(elements, stream.SENTINEL, dtype=np_type)
    return Case(op, dtype, width, elements, arrays)


def run_once(case: Case):
    """One call of the operation; returns the sum for reductions."""
    x = case.arrays
    s = stream.DTYPES[case.dtype](stream.SCALAR)
    if case.op == "copy":
        np.copyto(x["c"], x["a"])
    elif case.op == "scale":
        np.multiply(x["c"], s, out=x["b"])
    elif case.op == "add":
        np.add(x["a"], x["b"], out=x["c"])
    elif case.op == "triad":
        np.multiply(x["c"], s, out=x["a"])
        np.add(x["a"], x["b"], out=x["a"])
    elif case.op == "dot":
        return float(np.dot(x["a"], x["b"]))
    elif case.op == "read":
        return float(x["a"].sum())
    elif case.op == "write":
        x["c"].fill(s)
    return None


def time_case(case: Case, policy: TimingPolicy) -> tuple[Stats, object]:
    result: list = [None]

    def sample() -> float:
        start = time.perf_counter()
        result[0] = run_once(case)
        return time.perf_counter() - start

    stats = measure(sample, policy)
    return stats, result[0]


def validate(case: Case, reduction_value) -> stream.Validation:
    np_type = stream.DTYPES[case.dtype]
    operation = stream.OPERATIONS[case.op]
    if operation.reduction:
        # NumPy's pairwise/BLAS sums: the same tolerance as a GPU with one thread per 128 elements.
        return stream.validate_sum(case.op, np_type, case.elements, reduction_value, max(1, case.elements // 128))
    index = stream.check_indices(case.elements)
    return stream.validate_elements(case.op, np_type, index, case.arrays[operation.writes][index])


# ---------------------------------------------------------------- compute peaks

# The CPU runs one warp's worth of each loop, enough to exercise unpacking, the
# arithmetic and validation; its operations per second are NumPy's, labelled so.
PEAK_ITERS = 64  # every validation sum is still exact after 64 iterations (tests check it)


def _unpack(operand, words: np.ndarray) -> np.ndarray:
    """32-bit fragment words -> element values, decoded from their codes."""
    from smbench import formats

    if operand.encoding == "f64":
        pairs = words.reshape(-1, 2).astype(np.uint64)
        return (pairs[:, 0] | (pairs[:, 1] << np.uint64(32))).view(np.float64).astype(np.float64)
    bits = operand.container_bits
    width = formats.bits(operand.encoding)
    mask = np.uint64((1 << width) - 1)
    shifted = [((words.astype(np.uint64) >> np.uint64(i * bits + operand.shift)) & mask) for i in range(32 // bits)]
    codes = np.stack(shifted, axis=1).ravel()
    table = {int(c): formats.decode(operand.encoding, int(c)) for c in np.unique(codes)}
    return np.array([table[int(c)] for c in codes])


def mma_loop(fmt, words: np.ndarray, iters: int) -> np.ndarray:
    """One warp's mma loop: A and B rebuilt from the fragment words (in whatever element
    order; the validation inputs are uniform), D += A @ B per chain and iteration, rounded
    to the accumulator each step. Returns the values in the order the kernel writes them."""
    from smbench import formats
    from smbench.families import peak

    m, n, k = fmt.shape
    lanes = words[:32 * peak.WORDS_PER_LANE].reshape(32, peak.WORDS_PER_LANE)
    a_words = lanes[:, 0:2] if fmt.operand.encoding == "f64" else lanes[:, 0:4]
    b_words = lanes[:, 4:6]
    scale = 1.0
    if fmt.scale:
        scale = formats.decode(fmt.scale[0], int(lanes[0, 6]) & 0xFF)
    a = _unpack(fmt.operand, a_words.ravel()).reshape(m, k) * scale
    b = _unpack(fmt.operand, b_words.ravel()).reshape(k, n) * scale
    product = a @ b
    chains = []
    for _ in range(fmt.chains):
        d = np.zeros((m, n))
        for _ in range(iters):
            d = d + product
            if fmt.accumulator in ("f16", "f32"):
                d = formats.round_to(fmt.accumulator, d)
        if fmt.accumulator == "s32":
            d = ((d.astype(np.int64) + 2**31) % 2**32 - 2**31).astype(np.float64)
        chains.append(d.ravel().reshape(32, -1))
    return np.stack(chains, axis=1).ravel().astype(peak.output_dtype(fmt))


def fma_loop(fmt, values: np.ndarray, iters: int, threads: int = 32) -> np.ndarray:
    """The CUDA-core loop for `threads` threads: x = x * y + z per chain and lane, in the
    loop's type (bf16 rounded after every step)."""
    from smbench import formats
    from smbench.families import peak

    lanes = fmt.lanes
    if fmt.accumulator == "bf16":
        decoded = np.array([formats.decode("bf16", int(c)) for c in values])
        y, z, x = decoded[0], decoded[lanes], np.tile(decoded[2 * lanes:], threads)
        for _ in range(iters):
            x = formats.round_to("bf16", x * y + z)  # an FMA rounds once; float64 holds x * y + z exactly
        return np.array([formats.encode("bf16", float(v)) for v in x], dtype=np.uint16)
    # NumPy rounds the multiply and the add separately where the GPU fuses them; with the
    # validation inputs (y = 1) both are exact, so the two agree.
    y, z, x = values[0], values[lanes], np.tile(values[2 * lanes:], threads)
    for _ in range(iters):
        x = (x * y + z).astype(values.dtype)
    return x.astype(peak.output_dtype(fmt))


def peak_case(fmt, policy: TimingPolicy) -> tuple[Stats, stream.Validation, int, int]:
    """(time per loop, validation, iterations, threads): one warp, PEAK_ITERS iterations."""
    from smbench.families import peak

    iters, threads = PEAK_ITERS, 32
    if fmt.unit == "tensor":
        words = peak.mma_inputs(fmt)
        run = lambda: mma_loop(fmt, words, iters)  # noqa: E731
    else:
        values = peak.fma_inputs(fmt)
        run = lambda: fma_loop(fmt, values, iters, threads)  # noqa: E731
    output: list = [None]

    def sample() -> float:
        start = time.perf_counter()
        output[0] = run()
        return time.perf_counter() - start

    stats = measure(sample, policy)
    return stats, peak.validate(fmt, output[0], iters, threads), iters, threads
