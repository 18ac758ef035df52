"""A NumPy model of one tensor-core mma: what the hardware computes, bit for bit, under a
stated hypothesis.

The structure is the one Fasi, Higham, Mikaitis and Pranesh (2021) found and Khattak and
Mikaitis (2025) made bit-accurate against real GPUs (smbench.tensor_core_models holds their
parameters per GPU). The products of a block, and the accumulator c, are added as one fused
sum:
- each product is exact, its significand left unnormalised in [1, 4) at the exponent sum
  e(a) + e(b) (a subnormal input takes its format's minimum exponent);
- the anchor E is the largest exponent sum of the block's nonzero products, and c's exponent
  (as an fp32 value) when c is nonzero, and never below `anchor_floor`;
- every term is truncated toward zero at 2^(E - 23 - neab) (neab: extra alignment bits beyond
  fp32's 23), the carries of the sum are kept, and the sum is normalised once;
- the block result is truncated to `block_bits` significant bits where set (FP8 on Ada and
  Hopper: 14), then rounded to the accumulator format (f32 or f16) toward zero or to nearest
  even, and feeds the next block as its c.
Because E is the exponent sum, not the leading bit of the largest term, a top product whose
significand is >= 2 keeps one bit more below its leading bit than one below 2.

Where c enters (`c_entry`): "fused", c is a term of the first block's fused sum (the
published models); or "after", the blocks chain from a zero accumulator and c is added to
their result with one IEEE round-to-nearest-even add in the accumulator format. The latter is
what ptxas builds for an mma a target lacks: on sm_90, the sm_89-form FP8 m16n8k32 (read from
SASS, NVRTC 13.5) is, per 32-bit register, F2FP.F16.E4M3.UNPACK_B (or .E5M2) of its low and
of its high 16 bits (the FP8 values to f16, exact); HMMA.16816.F32 (HMMA.16816.F16 for an f16
accumulator) of the low halves from RZ, a second one of the high halves on top of it; then
FADD (HADD2) of C. So 2 tensor-core sums of 16 products each, and since a register holds 4
consecutive k, the first sum takes k = 0, 1, 4, 5, ... and the second k = 2, 3, 6, 7, ...:
products dealt to the blocks in runs of 2 (`interleave`).

Exactness: each truncated term is a multiple of the quantum 2^(E - 23 - neab) below
2^(25 + neab) quanta (a significand below 4 at an exponent at most E), so with neab <= 21
and at most 65 terms (K = 64 and c) the sum stays below 2^53 quanta: exact in float64.

Block-scaled kinds (MXFP8/6/4 with ue8m0 scales, NVFP4 with ue4m3: `scales`, one scale of
A's row and one of B's column per block of K/blocks consecutive products) leave one more
question, where the scale enters (`scale_entry`; no published model says):
- "product": each product a_i b_i is multiplied exactly by its scales sa sb before the fused
  sum; its exponent sum, and so the anchor, includes e(sa) + e(sb) (a significand then lies
  in [1, 16));
- "block": the products of each scale block that share a fused sum are summed first, as the
  model sums a block but without c (anchored at their largest exponent sum, truncated at
  2^(E - 23 - neab), narrowed to `block_bits`), that sum is multiplied by sa sb (exact for a
  power of two; otherwise, which only ue4m3 can be, rounded once to `block_bits`, or to the
  accumulator's width, toward zero or to nearest even as the output), and these scaled sums
  take the products' place in the fused sum with c.
Without scales (every other format) both are the same arithmetic. Still exact in float64:
a scaled term is at most 4 x 1.875^2 < 2^4 significand, and the formats that have ue4m3
scales (e2m1) give at most 64 x 7.92 x 2^(23 + neab) quanta plus c, below 2^53.

`dot_many` evaluates many models on the same rows at once (the fit asks thousands); models
that share a structure (block, interleave, c_entry, scale_entry) run as one vectorised pass.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from smbench import formats

ROUNDINGS = ("rz", "rne")
C_ENTRIES = ("fused", "after")
SCALE_ENTRIES = ("product", "block")
MIN_NEAB, MAX_NEAB = -23, 21
FP32_FRACTION = 23
_NO_FLOOR = -100000  # an anchor floor below every exponent: none

# Smallest normal magnitude of each input and accumulator format.
_MIN_NORMAL = {"f16": 2.0**-14, "bf16": 2.0**-126, "tf32": 2.0**-126, "f32": 2.0**-126}
_SIGNIFICAND = {"f32": 24, "f16": 11}
_MAX_EXPONENT = {"f32": 127, "f16": 15}


def min_normal(name: str) -> float:
    if name in _MIN_NORMAL:
        return _MIN_NORMAL[name]
    fmt = formats.MINIFLOATS[name]
    return 2.0 ** (1 - fmt.bias)


@dataclass(frozen=True)
class Model:
    """One hypothesis of how a tensor core adds; the parameters the probes fit. The defaults
    are Hopper's fp16 -> fp32 (smbench.tensor_core_models has every published one)."""

    neab: int = 2  # bits kept below 2^E beyond fp32's 23: terms truncated at 2^(E - 23 - neab)
    output_rounding: str = "rz"  # each block result to the accumulator: toward zero or to nearest even
    block: int | None = 16  # products per fused sum; None: all K at once
    block_bits: int | None = None  # block result truncated to this many significant bits first; None: not
    anchor_floor: int | None = None  # E never below this; None: no floor
    subnormal_inputs: bool = True  # False: subnormal inputs read as zero
    subnormal_outputs: bool = True  # False: subnormal results (and c) flushed to zero
    c_entry: str = "fused"  # "fused": c is a term of the first block's sum; "after": blocks from zero, then RN(c + sum)
    interleave: int | None = None  # None: each block the next `block` products; n: dealt to the blocks in runs of n
    scale_entry: str = "product"  # block scales: "product", on each product exactly; "block", on each scale block's sum

    def __post_init__(self) -> None:
        if not MIN_NEAB <= self.neab <= MAX_NEAB:
            raise ValueError(f"neab must be within {MIN_NEAB}..{MAX_NEAB}")
        if self.output_rounding not in ROUNDINGS:
            raise ValueError(f"output_rounding is one of {ROUNDINGS}")
        if self.block is not None and self.block < 1:
            raise ValueError("block must be >= 1")
        if self.block_bits is not None and not 1 <= self.block_bits <= 53:
            raise ValueError("block_bits must be within 1..53")
        if self.c_entry not in C_ENTRIES:
            raise ValueError(f"c_entry is one of {C_ENTRIES}")
        if self.interleave is not None and not 1 <= self.interleave <= (self.block or self.interleave):
            raise ValueError("interleave must be within 1..block")
        if self.scale_entry not in SCALE_ENTRIES:
            raise ValueError(f"scale_entry is one of {SCALE_ENTRIES}")

    def with_(self, **changes) -> "Model":
        return replace(self, **changes)

    @property
    def structure(self) -> tuple:
        return self.block, self.interleave, self.c_entry, self.scale_entry

    def describe(self, accumulator: str = "f32", scaled: bool = False) -> str:
        """In words; `scaled`: a block-scaled kind, so where the scale enters is said too."""
        after = self.c_entry == "after"
        sums = f"fused sums of {self.block or 'all K'} products" + \
            (f" (dealt to the sums in runs of {self.interleave})" if self.interleave is not None else "") + \
            (", chained from zero" if after else " + accumulator")
        floor = "" if self.anchor_floor is None else f" (never below 2^{self.anchor_floor})"
        narrow = "" if self.block_bits is None else f"each sum truncated to {self.block_bits} significant bits, "
        scale = "" if not scaled else (
            "; block scales on each product exactly (in its exponent sum)" if self.scale_entry == "product" else
            f"; block scales on each scale block's sum of unscaled products after its narrowing (a scale "
            f"not a power of two: one {self.output_rounding.upper()} to the block width)")
        return (f"exact products{scale}; {sums}, aligned to the largest exponent sum E{floor}, "
                f"terms truncated at 2^(E-{FP32_FRACTION + self.neab}) (neab {self.neab:+d}); {narrow}"
                f"{'each sum' if after else 'result'} {self.output_rounding.upper()} to {accumulator}; "
                + (f"then c added with one IEEE round-to-nearest-even add in {accumulator}; " if after else "")
                + f"subnormal inputs {'kept' if self.subnormal_inputs else 'flushed'}, outputs "
                f"{'kept' if self.subnormal_outputs else 'flushed'}")


