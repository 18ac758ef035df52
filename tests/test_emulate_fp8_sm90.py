"""FP8 mma.sync in the sm_89 form on sm_90, where ptxas builds it from FP16 HMMAs: the SASS
it compiles to, and a fake device built from that exact instruction sequence, independent
of the emulator, that precision.fit must fit (issue 12, item 1).

What NVRTC 13.5 / ptxas makes of one m16n8k32 e4m3 (e5m2) mma for sm_90, per the SASS:
- F2FP.F16.E4M3.UNPACK_B of each A and B register's low 16 bits, and of its high 16 bits
  (.H1): two FP8 values to two f16, exact (12 unpacks: 4 A + 2 B registers, 2 halves);
- HMMA.16816.F32 (f32 accumulator; HMMA.16816.F16 for f16) of the low halves with RZ as
  its accumulator, then a second HMMA of the high halves accumulating onto the first;
- FADD of C to each of the 4 result registers (HADD2 to each of the 2 packed f16 ones).
So D = RN(C + P), P summed from zero through two chained m16n8k16 f16 tensor-core sums;
a register holds 4 consecutive k, so the first HMMA takes k = 0, 1, 4, 5, ... and the
second k = 2, 3, 6, 7, ...
"""

import itertools
import math
import re

import numpy as np
import pytest

from smbench import emulate, fragments, sass, tensor_core_models
from smbench.compile import compile_file
from smbench.families import precision

from conftest import KERNELS

FP8_SM89_FORM = ["e4m3_f32acc", "e5m2_f32acc", "e4m3_f16acc"]


@pytest.mark.parametrize("key", FP8_SM89_FORM)
@pytest.mark.needs_sass
def test_sm90_builds_the_fp8_mma_from_unpacks_two_chained_hmma_and_an_add_of_c(key):
    fmt = precision.BY_KEY[key]
    result = compile_file(KERNELS / precision.KERNEL_FILE, "sm_90")
    assert result.ok, result.log
    histogram = sass.summarize(result.cubin)[fmt.kernel].histogram
    f16 = fmt.accumulator == "f16"
    hmma = histogram["HMMA.16816.F16" if f16 else "HMMA.16816.F32"]
    assert hmma and hmma % 2 == 0 and not histogram.get("QMMA")  # 2 per mma; no FP8 tensor instruction
    assert histogram["F2FP"] == 6 * hmma  # 12 unpacks per mma
    assert histogram["HADD2" if f16 else "FADD"] == (hmma if f16 else 2 * hmma)  # C: 2 packed f16 / 4 f32 adds
    # Every other HMMA starts from RZ (a zero accumulator); its partner accumulates on it.
    listing = sass.run_cuobjdump(result.cubin)
    body = listing.split(f"Function : {fmt.kernel}")[1].split("Function :")[0]
    operands = re.findall(r"HMMA\.16816\.F(?:16|32) (R\d+), R\d+, R\d+, (R\w+) ;", body)  # D, A, B, C
    assert len(operands) == hmma and [c for _, c in operands].count("RZ") == hmma // 2
    unpack = f"F2FP.F16.{fmt.input_format.upper()}.UNPACK_B"
    assert body.count(unpack) == histogram["F2FP"]
    # The HMMA from RZ multiplies the unpacked low halves of the FP8 registers, its partner
    # the high halves (.H1): which k each takes (see _hmma_positions).
    high = {}  # register -> whether its last F2FP unpacked a high half
    seen = []
    for line in body.splitlines():
        found = re.search(unpack + r" (R\d+), (R\d+)(\.H1)?", line)
        if found:
            high[found[1]] = bool(found[3])
        found = re.search(r"HMMA\.16816\.F(?:16|32) R\d+, R(\d+), R(\d+), (R\w+) ;", line)
        if found:
            a, b = int(found[1]), int(found[2])
            seen.append((found[3] == "RZ", frozenset(high[f"R{r}"] for r in [a, a + 1, a + 2, a + 3, b, b + 1])))
    assert set(seen) == {(True, frozenset({False})), (False, frozenset({True}))}  # (from RZ, high halves)


