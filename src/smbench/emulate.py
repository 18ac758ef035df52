"""A NumPy model of one tensor-core mma: what the hardware computes, bit for bit, under a
stated hypothesis.

The model follows Fasi, Higham, Mikaitis and Pranesh (2021): products are exact (or
rounded to a given width); the products of a block, together with the running
accumulator, are added as one fused sum in which every term is aligned to the largest
exponent among them and only `fraction_bits` bits below that leading bit are kept (the
rest truncated, or rounded to nearest even); the fused sum is then rounded to the
accumulator format (f32 or f16), which feeds the next block. Inputs are decoded from
their codes (formats.MINIFLOATS for FP8/FP6/FP4); subnormal inputs and outputs can be
flushed to zero; block scales multiply each element before its product.

Where c enters (`c_entry`): "fused", c is a term of the first block's fused sum (the
published models); or "after", the blocks chain from a zero accumulator, each sum rounded
to the accumulator as usual, and c is added to their result with one IEEE
round-to-nearest-even add in the accumulator format. The latter is what ptxas builds for
an mma a target lacks: on sm_90, the sm_89-form FP8 m16n8k32 (read from SASS, NVRTC 13.5)
is, per 32-bit register, F2FP.F16.E4M3.UNPACK_B (or .E5M2) of its low and of its high 16
bits (the FP8 values to f16, exact); HMMA.16816.F32 (HMMA.16816.F16 for an f16
accumulator) of the low halves from RZ, a second one of the high halves on top of it;
then FADD (HADD2) of C. So 2 tensor-core sums of 16 products each, and since a register
holds 4 consecutive k, the first sum takes k = 0, 1, 4, 5, ... and the second k = 2, 3,
6, 7, ...: products dealt to the blocks in runs of 2 (`interleave`).

Exactness: every term is a multiple of the alignment quantum, under 2^(fraction_bits + 1)
times it, so with fraction_bits <= 46 and at most 65 terms (K = 64 and the accumulator)
the integer sum stays under 2^53.1; products of these formats carry few significant
bits, and the sums the probes and GEMMs form stay exact in float64.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from smbench import formats

ROUNDINGS = ("truncate", "rne")
C_ENTRIES = ("fused", "after")
MAX_FRACTION_BITS = 46

# Smallest normal magnitude of each input and accumulator format.
_MIN_NORMAL = {"f16": 2.0**-14, "bf16": 2.0**-126, "tf32": 2.0**-126, "f32": 2.0**-126}


def min_normal(name: str) -> float:
    if name in _MIN_NORMAL:
        return _MIN_NORMAL[name]
    fmt = formats.MINIFLOATS[name]
    return 2.0 ** (1 - fmt.bias)


@dataclass(frozen=True)
class Model:
    """One hypothesis of how a tensor core adds; the parameters the probes fit."""

    fraction_bits: int = 26  # kept below the leading bit of a fused sum's largest term (f32 acc: 23 + extra)
    align_rounding: str = "truncate"  # bits shifted past them: dropped or rounded to nearest even
    output_rounding: str = "rne"  # the fused sum to the accumulator format
    block: int | None = None  # products per fused sum with the accumulator; None: all K at once
    product_bits: int | None = None  # None: exact products; else rounded to this many significand bits
    subnormal_inputs: bool = True  # False: subnormal inputs read as zero
    subnormal_outputs: bool = True  # False: a subnormal result is flushed to zero
    c_entry: str = "fused"  # "fused": c is a term of the first block's sum; "after": blocks from zero, then RN(c + sum)
    interleave: int | None = None  # None: each block the next `block` products; n: dealt to the blocks in runs of n

    def __post_init__(self) -> None:
        if not 0 <= self.fraction_bits <= MAX_FRACTION_BITS:
            raise ValueError(f"fraction_bits must be within 0..{MAX_FRACTION_BITS}")
        if self.align_rounding not in ROUNDINGS or self.output_rounding not in ROUNDINGS:
            raise ValueError(f"roundings are {ROUNDINGS}")
        if self.block is not None and self.block < 1:
            raise ValueError("block must be >= 1")
        if self.c_entry not in C_ENTRIES:
            raise ValueError(f"c_entry is one of {C_ENTRIES}")
        if self.interleave is not None and not 1 <= self.interleave <= (self.block or self.interleave):
            raise ValueError("interleave must be within 1..block")

    def with_(self, **changes) -> "Model":
        return replace(self, **changes)

    def describe(self, accumulator: str = "f32") -> str:
        extra = self.fraction_bits - _SIGNIFICAND[accumulator] + 1
        after = self.c_entry == "after"
        sums = f"fused sums of {self.block or 'all K'} products" + \
            (f" (dealt to the sums in runs of {self.interleave})" if self.interleave is not None else "") + \
            (", chained from zero" if after else " + accumulator")
        return (f"products {'exact' if self.product_bits is None else f'rounded to {self.product_bits} bits'}; "
                f"{sums}, aligned to the largest term, "
                f"{self.fraction_bits} fraction bits ({extra:+d} beyond {accumulator}), {self.align_rounding} "
                f"below them; {'each sum' if after else 'result'} {self.output_rounding} to {accumulator}; "
                + (f"then c added with one IEEE round-to-nearest-even add in {accumulator}; " if after else "")
                + f"subnormal inputs {'kept' if self.subnormal_inputs else 'flushed'}, outputs "
                f"{'kept' if self.subnormal_outputs else 'flushed'}")


_SIGNIFICAND = {"f32": 24, "f16": 11}


def _round_significand(values: np.ndarray, bits: int) -> np.ndarray:
    """Nearest-even rounding to `bits` significand bits (float64 in, float64 out)."""
    mantissa, exponent = np.frexp(values)
    scaled = np.round(mantissa * 2.0**bits)  # np.round: half to even
    return np.ldexp(scaled, exponent - bits)


def _round_to_accumulator(values: np.ndarray, accumulator: str, rounding: str, subnormals: bool) -> np.ndarray:
    """float64 -> the accumulator format (returned as float64), with overflow to infinity
    under rounding to nearest and to the largest finite value under truncation."""
    kind = np.float32 if accumulator == "f32" else np.float16
    with np.errstate(over="ignore", invalid="ignore"):
        rounded = values.astype(kind)
        if rounding == "truncate":
            # The nearest value may lie beyond the exact one: step back toward zero.
            too_far = np.isfinite(values) & (np.abs(rounded.astype(np.float64)) > np.abs(values))
            rounded = np.where(too_far, np.nextafter(rounded, kind(0)), rounded)
    result = rounded.astype(np.float64)
    if not subnormals:
        tiny = np.isfinite(result) & (np.abs(result) < _MIN_NORMAL[accumulator]) & (result != 0)
        result = np.where(tiny, np.copysign(0.0, result), result)
    return result


def fused_sum(terms: np.ndarray, model: Model) -> np.ndarray:
    """Rows of terms (problems x terms), each row added as the model adds one fused sum.
    Returns the exact aligned sum (before the rounding to the accumulator), per row."""
    terms = np.asarray(terms, dtype=np.float64)
    finite = np.isfinite(terms)
    magnitude = np.where(finite, np.abs(terms), 0.0)
    largest = magnitude.max(axis=1)
    _, exponent = np.frexp(np.where(largest > 0, largest, 1.0))
    quantum = np.ldexp(1.0, exponent - 1 - model.fraction_bits)[:, None]  # leading bit at exponent - 1
    with np.errstate(invalid="ignore"):
        scaled = np.where(finite, terms, 0.0) / quantum
    kept = np.trunc(scaled) if model.align_rounding == "truncate" else np.round(scaled)
    total = kept.sum(axis=1) * quantum[:, 0]
    # IEEE specials win: a NaN, or infinities of both signs, give NaN; one sign of infinity gives it.
    positive_inf = (terms == np.inf).any(axis=1)
    negative_inf = (terms == -np.inf).any(axis=1)
    nan = np.isnan(terms).any(axis=1) | (positive_inf & negative_inf)
    total = np.where(positive_inf, np.inf, np.where(negative_inf, -np.inf, total))
    return np.where(nan, np.nan, total)


def dot(a: np.ndarray, b: np.ndarray, c: np.ndarray, model: Model, input_format: str,
        accumulator: str = "f32") -> np.ndarray:
    """Rows of A (problems x K) times rows of B (problems x K), plus c (problems): one
    output element of an mma per problem, under the model."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    c = np.asarray(c, dtype=np.float64)
    if not model.subnormal_inputs:
        floor = min_normal(input_format)
        a = np.where(np.abs(a) < floor, np.copysign(0.0, a), a)
        b = np.where(np.abs(b) < floor, np.copysign(0.0, b), b)
    with np.errstate(invalid="ignore", over="ignore"):
        products = a * b
    if model.product_bits is not None:
        products = np.where(np.isfinite(products) & (products != 0),
                            _round_significand(products, model.product_bits), products)
    after = model.c_entry == "after"
    accumulator_value = np.zeros_like(c) if after else c.copy()
    for columns in block_columns(products.shape[1], model.block, model.interleave):
        terms = np.concatenate([accumulator_value[:, None], products[:, columns]], axis=1)
        accumulator_value = _round_to_accumulator(fused_sum(terms, model), accumulator, model.output_rounding,
                                                  model.subnormal_outputs)
    if after:
        # One IEEE add: the float64 sum of two f32 (f16) values rounded again to f32 (f16)
        # is the correctly rounded sum (53 >= 2 x 24 + 2), specials and signed zeros included.
        with np.errstate(invalid="ignore"):
            return _round_to_accumulator(c + accumulator_value, accumulator, "rne", True)
    return accumulator_value


