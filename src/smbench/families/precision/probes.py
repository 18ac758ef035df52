"""The numerics probes: small dot products whose exact answers tell the hypotheses of
smbench.emulate apart (Fasi et al. 2021's method: small terms beside large ones that
cancel, half-ulp sums, carries), each built only from values the format holds exactly.

Every probe is one dot product: a row of A, a column of B (K values each) and c. The fit
(smbench.families.precision) asks a device all of them and keeps the models that answer
each one as the device did.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np

from smbench import emulate, formats


# ---------------------------------------------------------------- what a format can hold

@dataclass(frozen=True)
class Facts:
    mantissa_bits: int
    min_normal: float
    min_subnormal: float
    max_finite: float
    has_inf: bool
    has_nan: bool
    pow2: tuple[float, ...]  # every power of two the format holds exactly (normal or subnormal)


def facts(name: str) -> Facts:
    if name in formats.MINIFLOATS:
        fmt = formats.MINIFLOATS[name]
        values = fmt.values[np.isfinite(fmt.values) & (fmt.values > 0)]
        pow2 = tuple(float(v) for v in values if math.frexp(v)[0] == 0.5)
        return Facts(fmt.mantissa_bits, emulate.min_normal(name), float(values.min()), float(values.max()),
                     bool(np.isinf(fmt.values).any()), bool(np.isnan(fmt.values).any()), pow2)
    mantissa, low, high, top = {"f16": (10, -24, 15, 65504.0), "bf16": (7, -133, 127, 3.3895313892515355e38),
                                "tf32": (10, -136, 127, 3.4011621342146535e38)}[name]
    return Facts(mantissa, emulate.min_normal(name), 2.0**low, top, True, True,
                 tuple(2.0**e for e in range(low, high + 1)))


def accumulator_max(name: str) -> float:
    return float(np.finfo(np.float32 if name == "f32" else np.float16).max)


# ---------------------------------------------------------------- problems

@dataclass
class Problems:
    """Probe problems, each one dot product: a and b (problems x K), c (problems), and for the
    block-scaled kinds the scales of A's row and B's column per scale block (None: all 1)."""

    a: list = field(default_factory=list)
    b: list = field(default_factory=list)
    c: list = field(default_factory=list)
    what: list = field(default_factory=list)
    sa: list = field(default_factory=list)
    sb: list = field(default_factory=list)

    def add(self, k: int, terms: list[tuple[int, float, float]], c: float, what: str,
            scales: tuple[list, list] | None = None) -> None:
        a, b = np.zeros(k), np.zeros(k)
        for position, x, y in terms:
            a[position], b[position] = x, y
        self.a.append(a)
        self.b.append(b)
        self.c.append(c)
        self.what.append(what)
        self.sa.append(None if scales is None else list(scales[0]))
        self.sb.append(None if scales is None else list(scales[1]))

    def extend(self, other: "Problems") -> None:
        for name in ("a", "b", "c", "what", "sa", "sb"):
            getattr(self, name).extend(getattr(other, name))

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return np.array(self.a), np.array(self.b), np.array(self.c, dtype=np.float64)

    def scales(self, fmt) -> tuple[np.ndarray, np.ndarray] | None:
        """(A's, B's) scales, problems x scale blocks, for a block-scaled format; else None."""
        if not fmt.scale:
            return None
        blocks = fmt.k // fmt.scale_block
        def column(values):
            return np.array([np.ones(blocks) if v is None else v for v in values], dtype=np.float64).reshape(-1, blocks)
        return column(self.sa), column(self.sb)

    def __len__(self) -> int:
        return len(self.c)


@functools.lru_cache(maxsize=None)
def _pair(value: float, fx: Facts) -> tuple[float, float] | None:
    """Two powers of two of the format whose product is `value` (a power of two), or None.
    Both factors normal where possible (a device that flushes subnormal inputs must still
    see the probe), the first the larger (so that 1.5 times it is more likely held too)."""
    splits = [(x, value / x) for x in fx.pow2 if value / x in fx.pow2]
    if not splits:
        return None
    normal = [(x, y) for x, y in splits if min(x, y) >= fx.min_normal]
    # Balanced factors first among the normal ones, then the larger first factor.
    return max(normal, key=lambda xy: (-abs(math.log2(xy[0]) - math.log2(xy[1]) - 1), xy[0])) if normal else \
        max(splits, key=lambda xy: xy[0])


def _normal_split(value: float, fx: Facts) -> bool:
    pair = _pair(value, fx)
    return pair is not None and min(pair) >= fx.min_normal


def _normal_first(powers: list[float], fx: Facts) -> list[float]:
    """Powers whose factors can both be normal first (in order), then the rest: a device that
    flushes subnormal inputs must still see the probe."""
    return [q for q in powers if _normal_split(q, fx)] + [q for q in powers if not _normal_split(q, fx)]


def _powers(fx: Facts) -> list[float]:
    """Every power of two that is a product of two of the format's powers of two."""
    return sorted({x * y for x in fx.pow2 for y in fx.pow2})