# ---------------------------------------------------------------- the fake device

def _hmma_positions(operand: str, registers: int):
    """Per HMMA h (0: low halves, 1: high halves): (f16 tile positions, FP8 tile positions)
    that F2FP.UNPACK_B moves each value between. Register r of the FP8 fragment holds bytes
    0..3; its half h (bytes 2h, 2h + 1) becomes register r of HMMA h's f16 fragment."""
    position = fragments.a_position if operand == "a" else fragments.b_position
    out = []
    for half in (0, 1):
        to, src = [], []
        for lane in range(32):
            for register in range(registers):
                for index in (0, 1):
                    to.append(position("b16", lane, register, index))
                    src.append(position("b8", lane, register, 2 * half + index))
        out.append((tuple(np.array(to).T), tuple(np.array(src).T)))
    return out


A_HALVES, B_HALVES = _hmma_positions("a", 4), _hmma_positions("b", 2)
F32_MAX = float(np.finfo(np.float32).max)


def _hopper_hmma(a16, b16, acc, accumulator):
    """HMMA.16816 as facts.md has Hopper's FP16 tensor core (Khattak and Mikaitis): the 16
    exact products and the accumulator as one fused sum anchored at the largest exponent sum E
    (f16 subnormals at exponent -14; the accumulator's exponent as an fp32 value; E never below
    -133, -21 into fp16), each term truncated at 2^(E - 25), carries kept, then RZ to fp32 (RNE
    to fp16). a16 (P x 16 x 16), b16 (P x 16 x 8), acc (P x 16 x 8), float64 holding f16/f32 values."""
    with np.errstate(invalid="ignore"):  # inf x 0
        terms = np.concatenate([acc[..., None], a16[:, :, None, :] * b16.transpose(0, 2, 1)[:, None, :, :]], axis=-1)

    def exponent(x, low):  # floor(log2 |x|), at least `low`
        return np.maximum(np.frexp(np.where(np.isfinite(x) & (x != 0), x, 1.0))[1] - 1, low)

    sums = exponent(a16, -14)[:, :, None, :] + exponent(b16, -14).transpose(0, 2, 1)[:, None, :, :]
    exponents = np.concatenate([exponent(acc, -126)[..., None], sums], axis=-1)
    present = np.isfinite(terms) & (terms != 0)
    finite = np.isfinite(terms).all(axis=-1)
    anchor = np.max(np.where(present, exponents, -1000), axis=-1, keepdims=True)
    anchor = np.maximum(anchor, -133 if accumulator == "f32" else -21)
    quantum = np.ldexp(1.0, anchor - 25)
    with np.errstate(invalid="ignore"):
        exact = (np.trunc(terms / quantum) * quantum).sum(axis=-1)  # multiples of quantum: exact
        plain = terms.sum(axis=-1)  # inf, -inf or NaN where a term is not finite
    total = np.where(finite, exact, plain)
    if accumulator == "f16":
        with np.errstate(over="ignore"):
            return total.astype(np.float16).astype(np.float64)  # numpy: correctly rounded, ties to even
    # Toward zero to fp32 by clearing the 29 low bits of the float64 significand: right for a
    # normal fp32 result, which is all these inputs can give (checked).
    normal = (total == 0) | ~np.isfinite(total) | ((np.abs(total) >= 2.0**-126) & (np.abs(total) <= F32_MAX))
    assert normal.all()
    bits = np.ascontiguousarray(total).view(np.uint64) & ~np.uint64((1 << 29) - 1)
    return np.where(np.isfinite(total), bits.view(np.float64), total)


