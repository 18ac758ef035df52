"""Number formats the tensor cores read, bit for bit: every code of every narrow format.

The narrow formats (OCP FP8 e4m3/e5m2, FP6 e3m2/e2m3, FP4 e2m1, and the scale formats
ue8m0 and ue4m3) are written out from their definitions, not approximated through
float16: a code's value is (-1)^s x 2^(e - bias) x 1.m, or 2^(1 - bias) x 0.m when
e = 0. The wide formats (f16, bf16, tf32, f32, f64) go through NumPy's IEEE types.
`encode` refuses a value the format cannot hold exactly: the benchmarks only feed
the tensor cores values whose products they can predict.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from smbench.errors import SmbenchError


@dataclass(frozen=True)
class MiniFloat:
    """A small binary float: sign (or none), exponent and mantissa widths, bias, and how
    the top exponent is used (IEEE: inf and NaN; "fn": only all-ones-mantissa is NaN;
    "none": every code is finite; "nan_only_all_ones": unsigned scale formats)."""

    name: str
    exponent_bits: int
    mantissa_bits: int
    bias: int
    signed: bool = True
    special: str = "none"  # "ieee", "fn", "none", "ue8m0"

    @property
    def bits(self) -> int:
        return int(self.signed) + self.exponent_bits + self.mantissa_bits

    def decode(self, code: int) -> float:
        if not 0 <= code < (1 << self.bits):
            raise ValueError(f"{self.name}: code {code} out of range")
        sign_bit = (code >> (self.exponent_bits + self.mantissa_bits)) & 1 if self.signed else 0
        exponent = (code >> self.mantissa_bits) & ((1 << self.exponent_bits) - 1)
        mantissa = code & ((1 << self.mantissa_bits) - 1)
        top = (1 << self.exponent_bits) - 1
        sign = -1.0 if sign_bit else 1.0
        if self.special == "ue8m0":  # exponent only: 2^(e - 127), 0xFF is NaN
            return math.nan if exponent == top else 2.0 ** (exponent - self.bias)
        if self.special == "ieee" and exponent == top:
            return sign * math.inf if mantissa == 0 else math.nan
        if self.special == "fn" and exponent == top and mantissa == (1 << self.mantissa_bits) - 1:
            return math.nan
        if exponent == 0:
            return sign * 2.0 ** (1 - self.bias) * (mantissa / (1 << self.mantissa_bits))
        return sign * 2.0 ** (exponent - self.bias) * (1 + mantissa / (1 << self.mantissa_bits))

    @functools.cached_property
    def values(self) -> np.ndarray:
        """Every code's value, indexed by code."""
        return np.array([self.decode(code) for code in range(1 << self.bits)])

    @property
    def max_finite(self) -> float:
        finite = self.values[np.isfinite(self.values)]
        return float(finite.max())

    @functools.cached_property
    def _code_of(self) -> dict:
        """Value -> its first code, for the finite values, the infinities and NaN."""
        found: dict = {}
        for code, value in enumerate(self.values):
            key = "nan" if math.isnan(value) else float(value)
            found.setdefault(key, code)
        return found

    @functools.cached_property
    def _sorted(self) -> tuple[np.ndarray, np.ndarray]:
        """(the distinct finite and infinite values, ascending; each one's first code)."""
        ordered = sorted((v, c) for v, c in self._code_of.items() if v != "nan")
        return np.array([v for v, _ in ordered]), np.array([c for _, c in ordered], dtype=np.uint64)

    def encode_many(self, values: np.ndarray) -> np.ndarray:
        """encode() of every element at once (uint64 codes, the same shape): a table lookup,
        for the thousands of values a numerics probe packs."""
        values = np.asarray(values, dtype=np.float64)
        table, codes = self._sorted
        at = np.clip(np.searchsorted(table, values), 0, len(table) - 1)
        out = codes[at].copy()
        nan = np.isnan(values)
        if nan.any():
            if "nan" not in self._code_of:
                raise SmbenchError(f"nan is not exactly representable in {self.name}")
            out[nan] = self._code_of["nan"]
        missing = ~nan & (table[at] != values)
        if missing.any():
            raise SmbenchError(f"{values[missing].flat[0]!r} is not exactly representable in {self.name}")
        if self.signed:  # -0 is the sign bit alone
            out[(values == 0) & np.signbit(values)] = 1 << (self.bits - 1)
        return out

    def encode(self, value: float) -> int:
        """The code holding exactly this value (-0 is the sign bit alone where the format has
        one; NaN the first NaN code); an error if there is none."""
        if value == 0 and math.copysign(1.0, value) < 0 and self.signed:
            return 1 << (self.bits - 1)
        code = self._code_of.get("nan" if math.isnan(value) else float(value))
        if code is None:
            raise SmbenchError(f"{value!r} is not exactly representable in {self.name}")
        return code


