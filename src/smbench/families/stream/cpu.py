"""The stream family on the CPU reference path: the operations in NumPy, timed in this
thread's CPU time (smbench.host_timing). NumPy's triad takes two passes (multiply, then add), which a reader of its
GB/s should know."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from smbench.cases import NO_KERNEL, Validation
from smbench.families import stream
from smbench import host_timing
from smbench.families.stream.part import Measured, Work
from smbench.timing import Stats, TimingPolicy

plan_cases = None  # the family's axes, in host memory


def run_case(runner, work: Work, policy: TimingPolicy) -> Measured:
    case = prepare(work.op, work.dtype, work.width, work.elements)
    with runner.sampler() as sampler:
        stats, value = time_case(case, policy)
    return Measured(stats, validate(case, value), {"backend": "numpy"}, sampler.summary, NO_KERNEL)


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


# A BLAS dot (np.dot) may add its terms in sequence, so its rounding error grows with the
# length: at 2^26 f32 elements it passed the bound of a 128-term sum. The dot is taken as
# rows of DOT_CHUNK terms instead (one einsum call: no per-chunk Python), the rows' sums
# added in float64. Any order of adding n terms of one sign errs by at most (n-1) units of
# rounding, so the bound is a DOT_CHUNK-term sum's whatever order einsum adds in.
DOT_CHUNK = stream.ROW_TERMS
PAIRWISE_BLOCK = 128  # NumPy's pairwise summation adds runs of at most 128 in sequence


def dot(a: np.ndarray, b: np.ndarray) -> float:
    whole = len(a) // DOT_CHUNK * DOT_CHUNK
    rows = np.einsum("ij,ij->i", a[:whole].reshape(-1, DOT_CHUNK), b[:whole].reshape(-1, DOT_CHUNK))
    return float(rows.sum(dtype=np.float64)) + float(np.dot(a[whole:], b[whole:]))


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
        return dot(x["a"], x["b"])
    elif case.op == "read":
        return float(x["a"].sum())
    elif case.op == "write":
        x["c"].fill(s)
    return None


def time_case(case: Case, policy: TimingPolicy) -> tuple[Stats, object]:
    """Each call timed in this thread's CPU time, sampled until its median settles
    (smbench.host_timing): NumPy's element-wise operations run in the calling thread."""
    result: list = [None]
    stats = host_timing.measure(host_timing.timed(lambda: run_once(case), result), policy, policy.host_interval)
    return stats, result[0]


def validate(case: Case, reduction_value) -> Validation:
    np_type = stream.DTYPES[case.dtype]
    operation = stream.OPERATIONS[case.op]
    if operation.reduction:
        # Each reduction's error bound is that of a GPU whose threads each add as many terms
        # in the element type as the CPU adds in sequence: NumPy's pairwise sum (read) adds
        # blocks of up to 128; the BLAS dot adds up to DOT_CHUNK in sequence.
        run = DOT_CHUNK if case.op == "dot" else PAIRWISE_BLOCK
        return stream.validate_sum(case.op, np_type, case.elements, reduction_value, -(-case.elements // run))
    index = stream.check_indices(case.elements)
    return stream.validate_elements(case.op, np_type, index, case.arrays[operation.writes][index])
