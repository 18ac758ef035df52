"""The numerics family without a GPU: the emulator on cases worked by hand, the fragment
layouts, and the probes recovering the parameters of emulated models."""

import json
import math

import numpy as np
import pytest

from smbench import emulate, fragments, sass
from smbench import targets as target_table
from smbench.compile import compile_file
from smbench.families import precision

from conftest import KERNELS, run_cli

TRUNCATE_3 = emulate.Model(fraction_bits=26, align_rounding="truncate", output_rounding="truncate")


def one(a, b, c, model, input_format="f16", accumulator="f32"):
    """One dot product: lists of A row and B column values, and c."""
    return float(emulate.dot(np.array([a], dtype=float), np.array([b], dtype=float), np.array([c], dtype=float),
                             model, input_format, accumulator)[0])


# Cases worked by hand, in the style of Fasi et al.'s experiments (c = 1 or -1 beside small
# products, so that what the alignment keeps shows in the result).

def test_terms_within_the_fraction_bits_are_kept_and_sum_before_rounding():
    # 1 + 3 x 2^-24: each 2^-24 is within 26 fraction bits, the sum 1.5 ulp(1) is truncated to
    # 1 ulp. Adding them one at a time in IEEE arithmetic would give 1 (each is half an ulp).
    assert one([2**-12] * 3, [2**-12] * 3, 1.0, TRUNCATE_3) == 1 + 2**-23
    assert one([2**-12] * 3, [2**-12] * 3, 1.0, TRUNCATE_3.with_(output_rounding="rne")) == 1 + 2**-22


def test_terms_past_the_fraction_bits_are_dropped():
    # -1 + 1 + 2^-27: 2^-27 is one bit past 26 fraction bits of the largest term, 1.
    assert one([1.0, 2**-13], [1.0, 2**-14], -1.0, TRUNCATE_3) == 0.0
    assert one([1.0, 2**-13], [1.0, 2**-13], -1.0, TRUNCATE_3) == 2**-26
    # Rounded to nearest instead, 1.5 x 2^-27 becomes one unit of 2^-26.
    rne = TRUNCATE_3.with_(align_rounding="rne")
    assert one([1.0, 1.5 * 2**-13], [1.0, 2**-14], -1.0, rne) == 2**-26
    assert one([1.0, 1.5 * 2**-13], [1.0, 2**-14], -1.0, TRUNCATE_3) == 0.0


def test_output_rounding_toward_zero_and_to_nearest():
    # 1 + 0.75 ulp(1): truncation keeps 1, nearest gives 1 + ulp.
    terms = [2**-12, 2**-12], [2**-12, 2**-13]
    assert one(*terms, 1.0, TRUNCATE_3) == 1.0
    assert one(*terms, 1.0, TRUNCATE_3.with_(output_rounding="rne")) == 1 + 2**-23
    # Negative values truncate toward zero, not down.
    # -1 + 1.5 x 2^-24 lies between -(1 - 2^-24) and -(1 - 2^-23): toward zero is the latter.
    assert one(*terms, -1.0, TRUNCATE_3.with_(fraction_bits=30)) == -1 + 2**-23


def test_blocks_decide_what_a_small_term_is_aligned_with():
    # 1, -1, then 2^-30 at position 3: with blocks of 2 it meets only the accumulator (0) and
    # survives; in one fused sum with the 1 it is past 26 fraction bits and lost.
    a, b = [1.0, -1.0, 0.0, 2**-15], [1.0, 1.0, 0.0, 2**-15]
    assert one(a, b, 0.0, TRUNCATE_3.with_(block=2)) == 2**-30
    assert one(a, b, 0.0, TRUNCATE_3) == 0.0


def test_fp8_with_14_significant_bits():
    # DeepSeek-V3's FP8 observation as a model: 13 fraction bits. -256 + 16 x 16 + 2^-4 keeps
    # the 2^-4 (12 bits below 2^8), loses 2^-6 (14 bits below).
    fp8 = precision.MODELS["fp8-14bit"]
    assert one([16.0, 2**-2], [16.0, 2**-2], -256.0, fp8, "e4m3") == 2**-4
    assert one([16.0, 2**-3], [16.0, 2**-3], -256.0, fp8, "e4m3") == 0.0