def input_probes(fmt) -> Problems:
    """Subnormal inputs: one product, no alignment to speak of."""
    fx, k = facts(fmt.input_format), fmt.k
    p = Problems()
    # The smallest subnormal times the largest power of two: a normal result in the
    # accumulator, so that only the input's flushing can make it zero.
    p.add(k, [(0, fx.min_subnormal, max(fx.pow2))], 0.0, "smallest subnormal x largest power of two")
    return p


def sum_probes(fmt) -> Problems:
    """Fraction bits, alignment and output rounding, and block size, as Fasi et al. probe
    them: small terms beside large ones that cancel, and half-ulp carries. Where c enters
    shows in (i), (iv) and (v) together: c added after the products with one rounding to
    nearest rounds 2^E plus 0.75 or 1.5 ulp to nearest in (iv) and (v), and in (i) leaves
    only what the products' sum kept once rounded to the accumulator (at most its width
    below big, whatever the fraction bits); no fused sum answers all three so (checked
    against the sm_90 FP8 emulation in tests/test_emulate_fp8_sm90.py). (vi) and (vii) read
    the blocks and the fraction bits when c is added after.
    """
    fx = facts(fmt.input_format)
    acc_bits = 24 if fmt.accumulator == "f32" else 11
    top = accumulator_max(fmt.accumulator) / 4
    powers = [q for q in _powers(fx) if q <= top]
    p = Problems()
    big = max(powers)
    # Only what fraction bits up to the emulator's limit can tell apart.
    reach = [q for q in powers if q >= big * 2.0 ** -(emulate.FP32_FRACTION + emulate.MAX_NEAB + 6)]
    ordered = _normal_first(powers, fx)
    smallest = next(q for q in ordered if q >= emulate.min_normal(fmt.accumulator))
    _cancelling_probes(fmt, fx, big, top, reach, p)  # (i)
    _shared_sum_probes(fmt.k, fx, big, smallest, p, dealt=False)  # (ii)
    _alignment_probes(fmt, fx, acc_bits, top, ordered, p)  # (v)
    _half_ulp_probes(fmt, fx, acc_bits, top, powers, ordered, p)  # (iii), (iv)
    # (vi) big at 0, -big at j, the same small s at 1: with (ii), which positions share a sum
    # when the sums take products in runs dealt in turn rather than in blocks.
    _shared_sum_probes(fmt.k, fx, big, smallest, p, dealt=True)
    _cancelled_probes(fmt, fx, big, top, reach, p)  # (vii)
    _anchor_probes(fmt, fx, powers, p)
    _carry_probes(fmt, fx, p)
    _width_probes(fmt, fx, powers, p)
    return p


def _cancelling_probes(fmt, fx: Facts, big: float, top: float, reach: list[float], p: Problems) -> None:
    """(i) c = -n big, n products of big, then one small product s (and 1.5 s): s survives
    alignment iff it is within the fraction bits of big (x n)."""
    k = fmt.k
    for count in sorted({1, k - 1}):
        if count * big > top:
            continue
        bigs = [(i, *_pair(big, fx)) for i in range(count)]
        for s in reach:
            if s >= big:
                continue
            small = _pair(s, fx)
            p.add(k, bigs + [(count, *small)], -count * big, f"{count} x {big:g} - {count} x {big:g} + {s:g}")
            if representable(fmt.input_format, 1.5 * small[0]):
                p.add(k, bigs + [(count, 1.5 * small[0], small[1])], -count * big,
                      f"{count} x {big:g} - {count} x {big:g} + 1.5 x {s:g}")


