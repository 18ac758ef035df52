"""The element types a collective moves, as NCCL has them (ncclDataType_t, nccl.h), and how
smbench holds them: a buffer stores each element's own bits (bf16 as 16-bit words, fp8 as bytes,
where the array library has no such type); the patterns and the checks work on their values,
as float64 for the floating types (every value of each fits it exactly) and int64 for the
integers.

`exact` is the bound E within which every integer is held exactly (a float's 2^(mantissa bits
+ 1), an integer type's largest value): the patterns keep every partial sum within it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from smbench.formats import MINIFLOATS


@dataclass(frozen=True)
class DType:
    name: str
    storage: str  # the NumPy type of one element's bits in a buffer
    size: int  # bytes per element
    kind: str  # "float", "int" (signed) or "uint"
    exact: int  # every integer in [-exact, exact] (ints: within the type) is held exactly
    nccl: int  # ncclDataType_t (nccl.h)
    mpi: str | None  # MPI's own type whose sum, product, min and max are this type's; None: words + user ops
    nccl_since: tuple[int, int] = (2, 0)  # the NCCL release that has the type (fp8: 2.24, nccl.h)

    @property
    def is_float(self) -> bool:
        return self.kind == "float"


# nccl.h: ncclInt8 0, ncclUint8 1, ncclInt32 2, ncclUint32 3, ncclInt64 4, ncclUint64 5, ncclFloat16 6,
# ncclFloat32 7, ncclFloat64 8, ncclBfloat16 9, ncclFloat8e4m3 10, ncclFloat8e5m2 11 (the fp8 two
# from NCCL 2.24.3, December 2024).
DTYPES = {t.name: t for t in (
    DType("f32", "float32", 4, "float", 1 << 24, 7, "FLOAT"),
    DType("bf16", "uint16", 2, "float", 1 << 8, 9, None),
    DType("f16", "float16", 2, "float", 1 << 11, 6, None),
    DType("f64", "float64", 8, "float", 1 << 53, 8, "DOUBLE"),
    DType("int8", "int8", 1, "int", 127, 0, "INT8_T"),
    DType("uint8", "uint8", 1, "uint", 255, 1, "UINT8_T"),
    DType("int32", "int32", 4, "int", 2 ** 31 - 1, 2, "INT32_T"),
    DType("int64", "int64", 8, "int", 2 ** 63 - 1, 4, "INT64_T"),
    DType("e4m3", "uint8", 1, "float", 1 << 4, 10, None, (2, 24)),
    DType("e5m2", "uint8", 1, "float", 1 << 3, 11, None, (2, 24)),
)}

# What an output buffer holds before the collective, in the value domain: NaN for the floats (no
# expected value is NaN, and NaN equals nothing), the type's least value for the signed integers
# and 0 for uint8 (the patterns never produce either). An element never written cannot pass.
_SENTINEL_INT = {"int8": -128, "int32": -2 ** 31, "int64": -2 ** 63, "uint8": 0}


def sentinel(dtype: str):
    return float("nan") if DTYPES[dtype].is_float else _SENTINEL_INT[dtype]


def domain(xp, dtype: str):
    """The array type of values: float64 for the floats, int64 for the integers."""
    return xp.float64 if DTYPES[dtype].is_float else xp.int64


@functools.lru_cache(maxsize=None)
def _decoded(dtype: str) -> np.ndarray:
    """Every code's value (NaN, infinities included), indexed by code, for the 8- and 16-bit floats."""
    if dtype in MINIFLOATS:
        return MINIFLOATS[dtype].values
    codes = np.arange(1 << 16, dtype=np.uint32)
    with np.errstate(invalid="ignore"):  # the NaN codes
        if dtype == "bf16":
            return (codes << 16).view(np.float32).astype(np.float64)
        return codes.astype(np.uint16).view(np.float16).astype(np.float64)


@functools.lru_cache(maxsize=None)
def finite_values(dtype: str) -> np.ndarray:
    """Every finite value of an 8- or 16-bit float, sorted, each once (-0 left out: it equals 0)."""
    values = _decoded(dtype)
    return np.unique(values[np.isfinite(values)]) + 0.0  # + 0.0: the zero kept is +0


