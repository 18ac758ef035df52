"""What every rank gives a collective, and the exact result it must return.

Each input element is a function of (seed, rank, global element index) built from a 64-bit hash
of them (splitmix64's finaliser), as nccl-tests builds its inputs from a hash of (seed, rank,
index) (verifiable/verifiable.cu) rather than from a short period that a chunk length can line up
with. The hash feeds a rule per reduction that keeps the result exact in the type and makes every
wrong result differ from the right one:

- copies (all_gather, alltoall, broadcast, sendrecv, gather, scatter): any finite value of the
  type (the integers' least value and uint8's 0 left for the sentinel), so two blocks of
  different ranks or places differ at almost every element;
- sum: +-m with m in 1..a, never 0, so leaving any rank out changes every element. At each
  element between p_low and p_high ranks are positive (a rotation of the ranks by a hashed
  offset), the rest negative, and a is chosen so that no partial sum in any order leaves the
  type's exact integers: at most `most` ranks of one sign, most x a <= E. The number of positive
  ranks is hashed per element too, so the sums vary along the buffer;
- avg: NCCL's ncclAvg is, for the floats, a sum of each input multiplied by the type's 1/n
  (ncclDevPreMulSum, enqueue.cc), for the integers the sum divided by n (ncclDevSumPostDiv). The
  inputs are n x y with y a sum pattern: n*y*round(1/n) rounds back to y exactly (checked for
  each y, in the type's own multiply, through f32 and, for fp8, through f16, the ways NCCL's
  kernels multiply), and the integers' sum n*Y divides exactly; the result is Y;
- prod: at each element one rank (rotating) gives a factor of many values, as nccl-tests' product
  pattern does, so that products differ along the buffer: floats a mantissa m in (1, 2), signed
  integers an odd number 3..H; the others +-2^(+-1) (floats, the exponents balanced as a sum's
  signs, every partial product a normal number) or +-2 and -1 (integers, at most T twos, H x 2^T
  within the type); uint8 odd numbers 3..255 on every rank (their product mod 256, uint8's own
  arithmetic, is exact and changes when any factor is left out: odd numbers are invertible). No
  factor is 1, so leaving out any rank changes every element;
- min, max: at each element the ranks hold n consecutive values of the type in an order that
  rotates along the buffer: within each aligned run of n elements every rank holds the smallest
  value once and the largest once, so leaving out any rank changes some element of any buffer of
  n elements or more (with fewer elements than ranks, a rank that holds no extreme cannot be
  missed by min or max: no input pattern can catch that).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from smbench.families.collectives import dtypes as dt

OPS = ("sum", "prod", "min", "max", "avg")


class NotExact(ValueError):
    """No input pattern of this reduction over this many ranks is exact in this type."""


def _u64(xp, value: int):
    return xp.uint64(value % (1 << 64))


def _mix(xp, x):
    """splitmix64's finaliser: every output bit depends on every input bit."""
    x = x ^ (x >> _u64(xp, 30))
    x = x * _u64(xp, 0xBF58476D1CE4E5B9)
    x = x ^ (x >> _u64(xp, 27))
    x = x * _u64(xp, 0x94D049BB133111EB)
    return x ^ (x >> _u64(xp, 31))


def _hash(xp, seed: int, salt: int, index, rank=None):
    """A 64-bit hash per element of `index` (an int64 array), and per rank when given (an int,
    or an int64 array that broadcasts against `index`)."""
    x = index.astype(xp.uint64) * _u64(xp, 0x9E3779B97F4A7C15) + _u64(xp, seed * 0x632BE59BD9B4E019 + salt * 0x2545F4914F6CDD1D)
    if rank is not None:  # at least one dimension: NumPy warns of a 0-d array's wrap-around, not of an array's
        x = x + (xp.atleast_1d(xp.asarray(rank)).astype(xp.uint64) + _u64(xp, 1)) * _u64(xp, 0xD1B54A32D192ED03)
    return _mix(xp, _mix(xp, x))


def _below(xp, h, bound: int):
    """h mod bound as int64 (bound >= 1)."""
    return (h % _u64(xp, bound)).astype(xp.int64)