def sm90_fp8_mma(fmt, a, b, c):
    """D (P x 16 x 8) of P tiles A (P x 16 x 32), B (P x 32 x 8), C (P x 16 x 8), as the SASS
    above computes it."""
    kind = np.float16 if fmt.accumulator == "f16" else np.float32
    partial = np.zeros(c.shape)  # the RZ operand
    for (a_to, a_from), (b_to, b_from) in zip(A_HALVES, B_HALVES):
        a16, b16 = np.zeros((len(a), 16, 16)), np.zeros((len(b), 16, 8))
        a16[(slice(None), *a_to)] = a[(slice(None), *a_from)]
        b16[(slice(None), *b_to)] = b[(slice(None), *b_from)]
        # F2FP: FP8 to f16, exact (every e4m3 and e5m2 value is an f16 value).
        for x in (a16, b16):
            assert np.array_equal(x.astype(np.float16).astype(np.float64), x, equal_nan=True)
        partial = _hopper_hmma(a16, b16, partial, fmt.accumulator)
    with np.errstate(over="ignore", invalid="ignore"):
        return (c.astype(kind) + partial.astype(kind)).astype(np.float64)  # FADD / HADD2: one IEEE add, RN


def sm90_fp8_device(fmt, a, b, c):
    """precision.Device: each probe as a whole tile (row 0 of A, column 0 of B, C[0, 0])."""
    tiles = [precision.tile(fmt, x, y, z) for x, y, z in zip(a, b, c)]
    d = sm90_fp8_mma(fmt, *(np.array([t[i] for t in tiles]) for i in range(3)))
    return d[:, 0, 0]


def sm90_fp8_gemm(fmt, a, b):
    """A GEMM as the probe kernel chains it: one mma per 32 of K, from a zero accumulator."""
    d = np.zeros((1, a.shape[0], b.shape[1]))
    for start in range(0, a.shape[1], fmt.k):
        d = sm90_fp8_mma(fmt, a[None, :, start:start + fmt.k], b[None, start:start + fmt.k], d)
    return d[0]


def test_the_fake_device_adds_c_after_the_products_with_one_rounding_to_nearest():
    fmt = precision.BY_KEY["e4m3_f32acc"]
    one = lambda a, b, c: float(sm90_fp8_device(fmt, np.array([a], float), np.array([b], float), np.array([c]))[0])
    k = fmt.k
    unit = np.zeros(k)
    # 2^8 + 0.75 ulp(2^8): rounded to nearest, c + ulp (a fused sum truncated to fp32 keeps 2^8).
    x = unit.copy(); x[0] = 1.5 * 2**-8
    y = unit.copy(); y[0] = 2**-8
    assert one(x, y, 256.0) == 256 + 2**-15
    # -2^8 + (2^9 + 0.375 ulp(2^9)): the products' sum is truncated to fp32 (to 2^9) before c
    # meets it; one fused sum would have left 2^8 + 0.75 ulp(2^8).
    x = unit.copy(); x[[0, 1]] = [32.0, 1.5 * 2**-8]
    y = unit.copy(); y[[0, 1]] = [16.0, 2**-8]
    assert one(x, y, -256.0) == 256.0
    # 2^8 - 2^8 + 2^-17 in one HMMA (k = 0, 1, 4): 2^-17 is 25 bits below 2^8, kept; 2^-18 is not.
    x = unit.copy(); x[[0, 1, 4]] = [16.0, -16.0, 2**-8]
    y = unit.copy(); y[[0, 1, 4]] = [16.0, 16.0, 2**-9]
    assert one(x, y, 0.0) == 2**-17
    x[4] = 2**-9
    assert one(x, y, 0.0) == 0.0
    x[[4, 2]] = [0.0, 2**-9]  # at k = 2 it is in the other HMMA, which the first hands 0: kept
    y[[4, 2]] = [0.0, 2**-9]
    assert one(x, y, 0.0) == 2**-18


def sm90_model(accumulator):
    """The emulator's model of the same: what the fit must find (tensor_core_models has it too)."""
    return emulate.Model(neab=2, output_rounding="rz" if accumulator == "f32" else "rne", block=16, c_entry="after",
                         interleave=2, anchor_floor=-133 if accumulator == "f32" else -21)