@functools.lru_cache(maxsize=None)
def _codes_of_finite(dtype: str) -> np.ndarray:
    """The code of each of finite_values(dtype) (the positive zero's for 0)."""
    values = _decoded(dtype)
    order = np.argsort(values, kind="stable")  # NaNs last; +0 (code 0) before -0 (a higher code)
    positions = np.searchsorted(values[order], finite_values(dtype), side="left")  # each value's first code
    return order[positions].astype(np.uint8 if DTYPES[dtype].size == 1 else np.uint16)


_DEVICE_TABLES: dict = {}


def _table(xp, key: str, make):
    """A lookup table on xp's device, made once per array library."""
    found = _DEVICE_TABLES.get((xp.__name__, key))
    if found is None:
        found = _DEVICE_TABLES[(xp.__name__, key)] = xp.asarray(make())
    return found


_NAN_CODE = {"e4m3": 0x7F, "e5m2": 0x7F, "bf16": 0x7FC0}


def encode(xp, values, dtype: str):
    """Values (each exactly representable, or the sentinel) in the type's storage."""
    t = DTYPES[dtype]
    if t.name in ("e4m3", "e5m2"):
        finite = _table(xp, f"{dtype}:finite", lambda: finite_values(dtype))
        codes = _table(xp, f"{dtype}:codes", lambda: _codes_of_finite(dtype))
        where = xp.clip(xp.searchsorted(finite, values), 0, len(finite) - 1)
        return xp.where(xp.isnan(values), xp.uint8(_NAN_CODE[dtype]), codes[where]).astype(xp.uint8)
    if t.name == "bf16":  # the top 16 bits of the exact f32 (its NaN's top half is a bf16 NaN)
        return (values.astype(xp.float32).view(xp.uint32) >> 16).astype(xp.uint16)
    return values.astype(t.storage)


def decode(xp, stored, dtype: str):
    """Stored elements as values (float64 or int64)."""
    t = DTYPES[dtype]
    if t.name in ("e4m3", "e5m2"):
        return _table(xp, f"{dtype}:all", lambda: _decoded(dtype))[stored.astype(xp.int64)]
    if t.name == "bf16":
        return (stored.astype(xp.uint32) << 16).view(xp.float32).astype(xp.float64)
    return stored.astype(domain(xp, dtype))


def sentinel_fill(xp, count: int, dtype: str):
    """A buffer of `count` elements that all hold the sentinel."""
    return encode(xp, xp.full(count, sentinel(dtype), dtype=domain(xp, dtype)), dtype)


# ---------------------------------------------------------------- rounding to a type (the CPU path's user ops)

def round_to(values: np.ndarray, dtype: str) -> np.ndarray:
    """float64 (or float32) values rounded to the nearest value of an 8-, 16- or 32-bit float (ties
    to even), in its storage: what a GPU's conversion gives. fp8 saturates to its largest finite
    value as NCCL's conversions do (__NV_SATFINITE); f16 and bf16 go to infinity past theirs."""
    values = np.asarray(values, dtype=np.float64)
    if dtype in ("f32", "f64", "f16"):
        return values.astype(DTYPES[dtype].storage)
    if dtype == "bf16":
        bits = values.astype(np.float32).view(np.uint32).astype(np.uint64)
        rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
        return np.where(np.isnan(values), np.uint16(_NAN_CODE["bf16"]), rounded.astype(np.uint16))
    finite, codes = finite_values(dtype), _codes_of_finite(dtype)
    clipped = np.clip(values, finite[0], finite[-1])
    above = np.clip(np.searchsorted(finite, clipped), 0, len(finite) - 1)
    below = np.clip(above - 1, 0, len(finite) - 1)
    up, down = finite[above] - clipped, clipped - finite[below]
    # Nearest; a tie goes to the even code (the last mantissa bit 0), as IEEE's nearest-even.
    pick_up = (up < down) | ((up == down) & (codes[above] % 2 == 0))
    chosen = np.where(pick_up, codes[above], codes[below])
    return np.where(np.isnan(values), np.uint8(_NAN_CODE[dtype]), chosen).astype(np.uint8)