@dataclass
class _Rows:
    """Per-row model parameters (the structure is shared): arrays of one value per row."""

    neab: np.ndarray
    rne: np.ndarray
    block_bits: np.ndarray  # 0: no narrowing
    floor: np.ndarray
    subnormal_inputs: np.ndarray
    subnormal_outputs: np.ndarray

    @classmethod
    def of(cls, models: list[Model], rows: int) -> "_Rows":
        def column(values, dtype):
            return np.repeat(np.array(values, dtype=dtype), rows)
        return cls(column([m.neab for m in models], np.int64),
                   column([m.output_rounding == "rne" for m in models], bool),
                   column([m.block_bits or 0 for m in models], np.int64),
                   column([_NO_FLOOR if m.anchor_floor is None else m.anchor_floor for m in models], np.int64),
                   column([m.subnormal_inputs for m in models], bool),
                   column([m.subnormal_outputs for m in models], bool))


def _exponent(values: np.ndarray, minimum: int) -> np.ndarray:
    """floor(log2 |x|), never below `minimum` (a subnormal takes the format's minimum exponent)."""
    _, exponent = np.frexp(np.where(np.isfinite(values) & (values != 0), values, 1.0))
    return np.maximum(exponent - 1, minimum)


def _truncate_bits(values: np.ndarray, bits: np.ndarray) -> np.ndarray:
    """Toward zero to `bits` significant bits (0: unchanged), fp32's exponent range below."""
    finite = np.isfinite(values) & (values != 0) & (bits > 0)
    exponent = np.maximum(_exponent(values, -126), -126) - (bits - 1)
    quantum = np.ldexp(1.0, np.where(finite, exponent, 0))
    return np.where(finite, np.trunc(np.where(finite, values, 0.0) / quantum) * quantum, values)