@dataclass(frozen=True)
class Pattern:
    kind: str  # "copy", "sum", "avg", "prod", "min", "max"
    dtype: str
    ranks: int
    a: int = 1  # sum, avg: the largest magnitude of a share; prod (signed integers): the largest odd factor
    p_low: int = 0  # sum, avg, prod: the fewest ranks of the first kind (positive, 2^+1, a two) at an element
    p_high: int = 0  # ... and the most
    scale: int = 1  # avg: each input is scale x its share
    shares: tuple[int, ...] = ()  # avg of floats: the shares 1..a that n x share x round(1/n) gives back


# ---------------------------------------------------------------- the value sets

def _span(dtype: str) -> tuple[int, int, np.ndarray | None]:
    """(how many values, the first one, the table or None): the copy and min/max patterns'
    values, V[k] = table[k] or first + k. The wide types use consecutive integers, exact in them."""
    t = dt.DTYPES[dtype]
    if t.is_float and t.size <= 2:
        table = dt.finite_values(dtype)
        return len(table), 0, table
    return {"f32": (1 << 24, -(1 << 23), None), "f64": (1 << 53, -(1 << 52), None),
            "int8": (255, -127, None), "uint8": (255, 1, None), "int32": (1 << 31, -(1 << 30), None),
            "int64": (1 << 62, -(1 << 61), None)}[dtype]


def _pick(xp, dtype: str, k):
    """V[k] as values (float64 or int64)."""
    length, first, table = _span(dtype)
    if table is not None:
        return dt._table(xp, f"{dtype}:finite", lambda: table)[k]
    return (k + first).astype(dt.domain(xp, dtype))


# ---------------------------------------------------------------- which pattern, and whether one is exact