def _shared_sum_probes(k: int, fx: Facts, big: float, smallest: float, p: Problems, dealt: bool) -> None:
    """big at 0, -big beside it, a small s at j (j from 2 to k - 1): s is lost iff it shares a
    fused sum with big. (ii) in blocks: -big at 1, s at j; (vi) dealt: -big at j, s at 1."""
    pair, small = _pair(big, fx), _pair(smallest, fx)
    for j in range(2, k):
        if dealt:
            p.add(k, [(0, *pair), (j, -pair[0], pair[1]), (1, *small)], 0.0,
                  f"{big:g} at 0 - {big:g} at {j} + {smallest:g} at 1")
        else:
            p.add(k, [(0, *pair), (1, -pair[0], pair[1]), (j, *small)], 0.0, f"{big:g} - {big:g} + {smallest:g} at {j}")


def _alignment_probes(fmt, fx: Facts, acc_bits: int, top: float, ordered: list[float], p: Problems) -> None:
    """(v) c = 2^E and one product 2^(E - t) (or 1.5 times it): it survives the alignment
    iff t <= the fraction bits; visible in the accumulator up to its own width. With n equal
    products of 2^(E - width - log2 n) the same reaches log2 n bits further (the n sum to
    one ulp only if every one was kept). Formats too narrow to cancel large terms need these."""
    k = fmt.k
    for t in range(1, acc_bits + int(math.log2(k)) + 1):
        n = 1 if t < acc_bits else 2 ** (t - acc_bits + 1)
        if n > k:
            continue
        plain = half = False
        for u in ordered:
            e = math.log2(u) + t
            if 2.0**e > top or e < 0:
                continue
            pair = _pair(u, fx)
            if not plain:
                p.add(k, [(i, *pair) for i in range(n)], 2.0**e, f"2^{e:g} + {n} x 2^{e - t:g}")
                plain = True
            if not half and representable(fmt.input_format, 1.5 * pair[0]):
                p.add(k, [(i, 1.5 * pair[0], pair[1]) for i in range(n)], 2.0**e,
                      f"2^{e:g} + {n} x 1.5 x 2^{e - t:g}")
                half = True
            if plain and half:
                break


def _half_ulp_probes(fmt, fx: Facts, acc_bits: int, top: float, powers: list[float], ordered: list[float],
                     p: Problems) -> None:
    """(iii) c = 2^E and two half-ulp products u at 0 and j: c + ulp iff they share a fused
    sum. (iv) output rounding: 2^E + u + u/2 = 2^E + 0.75 ulp."""
    k = fmt.k
    for q in (1, 2):
        for u in ordered:
            e = math.log2(u) + acc_bits - 1 + q  # u = 2^(E - acc_bits + 1 - q)
            if 2.0**e > top or e < 0 or u / 2 not in powers:
                continue
            pair = _pair(u, fx)
            for j in range(1, k):
                p.add(k, [(0, *pair), (j, *pair)], 2.0**e, f"2^{e:g} + {u:g} at 0 and {j}")
            if q == 1 and u / 2 in powers:  # (iv)
                p.add(k, [(0, *pair), (1, *_pair(u / 2, fx))], 2.0**e, f"2^{e:g} + 0.75 ulp")
            break  # one u per q is enough


def _cancelled_probes(fmt, fx: Facts, big: float, top: float, reach: list[float], p: Problems) -> None:
    """(vii) big, -big, then s (and 1.5 s) at every other position: the products cancel among
    themselves, so what a sum keeps below big shows even when c is added only after the
    products (c = -big, as in (i), would meet them already rounded to the accumulator);
    the copies of s in the sums big is not in add exactly (s normal in the accumulator, so
    that no sum is subnormal: subnormal outputs are the next stage's question)."""
    k = fmt.k
    for s in reach:
        if s >= big or (k - 2) * 1.5 * s > top or s < emulate.min_normal(fmt.accumulator):
            continue
        small, pair = _pair(s, fx), _pair(big, fx)
        for factor in (1.0, 1.5):
            if factor == 1.0 or representable(fmt.input_format, factor * small[0]):
                p.add(k, [(0, *pair), (1, -pair[0], pair[1])] + [(j, factor * small[0], small[1]) for j in range(2, k)],
                      0.0, f"{big:g} - {big:g} + {k - 2} x {factor:g} x {s:g}")