def _round_to_accumulator(values: np.ndarray, accumulator: str, rne, subnormals) -> np.ndarray:
    """float64 -> the accumulator format (returned as float64). To nearest even, or toward
    zero, where a value at or beyond 2^(emax + 1) is infinite (the published models' overflow)."""
    kind = np.float32 if accumulator == "f32" else np.float16
    with np.errstate(over="ignore", invalid="ignore"):
        rounded = values.astype(kind)
        too_far = np.isfinite(values) & (np.abs(rounded.astype(np.float64)) > np.abs(values))
        toward_zero = np.where(too_far, np.nextafter(rounded, kind(0)), rounded).astype(np.float64)
        beyond = np.isfinite(values) & (np.abs(values) >= 2.0 ** (_MAX_EXPONENT[accumulator] + 1))
        toward_zero = np.where(beyond, np.copysign(np.inf, values), toward_zero)
    result = np.where(rne, rounded.astype(np.float64), toward_zero)
    tiny = np.isfinite(result) & (np.abs(result) < _MIN_NORMAL[accumulator]) & (result != 0) & ~np.asarray(subnormals)
    return np.where(tiny, np.copysign(0.0, result), result)


def _round_bits(values: np.ndarray, bits: np.ndarray, rne) -> np.ndarray:
    """To `bits` significant bits (0: unchanged): toward zero, or to nearest even where `rne`."""
    finite = np.isfinite(values) & (values != 0) & (bits > 0)
    exponent = np.maximum(_exponent(values, -126), -126) - (bits - 1)
    quantum = np.ldexp(1.0, np.where(finite, exponent, 0))
    scaled = np.where(finite, values, 0.0) / quantum
    return np.where(finite, np.where(rne, np.round(scaled), np.trunc(scaled)) * quantum, values)


def _fused(c: np.ndarray, products: np.ndarray, exponents: np.ndarray, p: _Rows, accumulator: str) -> np.ndarray:
    """One fused sum per row: c (rows) and the block's products (rows x n) with their exponent
    sums; returns the sum, narrowed to block_bits where set, before the accumulator's rounding."""
    c = np.where(~p.subnormal_outputs & (np.abs(c) < _MIN_NORMAL[accumulator]), np.copysign(0.0, c), c)
    terms = np.concatenate([c[:, None], products], axis=1)
    finite = np.isfinite(terms)
    present = finite & (terms != 0)
    term_exponents = np.concatenate([_exponent(c, -126)[:, None], exponents], axis=1)
    anchor = np.max(np.where(present, term_exponents, _NO_FLOOR), axis=1)
    anchor = np.maximum(anchor, p.floor)
    anchor = np.where(present.any(axis=1), anchor, 0)
    quantum = np.ldexp(1.0, anchor - FP32_FRACTION - p.neab)[:, None]
    with np.errstate(invalid="ignore"):
        kept = np.trunc(np.where(finite, terms, 0.0) / quantum)
    total = kept.sum(axis=1) * quantum[:, 0]
    # IEEE specials win: a NaN, or infinities of both signs, give NaN; one sign of infinity gives it.
    positive_inf = (terms == np.inf).any(axis=1)
    negative_inf = (terms == -np.inf).any(axis=1)
    nan = np.isnan(terms).any(axis=1) | (positive_inf & negative_inf)
    total = _truncate_bits(total, p.block_bits)
    total = np.where(positive_inf, np.inf, np.where(negative_inf, -np.inf, total))
    return np.where(nan, np.nan, total)


