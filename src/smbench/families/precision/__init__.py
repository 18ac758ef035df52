"""Tensor-core numerics: Fasi-style probes whose outputs tell the hypotheses apart, a fit
of the emulator's parameters to what the device answered, and error statistics of
random GEMMs against float64 and against the fitted emulator.

A "device" here is a function from problems to results: the GPU kernels of
kernels/precision.cu (families/precision/cuda.py), or, on the CPU path, the emulator
configured as a chosen model; the probes must recover that model's parameters. Each
problem is one mma: A (16 x K), B (K x 8), C (16 x 8); a probe uses row 0 of A,
column 0 of B and C[0, 0], and reads D[0, 0].

The fit works in stages, each over a grid of candidate models kept only if the emulator,
configured so, gives exactly the device's answers (smbench.emulate.dot_many runs thousands
of them at once): inputs (subnormals); then how fused sums add (neab, the output rounding,
the block result's width, the block size) jointly, and, for an mma some target builds from
smaller ones (the sm_89-form FP8 mma on sm_90: see emulate), whether c enters the first
fused sum or is added after the products with one IEEE rounding to nearest, and how the
smaller instructions take the products; then the anchor floor and subnormal outputs. A
parameter the format's range cannot show is reported as the range still consistent, never
guessed. The fitted answers are then held against every published model of the format
(smbench.tensor_core_models): the ones that answer every probe as the device did are the
models it behaves like.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import product as cartesian
from typing import Callable

import numpy as np

from smbench import emulate, formats, tensor_core_models
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
    scale_block: int = 0  # products per block scale (NVFP4 16, MX 32); 0: no scales

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
           label="NVFP4 (e2m1, ue4m3 scales) -> FP32", scale_block=16),
    Format("mxf4_f32acc", "precision_mxf4_f32acc", "e2m1", "f32", 64, "mma.block_scale", 4, scale="ue8m0",
           label="MXFP4 (e2m1, ue8m0 scales) -> FP32", scale_block=32),
    Format("mxf8_e4m3_f32acc", "precision_mxf8_e4m3_f32acc", "e4m3", "f32", 32, "mma.block_scale", 8, scale="ue8m0",
           label="MXFP8 (e4m3, ue8m0 scales) -> FP32", scale_block=32),
)
BY_KEY = {f.key: f for f in FORMATS}

# The GPUs whose published models the CPU path can play (smbench.tensor_core_models).
CPU_MODELS = tensor_core_models.GPUS


def cpu_model(name: str, fmt: "Format") -> tuple[emulate.Model, str]:
    """The model the CPU path's emulator plays for a GPU name and a format, and what it is."""
    return tensor_core_models.stand_in(name, fmt.input_format, fmt.accumulator)


from smbench.families.precision.probes import (  # noqa: E402 - the probes use Format's fields only
    Problems, floor_probes, input_probes, output_probes, random_scaled_probes, scale_probes, special_probes, sum_probes)


# ---------------------------------------------------------------- fitting

Device = Callable[..., np.ndarray]  # (fmt, a, b, c, scales=None): D[0, 0] of each problem


def emulator_device(model: emulate.Model) -> Device:
    """The CPU path's device: the emulator configured as `model`."""
    def run(fmt: Format, a: np.ndarray, b: np.ndarray, c: np.ndarray, scales=None) -> np.ndarray:
        return emulate.dot(a, b, c, model, fmt.input_format, fmt.accumulator, _scales(fmt, len(c), scales))
    return run


def _scales(fmt: Format, problems: int, scales):
    """A problem set's scales as the emulator takes them: unit scales where none are given."""
    if not fmt.scale:
        return None
    if scales is None:
        blocks = fmt.k // fmt.scale_block
        return np.ones((problems, blocks)), np.ones((problems, blocks))
    return scales


def tile(fmt: Format, a_row: np.ndarray, b_column: np.ndarray, c: float) -> tuple[np.ndarray, ...]:
    """A probe as whole tiles: row 0 of A, column 0 of B and C[0, 0] set, the rest zero."""
    a, b, cc = tiles(fmt, np.asarray(a_row)[None], np.asarray(b_column)[None], np.array([c]))
    return a[0], b[0], cc[0]


def tiles(fmt: Format, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, ...]:
    """Probes (rows of a and b, values of c) as stacks of whole tiles (P x 16 x K, P x K x 8,
    P x 16 x 8): row 0 of A, column 0 of B and C[0, 0] set, the rest zero."""
    problems = len(c)
    ta, tb, tc = np.zeros((problems, M, fmt.k)), np.zeros((problems, fmt.k, N)), np.zeros((problems, M, N))
    ta[:, 0], tb[:, :, 0], tc[:, 0, 0] = a, b, c
    return ta, tb, tc