def scale_probes(fmt) -> Problems:
    """Where a block scale enters (block-scaled kinds only; see smbench.emulate): each product
    scaled exactly ("product") or each scale block's sum of unscaled products scaled after its
    narrowing ("block"). Three families, each from the two definitions:
    (xi) a carry the block sum keeps: c = -1 and a product 1 in the first scale block (scale 1),
    and in the last n = 2 or 3 products of 1.5 under a power-of-two scale 2^-t. Scaled one by
    one each is 0.75 of the quantum 2^(E - 23 - neab) at t = 24 + neab and is truncated away;
    summed first they are 1.5 n 2^-t, and n - 1 quanta survive. t is swept over the fraction
    bits the fit tries.
    (xii) the same products beside c = 1 alone: the scale moves them below c's anchor, so per
    product each is cut at c's quantum and per block their sum is (seen where the quantum
    reaches the accumulator: neab <= 0).
    (xiii) a scale that is not a power of two (ue4m3: 1.125, 1.375, 1.625, 1.875): a block
    sum of many significant bits times it, less the top of the result in c: per product the
    low bits reach the fused sum exactly; per block they were rounded to the block width first."""
    p = Problems()
    if not fmt.scale:
        return p
    fx, k, size = facts(fmt.input_format), fmt.k, fmt.scale_block
    blocks = k // size
    scale_format = formats.MINIFLOATS[fmt.scale]
    held = set(float(v) for v in scale_format.values if np.isfinite(v) and v > 0)
    one = [1.0] * blocks

    def with_scale(block: int, value: float) -> tuple[list, list]:
        # A's scale and B's together make `value`: split so that each is held by the format.
        for first in sorted(held, reverse=True):
            if value / first in held and first <= 2 ** 20:
                sa = list(one)
                sb = list(one)
                sa[block], sb[block] = first, value / first
                return sa, sb
        raise ValueError(value)

    def reachable(value: float) -> bool:
        return any(value / x in held for x in held)

    x = _pair(1.0, fx)
    u = (1.5, 1.0) if representable(fmt.input_format, 1.5) else (1.0, 1.0)
    u_value = u[0] * u[1]
    for t in range(1, emulate.FP32_FRACTION + emulate.MAX_NEAB + 4):
        if not reachable(2.0 ** -t):
            continue
        scaled = with_scale(blocks - 1, 2.0 ** -t)
        start = size * (blocks - 1)
        for n in (2, 3):
            small = [(start + i, *u) for i in range(n)]
            if blocks > 1:  # (xi): X and c cancel in another scale block
                p.add(k, [(0, *x)] + small, -1.0, f"-1 + 1 + {n} x {u_value:g} x 2^-{t} in the last scale block",
                      scaled)
            # (xii): c alone above them
            p.add(k, small, 1.0, f"1 + {n} x {u_value:g} x 2^-{t} in the last scale block", scaled)
    # (xiii) scales that are not powers of two.
    odd = [v for v in (1.125, 1.375, 1.625, 1.875) if v in held]
    if odd:
        powers = sorted(q for q in _powers(fx) if q <= 64)
        # A block sum with as many significant bits as the format's products give: the
        # largest power and every smaller one down to 2^-12 of it, in one scale block.
        top = max(powers)
        chain = [q for q in powers if q >= top * 2.0 ** -12][::-1][:size]
        for value in odd:
            total = sum(chain) * value
            for keep in (2, 4, 6, 8, 10, 12):
                e = math.floor(math.log2(total))
                quantum = 2.0 ** (e - keep + 1)
                c = -math.floor(total / quantum) * quantum
                if float(np.float32(c)) != c:
                    continue
                p.add(k, [(i, *_pair(q, fx)) for i, q in enumerate(chain)], c,
                      f"block sum x {value:g}, less its top {keep} bits", with_scale(0, value))
    return p