def _block(c: np.ndarray, products: np.ndarray, exponents: np.ndarray, p: _Rows, accumulator: str) -> np.ndarray:
    """One fused sum per row, rounded to the accumulator format."""
    return _round_to_accumulator(_fused(c, products, exponents, p, accumulator), accumulator, p.rne,
                                 p.subnormal_outputs)


def _scaled_block_sums(products, exponents, scale, owner, columns, p: _Rows, accumulator: str):
    """scale_entry "block": per scale block among `columns`, the fused sum of its unscaled
    products (no c), narrowed, times its scales (rounded once to the block width, else the
    accumulator's, where the scale is not a power of two); with the exponents of those values."""
    sums = []
    for block_id in dict.fromkeys(owner[columns].tolist()):
        group = columns[owner[columns] == block_id]
        zero = np.zeros(products.shape[0])
        total = _fused(zero, products[:, group], exponents[:, group], p, accumulator) * scale[:, block_id]
        power_of_two = np.frexp(scale[:, block_id])[0] == 0.5
        width = np.where(p.block_bits > 0, p.block_bits, _SIGNIFICAND[accumulator])
        with np.errstate(invalid="ignore"):
            sums.append(np.where(power_of_two, total, _round_bits(total, width, p.rne)))
    sums = np.stack(sums, axis=1)
    return sums, _exponent(sums, -100000)


def _inputs(a, b, flush: bool, input_format: str, scales, by_block: bool):
    """The exact products of one set of problems and their exponent sums, subnormal inputs
    kept or flushed; with block scales applied to each product unless they enter per block.
    Independent of every other model parameter: dot_many makes them once per set, not once
    per candidate model (the numerics fit tries thousands)."""
    floor = min_normal(input_format)
    if flush:
        a = np.where(np.abs(a) < floor, np.copysign(0.0, a), a)
        b = np.where(np.abs(b) < floor, np.copysign(0.0, b), b)
    with np.errstate(invalid="ignore", over="ignore"):
        products = a * b
    minimum = int(np.log2(floor))
    exponents = _exponent(a, minimum) + _exponent(b, minimum)
    if scales is not None and not by_block:
        scale = scales[0] * scales[1]
        owner = np.arange(products.shape[1]) // (products.shape[1] // scale.shape[1])
        with np.errstate(invalid="ignore", over="ignore"):
            products = products * scale[:, owner]
        exponents = exponents + _exponent(scales[0], -100000)[:, owner] + _exponent(scales[1], -100000)[:, owner]
    return products, exponents


def _dot_rows(products, exponents, c, p: _Rows, structure: tuple, accumulator: str, scales=None) -> np.ndarray:
    block, interleave, c_entry, scale_entry = structure
    by_block = scales is not None and scale_entry == "block"
    if by_block:  # A scale block is K / (scales per row) consecutive products; each scale at its own exponent.
        scale = scales[0] * scales[1]
        owner = np.arange(products.shape[1]) // (products.shape[1] // scale.shape[1])
    after = c_entry == "after"
    value = np.zeros_like(c) if after else c.copy()
    for columns in block_columns(products.shape[1], block, interleave):
        if by_block:
            value = _block(value, *_scaled_block_sums(products, exponents, scale, owner, columns, p, accumulator), p,
                           accumulator)
        else:
            value = _block(value, products[:, columns], exponents[:, columns], p, accumulator)
    if after:
        # One IEEE add: the float64 sum of two f32 (f16) values rounded again to f32 (f16)
        # is the correctly rounded sum (53 >= 2 x 24 + 2), specials and signed zeros included.
        with np.errstate(invalid="ignore"):
            return _round_to_accumulator(c + value, accumulator, True, True)
    return value