def test_subnormals_nan_inf_and_overflow():
    flush = TRUNCATE_3.with_(subnormal_inputs=False)
    assert one([2**-24], [1.0], 0.0, TRUNCATE_3) == 2**-24  # f16's smallest subnormal, kept
    assert one([2**-24], [1.0], 0.0, flush) == 0.0
    assert math.isnan(one([math.inf], [0.0], 0.0, TRUNCATE_3))
    assert math.isnan(one([math.inf, math.inf], [1.0, -1.0], 0.0, TRUNCATE_3))
    assert one([math.inf], [1.0], 0.0, TRUNCATE_3) == math.inf
    huge = float(np.finfo(np.float32).max)
    # f32 max + 2^128 (bf16 2^127 x 2): truncation saturates, rounding to nearest overflows.
    assert one([2.0**127], [2.0], huge, TRUNCATE_3, "bf16") == huge
    assert one([2.0**127], [2.0], huge, TRUNCATE_3.with_(output_rounding="rne"), "bf16") == math.inf
    # f16's largest product is past 26 fraction bits of f32's max: it vanishes in the alignment.
    assert one([65504.0], [65504.0], huge, TRUNCATE_3.with_(output_rounding="rne")) == huge
    tiny = emulate.Model(subnormal_outputs=False)
    assert one([2**-70], [2**-70], 0.0, tiny, "bf16") == 0.0
    assert one([2**-70], [2**-70], 0.0, emulate.Model(), "bf16") == 2**-140


def test_f16_accumulator_rounds_every_block():
    model = emulate.Model(fraction_bits=30, output_rounding="rne", block=1)
    # 2048 + 1 is a tie in f16 (spacing 2 there): each +1 rounds back to 2048.
    assert one([1.0, 1.0], [1.0, 1.0], 2048.0, model, "f16", "f16") == 2048.0
    assert one([1.0, 1.0], [1.0, 1.0], 2048.0, model.with_(block=2), "f16", "f16") == 2050.0


def test_gemm_is_a_chain_of_mma():
    rng = np.random.default_rng(1)
    a, b = rng.integers(-3, 4, (16, 64)).astype(float), rng.integers(-3, 4, (64, 8)).astype(float)
    assert np.array_equal(emulate.gemm(a, b, TRUNCATE_3, "f16", 16), a @ b)  # small integers: exact


def test_model_rejects_impossible_parameters():
    with pytest.raises(ValueError):
        emulate.Model(fraction_bits=60)
    with pytest.raises(ValueError):
        emulate.Model(align_rounding="up")


# ---------------------------------------------------------------- fragment layouts

@pytest.mark.parametrize("layout", list(fragments.LAYOUTS))
def test_each_element_has_exactly_one_place(layout):
    k = fragments.LAYOUTS[layout]
    per = fragments.PER_REGISTER[layout]
    a = [fragments.a_position(layout, lane, r, i) for lane in range(32) for r in range(4) for i in range(per)]
    b = [fragments.b_position(layout, lane, r, i) for lane in range(32) for r in range(2) for i in range(per)]
    assert sorted(a) == [(row, col) for row in range(16) for col in range(k)]
    assert sorted(b) == [(row, col) for row in range(k) for col in range(8)]
    d = [fragments.d_position(lane, e) for lane in range(32) for e in range(4)]
    assert sorted(d) == [(row, col) for row in range(16) for col in range(8)]


def test_known_positions_from_the_ptx_isa():
    # m16n8k16 f16, lane 5 (group 1, thread 1): a0 is (1, 2), a3 is (9, 3), a6 is (9, 10).
    assert fragments.a_position("b16", 5, 0, 0) == (1, 2)
    assert fragments.a_position("b16", 5, 1, 1) == (9, 3)
    assert fragments.a_position("b16", 5, 3, 0) == (9, 10)
    # m16n8k32 8-bit, lane 6 (group 1, thread 2): a8 (register 2, byte 0) is (1, 24).
    assert fragments.a_position("b8", 6, 2, 0) == (1, 24)
    assert fragments.b_position("b8", 6, 1, 3) == (27, 1)
    # m16n8k8 tf32: a2 of lane 0 is (0, 4); c2 of lane 0 is (8, 0).
    assert fragments.a_position("tf32", 0, 2, 0) == (0, 4)
    assert fragments.d_position(0, 2) == (8, 0)