def _anchor_probes(fmt, fx: Facts, powers: list[float], p: Problems) -> None:
    """(viii) 1.5 x 1.5 = 2.25 x 2^e and its negative, then s = 2^(e - t) (and 1.5 s): the top
    product's significand is >= 2, so s survives iff t <= 23 + neab (the anchor is the
    exponent sum e), not t <= 22 + neab (as an anchor at the leading bit, 2^(e + 1), would)."""
    k = fmt.k
    for e_big in sorted(powers, reverse=True):
        pair = _pair(e_big, fx)
        if k < 3 or not (representable(fmt.input_format, 1.5 * pair[0]) and
                         representable(fmt.input_format, 1.5 * pair[1])) or 2.25 * e_big > accumulator_max(fmt.accumulator) / 4:
            continue
        top = [(0, 1.5 * pair[0], 1.5 * pair[1]), (1, -1.5 * pair[0], 1.5 * pair[1])]
        for t in range(1, emulate.FP32_FRACTION + emulate.MAX_NEAB + 3):
            s = e_big * 2.0**-t
            if s not in powers or s < emulate.min_normal(fmt.accumulator):
                continue
            small = _pair(s, fx)
            p.add(k, top + [(2, *small)], 0.0, f"2.25 x {e_big:g} - 2.25 x {e_big:g} + 2^-{t} x {e_big:g}")
            if representable(fmt.input_format, 1.5 * small[0]):
                p.add(k, top + [(2, 1.5 * small[0], small[1])], 0.0,
                      f"2.25 x {e_big:g} - 2.25 x {e_big:g} + 1.5 x 2^-{t} x {e_big:g}")
        return


def _carry_probes(fmt, fx: Facts, p: Problems) -> None:
    """(ix) Output rounding through a forced carry (Fasi et al.'s case): c = 1 + 2^-(w-2) +
    2^-(w-1) (w: the accumulator's significand bits) and n products of 1: the sum carries
    into a higher binade where c's two low bits are 0.75 ulp (n = 3) or 1.5 ulp (n = 1), so
    toward zero and to nearest differ even when no bit below c's is kept."""
    w = 24 if fmt.accumulator == "f32" else 11
    c = 1 + 2.0 ** -(w - 2) + 2.0 ** -(w - 1)
    for n in range(1, min(fmt.k, 7) + 1):
        for sign in (1.0, -1.0):
            p.add(fmt.k, [(i, sign, 1.0) for i in range(n)], sign * c, f"{sign * c!r} + {n} x {sign:g}: a carry")


def _width_probes(fmt, fx: Facts, powers: list[float], p: Problems) -> None:
    """(x) The block result's width: m products of 2^e and one of 2^(e - j), c = 0: a sum of
    log2(m) + j + 1 significant bits, cut short where the block result is narrowed to fewer
    (FP8 on Ada and Hopper: 14) although the alignment kept every term."""
    k = fmt.k
    for m in (2, 4, 8, 16):
        if m + 1 > k:
            break
        fitting = [q for q in powers if m * q <= accumulator_max(fmt.accumulator) / 4]
        if not fitting:
            return
        e_big = max(fitting)
        pair = _pair(e_big, fx)
        for j in range(1, emulate.FP32_FRACTION + emulate.MAX_NEAB + 3):
            s = e_big * 2.0**-j
            if s not in powers or s < emulate.min_normal(fmt.accumulator):
                continue
            # At the start and at the end of the row: a narrowed result that feeds a later
            # block is cut again by that block's alignment, so only the last block shows the width.
            for first in sorted({0, k - m - 1}):
                p.add(k, [(first + i, *pair) for i in range(m)] + [(first + m, *_pair(s, fx))], 0.0,
                      f"{m} x {e_big:g} + 2^-{j} x {e_big:g} at {first}: {int(math.log2(m)) + j + 1} bits")


