"""Tensor-core numerics: Fasi-style probes whose outputs tell the hypotheses apart, a fit
of the emulator's parameters to what the device answered, and error statistics of
random GEMMs against float64 and against the fitted emulator.

A "device" here is a function from problems to results: the GPU kernels of
kernels/precision.cu (families/precision/cuda.py), or, on the CPU path, the emulator
configured as a chosen model; the probes must recover that model's parameters. Each
problem is one mma: A (16 x K), B (K x 8), C (16 x 8); a probe uses row 0 of A,
column 0 of B and C[0, 0], and reads D[0, 0].

The fit works in stages, each over a small grid of candidate models kept only if the
emulator, configured so, gives exactly the device's answers: inputs (subnormals,
product width); then how fused sums add (fraction bits, alignment rounding, output
rounding, block size) jointly, and, for an mma some target builds from smaller ones (the
sm_89-form FP8 mma on sm_90: see emulate), whether c enters the first fused sum or is
added after the products with one IEEE rounding to nearest, and how the smaller
instructions take the products; then subnormal outputs. A parameter the format's range
cannot show is reported as the range still consistent, never guessed.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from itertools import product as cartesian
from typing import Callable

import numpy as np

from smbench import emulate, formats
from smbench import targets as target_table

M, N = 16, 8
KERNEL_FILE = "precision.cu"


@dataclass(frozen=True)
class Format:
    key: str
    kernel: str
    input_format: str
    accumulator: str  # f32 or f16
    k: int
    feature: str
    container_bits: int  # bits one element takes in a fragment register
    shift: int = 0  # where the value sits in its container (e2m1 under kind::f8f6f4: bits 2-5)
    scale: str | None = None  # block-scale format (NVFP4: ue4m3, 4 per 64 elements)
    label: str = ""

    @property
    def layout(self) -> str:
        """The fragment layout (smbench.fragments) of its A and B operands."""
        return {16: "b16", 32: "tf32", 8: "b8", 4: "b4"}[self.container_bits]


FORMATS: tuple[Format, ...] = (
    Format("f16_f32acc", "precision_f16_f32acc", "f16", "f32", 16, "mma.f16", 16, label="FP16 -> FP32"),
    Format("f16_f16acc", "precision_f16_f16acc", "f16", "f16", 16, "mma.f16", 16, label="FP16 -> FP16"),
    Format("bf16_f32acc", "precision_bf16_f32acc", "bf16", "f32", 16, "mma.bf16", 16, label="BF16 -> FP32"),
    Format("tf32_f32acc", "precision_tf32_f32acc", "tf32", "f32", 8, "mma.tf32", 32, label="TF32 -> FP32"),
    Format("e4m3_f32acc", "precision_e4m3_f32acc", "e4m3", "f32", 32, "mma.fp8", 8, label="FP8 e4m3 -> FP32"),
    Format("e5m2_f32acc", "precision_e5m2_f32acc", "e5m2", "f32", 32, "mma.fp8", 8, label="FP8 e5m2 -> FP32"),
    Format("e4m3_f16acc", "precision_e4m3_f16acc", "e4m3", "f16", 32, "mma.fp8", 8, label="FP8 e4m3 -> FP16"),
    Format("e3m2_f32acc", "precision_e3m2_f32acc", "e3m2", "f32", 32, "mma.f8f6f4.fp6fp4", 8,
           label="FP6 e3m2 -> FP32"),
    Format("e2m3_f32acc", "precision_e2m3_f32acc", "e2m3", "f32", 32, "mma.f8f6f4.fp6fp4", 8,
           label="FP6 e2m3 -> FP32"),
    Format("e2m1_f32acc", "precision_e2m1_f32acc", "e2m1", "f32", 32, "mma.f8f6f4.fp6fp4", 8, 2,
           label="FP4 e2m1 -> FP32"),
    Format("nvfp4_f32acc", "precision_nvfp4_f32acc", "e2m1", "f32", 64, "mma.block_scale", 4, scale="ue4m3",
           label="NVFP4 (e2m1, ue4m3 scales) -> FP32"),
)
BY_KEY = {f.key: f for f in FORMATS}

# Models the CPU path can emulate, by name: what its probes must recover.
MODELS: dict[str, emulate.Model] = {
    # Fasi et al.'s finding for V100/T4/A100-class FP16: 3 extra bits, truncation throughout.
    "truncate-3": emulate.Model(fraction_bits=26, align_rounding="truncate", output_rounding="truncate"),
    # An IEEE-like unit: everything kept, one rounding to nearest at the end of each block of 4.
    "rne-exact": emulate.Model(fraction_bits=46, align_rounding="rne", output_rounding="rne", block=4),
    # DeepSeek-V3's report for FP8 on H800: about 14 significant bits kept in the accumulation.
    "fp8-14bit": emulate.Model(fraction_bits=13, align_rounding="truncate", output_rounding="truncate", block=16),
}


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
    """Probe problems, each one dot product: a and b (problems x K), c (problems)."""

    a: list = field(default_factory=list)
    b: list = field(default_factory=list)
    c: list = field(default_factory=list)
    what: list = field(default_factory=list)

    def add(self, k: int, terms: list[tuple[int, float, float]], c: float, what: str) -> None:
        a, b = np.zeros(k), np.zeros(k)
        for position, x, y in terms:
            a[position], b[position] = x, y
        self.a.append(a)
        self.b.append(b)
        self.c.append(c)
        self.what.append(what)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return np.array(self.a), np.array(self.b), np.array(self.c, dtype=np.float64)

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


def input_probes(fmt: Format) -> Problems:
    """Subnormal inputs and product width: one product, no alignment to speak of."""
    fx, k = facts(fmt.input_format), fmt.k
    p = Problems()
    # The smallest subnormal times the largest power of two: a normal result in the
    # accumulator, so that only the input's flushing can make it zero.
    p.add(k, [(0, fx.min_subnormal, max(fx.pow2))], 0.0, "smallest subnormal x largest power of two")
    # (1 + 2^-m)^2 = 1 + 2^-(m-1) + 2^-2m: the last bit survives only if the product is exact.
    # Scaled by 2^(2s), so that 2^-2m x 2^(2s) is normal in the accumulator.
    m = fx.mantissa_bits
    if m >= 1:
        s = max(0, math.ceil((math.log2(emulate.min_normal(fmt.accumulator)) + 2 * m) / 2))
        v = (1.0 + 2.0**-m) * 2.0**s
        if representable(fmt.input_format, v):
            p.add(k, [(0, v, v)], -(1.0 + 2.0 ** -(m - 1)) * 2.0 ** (2 * s),
                  "(1 + 2^-m)^2 - (1 + 2^-(m-1)), scaled: exact product?")
    return p


def sum_probes(fmt: Format) -> Problems:
    """Fraction bits, alignment and output rounding, and block size, as Fasi et al. probe
    them: small terms beside large ones that cancel, and half-ulp carries. Where c enters
    shows in (i), (iv) and (v) together: c added after the products with one rounding to
    nearest rounds 2^E plus 0.75 or 1.5 ulp to nearest in (iv) and (v), and in (i) leaves
    only what the products' sum kept once rounded to the accumulator (at most its width
    below big, whatever the fraction bits); no fused sum answers all three so (checked
    against the sm_90 FP8 emulation in tests/test_emulate_fp8_sm90.py). (vi) and (vii) read
    the blocks and the fraction bits when c is added after.
    """
    fx, k = facts(fmt.input_format), fmt.k
    acc_bits = 24 if fmt.accumulator == "f32" else 11
    top = accumulator_max(fmt.accumulator) / 4
    powers = [q for q in _powers(fx) if q <= top]
    p = Problems()
    big = max(powers)
    # Only what fraction bits up to the emulator's limit can tell apart.
    reach = [q for q in powers if q >= big * 2.0 ** -(emulate.MAX_FRACTION_BITS + 4)]
    # (i) c = -n big, n products of big, then one small product s (and 1.5 s): s survives
    # alignment iff it is within the fraction bits of big (x n).
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
    # (ii) big, -big, then a small s at position j: lost iff it shares a fused sum with big.
    ordered = _normal_first(powers, fx)
    smallest = next(q for q in ordered if q >= emulate.min_normal(fmt.accumulator))
    for j in range(2, k):
        p.add(k, [(0, *_pair(big, fx)), (1, -_pair(big, fx)[0], _pair(big, fx)[1]), (j, *_pair(smallest, fx))],
              0.0, f"{big:g} - {big:g} + {smallest:g} at {j}")
    # (v) c = 2^E and one product 2^(E - t) (or 1.5 times it): it survives the alignment
    # iff t <= the fraction bits; visible in the accumulator up to its own width. With n equal
    # products of 2^(E - width - log2 n) the same reaches log2 n bits further (the n sum to
    # one ulp only if every one was kept). Formats too narrow to cancel large terms need these.
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
    # (iii) c = 2^E and two half-ulp products u at 0 and j: c + ulp iff they share a fused sum.
    for q in (1, 2):
        for u in ordered:
            e = math.log2(u) + acc_bits - 1 + q  # u = 2^(E - acc_bits + 1 - q)
            if 2.0**e > top or e < 0 or u / 2 not in powers:
                continue
            pair = _pair(u, fx)
            for j in range(1, k):
                p.add(k, [(0, *pair), (j, *pair)], 2.0**e, f"2^{e:g} + {u:g} at 0 and {j}")
            # (iv) output rounding: 2^E + u + u/2 = 2^E + 0.75 ulp (q = 1).
            if q == 1 and u / 2 in powers:
                p.add(k, [(0, *pair), (1, *_pair(u / 2, fx))], 2.0**e, f"2^{e:g} + 0.75 ulp")
            break  # one u per q is enough
    # (vi) big at 0, -big at j, the same small s at 1: with (ii), which positions share a sum
    # when the sums take products in runs dealt in turn rather than in blocks.
    for j in range(2, k):
        p.add(k, [(0, *_pair(big, fx)), (j, -_pair(big, fx)[0], _pair(big, fx)[1]), (1, *_pair(smallest, fx))],
              0.0, f"{big:g} at 0 - {big:g} at {j} + {smallest:g} at 1")
    # (vii) big, -big, then s (and 1.5 s) at every other position: the products cancel among
    # themselves, so what a sum keeps below big shows even when c is added only after the
    # products (c = -big, as in (i), would meet them already rounded to the accumulator);
    # the copies of s in the sums big is not in add exactly (s normal in the accumulator, so
    # that no sum is subnormal: subnormal outputs are the next stage's question).
    for s in reach:
        if s >= big or (k - 2) * 1.5 * s > top or s < emulate.min_normal(fmt.accumulator):
            continue
        small, pair = _pair(s, fx), _pair(big, fx)
        for factor in (1.0, 1.5):
            if factor == 1.0 or representable(fmt.input_format, factor * small[0]):
                p.add(k, [(0, *pair), (1, -pair[0], pair[1])] + [(j, factor * small[0], small[1]) for j in range(2, k)],
                      0.0, f"{big:g} - {big:g} + {k - 2} x {factor:g} x {s:g}")
    return p


def representable(name: str, value: float) -> bool:
    try:
        formats.encode(name, value)
    except Exception:  # noqa: BLE001 - SmbenchError: not exactly representable
        return False
    return True


def output_probes(fmt: Format) -> Problems:
    """Subnormal outputs, where a product can be one (else nothing to ask)."""
    fx = facts(fmt.input_format)
    floor = emulate.min_normal(fmt.accumulator)
    p = Problems()
    tiny = [q for q in _powers(fx) if q < floor]
    if tiny:
        p.add(fmt.k, [(0, *_pair(max(tiny), fx))], 0.0, f"{max(tiny):g}: a subnormal result")
    return p


def special_probes(fmt: Format) -> Problems:
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


# ---------------------------------------------------------------- fitting

Device = Callable[[Format, np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def emulator_device(model: emulate.Model) -> Device:
    """The CPU path's device: the emulator configured as `model`."""
    def run(fmt: Format, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
        return emulate.dot(a, b, c, model, fmt.input_format, fmt.accumulator)
    return run


def tile(fmt: Format, a_row: np.ndarray, b_column: np.ndarray, c: float) -> tuple[np.ndarray, ...]:
    """A probe as whole tiles: row 0 of A, column 0 of B and C[0, 0] set, the rest zero."""
    a, b, cc = np.zeros((M, fmt.k)), np.zeros((fmt.k, N)), np.zeros((M, N))
    a[0], b[:, 0], cc[0, 0] = a_row, b_column, c
    return a, b, cc


def fragment_device(model: emulate.Model) -> Device:
    """The CPU path's device, the long way round: every probe packed into the fragment words
    the GPU would get, unpacked again, multiplied as a whole tile by the emulator, and its
    D packed and unpacked: the same host code as the GPU path, minus the launch."""
    from smbench import fragments

    def run(fmt: Format, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
        results = []
        for a_row, b_column, c_value in zip(a, b, c):
            ta, tb, tc = tile(fmt, a_row, b_column, c_value)
            a_words = fragments.pack_a(fmt.layout, fmt.input_format, ta, fmt.container_bits, fmt.shift)
            b_words = fragments.pack_b(fmt.layout, fmt.input_format, tb, fmt.container_bits, fmt.shift)
            c_words = fragments.pack_accumulator(fmt.accumulator, tc)
            d = emulate.mma(fragments.unpack_a(fmt.layout, fmt.input_format, a_words, fmt.container_bits, fmt.shift),
                            fragments.unpack_b(fmt.layout, fmt.input_format, b_words, fmt.container_bits, fmt.shift),
                            fragments.unpack_accumulator(fmt.accumulator, c_words), model, fmt.input_format,
                            fmt.accumulator)
            results.append(fragments.unpack_accumulator(fmt.accumulator,
                                                        fragments.pack_accumulator(fmt.accumulator, d))[0, 0])
        return np.array(results)
    return run


def emulator_gemm(model: emulate.Model) -> Callable:
    def run(fmt: Format, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return emulate.gemm(a, b, model, fmt.input_format, fmt.k, fmt.accumulator)
    return run


def _same(x: np.ndarray, y: np.ndarray) -> bool:
    return bool(np.array_equal(x, y, equal_nan=True))


def _consistent(fmt: Format, problems: Problems, observed: np.ndarray, candidates: list[emulate.Model]):
    """The candidates whose answers are the device's, every one. Each is first tried on a few
    probes, those that told the candidates before it apart (most candidates fail there, at
    a fraction of the cost of all), then on all of them."""
    a, b, c = problems.arrays()

    def answers(model: emulate.Model, rows) -> np.ndarray:
        return emulate.dot(a[rows], b[rows], c[rows], model, fmt.input_format, fmt.accumulator)

    screen = list(range(0, len(c), max(1, len(c) // SCREEN_PROBES)))
    kept = []
    for model in candidates:
        if not _same(answers(model, screen), observed[screen]):
            continue
        got = answers(model, slice(None))
        differ = np.flatnonzero(~((got == observed) | (np.isnan(got) & np.isnan(observed))))
        if len(differ):
            screen.append(int(differ[0]))
        else:
            kept.append(model)
    return kept


SCREEN_PROBES = 8


def blocks(k: int) -> list[int | None]:
    return [2**i for i in range(int(math.log2(k)))] + [None]


def built_from_others(fmt: Format) -> bool:
    """Whether some target builds this format's mma from other instructions (smbench.targets:
    emulated; the sm_89-form FP8 mma on sm_90 and sm_100, from FP16 HMMAs)."""
    return any(t.support(fmt.feature) == target_table.EMULATED for t in target_table.all_targets())


def structures(fmt: Format) -> list[tuple[str, int | None, int | None]]:
    """(c_entry, block, interleave) the fit tries: c in the first fused sum, blocks of
    consecutive products (the published models); for an mma some target builds from smaller
    ones, also c added after the products, the blocks consecutive or dealt in runs of a
    power of two (as the smaller instructions take them)."""
    fused = [("fused", blk, None) for blk in blocks(fmt.k)]
    if not built_from_others(fmt):
        return fused
    after = [("after", blk, run) for blk in blocks(fmt.k)
             for run in [None] + ([2**i for i in range(int(math.log2(blk)))] if blk else [])]
    return fused + after


@dataclass
class Fit:
    fmt: Format
    parameters: dict  # name -> {"value", "consistent": [...], "determined": bool}
    model: emulate.Model | None  # one consistent model (the first), None if nothing fits
    specials: list[dict]
    probes: int

    def to_dict(self) -> dict:
        return {"parameters": self.parameters, "model": None if self.model is None else self.model.__dict__,
                "description": None if self.model is None else self.model.describe(self.fmt.accumulator),
                "specials": self.specials, "probes": self.probes}


def _summarize(candidates: list[emulate.Model], name: str) -> dict:
    values = sorted({getattr(m, name) for m in candidates}, key=lambda v: (v is None, v))
    return {"value": values[0] if len(values) == 1 else None, "consistent": values, "determined": len(values) == 1}


def fit(fmt: Format, device: Device) -> Fit:
    """The emulator parameters consistent with the device's answers to every probe."""
    asked = 0

    def answer(problems: Problems) -> np.ndarray:
        nonlocal asked
        if not len(problems):
            return np.zeros(0)
        asked += len(problems)
        a, b, c = problems.arrays()
        return np.asarray(device(fmt, a, b, c), dtype=np.float64)

    m = facts(fmt.input_format).mantissa_bits + 1
    # Stage 1: inputs, with every other parameter generous (all bits kept, nearest rounding).
    generous = emulate.Model(fraction_bits=emulate.MAX_FRACTION_BITS, align_rounding="rne", output_rounding="rne")
    stage = [generous.with_(subnormal_inputs=s, product_bits=p, subnormal_outputs=o)
             for s, p, o in cartesian((True, False), (None, m), (True, False))]
    probes = first_probes = input_probes(fmt)
    first = answer(probes)
    stage = _consistent(fmt, probes, first, stage) or stage
    inputs = {"subnormal_inputs": _summarize(stage, "subnormal_inputs"), "product_bits": _summarize(stage, "product_bits")}
    base = stage[0]
    # Stage 2: how fused sums add, all at once: fraction bits, both roundings, the blocks (and
    # how products are dealt to them), and where c enters.
    probes = sum_probes(fmt)
    observed = answer(probes)
    grid = [base.with_(fraction_bits=f, align_rounding=r, output_rounding=o, block=blk, c_entry=entry,
                       interleave=run)
            for (entry, blk, run), f, r, o in cartesian(structures(fmt), range(emulate.MAX_FRACTION_BITS + 1),
                                                        emulate.ROUNDINGS, emulate.ROUNDINGS)]
    summing = _consistent(fmt, probes, observed, grid)
    parameters = dict(inputs)
    if summing:
        # Stage 1 assumed every product bit survives the alignment; with few fraction bits it
        # does not, so the input parameters are decided again beside the fitted sums.
        both = Problems(first_probes.a + probes.a, first_probes.b + probes.b, first_probes.c + probes.c,
                        first_probes.what + probes.what)
        seen = np.concatenate([first, observed])
        widened = [m.with_(subnormal_inputs=s, product_bits=p, subnormal_outputs=o) for m in summing
                   for s, p, o in cartesian((True, False), (None, facts(fmt.input_format).mantissa_bits + 1),
                                            (True, False))]
        widened = list({model: None for model in widened})  # the same model only once
        summing = _consistent(fmt, both, seen, widened) or summing
        parameters["subnormal_inputs"] = _summarize(summing, "subnormal_inputs")
        parameters["product_bits"] = _summarize(summing, "product_bits")
        for name in ("fraction_bits", "align_rounding", "output_rounding", "block", "c_entry", "interleave"):
            parameters[name] = _summarize(summing, name)
        if not built_from_others(fmt):
            for name in ("c_entry", "interleave"):
                parameters[name]["why"] = ("only c in the first fused sum, blocks of consecutive products, tried: "
                                           "no target builds this mma from other instructions")
        # Stage 3: subnormal outputs, where a result can be subnormal at all.
        probes = output_probes(fmt)
        chosen = summing[0]
        if len(probes):
            outs = _consistent(fmt, probes, answer(probes),
                               [chosen.with_(subnormal_outputs=s) for s in (True, False)])
            parameters["subnormal_outputs"] = _summarize(outs, "subnormal_outputs") if outs else \
                {"value": None, "consistent": [], "determined": False}
            chosen = outs[0] if outs else chosen
        else:
            parameters["subnormal_outputs"] = {"value": None, "consistent": [True, False], "determined": False,
                                               "why": "no product of two inputs is subnormal in the accumulator"}
        model = chosen
    else:
        model = None
    probes = special_probes(fmt)
    got = answer(probes)
    a, b, c = probes.arrays()
    ieee = emulate.dot(a, b, c, model or generous, fmt.input_format, fmt.accumulator) if len(probes) else []
    specials = [{"probe": what, "device": _text(x), "ieee_model": _text(y), "agree": _same(np.array([x]), np.array([y]))}
                for what, x, y in zip(probes.what, got, ieee)]
    return Fit(fmt, parameters, model, specials, asked)


def _text(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.9g}"


# ---------------------------------------------------------------- error statistics

def random_operands(fmt: Format, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Values of the format, normally distributed before rounding to the nearest one held."""
    if fmt.input_format in formats.MINIFLOATS:
        table = formats.MINIFLOATS[fmt.input_format].values
        finite = np.unique(table[np.isfinite(table)])
        # Spread over the format's range under an f32 accumulator; about 1 under an f16 one,
        # whose range the sums of large products would leave.
        scale = finite.max() / 4 if fmt.accumulator == "f32" else 1.0
        wanted = rng.standard_normal(shape) * scale
        index = np.clip(np.searchsorted(finite, wanted), 1, len(finite) - 1)
        lower, upper = finite[index - 1], finite[index]
        return np.where(wanted - lower < upper - wanted, lower, upper)
    values = rng.standard_normal(shape)
    if fmt.input_format == "f16":
        return values.astype(np.float16).astype(np.float64)
    if fmt.input_format == "bf16":
        return formats.round_to("bf16", values)
    return emulate._round_significand(values, 11)  # tf32: 10 stored mantissa bits


def gemm_errors(fmt: Format, device_gemm: Callable, model: emulate.Model, ks: list[int], seed: int = 0) -> list[dict]:
    """Per K: random A (16 x K) and B (K x 8) in the format; the device's D and the fitted
    emulator's against float64: median and max relative error, and how often the emulator
    gives the device's bits exactly."""
    rng = np.random.default_rng(seed)
    rows = []
    for k in ks:
        if k % fmt.k:
            continue
        a, b = random_operands(fmt, (M, k), rng), random_operands(fmt, (k, N), rng)
        exact = a @ b
        got = np.asarray(device_gemm(fmt, a, b), dtype=np.float64)
        predicted = emulate.gemm(a, b, model, fmt.input_format, fmt.k, fmt.accumulator)
        nonzero = exact != 0  # a relative error needs a nonzero reference
        scale = np.abs(exact[nonzero])
        device_error = np.abs(got[nonzero] - exact[nonzero]) / scale
        model_error = np.abs(predicted[nonzero] - exact[nonzero]) / scale
        rows.append({"k": k, "device_median_rel_error": float(np.median(device_error)),
                     "device_max_rel_error": float(np.max(device_error)),
                     "emulator_median_rel_error": float(np.median(model_error)),
                     "emulator_max_rel_error": float(np.max(model_error)),
                     "bit_identical": float(np.mean(got == predicted))})
    return rows


def recovered(model: emulate.Model, fitted: Fit) -> dict:
    """For the CPU path: did the probes find the model the emulator was configured as? Each
    parameter is "recovered" (determined and equal), "consistent" (the format's range left it
    open, the true value among those left) or "WRONG"."""
    k = fitted.fmt.k
    verdicts = {}
    for name, found in fitted.parameters.items():
        truth = getattr(model, name)
        values = found["consistent"]
        if name == "block":  # a block of K or more is one fused sum of the whole instruction
            truth = None if truth is None or truth >= k else truth
        if name == "interleave" and (model.block is None or model.block >= k or truth == model.block):
            truth = None  # one sum, or runs of a whole block: the blocks are consecutive products
        if found["determined"]:
            verdicts[name] = "recovered" if found["value"] == truth else "WRONG"
        else:
            verdicts[name] = "consistent" if truth in values else "WRONG"
    return verdicts