@pytest.mark.parametrize("key", list(precision.BY_KEY))
def test_tiles_round_trip_through_fragment_words(key):
    fmt = precision.BY_KEY[key]
    rng = np.random.default_rng(0)
    a = precision.random_operands(fmt, (16, fmt.k), rng)
    b = precision.random_operands(fmt, (fmt.k, 8), rng)
    words = fragments.pack_a(fmt.layout, fmt.input_format, a, fmt.container_bits, fmt.shift)
    assert words.shape == (32, 4)
    assert np.array_equal(fragments.unpack_a(fmt.layout, fmt.input_format, words, fmt.container_bits, fmt.shift), a)
    words = fragments.pack_b(fmt.layout, fmt.input_format, b, fmt.container_bits, fmt.shift)
    assert np.array_equal(fragments.unpack_b(fmt.layout, fmt.input_format, words, fmt.container_bits, fmt.shift), b)
    c = rng.integers(-100, 100, (16, 8)).astype(float)
    assert np.array_equal(fragments.unpack_accumulator(fmt.accumulator, fragments.pack_accumulator(fmt.accumulator, c)),
                          c)


def test_e2m1_sits_in_the_middle_of_its_byte_under_f8f6f4():
    fmt = precision.BY_KEY["e2m1_f32acc"]
    a = np.zeros((16, 32))
    a[0, 0] = 1.5  # 0b0011
    words = fragments.pack_a(fmt.layout, fmt.input_format, a, fmt.container_bits, fmt.shift)
    assert words[0, 0] == 0b0011 << 2


# ---------------------------------------------------------------- probes

@pytest.mark.parametrize("model_name, keys", [
    ("truncate-3", ["f16_f32acc", "bf16_f32acc", "tf32_f32acc", "e4m3_f32acc", "e2m1_f32acc", "f16_f16acc"]),
    ("rne-exact", ["f16_f32acc", "bf16_f32acc", "e5m2_f32acc"]),
    ("fp8-14bit", ["e4m3_f32acc", "e5m2_f32acc", "e3m2_f32acc", "f16_f32acc"]),
])
def test_probes_recover_an_emulated_model(model_name, keys):
    model = precision.MODELS[model_name]
    for key in keys:
        fitted = precision.fit(precision.BY_KEY[key], precision.emulator_device(model))
        verdict = precision.recovered(model, fitted)
        assert "WRONG" not in verdict.values(), (key, verdict)
        # What these formats' ranges can always show: the width and the blocks of the sum.
        assert verdict["fraction_bits"] == "recovered" and verdict["block"] == "recovered", (key, verdict)
        assert verdict["subnormal_inputs"] == "recovered"
        if model.fraction_bits >= 2 * (precision.facts(precision.BY_KEY[key].input_format).mantissa_bits + 1):
            assert verdict["product_bits"] == "recovered", (key, verdict)  # every product bit can show


def test_probes_tell_the_models_apart():
    fmt = precision.BY_KEY["f16_f32acc"]
    fitted = {name: precision.fit(fmt, precision.emulator_device(model)).parameters
              for name, model in precision.MODELS.items()}
    assert fitted["truncate-3"]["align_rounding"]["value"] == "truncate"
    assert fitted["rne-exact"]["align_rounding"]["value"] == "rne"
    assert fitted["truncate-3"]["output_rounding"]["value"] == "truncate"
    assert fitted["rne-exact"]["block"]["value"] == 4
    assert fitted["fp8-14bit"]["block"]["value"] is None  # blocks of 16 = the whole of f16's K
    assert [fitted[n]["fraction_bits"]["value"] for n in ("truncate-3", "rne-exact", "fp8-14bit")] == [26, 46, 13]


def test_a_narrow_format_reports_what_it_cannot_show():
    """e2m1 cannot hold terms 46 bits apart: the fit says which values remain, not a guess."""
    fitted = precision.fit(precision.BY_KEY["e2m1_f32acc"], precision.emulator_device(precision.MODELS["rne-exact"]))
    found = fitted.parameters["fraction_bits"]
    assert not found["determined"] and 46 in found["consistent"] and min(found["consistent"]) > 23


def test_the_long_way_through_fragments_gives_the_same_fit():
    model = precision.MODELS["fp8-14bit"]
    fmt = precision.BY_KEY["e4m3_f32acc"]
    direct = precision.fit(fmt, precision.emulator_device(model)).parameters
    packed = precision.fit(fmt, precision.fragment_device(model)).parameters
    assert direct == packed


def test_specials_are_observed_and_compared_with_ieee():
    fitted = precision.fit(precision.BY_KEY["f16_f32acc"], precision.emulator_device(precision.MODELS["rne-exact"]))
    specials = {s["probe"]: s for s in fitted.specials}
    assert specials["inf x 0"]["device"] == "NaN" and specials["inf x 1"]["device"] == "inf"
    assert all(s["agree"] for s in fitted.specials)