def floor_probes(fmt) -> Problems:
    """The anchor floor: a product X at the bottom of the accumulator's range (its exponent
    sum below the floor) and a tiny product +-2^t. Under the floor F the tiny one survives iff
    t >= max(e(X), F) - 23 - neab, and shows: beside X = half the smallest subnormal it decides
    a tie (rounding to nearest), beside X = twice it, a step toward zero. Formats whose
    products cannot reach below the floor leave it open."""
    fx, k = facts(fmt.input_format), fmt.k
    tiny = 2.0 ** (-149 if fmt.accumulator == "f32" else -24)
    powers = _powers(fx)
    p = Problems()
    for anchor in (tiny / 2, 2 * tiny):
        if anchor not in powers or not _normal_split(anchor, fx):
            continue
        big = _pair(anchor, fx)
        for small in sorted((q for q in powers if q < anchor), reverse=True)[:80]:
            pair = _pair(small, fx)
            for sign in (1.0, -1.0):
                p.add(k, [(0, *big), (1, sign * pair[0], pair[1])], 0.0, f"{anchor:g} {'+-'[sign < 0]} {small:g}")
    return p


def representable(name: str, value: float) -> bool:
    try:
        formats.encode(name, value)
    except Exception:  # noqa: BLE001 - SmbenchError: not exactly representable
        return False
    return True


def output_probes(fmt) -> Problems:
    """Subnormal outputs, where a product can be one (else nothing to ask)."""
    fx = facts(fmt.input_format)
    floor = emulate.min_normal(fmt.accumulator)
    p = Problems()
    tiny = [q for q in _powers(fx) if q < floor]
    if tiny:
        p.add(fmt.k, [(0, *_pair(max(tiny), fx))], 0.0, f"{max(tiny):g}: a subnormal result")
    return p


def special_probes(fmt) -> Problems:
    """Overflow and NaN/Inf inputs: observed and compared with IEEE behaviour."""
    fx, k = facts(fmt.input_format), fmt.k
    p = Problems()
    big = fx.max_finite
    if big * big >= accumulator_max(fmt.accumulator):  # else the product vanishes beside the maximum
        p.add(k, [(0, big, big)], accumulator_max(fmt.accumulator), "max accumulator + max x max: overflow")
    if fx.has_inf:
        p.add(k, [(0, math.inf, 1.0)], 0.0, "inf x 1")
        p.add(k, [(0, math.inf, 0.0)], 0.0, "inf x 0")
    if fx.has_nan:
        p.add(k, [(0, math.nan, 1.0)], 0.0, "NaN x 1")
    return p




def random_scaled_probes(fmt, count: int = 512, seed: int = 12) -> Problems:
    """(xiv) Rows of random values with random non-unit scales, for the block-scaled kinds.
    A scale block of a 4-bit format spans only 2^7 between its smallest and largest product,
    so the structured probes above cannot place a small term 2^(23 + neab) below a large one
    inside one fused sum, and leave neab, the block and the block width open. Random rows
    with scales spread over 2^-20 .. 2^20 (one per scale block, A's and B's drawn apart) and
    a c of random size put terms at every distance from the anchor; a fixed seed keeps the
    set the same on every device. The fit keeps only the models that answer every row as
    the device did, and a test holds the fitted model to fresh rows of the same kind."""
    p = Problems()
    if not fmt.scale:
        return p
    rng = np.random.default_rng(seed)
    values = formats.MINIFLOATS[fmt.input_format].values
    finite = np.unique(values[np.isfinite(values)])
    scale_values = formats.MINIFLOATS[fmt.scale].values
    held = np.unique(scale_values[np.isfinite(scale_values) & (scale_values >= 2.0**-20) & (scale_values <= 2.0**20)])
    k, blocks = fmt.k, fmt.k // fmt.scale_block
    for row in range(count):
        # Sparse rows too: a few terms make the distances between them matter most.
        live = rng.random(k) < rng.choice([0.1, 0.3, 1.0])
        a = np.where(live, rng.choice(finite, k), 0.0)
        b = np.where(live, rng.choice(finite, k), 0.0)
        sa, sb = rng.choice(held, blocks), rng.choice(held, blocks)
        top = float(np.max(np.abs(a * b).reshape(blocks, -1).max(axis=1) * sa * sb))
        c = 0.0 if row % 4 == 0 else float(np.float32(rng.standard_normal() * max(top, 1.0) * 2.0 ** rng.integers(-30, 4)))
        p.add(k, [(i, float(x), float(y)) for i, (x, y) in enumerate(zip(a, b)) if x or y], c,
              f"random scaled row {row} (seed {seed})", (list(map(float, sa)), list(map(float, sb))))
    return p
