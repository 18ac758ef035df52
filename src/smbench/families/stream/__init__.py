"""The memory-bandwidth family: BabelStream's kernels, a working-set sweep, memory kinds.

This module holds everything about the family that does not need a GPU: the
operations and the bytes each moves (as BabelStream counts them), the input
patterns and the CPU reference, validation, the size sweep and the launch geometry.
Its cuda and cpu modules run the operations; the tests exercise all of this with the
device properties of an H100 and a GB10 given as data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from smbench.backends.runners import dram_starts
from smbench.cases import Validation
from smbench.units import GIB, KIB, MIB  # noqa: F401 - family code reads them here

KERNEL_FILE = "stream.cu"


@dataclass(frozen=True)
class Operation:
    name: str
    reads: tuple[str, ...]  # arrays read, in kernel-parameter order
    writes: str | None  # array written (None for reductions)
    scalar: bool
    formula: str

    @property
    def arrays(self) -> tuple[str, ...]:
        return self.reads + ((self.writes,) if self.writes else ())

    @property
    def reduction(self) -> bool:
        return self.writes is None

    def bytes_moved(self, elements: int, itemsize: int) -> int:
        """BabelStream's count: each array read or written once per element (copy 2N, triad 3N)."""
        return len(self.arrays) * elements * itemsize


OPERATIONS: dict[str, Operation] = {op.name: op for op in (
    Operation("copy", ("a",), "c", False, "c = a"),
    Operation("scale", ("c",), "b", True, "b = s * c"),
    Operation("add", ("a", "b"), "c", False, "c = a + b"),
    Operation("triad", ("b", "c"), "a", True, "a = b + s * c"),
    Operation("dot", ("a", "b"), None, False, "sum(a * b)"),
    Operation("read", ("a",), None, False, "sum(a)"),
    Operation("write", (), "c", True, "c = s"),
)}

DTYPES = {"f32": np.float32, "f64": np.float64}
WIDTHS = {"f32": (4, 8, 16), "f64": (8, 16)}  # bytes per thread per array access

# A power of two: s * x is exact, so b + s * c rounds once whether or not the GPU fuses
# it into an FMA, and copy/scale/add/triad/write can be checked bit for bit.
SCALAR = 2.0


def kernel_name(op: str, dtype: str, width: int) -> str:
    if op not in OPERATIONS:
        raise KeyError(f"unknown stream operation {op!r}")
    if width not in WIDTHS[dtype]:
        raise KeyError(f"{dtype} has no {width}-byte form (widths: {WIDTHS[dtype]})")
    return f"stream_{op}_{dtype}_v{width}"


@dataclass
class CaseShape:
    """What every backend's prepared case has: the operation, type, access width and length."""

    op: str
    dtype: str
    width: int
    elements: int


# ---------------------------------------------------------------- inputs and reference

# Periodic patterns of small multiples of 1/8, 1/16, 1/4: every sum and product of the
# operations is exact in f32, and any element can be recomputed from its index alone,
# so a GPU result of gigabytes is checked without copying the inputs back.
_PATTERNS = {"a": (1021, 8.0, 1.0), "b": (509, 16.0, 2.0), "c": (251, 4.0, 0.0)}
SENTINEL = float("nan")  # what an output holds before the kernel runs: unwritten = invalid


def pattern(array: str, index: np.ndarray, dtype) -> np.ndarray:
    period, divisor, offset = _PATTERNS[array]
    return ((index % period) / divisor + offset).astype(dtype)


def expected_elements(op: str, index: np.ndarray, dtype) -> np.ndarray:
    """The reference value of the written array at these indices (non-reductions)."""
    a, b, c = (pattern(name, index, dtype) for name in "abc")
    s = dtype(SCALAR)
    return {
        "copy": lambda: a,
        "scale": lambda: (s * c).astype(dtype),
        "add": lambda: (a + b).astype(dtype),
        "triad": lambda: (b + s * c).astype(dtype),
        "write": lambda: np.full(index.shape, s, dtype=dtype),
    }[op]()


def expected_sum(op: str, elements: int) -> float:
    """The exact (float64) reference of a reduction over `elements`, from whole periods of
    the patterns: no need to build gigabyte arrays on the host."""
    return float(expected_row_sums(op, elements, elements)[0])


# Terms per partial sum where a reduction is taken in rows (the CPU path's dot, the MLX
# path's dot and read): each row's rounding error is bounded by its own length, not the
# array's, so a sum that left out part of the array cannot hide inside a bound grown with n.
ROW_TERMS = 1 << 12


def row_terms(elements: int) -> int:
    """Terms per row of a reduction over `elements`: ROW_TERMS, or the largest power of two
    dividing `elements` below it (the sweep's sizes are whole blocks: no ragged last row)."""
    return math.gcd(elements, ROW_TERMS)