def block_columns(k: int, block: int | None, interleave: int | None = None) -> list:
    """The products (column indices) of each fused sum, in the order the sums are taken:
    `block` consecutive ones each, or, with `interleave`, runs of that many dealt in turn."""
    count = -(-k // min(block or k, k))
    run = min(block or k, k) if interleave is None else interleave
    owner = (np.arange(k) // run) % count
    return [np.flatnonzero(owner == i) for i in range(count)]


def mma(a: np.ndarray, b: np.ndarray, c: np.ndarray, model: Model, input_format: str,
        accumulator: str = "f32") -> np.ndarray:
    """D = A (m x k) B (k x n) + C (m x n), every element as `dot` computes it."""
    m, k = a.shape
    n = b.shape[1]
    rows = np.repeat(a, n, axis=0)
    columns = np.tile(b.T, (m, 1))
    return dot(rows, columns, np.asarray(c, dtype=np.float64).reshape(-1), model, input_format,
               accumulator).reshape(m, n)


def gemm(a: np.ndarray, b: np.ndarray, model: Model, input_format: str, instruction_k: int,
         accumulator: str = "f32") -> np.ndarray:
    """A GEMM as a chain of mma along K, instruction_k at a time, accumulating in registers."""
    m, k = a.shape
    d = np.zeros((m, b.shape[1]))
    for start in range(0, k, instruction_k):
        d = mma(a[:, start:start + instruction_k], b[start:start + instruction_k], d, model, input_format,
                accumulator)
    return d