@pytest.mark.parametrize("key", FP8_SM89_FORM)
def test_the_fit_recovers_the_sm90_emulation_of_fp8(key):
    fmt = precision.BY_KEY[key]
    fitted = precision.fit(fmt, sm90_fp8_device)
    assert fitted.model is not None, fitted.parameters
    found = {name: p["value"] for name, p in fitted.parameters.items() if p["determined"]}
    truth = sm90_model(fmt.accumulator)
    for name in ("c_entry", "interleave", "block", "neab", "block_bits", "output_rounding", "subnormal_inputs"):
        assert found.get(name, "undetermined") == getattr(truth, name), (name, fitted.parameters[name])
    assert "then c added with one IEEE round-to-nearest-even add" in fitted.to_dict()["description"]
    # The fitted model is the device on random GEMMs too, bit for bit.
    rows = precision.gemm_errors(fmt, sm90_fp8_gemm, fitted.model, [32, 256, 1024], seed=5)
    assert [r["bit_identical"] for r in rows] == [1.0, 1.0, 1.0], rows
    assert emulate.gemm(np.ones((16, 64)), np.ones((64, 8)), fitted.model, fmt.input_format, fmt.k,
                        fmt.accumulator)[0, 0] == 64
    # And the fit names it: the derived H100 emu model, not the published wgmma one.
    assert precision.likeness(fitted.published) == ("like", [p for p in fitted.published if p["gpu"] == "H100 emu"])
    assert tensor_core_models.sm90_fp8_mma(fmt.accumulator) == truth


@pytest.mark.parametrize("key", FP8_SM89_FORM)
def test_no_fused_sum_of_c_answers_the_probes_as_c_added_after(key):
    """Where c enters is told by the probes themselves: with the device's own blocks, no
    model with c in the first fused sum (any neab, either rounding) answers as the
    device does, and (i), (iv) and (v) (c beside products it cancels or half-ulp sums) suffice."""
    fmt = precision.BY_KEY[key]
    probes = precision.sum_probes(fmt)
    a, b, c = probes.arrays()
    device = sm90_fp8_device(fmt, a, b, c)
    told = np.array([(c_ != 0) and " at " not in what for c_, what in zip(c, probes.what)])  # (i), (iv), (v)
    assert told.any()
    for neab, output in itertools.product(range(emulate.MIN_NEAB, emulate.MAX_NEAB + 1), emulate.ROUNDINGS):
        fused = sm90_model(fmt.accumulator).with_(c_entry="fused", neab=neab, output_rounding=output)
        got = emulate.dot(a[told], b[told], c[told], fused, fmt.input_format, fmt.accumulator)
        assert not np.array_equal(got, device[told], equal_nan=True), fused


# ---------------------------------------------------------------- the emulator's new parameters

def one(a, b, c, model, input_format="e4m3", accumulator="f32"):
    return float(emulate.dot(np.array([a], dtype=float), np.array([b], dtype=float), np.array([c], dtype=float),
                             model, input_format, accumulator)[0])


def test_c_after_the_products_is_one_rounding_to_nearest():
    fused = emulate.Model(neab=2, output_rounding="rz", block=16)
    after = fused.with_(c_entry="after")
    # 2^8 + 0.75 ulp: the fused sum truncates to 2^8; c added after rounds to nearest.
    assert one([1.5 * 2**-8], [2**-8], 256.0, fused) == 256.0
    assert one([1.5 * 2**-8], [2**-8], 256.0, after) == 256 + 2**-15
    # -2^8 + 2^9 + 0.375 ulp(2^9): in one fused sum (26 bits, then to nearest) c cancels 2^9 and
    # 2^8 + 0.75 ulp(2^8) rounds up; after, the products' sum is truncated to f32 (2^9) first.
    nearest = fused.with_(neab=3, output_rounding="rne")
    assert one([32.0, 1.5 * 2**-8], [16.0, 2**-8], -256.0, nearest) == 256 + 2**-15
    assert one([32.0, 1.5 * 2**-8], [16.0, 2**-8], -256.0, nearest.with_(c_entry="after")) == 256.0
    assert one([32.0, 1.5 * 2**-8], [16.0, 2**-8], -256.0, after) == 256.0
    # The f16 accumulator: 2048 + 1 + 1 is 2050 in one sum; 2 first, then RN(2048 + 2).
    f16 = emulate.Model(neab=2, block=1, c_entry="after", output_rounding="rne")
    assert one([1.0, 1.0], [1.0, 1.0], 2048.0, f16, "f16", "f16") == 2050.0
    assert one([1.0, 1.0], [1.0, 1.0], 2048.0, f16.with_(c_entry="fused"), "f16", "f16") == 2048.0
    # IEEE specials and signed zero in the final add.
    assert math.isnan(one([math.inf], [1.0], -math.inf, after))
    assert math.copysign(1.0, one([0.0], [0.0], -0.0, after)) == 1.0  # -0 + +0 = +0
    assert one([0.0], [0.0], 3.0, after) == 3.0