def tile_scales(fmt: Format, a_scales=None, b_scales=None) -> tuple[np.ndarray, np.ndarray] | None:
    """A probe's block scales as whole tiles: row 0 of A's (16 x blocks) and column 0 of B's
    (8 x blocks) set, every other scale 1; None for a format without scales."""
    if not fmt.scale:
        return None
    blocks = fmt.k // fmt.scale_block
    sa, sb = np.ones((M, blocks)), np.ones((N, blocks))
    if a_scales is not None:
        sa[0], sb[0] = a_scales, b_scales
    return sa, sb


def stacked_scales(fmt: Format, problems: int, scales=None) -> tuple[np.ndarray, np.ndarray] | None:
    """tile_scales of every probe, stacked (P x 16 x blocks, P x 8 x blocks); None without scales."""
    if not fmt.scale:
        return None
    blocks = fmt.k // fmt.scale_block
    sa, sb = np.ones((problems, M, blocks)), np.ones((problems, N, blocks))
    if scales is not None:
        sa[:, 0], sb[:, 0] = scales
    return sa, sb


def pack_problems(fmt: Format, a: np.ndarray, b: np.ndarray, c: np.ndarray, scales=None):
    """Stacks of tiles (P x 16 x K*steps, P x K*steps x 8, P x 16 x 8; scales P x 16 x blocks
    and P x 8 x blocks, or None: all 1) -> the words kernels/precision.cu reads: A (P x steps
    x 32 x 4), B (P x steps x 32 x 2), C (P x 32 x registers), scales (P x 32 x 2, or None),
    each step's K slice packed as one mma's fragment (smbench.fragments, the whole stack at once)."""
    from smbench import fragments

    problems, steps = len(c), a.shape[-1] // fmt.k
    sliced_a = a.reshape(problems, M, steps, fmt.k).transpose(0, 2, 1, 3)  # P x steps x 16 x k
    sliced_b = b.reshape(problems, steps, fmt.k, N)
    a_words = fragments.pack_a(fmt.layout, fmt.input_format, sliced_a, fmt.container_bits, fmt.shift)
    b_words = fragments.pack_b(fmt.layout, fmt.input_format, sliced_b, fmt.container_bits, fmt.shift)
    c_words = fragments.pack_accumulator(fmt.accumulator, c)
    if not fmt.scale:
        return a_words, b_words, c_words, None
    blocks = fmt.k // fmt.scale_block
    sa, sb = scales if scales is not None else (np.ones((problems, M, blocks)), np.ones((problems, N, blocks)))
    return a_words, b_words, c_words, fragments.pack_scales(fmt.scale, sa, sb)


