"""The stream family on the CPU reference path: the operations in NumPy, timed with
perf_counter. NumPy's triad takes two passes (multiply, then add), which a reader of its
GB/s should know."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from smbench.cases import NO_KERNEL, Validation
from smbench.families import stream
from smbench.telemetry import Summary
from smbench.timing import Stats, TimingPolicy, measure


def run_case(runner, op: str, dtype: str, width: int, kind: str, elements: int,
             policy: TimingPolicy) -> tuple[Stats, Validation, dict, Summary, dict]:
    """(times, validation, how it ran, telemetry, kernel provenance) of one operation."""
    case = prepare(op, dtype, width, elements)
    with runner.sampler() as sampler:
        stats, value = time_case(case, policy)
    return stats, validate(case, value), {"backend": "numpy"}, sampler.summary, NO_KERNEL


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


def validate(case: Case, reduction_value) -> Validation:
    np_type = stream.DTYPES[case.dtype]
    operation = stream.OPERATIONS[case.op]
    if operation.reduction:
        # NumPy's pairwise/BLAS sums: the same tolerance as a GPU with one thread per 128 elements.
        return stream.validate_sum(case.op, np_type, case.elements, reduction_value, max(1, case.elements // 128))
    index = stream.check_indices(case.elements)
    return stream.validate_elements(case.op, np_type, index, case.arrays[operation.writes][index])