def test_interleaved_blocks_take_runs_in_turn():
    assert [list(c) for c in emulate.block_columns(8, 4)] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert [list(c) for c in emulate.block_columns(8, 4, 2)] == [[0, 1, 4, 5], [2, 3, 6, 7]]
    assert [list(c) for c in emulate.block_columns(8, 4, 1)] == [[0, 2, 4, 6], [1, 3, 5, 7]]
    assert [list(c) for c in emulate.block_columns(8, None, 2)] == [list(range(8))]
    # 2^8 - 2^8 + 2^-18: lost beside 2^8 in one sum (25 bits), kept when it sits in the other.
    model = sm90_model("f32")
    a, b = np.zeros(32), np.zeros(32)
    a[[0, 1]], b[[0, 1]] = [16.0, -16.0], [16.0, 16.0]
    a[4] = b[4] = 2**-9
    assert one(a, b, 0.0, model) == 0.0
    a[[4, 2]] = b[[4, 2]] = [0.0, 2**-9]
    assert one(a, b, 0.0, model) == 2**-18
    assert one(a, b, 0.0, model.with_(interleave=None)) == 0.0  # consecutive blocks: k = 2 is with k = 0


def test_new_parameters_are_described_and_checked():
    text = sm90_model("f32").describe("f32")
    assert "fused sums of 16 products (dealt to the sums in runs of 2), chained from zero" in text
    assert "each sum RZ to f32; then c added with one IEEE round-to-nearest-even add in f32" in text
    assert "round-to-nearest" not in emulate.Model().describe() and "+ accumulator" in emulate.Model().describe()
    with pytest.raises(ValueError):
        emulate.Model(c_entry="last")
    with pytest.raises(ValueError):
        emulate.Model(block=4, interleave=8)


def test_other_formats_say_c_after_was_not_tried():
    fitted = precision.fit(precision.BY_KEY["tf32_f32acc"], precision.emulator_device(emulate.published_model("A100", "tf32")))
    assert fitted.parameters["c_entry"]["value"] == "fused" and "no target builds" in fitted.parameters["c_entry"]["why"]
    assert precision.built_from_others(precision.BY_KEY["e4m3_f16acc"])
    assert not precision.built_from_others(precision.BY_KEY["f16_f32acc"])


def test_random_models_with_c_after_are_never_misread():
    rng = np.random.default_rng(7)
    for _ in range(4):
        block = [2, 4, 8, 16][int(rng.integers(4))]
        runs = [None] + [2**i for i in range(int(math.log2(block)))]
        model = emulate.Model(neab=int(rng.integers(-15, 18)), block_bits=[None, 14][int(rng.integers(2))],
                              output_rounding=str(rng.choice(emulate.ROUNDINGS)), block=block, c_entry="after",
                              interleave=runs[int(rng.integers(len(runs)))], subnormal_inputs=bool(rng.integers(2)))
        key = FP8_SM89_FORM[int(rng.integers(len(FP8_SM89_FORM)))]
        if precision.BY_KEY[key].accumulator == "f16":
            model = model.with_(block_bits=None)  # the fit tries widths below the accumulator's only
        fitted = precision.fit(precision.BY_KEY[key], precision.emulator_device(model))
        verdict = precision.recovered(model, fitted)
        assert fitted.model is not None and "WRONG" not in verdict.values(), (key, model, verdict)
        assert verdict["c_entry"] == "recovered", (key, model, verdict)