def expected_row_sums(op: str, elements: int, row: int) -> np.ndarray:
    """The exact (float64) reference of each `row`-term partial sum of a reduction, from
    prefix sums over one period of the patterns (their terms are multiples of 1/128 small
    enough that float64 adds them without rounding)."""
    if op == "read":
        arrays, period = ("a",), _PATTERNS["a"][0]
    else:
        arrays, period = ("a", "b"), _PATTERNS["a"][0] * _PATTERNS["b"][0]
    index = np.arange(period, dtype=np.int64)
    values = np.prod([pattern(name, index, np.float64) for name in arrays], axis=0)
    prefix = np.concatenate([[0.0], np.cumsum(values)])
    starts = np.arange(0, elements, row, dtype=np.int64)
    ends = np.minimum(starts + row, elements)
    return (ends // period - starts // period) * prefix[-1] + prefix[ends % period] - prefix[starts % period]


def reduction_tolerance(op: str, dtype, elements: int, threads: int) -> float:
    """Relative tolerance of a reduction: each thread adds about elements/threads terms in
    the element type (error up to that many roundings), the block and host sums are small."""
    per_thread = max(1, math.ceil(elements / max(1, threads)))
    eps = float(np.finfo(dtype).eps)
    return max(4 * eps, 2 * (per_thread + 64) * eps)


def check_indices(elements: int, full_limit: int = 1 << 22, sample: int = 1 << 16, seed: int = 0) -> np.ndarray:
    """Which elements to validate: all of a small array; the first and last `sample` and
    `sample` random others of a large one."""
    if elements <= full_limit:
        return np.arange(elements, dtype=np.int64)
    rng = np.random.default_rng(seed)
    parts = [np.arange(sample), np.arange(elements - sample, elements), rng.integers(0, elements, sample)]
    return np.unique(np.concatenate(parts)).astype(np.int64)


def validate_elements(op: str, dtype, index: np.ndarray, got: np.ndarray) -> Validation:
    """Bit-exact comparison of a written array's elements with the CPU reference."""
    want = expected_elements(op, index, dtype)
    wrong = ~((got == want) | (np.isnan(got) & np.isnan(want)))
    if wrong.any():
        first = int(np.flatnonzero(wrong)[0])
        error = np.abs(got.astype(np.float64) - want.astype(np.float64))
        return Validation(False, len(index), f"{int(wrong.sum())} of {len(index)} elements differ; first at "
                                             f"index {int(index[first])}: got {got[first]!r}, want {want[first]!r}",
                          float(np.nanmax(error)) if np.isfinite(error).any() else float("inf"))
    return Validation(True, len(index), f"{len(index)} elements exact")


def validate_sum(op: str, dtype, elements: int, got: float, threads: int) -> Validation:
    want = expected_sum(op, elements)
    tolerance = reduction_tolerance(op, dtype, elements, threads)
    relative = abs(got - want) / abs(want) if want else abs(got)
    ok = bool(np.isfinite(got)) and relative <= tolerance
    return Validation(ok, elements, f"sum {got!r} vs reference {want!r}: relative error {relative:.2e} "
                                    f"({'within' if ok else 'beyond'} {tolerance:.1e})",
                      abs(got - want), tolerance)


# ---------------------------------------------------------------- sizes


# On a unified-memory device (the Spark) the GPU's arrays come out of the same DRAM as the
# operating system's: use at most this fraction of what is free.
UNIFIED_FREE_FRACTION = 0.25
# On a discrete GPU, leave room for the CUDA context, the flush buffer and the allocator.
DEVICE_FREE_FRACTION = 0.80


def sweep_sizes(last_level_cache_bytes: int, free_bytes: int, unified: bool, smallest: int = 32 * KIB,
                largest: int | None = None) -> tuple[list[int], int, str]:
    """Working-set sizes (bytes of all arrays of a kernel) from `smallest`, well inside L1,
    doubling to max(where DRAM starts: 4 x the last-level cache, 1 GiB) or `largest`, capped
    by free memory.

    Returns (sizes, cap, why the cap is what it is)."""
    fraction = UNIFIED_FREE_FRACTION if unified else DEVICE_FREE_FRACTION
    cap = int(free_bytes * fraction)
    wanted = largest if largest is not None else max(dram_starts(last_level_cache_bytes), GIB)
    top = min(wanted, cap)
    why = (f"{'unified memory: ' if unified else ''}{fraction:.0%} of {free_bytes / GIB:.1f} GiB free = "
           f"{cap / GIB:.2f} GiB" + ("" if wanted <= cap else f", below the {wanted / GIB:.2f} GiB wanted"))
    sizes = []
    size = smallest
    while size <= top:
        sizes.append(size)
        size *= 2
    if sizes and sizes[-1] != top and top > sizes[-1]:
        sizes.append(top)  # end exactly at the top (where DRAM starts, 1 GiB or the cap)
    return sizes, cap, why


def elements_for(op: str, working_set: int, itemsize: int, width: int, block: int = 256) -> int:
    """Elements per array so that all arrays of `op` fill `working_set` bytes, rounded down
    to whole packs of a whole block (the kernels handle no ragged tail)."""
    arrays = max(1, len(OPERATIONS[op].arrays))
    unit = (width // itemsize) * block
    return max(unit, (working_set // (arrays * itemsize)) // unit * unit)


# ---------------------------------------------------------------- launch geometry

def grid_size(sm_count: int, blocks_per_sm: int, block: int, packs: int) -> int:
    """Blocks for a grid-stride kernel: enough to fill every SM to its occupancy, never more
    blocks than there are blocks of work."""
    full = max(1, sm_count * max(1, blocks_per_sm))
    return max(1, min(full, math.ceil(packs / block)))