def fragment_device(model: emulate.Model) -> Device:
    """The CPU path's device, the long way round: every probe packed into the fragment words
    the GPU would get (pack_problems, as the GPU path packs them), unpacked again, multiplied
    as a whole tile by the emulator, and its D packed and unpacked: the same host code as the
    GPU path, minus the launch."""
    from smbench import fragments

    def run(fmt: Format, a: np.ndarray, b: np.ndarray, c: np.ndarray, scales=None) -> np.ndarray:
        ta, tb, tc = tiles(fmt, a, b, c)
        a_words, b_words, c_words, scale_words = pack_problems(fmt, ta, tb, tc, stacked_scales(fmt, len(c), scales))
        results = []
        for index in range(len(c)):
            scale_tiles = None
            if fmt.scale:  # the scale words the GPU gets (fragments.pack_scales), read back as it reads them
                scale_tiles = fragments.unpack_scales(fmt.scale, scale_words[index], fmt.k // fmt.scale_block)
            d = emulate.mma(fragments.unpack_a(fmt.layout, fmt.input_format, a_words[index, 0], fmt.container_bits,
                                               fmt.shift),
                            fragments.unpack_b(fmt.layout, fmt.input_format, b_words[index, 0], fmt.container_bits,
                                               fmt.shift),
                            fragments.unpack_accumulator(fmt.accumulator, c_words[index]), model, fmt.input_format,
                            fmt.accumulator, scale_tiles)
            results.append(d)
        d_words = fragments.pack_accumulator(fmt.accumulator, np.array(results))
        return fragments.unpack_accumulator(fmt.accumulator, d_words)[:, 0, 0]
    return run


def emulator_gemm(model: emulate.Model) -> Callable:
    def run(fmt: Format, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return emulate.gemm(a, b, model, fmt.input_format, fmt.k, fmt.accumulator)
    return run


def _same(x: np.ndarray, y: np.ndarray) -> bool:
    return bool(np.array_equal(x, y, equal_nan=True))


def _consistent(fmt: Format, problems: Problems, observed: np.ndarray, candidates: list[emulate.Model]):
    """The candidates whose answers are the device's, every one: tried on a few probes spread
    over the set (most fail there), the survivors on more, then on all of them."""
    a, b, c = problems.arrays()
    scales = problems.scales(fmt)
    alive = candidates
    for size in SCREENS + (len(c),):
        rows = np.unique(np.linspace(0, len(c) - 1, min(size, len(c))).astype(int))
        survivors = []
        for start in range(0, len(alive), max(1, CHUNK_ROWS // len(rows))):
            chunk = alive[start:start + max(1, CHUNK_ROWS // len(rows))]
            got = emulate.dot_many(a[rows], b[rows], c[rows], chunk, fmt.input_format, fmt.accumulator,
                                   None if scales is None else (scales[0][rows], scales[1][rows]))
            want = observed[rows]
            agree = ((got == want) | (np.isnan(got) & np.isnan(want))).all(axis=1)  # _same, every row at once
            survivors += [m for m, keep in zip(chunk, agree) if keep]
        alive = survivors
    return alive


SCREENS, CHUNK_ROWS = (8, 48), 1 << 16


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


def widths(fmt: Format) -> list[int | None]:
    """Block-result widths the fit tries: none, or fewer significant bits than the accumulator."""
    return [None] + list(range(4, 24 if fmt.accumulator == "f32" else 11))


FLOORS = [None] + list(range(-160, -9))


@dataclass
class Fit:
    fmt: Format
    parameters: dict  # name -> {"value", "consistent": [...], "determined": bool}
    model: emulate.Model | None  # one consistent model (the first), None if nothing fits
    specials: list[dict]
    probes: int
    published: list[dict]  # each published model of the format: does it answer every probe as the device did?

    def to_dict(self) -> dict:
        return {"parameters": self.parameters, "model": None if self.model is None else self.model.__dict__,
                "description": None if self.model is None else self.model.describe(self.fmt.accumulator,
                                                                                   bool(self.fmt.scale)),
                "specials": self.specials, "probes": self.probes, "published": self.published}


PARAMETERS = ("subnormal_inputs", "neab", "output_rounding", "block_bits", "block", "c_entry", "interleave",
              "scale_entry", "anchor_floor", "subnormal_outputs")


def _summarize(candidates: list[emulate.Model], name: str) -> dict:
    values = sorted({getattr(m, name) for m in candidates}, key=lambda v: (v is not None, v))
    return {"value": values[0] if len(values) == 1 else None, "consistent": values, "determined": len(values) == 1}


def fit(fmt: Format, device: Device) -> Fit:
    """The emulator parameters consistent with the device's answers to every probe."""
    asked = Problems()
    answers: list[np.ndarray] = []

    def answer(problems: Problems) -> np.ndarray:
        if not len(problems):
            return np.zeros(0)
        a, b, c = problems.arrays()
        scales = problems.scales(fmt)
        got = np.asarray(device(fmt, a, b, c) if scales is None else device(fmt, a, b, c, scales), dtype=np.float64)
        asked.extend(problems)
        answers.append(got)
        return got

    # Stage 1: inputs, with every other parameter generous (every bit kept, rounding to nearest).
    generous = emulate.Model(neab=emulate.MAX_NEAB, output_rounding="rne", block=None)
    stage = [generous.with_(subnormal_inputs=s, subnormal_outputs=o) for s, o in cartesian((True, False), repeat=2)]
    probes = input_probes(fmt)
    stage = _consistent(fmt, probes, answer(probes), stage) or stage
    inputs = sorted({m.subnormal_inputs for m in stage}, reverse=True)
    # Stage 2: how fused sums add, all at once: neab, the output rounding, the block result's
    # width, the blocks (and how products are dealt to them), where c enters, and for the
    # block-scaled kinds where the scale enters (with non-unit scales).
    answer(sum_probes(fmt))
    answer(scale_probes(fmt))
    answer(random_scaled_probes(fmt))
    grid = [emulate.Model(neab=n, output_rounding=o, block_bits=w, block=blk, c_entry=entry, interleave=run,
                          subnormal_inputs=s, scale_entry=where)
            for (entry, blk, run), n, o, w, s, where in cartesian(
                structures(fmt), range(emulate.MIN_NEAB, emulate.MAX_NEAB + 1), emulate.ROUNDINGS, widths(fmt), inputs,
                emulate.SCALE_ENTRIES if fmt.scale else emulate.SCALE_ENTRIES[:1])]
    summing = _consistent(fmt, asked, np.concatenate(answers), grid)
    parameters: dict = {}
    model = None
    if summing:
        parameters = {name: _summarize(summing, name) for name in PARAMETERS[:-2]}
        if not built_from_others(fmt):
            for name in ("c_entry", "interleave"):
                parameters[name]["why"] = ("only c in the first fused sum, blocks of consecutive products, tried: "
                                           "no target builds this mma from other instructions")
        if not fmt.scale:
            parameters["scale_entry"]["why"] = "no block scales: only 'product' (the same arithmetic) tried"
        # Stage 3: the anchor floor and subnormal outputs, where products reach below the
        # accumulator's normal range, beside the first model that fits the sums; held to
        # every probe so far.
        answer(floor_probes(fmt))
        answer(output_probes(fmt))
        tail = _consistent(fmt, asked, np.concatenate(answers),
                           [summing[0].with_(anchor_floor=f, subnormal_outputs=o) for f in FLOORS for o in (True, False)])
        for name in PARAMETERS[-2:]:
            parameters[name] = _summarize(tail, name)
        model = tail[0] if tail else None
    observed = np.concatenate(answers)
    published = compare_published(fmt, asked, observed, parameters)
    probes = special_probes(fmt)
    got = answer(probes)
    a, b, c = probes.arrays()
    ieee = (emulate.dot(a, b, c, model or generous, fmt.input_format, fmt.accumulator, _scales(fmt, len(c), None))
            if len(probes) else [])
    specials = [{"probe": what, "device": _text(x), "ieee_model": _text(y), "agree": _same(np.array([x]), np.array([y]))}
                for what, x, y in zip(probes.what, got, ieee)]
    return Fit(fmt, parameters, model, specials, len(asked), published)


def compare_published(fmt: Format, problems: Problems, observed: np.ndarray, parameters: dict) -> list[dict]:
    """Each published model of the format: whether it answers every probe as the device did,
    and where the fit says otherwise, the parameters that differ (fitted vs published)."""
    out = []
    a, b, c = problems.arrays()
    entries = tensor_core_models.for_format(fmt.input_format, fmt.accumulator)
    if not entries:
        return out
    got = emulate.dot_many(a, b, c, [e.model for e in entries], fmt.input_format, fmt.accumulator, problems.scales(fmt))
    for entry, row in zip(entries, got):
        differs = {}
        for name, found in parameters.items():
            truth = getattr(entry.model, name)
            if truth not in found["consistent"]:
                differs[name] = {"fitted": found["value"] if found["determined"] else found["consistent"],
                                 "published": truth}
        out.append({"gpu": entry.gpu, "cite": entry.cite, "note": entry.note, "matches": _same(row, observed),
                    "mismatched_probes": int(np.sum(~((row == observed) | (np.isnan(row) & np.isnan(observed))))),
                    "differs": differs})
    return out


def likeness(published: list[dict]) -> tuple[str, list[dict]]:
    """('like', the matching models) when some published model answers every probe as the
    device did, else ('nearest', the ones with the fewest differing parameters, then probes)."""
    matching = [p for p in published if p["matches"]]
    if matching or not published:
        return "like", matching
    best = min((len(p["differs"]), p["mismatched_probes"]) for p in published)
    return "nearest", [p for p in published if (len(p["differs"]), p["mismatched_probes"]) == best]


def verdict(published: list[dict]) -> str:
    """One sentence: 'behaves like H100 (Khattak & Mikaitis 2025)', or where it differs from the
    nearest published model, or that none is published for the format."""
    kind, models = likeness(published)
    if not published:
        return "no published model for this format"
    if kind == "like":
        return "behaves like " + ", ".join(p["cite"] + (f" [{p['note']}]" if p["note"] else "") for p in models)
    nearest = models[0]
    diffs = "; ".join(f"{name} {_value(d['fitted'])} vs {_value(d['published'])}" for name, d in nearest["differs"].items())
    return (f"matches no published model; nearest {nearest['cite']}"
            + (f" [{nearest['note']}]" if nearest["note"] else "")
            + (f": differs in {diffs}" if diffs else f": {nearest['mismatched_probes']} probes answered otherwise"))


def _value(value) -> str:
    if isinstance(value, list):
        return "|".join(_value(v) for v in value) if len(value) <= 3 else f"{_value(value[0])}..{_value(value[-1])}"
    return "none" if value is None else str(value)


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
    return formats.round_to(fmt.input_format, values)


def gemm_errors(fmt: Format, device_gemm: Callable, model: emulate.Model, ks: list[int], seed: int = 0,
                published: emulate.Model | None = None) -> list[dict]:
    """Per K: random A (16 x K) and B (K x 8) in the format; the device's D and the fitted
    emulator's against float64: median and max relative error, and how often the emulator
    gives the device's bits exactly; with `published` (the published model it behaves like,
    or the nearest), how often that one does."""
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
        if published is not None:
            expected = emulate.gemm(a, b, published, fmt.input_format, fmt.k, fmt.accumulator)
            rows[-1]["published_identical"] = float(np.mean(got == expected))
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
