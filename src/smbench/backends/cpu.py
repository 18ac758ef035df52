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