# OCP 8-bit floating point (OFP8) and OCP Microscaling (MX) formats, as PTX names them.
MINIFLOATS: dict[str, MiniFloat] = {
    "e4m3": MiniFloat("e4m3", 4, 3, 7, special="fn"),  # max 448, no infinities, S.1111.111 is NaN
    "e5m2": MiniFloat("e5m2", 5, 2, 15, special="ieee"),  # max 57344, IEEE infinities and NaNs
    "e3m2": MiniFloat("e3m2", 3, 2, 3),  # FP6, max 28, every code finite
    "e2m3": MiniFloat("e2m3", 2, 3, 1),  # FP6, max 7.5
    "e2m1": MiniFloat("e2m1", 2, 1, 1),  # FP4, max 6
    "ue8m0": MiniFloat("ue8m0", 8, 0, 127, signed=False, special="ue8m0"),  # MX block scale 2^(e-127)
    "ue4m3": MiniFloat("ue4m3", 4, 3, 7, signed=False, special="fn"),  # NVFP4 block scale, max 448
}

# The wide formats: (bits of one element, NumPy type whose bit pattern it is).
_WIDE = {"f16": 16, "bf16": 16, "tf32": 32, "f32": 32, "f64": 64}
INTEGERS = {"s8": (8, -128, 127), "s4": (4, -8, 7), "s32": (32, -2**31, 2**31 - 1)}


def bits(name: str) -> int:
    if name in MINIFLOATS:
        return MINIFLOATS[name].bits
    if name in _WIDE:
        return _WIDE[name]
    if name in INTEGERS:
        return INTEGERS[name][0]
    raise KeyError(name)


def encode(name: str, value: float) -> int:
    """One value's bit pattern in a format, refused unless the format holds it exactly."""
    if name in MINIFLOATS:
        return MINIFLOATS[name].encode(value)
    if name in INTEGERS:
        width, low, high = INTEGERS[name]
        if value != int(value) or not low <= value <= high:
            raise SmbenchError(f"{value!r} is not a {name} integer")
        return int(value) & ((1 << width) - 1)
    exact = {"f16": np.float16, "bf16": np.float32, "tf32": np.float32, "f32": np.float32, "f64": np.float64}[name]
    converted = exact(value)
    if float(converted) != value:
        raise SmbenchError(f"{value!r} is not exactly representable in {name}")
    if name == "f64":
        return int(np.array(value, dtype=np.float64).view(np.uint64))
    if name == "f16":
        return int(np.array(value, dtype=np.float16).view(np.uint16))
    word = int(np.array(value, dtype=np.float32).view(np.uint32))
    if name == "bf16":
        if word & 0xFFFF:
            raise SmbenchError(f"{value!r} is not exactly representable in bf16")
        return word >> 16
    if name == "tf32" and word & 0x1FFF:
        raise SmbenchError(f"{value!r} is not exactly representable in tf32")
    return word


def decode(name: str, code: int) -> float:
    if name in MINIFLOATS:
        return MINIFLOATS[name].decode(code)
    if name in INTEGERS:
        width = INTEGERS[name][0]
        return float(code - (1 << width) if code >> (width - 1) else code)
    if name == "f64":
        return float(np.array(code, dtype=np.uint64).view(np.float64))
    if name == "f16":
        return float(np.array(code, dtype=np.uint16).view(np.float16))
    if name == "bf16":
        code <<= 16
    return float(np.array(code, dtype=np.uint32).view(np.float32))


def round_to(name: str, values: np.ndarray) -> np.ndarray:
    """Values rounded to a wide format (nearest even), returned as float64: what an f16,
    bf16 or tf32 register holds after each operation."""
    values = np.asarray(values, dtype=np.float64)
    if name == "f16":
        return values.astype(np.float16).astype(np.float64)
    if name == "f32":
        return values.astype(np.float32).astype(np.float64)
    if name == "bf16":
        words = values.astype(np.float32).view(np.uint32).astype(np.uint64)
        rounded = (words + 0x7FFF + ((words >> 16) & 1)) & 0xFFFF0000
        return rounded.astype(np.uint32).view(np.float32).astype(np.float64)
    if name == "tf32":  # f32 with 10 stored mantissa bits: the 13 low bits rounded off, ties to even
        words = values.astype(np.float32).view(np.uint32).astype(np.uint64)
        rounded = (words + 0xFFF + ((words >> 13) & 1)) & 0xFFFFE000
        return rounded.astype(np.uint32).view(np.float32).astype(np.float64)
    if name == "f64":
        return values
    raise KeyError(name)