def dot_many(a: np.ndarray, b: np.ndarray, c: np.ndarray, models: list[Model], input_format: str,
             accumulator: str = "f32", scales: tuple | None = None) -> np.ndarray:
    """`dot` under each model: (models x problems)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    c = np.asarray(c, dtype=np.float64)
    if scales is not None:
        scales = tuple(np.asarray(s, dtype=np.float64) for s in scales)
    rows = len(c)
    out = np.empty((len(models), rows))
    groups: dict[tuple, list[int]] = {}
    for index, model in enumerate(models):
        groups.setdefault(model.structure, []).append(index)
    prepared: dict[tuple, tuple] = {}
    for structure, indices in groups.items():
        n = len(indices)
        chosen = [models[i] for i in indices]
        by_block = scales is not None and structure[3] == "block"
        # Each model's rows take the products of its own subnormal-input rule: computed once per
        # rule (and scale entry), gathered per model.
        stacks = []
        for flush in (False, True):
            key = (flush, by_block)
            if key not in prepared:
                prepared[key] = _inputs(a, b, flush, input_format, scales, by_block)
            stacks.append(prepared[key])
        pick = np.array([0 if m.subnormal_inputs else 1 for m in chosen])
        products = np.stack([stacks[0][0], stacks[1][0]])[pick].reshape(n * rows, -1)
        exponents = np.stack([stacks[0][1], stacks[1][1]])[pick].reshape(n * rows, -1)
        tiled = None if scales is None else tuple(np.tile(s, (n, 1)) for s in scales)
        got = _dot_rows(products, exponents, np.tile(c, n), _Rows.of(chosen, rows), structure, accumulator, tiled)
        out[indices] = got.reshape(n, rows)
    return out


def dot(a: np.ndarray, b: np.ndarray, c: np.ndarray, model: Model, input_format: str,
        accumulator: str = "f32", scales: tuple | None = None) -> np.ndarray:
    """Rows of A (problems x K) times rows of B (problems x K), plus c (problems): one
    output element of an mma per problem, under the model. a, b, c hold values the input
    and accumulator formats represent exactly. `scales` (block-scaled kinds): the scales of
    A's row and of B's column, (problems x blocks) each, block j covering K/blocks products."""
    return dot_many(a, b, c, [model], input_format, accumulator, scales)[0]


def block_columns(k: int, block: int | None, interleave: int | None = None) -> list:
    """The products (column indices) of each fused sum, in the order the sums are taken:
    `block` consecutive ones each, or, with `interleave`, runs of that many dealt in turn."""
    count = -(-k // min(block or k, k))
    run = min(block or k, k) if interleave is None else interleave
    owner = (np.arange(k) // run) % count
    return [np.flatnonzero(owner == i) for i in range(count)]


def mma(a: np.ndarray, b: np.ndarray, c: np.ndarray, model: Model, input_format: str,
        accumulator: str = "f32", scales: tuple | None = None) -> np.ndarray:
    """D = A (m x k) B (k x n) + C (m x n), every element as `dot` computes it; `scales`: A's
    (m x blocks) and B's (n x blocks) block scales, for the block-scaled kinds."""
    m, k = a.shape
    n = b.shape[1]
    rows = np.repeat(a, n, axis=0)
    columns = np.tile(b.T, (m, 1))
    if scales is not None:
        scales = (np.repeat(np.asarray(scales[0], dtype=np.float64), n, axis=0),
                  np.tile(np.asarray(scales[1], dtype=np.float64), (m, 1)))
    return dot(rows, columns, np.asarray(c, dtype=np.float64).reshape(-1), model, input_format,
               accumulator, scales).reshape(m, n)


def gemm(a: np.ndarray, b: np.ndarray, model: Model, input_format: str, instruction_k: int,
         accumulator: str = "f32", scales: tuple | None = None) -> np.ndarray:
    """A GEMM as a chain of mma along K, instruction_k at a time, accumulating in registers.
    `scales` (block-scaled kinds): A's (m x blocks) and B's (n x blocks), blocks of equal size
    along K, whole blocks per mma; each mma gets its own."""
    m, k = a.shape
    d = np.zeros((m, b.shape[1]))
    per_mma = 0 if scales is None else scales[0].shape[1] * instruction_k // k
    for start in range(0, k, instruction_k):
        mine = None if scales is None else tuple(
            s[:, start // instruction_k * per_mma:(start // instruction_k + 1) * per_mma] for s in scales)
        d = mma(a[:, start:start + instruction_k], b[start:start + instruction_k], d, model, input_format,
                accumulator, mine)
    return d


def published_model(gpu: str, input_format: str, accumulator: str = "f32") -> Model:
    """The published model of a GPU's tensor core for a format (smbench.tensor_core_models);
    a one-line SmbenchError for a name or format nobody published."""
    from smbench import tensor_core_models

    return tensor_core_models.lookup(gpu, input_format, accumulator).model