def _split(ranks: int, a_most: int, sub_most: int, signed: bool) -> tuple[int, int, int]:
    """(a, p_low, p_high) of a sum pattern: shares +-1..a with a <= a_most, and at most `most`
    ranks of one sign at an element so that any partial sum stays within sub_most."""
    if not signed:
        return min(a_most, sub_most // ranks), ranks, ranks
    a = min(a_most, sub_most // (ranks // 2 + 1))
    if a < 1:
        return 0, 0, 0
    most = min(ranks, sub_most // a)
    return a, ranks - most, most


def _scalar_of_one_over(dtype: str, ranks: int) -> float:
    """The multiplier NCCL's ncclAvg uses (enqueue.cc): 1/n in double, through float, to the type."""
    if dtype == "f64":
        return 1.0 / ranks
    through_float = np.float32(1.0 / ranks)
    if dtype == "f32":
        return float(through_float)
    return float(dt.decode(np, dt.round_to(np.array([through_float], np.float64), dtype), dtype)[0])


def premultiplied(shares: np.ndarray, dtype: str, ranks: int) -> dict[str, np.ndarray]:
    """round(x * round(1/n)) for x = n * share, each way an NCCL kernel multiplies (FuncPreMulSum,
    reduce_kernel.h): in the type itself (half2, bf16x2, double), through f32 (older GPUs), and
    for fp8 through f16 (sm_90 and later)."""
    scalar = _scalar_of_one_over(dtype, ranks)
    exact = shares.astype(np.float64) * ranks * scalar  # exact for every type up to f32 (24 + 24 bits)
    ways = {"in the type": dt.decode(np, dt.round_to(exact, dtype), dtype)}
    if dtype not in ("f32", "f64"):
        ways["through f32"] = dt.decode(np, dt.round_to(exact.astype(np.float32), dtype), dtype)
    if dtype in ("e4m3", "e5m2"):
        ways["through f16"] = dt.decode(np, dt.round_to(exact.astype(np.float16), dtype), dtype)
    return ways


AVG_LARGEST_SHARE = 4096  # the wide floats' avg shares: plenty of values, each checked once


@functools.lru_cache(maxsize=None)
def avg_float_shares(dtype: str, ranks: int) -> tuple[int, ...]:
    """The shares y in 1..E/n (at most AVG_LARGEST_SHARE) that come back exactly from
    n*y*round(1/n), every way NCCL multiplies (n*y itself exact in the type)."""
    most = min(dt.DTYPES[dtype].exact // ranks, AVG_LARGEST_SHARE)
    shares = np.arange(1, most + 1, dtype=np.float64)
    good = np.logical_and.reduce([back == shares for back in premultiplied(shares, dtype, ranks).values()])
    return tuple(int(y) for y in shares[good])


@functools.lru_cache(maxsize=None)
def _mantissas(dtype: str) -> np.ndarray:
    """A float type's values strictly between 1 and 2 (the wide types: 1 + k/2^20, exact in both)."""
    if dtype in ("f32", "f64"):
        return 1 + np.arange(1, 1 << 20, dtype=np.float64) / (1 << 20)
    values = dt.finite_values(dtype)
    return values[(values > 1) & (values < 2)]


def _prod_exponent_limit(dtype: str) -> int:
    """The largest k such that m x 2^j is a normal number of the type for every mantissa m of
    _mantissas and every |j| <= k (so every partial product is exact, subnormals never met)."""
    if dtype in ("f32", "f64"):
        return {"f32": 120, "f64": 1000}[dtype]
    smallest_normal = {"f16": -14, "bf16": -126, "e4m3": -6, "e5m2": -14}[dtype]  # 2^(1 - bias)
    high = int(np.floor(np.log2(dt.finite_values(dtype).max() / _mantissas(dtype).max())))
    return min(high, -smallest_normal)


# Signed integers' products: the holder's odd factor is at most H, the others give at most T twos.
_INT_PROD = {"int8": (15, 3), "int32": ((1 << 15) - 1, 15), "int64": ((1 << 31) - 1, 31)}


@functools.lru_cache(maxsize=None)
def pattern(op: str | None, dtype: str, ranks: int) -> Pattern:
    """The pattern of a collective's inputs: op None for the copies. NotExact says why none fits."""
    t = dt.DTYPES[dtype]
    if op is None:
        return Pattern("copy", dtype, ranks)
    if op in ("min", "max"):
        if _span(dtype)[0] < ranks:
            raise NotExact(f"{dtype} has fewer than {ranks} values")
        return Pattern(op, dtype, ranks)
    if op == "sum":
        a, low, high = _split(ranks, t.exact, t.exact, t.kind != "uint")
        if a < 1:
            raise NotExact(f"the sums of {ranks} nonzero inputs leave {dtype}'s exact integers (up to {t.exact})")
        return Pattern("sum", dtype, ranks, a, low, high)
    if op == "avg":
        shares: tuple[int, ...] = ()
        if t.is_float:
            good = avg_float_shares(dtype, ranks)
            a, low, high = _split(ranks, max(good, default=0), t.exact, True)
            shares = tuple(y for y in good if y <= a)
        else:  # the sum n x Y must stay within the type, and divide exactly
            a, low, high = _split(ranks, t.exact // ranks, t.exact // ranks, t.kind != "uint")
        if a < 1:
            raise NotExact(f"no nonzero inputs n x y of {ranks} ranks whose average NCCL computes exactly in {dtype}")
        return Pattern("avg", dtype, ranks, a, low, high, scale=ranks, shares=shares)
    if op == "prod":
        if t.kind == "uint":
            return Pattern("prod", dtype, ranks)  # odd factors, modulo 256
        others = ranks - 1  # besides the rank that gives the many-valued factor
        if t.kind == "int":
            largest, twos = _INT_PROD[dtype]
            most = min(others, twos)
            return Pattern("prod", dtype, ranks, largest, max(0, most - 1), most)
        a, low, high = _split(others, 1, _prod_exponent_limit(dtype), True) if others else (1, 0, 0)
        if a < 1:
            raise NotExact(f"the products of {ranks} factors 2^+-1 and a mantissa leave {dtype}'s normal numbers")
        return Pattern("prod", dtype, ranks, 1, low, high)
    raise ValueError(op)


def not_exact(op: str | None, dtype: str, ranks: int) -> str:
    """Why no pattern of this reduction is exact here ('' when one is)."""
    try:
        pattern(op, dtype, ranks)
    except NotExact as why:
        return str(why)
    return ""


# ---------------------------------------------------------------- inputs and exact results

def _count_at(xp, pat: Pattern, seed: int, index):
    """How many ranks are of the first kind at each element (between p_low and p_high)."""
    return pat.p_low + _below(xp, _hash(xp, seed, 1, index), pat.p_high - pat.p_low + 1)


def _first_kind(xp, pat: Pattern, seed: int, rank, index):
    """Whether the rank is one of the first `_count_at` ranks after a hashed rotation."""
    offset = _below(xp, _hash(xp, seed, 2, index), pat.ranks)
    return (rank + offset) % pat.ranks < _count_at(xp, pat, seed, index)


def inputs(xp, pat: Pattern, rank, index, seed: int):
    """The inputs of `rank` (an int, or an int64 array broadcasting against `index`) at the global
    elements `index` (int64), as values (float64 or int64)."""
    t = dt.DTYPES[pat.dtype]
    value_type = dt.domain(xp, pat.dtype)
    if pat.kind == "copy":
        length, _, _ = _span(pat.dtype)
        return _pick(xp, pat.dtype, _below(xp, _hash(xp, seed, 7, index, rank), length))
    if pat.kind in ("sum", "avg"):
        if pat.shares:
            table = dt._table(xp, f"shares:{pat.dtype}:{pat.ranks}", lambda: np.array(pat.shares, dtype=np.int64))
            share = table[_below(xp, _hash(xp, seed, 3, index, rank), len(pat.shares))]
        else:
            share = 1 + _below(xp, _hash(xp, seed, 3, index, rank), pat.a)
        signed = xp.where(_first_kind(xp, pat, seed, rank, index), share, -share)
        return (signed * pat.scale).astype(value_type)
    if pat.kind == "prod":
        if t.kind == "uint":
            return (3 + 2 * _below(xp, _hash(xp, seed, 3, index, rank), 127)).astype(value_type)
        sign = 1 - 2 * _below(xp, _hash(xp, seed, 4, index, rank), 2)
        # The holder of the many-valued factor is the last rank after the rotation; the others are
        # ranked first to last and the first _count_at of them take the first kind.
        place = (rank + _below(xp, _hash(xp, seed, 2, index), pat.ranks)) % pat.ranks
        holder = place == pat.ranks - 1
        chosen = place < _count_at(xp, pat, seed, index)
        many = _hash(xp, seed, 8, index, rank)
        if t.kind == "int":  # holder: an odd 3..a; the others a two (of either sign) or -1
            odd = 3 + 2 * _below(xp, many, (pat.a - 1) // 2)
            return xp.where(holder, sign * odd, xp.where(chosen, 2 * sign, -1)).astype(value_type)
        mantissas = _mantissas(pat.dtype)
        m = dt._table(xp, f"mantissas:{pat.dtype}", lambda: mantissas)[_below(xp, many, len(mantissas))]
        power = xp.ldexp(xp.ones_like(m), xp.where(chosen, 1, -1).astype(xp.int32))
        return sign * xp.where(holder, m, power)
    # min, max: n consecutive values of the type; the rank's place among them rotates with the element
    length, _, _ = _span(pat.dtype)
    n = pat.ranks
    turn = _below(xp, _hash(xp, seed, 5, index // n), n)
    place = (rank + index + turn) % n
    start = _below(xp, _hash(xp, seed, 6, index), length - n + 1)
    return _pick(xp, pat.dtype, start + place)


def reduced(xp, pat: Pattern, index, seed: int):
    """The exact reduction over every rank at the global elements `index`: avg's is the sum of
    the shares (the inputs are n x their shares), uint8's product is modulo 256."""
    total = None
    for rank in range(pat.ranks):
        x = inputs(xp, pat, rank, index, seed)
        if total is None:
            total = x
        elif pat.kind in ("sum", "avg"):
            total = total + x
        elif pat.kind == "prod":
            total = (total * x) % 256 if dt.DTYPES[pat.dtype].kind == "uint" else total * x
        elif pat.kind == "min":
            total = xp.minimum(total, x)
        else:
            total = xp.maximum(total, x)
    if pat.kind == "avg":
        total = total // pat.scale if not dt.DTYPES[pat.dtype].is_float else total / pat.scale
    return total