def test_gemm_errors_compare_device_float64_and_emulator():
    fmt = precision.BY_KEY["f16_f16acc"]
    model = precision.MODELS["truncate-3"]
    rows = precision.gemm_errors(fmt, precision.emulator_gemm(model), model, [16, 256])
    assert [r["k"] for r in rows] == [16, 256]
    assert all(r["bit_identical"] == 1.0 for r in rows)
    assert rows[1]["device_median_rel_error"] > rows[0]["device_median_rel_error"] >= 0
    other = precision.gemm_errors(fmt, precision.emulator_gemm(model), precision.MODELS["rne-exact"], [256])
    assert other[0]["bit_identical"] < 1.0  # a different model predicts different bits


# ---------------------------------------------------------------- kernels and the CLI

@pytest.mark.parametrize("target", [t.name for t in target_table.all_targets()])
@pytest.mark.needs_sass
def test_probe_kernels_compile_where_the_format_exists(target):
    result = compile_file(KERNELS / precision.KERNEL_FILE, target)
    assert result.ok, result.log
    kernels = sass.summarize(result.cubin)
    for fmt in precision.FORMATS:
        summary = kernels[fmt.kernel]
        assert bool(summary.tensor_instructions) == target_table.get(target).has(fmt.feature), (fmt.key, target)
        assert summary.spill_instructions == 0


def test_run_only_precision_on_the_cpu(tmp_path):
    suite = tmp_path / "numerics.toml"
    suite.write_text('[precision]\nformats = ["f16_f32acc", "e4m3_f32acc"]\ngemm_ks = [64]\ncpu_model = "fp8-14bit"\n')
    code, out, err = run_cli("run", "--suite", str(suite), "--backend", "cpu", "--only", "precision",
                             "--out", str(tmp_path))
    assert code == 0, err
    assert "tensor-core numerics" in out and "recovered the emulated model's parameters for 2 of 2" in out
    document = json.loads(next(tmp_path.glob("*.json")).read_text())
    for record in document["records"]:
        assert record["status"] == "ok" and record["validation"]["ok"]
        assert record["fit"]["parameters"]["fraction_bits"]["value"] == 13
        assert record["gemm"][0]["k"] == 64 and "fp8-14bit" in record["device"]
    suite.write_text('[precision]\ncpu_model = "ieee"\n')
    code, _, err = run_cli("run", "--suite", str(suite), "--backend", "cpu", "--only", "precision",
                           "--out", str(tmp_path))
    assert code == 2 and "cpu_model" in err


@pytest.mark.parametrize("key, model", [
    # A device that flushes subnormal outputs but keeps subnormal inputs (bf16: 2^-133 inputs).
    ("bf16_f32acc", emulate.Model(fraction_bits=34, output_rounding="rne", subnormal_outputs=False)),
    ("f16_f16acc", emulate.Model(fraction_bits=20, subnormal_outputs=False, block=4)),
    # One that flushes subnormal inputs: the probes use normal factors wherever they can.
    ("e4m3_f32acc", emulate.Model(fraction_bits=25, subnormal_inputs=False)),
    ("nvfp4_f32acc", emulate.Model(fraction_bits=20, subnormal_inputs=False, align_rounding="rne", block=8)),
])
def test_probes_survive_flushing_devices(key, model):
    fitted = precision.fit(precision.BY_KEY[key], precision.emulator_device(model))
    verdict = precision.recovered(model, fitted)
    assert fitted.model is not None and "WRONG" not in verdict.values(), verdict
    assert verdict["fraction_bits"] == "recovered" and verdict["subnormal_inputs"] == "recovered"


def test_random_models_are_never_misread():
    """Whatever the model, the fit names it or leaves the truth among what remains."""
    rng = np.random.default_rng(11)
    for _ in range(6):
        model = emulate.Model(fraction_bits=int(rng.integers(8, 41)),
                              align_rounding=str(rng.choice(emulate.ROUNDINGS)),
                              output_rounding=str(rng.choice(emulate.ROUNDINGS)),
                              block=[None, 2, 4, 8][int(rng.integers(4))],
                              subnormal_inputs=bool(rng.integers(2)), subnormal_outputs=bool(rng.integers(2)))
        key = list(precision.BY_KEY)[int(rng.integers(len(precision.BY_KEY)))]
        fitted = precision.fit(precision.BY_KEY[key], precision.emulator_device(model))
        assert fitted.model is not None, (key, model)
        assert "WRONG" not in precision.recovered(model, fitted).values(), (key, model)
