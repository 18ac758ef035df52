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
from smbench.families.precision import family, probes

from conftest import KERNELS, run_cli_here

H100 = emulate.published_model("H100", "f16")  # neab 2, blocks of 16, RZ to fp32, floor -133


def one(a, b, c, model, input_format="f16", accumulator="f32"):
    """One dot product: lists of A row and B column values, and c."""
    return float(emulate.dot(np.array([a], dtype=float), np.array([b], dtype=float), np.array([c], dtype=float),
                             model, input_format, accumulator)[0])


# Cases worked by hand (the papers' own cases are in test_emulate_published.py).

def test_terms_within_the_alignment_are_kept_and_sum_before_rounding():
    # 1 + 3 x 2^-24 (neab 2: kept to 2^-25); 1.5 ulp(1) is truncated to 1 ulp, or rounded to 2.
    assert one([2**-12] * 3, [2**-12] * 3, 1.0, H100) == 1 + 2**-23
    assert one([2**-12] * 3, [2**-12] * 3, 1.0, H100.with_(output_rounding="rne")) == 1 + 2**-22


def test_terms_past_the_alignment_are_dropped():
    # -1 + 1 + 2^-25: at 2^(E - 25), kept; 2^-26 is not.
    assert one([1.0, 2**-12], [1.0, 2**-13], -1.0, H100) == 2**-25
    assert one([1.0, 2**-13], [1.0, 2**-13], -1.0, H100) == 0.0
    # Each term is truncated toward zero on its own: 1.5 x 2^-26 is 0.75 of the quantum 2^-25.
    assert one([1.0, 1.5 * 2**-13], [1.0, 2**-13], -1.0, H100) == 0.0


def test_the_anchor_is_the_exponent_sum_not_the_leading_bit():
    # 1.5 x 1.5 = 2.25 (leading bit 2^1, exponent sum 0) beside its negative: 2^-25 is 25 bits
    # below 2^0, kept; anchored at the leading bit it would be 26 below and lost.
    assert one([1.5, -1.5, 2**-12], [1.5, 1.5, 2**-13], 0.0, H100) == 2**-25
    assert one([1.5, -1.5, 2**-13], [1.5, 1.5, 2**-13], 0.0, H100) == 0.0
    # c's exponent counts: -2.25 (exponent 1) moves the anchor up and 2^-25 is lost.
    assert one([1.5, 2**-12], [1.5, 2**-13], -2.25, H100) == 0.0


def test_output_rounding_toward_zero_and_to_nearest():
    # 1 + 0.75 ulp(1): toward zero keeps 1, nearest gives 1 + ulp.
    terms = [2**-12, 2**-12], [2**-12, 2**-13]
    assert one(*terms, 1.0, H100) == 1.0
    assert one(*terms, 1.0, H100.with_(output_rounding="rne")) == 1 + 2**-23
    # -1 + 1.5 x 2^-24 lies between -(1 - 2^-24) and -(1 - 2^-23): toward zero is the latter.
    assert one(*terms, -1.0, H100) == -1 + 2**-23


def test_blocks_decide_what_a_small_term_is_aligned_with():
    # 1, -1, then 2^-30 at position 3: with blocks of 2 it meets only the accumulator (0) and
    # survives; in one fused sum with the 1 it is past the alignment and lost.
    a, b = [1.0, -1.0, 0.0, 2**-15], [1.0, 1.0, 0.0, 2**-15]
    assert one(a, b, 0.0, H100.with_(block=2)) == 2**-30
    assert one(a, b, 0.0, H100) == 0.0


def test_fp8_block_results_are_narrowed_to_14_bits():
    # Hopper's FP8 (neab -10): terms kept down to 2^(E - 13); 2 x 2^8 + 2^-4 has 14 significant
    # bits and stays, 2 x 2^8 + 2^-5 has 15 (2^-5 is kept by the alignment) and is cut to 2^9.
    fp8 = emulate.published_model("H100", "e4m3")
    assert one([16.0, 16.0, 2**-2], [16.0, 16.0, 2**-2], 0.0, fp8, "e4m3") == 512 + 2**-4
    assert one([16.0, 16.0, 2**-2], [16.0, 16.0, 2**-3], 0.0, fp8, "e4m3") == 512
    assert one([16.0, 16.0, 2**-2], [16.0, 16.0, 2**-3], 0.0, fp8.with_(block_bits=None), "e4m3") == 512 + 2**-5
    # -256 + 16 x 16 + 2^-5 keeps the 2^-5 (13 bits below 2^8), loses 2^-6.
    assert one([16.0, 2**-2], [16.0, 2**-3], -256.0, fp8, "e4m3") == 2**-5
    assert one([16.0, 2**-3], [16.0, 2**-3], -256.0, fp8, "e4m3") == 0.0


def test_the_anchor_floor():
    # bf16: 2^-140 - 2^-160 (the exponent sums below -133): with the floor the anchor is -133,
    # the quantum 2^-158, so -2^-160 is truncated to nothing; without it (anchor -140, quantum
    # 2^-165) it stays and the RZ result steps below 2^-140.
    bf16 = emulate.published_model("H100", "bf16")
    a, b = [2.0**-70, -(2.0**-80)], [2.0**-70, 2.0**-80]
    assert one(a, b, 0.0, bf16, "bf16") == 2.0**-140
    assert one(a, b, 0.0, bf16.with_(anchor_floor=None), "bf16") == 2.0**-140 - 2.0**-149


def test_subnormals_nan_inf_and_overflow():
    flush = H100.with_(subnormal_inputs=False)
    assert one([2**-24], [1.0], 0.0, H100) == 2**-24  # f16's smallest subnormal, kept
    assert one([2**-24], [1.0], 0.0, flush) == 0.0
    assert math.isnan(one([math.inf], [0.0], 0.0, H100))
    assert math.isnan(one([math.inf, math.inf], [1.0, -1.0], 0.0, H100))
    assert one([math.inf], [1.0], 0.0, H100) == math.inf
    huge = float(np.finfo(np.float32).max)
    # Toward zero, a sum below 2^128 is the largest finite value, one at or above it infinite
    # (the published models' overflow); to nearest, f32 max + 2^104 already overflows.
    assert one([2.0**52], [2.0**51], huge, H100, "bf16") == huge
    assert one([2.0**127], [2.0], huge, H100, "bf16") == math.inf
    assert one([2.0**52], [2.0**52], huge, H100.with_(output_rounding="rne"), "bf16") == math.inf
    tiny = H100.with_(subnormal_outputs=False, anchor_floor=None)
    assert one([2**-70], [2**-70], 0.0, tiny, "bf16") == 0.0
    assert one([2**-70], [2**-70], 0.0, H100.with_(anchor_floor=None), "bf16") == 2**-140


def test_f16_accumulator_rounds_every_block():
    model = H100.with_(output_rounding="rne", block=1)
    # 2048 + 1 is a tie in f16 (spacing 2 there): each +1 rounds back to 2048.
    assert one([1.0, 1.0], [1.0, 1.0], 2048.0, model, "f16", "f16") == 2048.0
    assert one([1.0, 1.0], [1.0, 1.0], 2048.0, model.with_(block=2), "f16", "f16") == 2050.0


def test_gemm_is_a_chain_of_mma():
    rng = np.random.default_rng(1)
    a, b = rng.integers(-3, 4, (16, 64)).astype(float), rng.integers(-3, 4, (64, 8)).astype(float)
    assert np.array_equal(emulate.gemm(a, b, H100, "f16", 16), a @ b)  # small integers: exact


def test_many_models_at_once_are_each_model_alone():
    rng = np.random.default_rng(2)
    a, b = precision.random_operands(precision.BY_KEY["f16_f32acc"], (50, 16), rng), rng.standard_normal((50, 16))
    b = b.astype(np.float16).astype(float)
    c = rng.standard_normal(50).astype(np.float32).astype(float)
    models = [H100, H100.with_(neab=-3, block_bits=12), H100.with_(block=4, output_rounding="rne"),
              H100.with_(c_entry="after", interleave=2)]
    together = emulate.dot_many(a, b, c, models, "f16")
    for model, row in zip(models, together):
        assert np.array_equal(row, emulate.dot(a, b, c, model, "f16"))


def test_model_rejects_impossible_parameters():
    with pytest.raises(ValueError):
        emulate.Model(neab=60)
    with pytest.raises(ValueError):
        emulate.Model(output_rounding="up")
    with pytest.raises(ValueError):
        emulate.Model(block_bits=0)


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

def test_probes_tell_the_published_models_apart():
    """The fits of V100, A100 and H100 on fp16 -> fp32 differ where the papers say they do."""
    fmt = precision.BY_KEY["f16_f32acc"]
    fitted = {gpu: precision.fit(fmt, precision.emulator_device(emulate.published_model(gpu, "f16"))).parameters
              for gpu in ("V100", "A100", "H100")}
    assert [fitted[g]["neab"]["value"] for g in ("V100", "A100", "H100")] == [0, 1, 2]
    assert [fitted[g]["block"]["value"] for g in ("V100", "A100", "H100")] == [4, 8, None]  # 16 = K: one sum
    # The forced carry tells RZ even where no bit below the accumulator's is kept (V100).
    assert all(fitted[g]["output_rounding"]["value"] == "rz" for g in fitted)


def test_a_narrow_format_reports_what_it_cannot_show():
    """e2m1 cannot hold terms 40 bits apart: the fit says which values remain, not a guess."""
    model = emulate.published_model("H100", "f16").with_(neab=18)
    fitted = precision.fit(precision.BY_KEY["e2m1_f32acc"], precision.emulator_device(model))
    found = fitted.parameters["neab"]
    assert not found["determined"] and 18 in found["consistent"] and min(found["consistent"]) > 2
    assert "WRONG" not in precision.recovered(model, fitted).values()


def test_the_long_way_through_fragments_gives_the_same_fit():
    model = emulate.published_model("H100", "e4m3")
    fmt = precision.BY_KEY["e4m3_f32acc"]
    direct = precision.fit(fmt, precision.emulator_device(model)).parameters
    packed = precision.fit(fmt, precision.fragment_device(model)).parameters
    assert direct == packed


def test_specials_are_observed_and_compared_with_ieee():
    fitted = precision.fit(precision.BY_KEY["f16_f32acc"], precision.emulator_device(H100))
    specials = {s["probe"]: s for s in fitted.specials}
    assert specials["inf x 0"]["device"] == "NaN" and specials["inf x 1"]["device"] == "inf"
    assert all(s["agree"] for s in fitted.specials)


def test_gemm_errors_compare_device_float64_and_emulator():
    fmt = precision.BY_KEY["f16_f16acc"]
    model = emulate.published_model("H100", "f16", "f16")
    other = emulate.published_model("V100", "f16", "f16")
    rows = precision.gemm_errors(fmt, precision.emulator_gemm(model), model, [16, 256], published=other)
    assert [r["k"] for r in rows] == [16, 256]
    assert all(r["bit_identical"] == 1.0 for r in rows)
    assert rows[1]["device_median_rel_error"] > rows[0]["device_median_rel_error"] >= 0
    assert rows[1]["published_identical"] < 1.0  # a different model predicts different bits


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
    suite.write_text('[precision]\nformats = ["f16_f32acc", "e4m3_f32acc"]\ngemm_ks = [64]\ncpu_model = "Ada"\n')
    code, out, err = run_cli_here("run", "--suite", str(suite), "--backend", "cpu", "--only", "precision",
                                  "--out", str(tmp_path))
    assert code == 0, err
    assert "tensor-core numerics" in out and "recovered the emulated model's parameters for 2 of 2" in out
    # the host is not said to behave like a GPU: it emulates one's published model (issue 27)
    assert "e4m3>f32: emulating Ada's published model: recovered" in out and "behaves like" not in out
    document = json.loads(next(tmp_path.glob("*.json")).read_text())
    for record in document["records"]:
        assert record["status"] == "ok" and record["validation"]["ok"]
        assert record["fit"]["parameters"]["neab"]["value"] == (1 if record["input_format"] == "f16" else -10)
        assert record["gemm"][0]["k"] == 64 and "Ada" in record["device"]
        assert record["behaves"]["kind"] == "like" and "Ada" in record["behaves"]["models"]
        assert record["gemm"][0]["published_identical"] == 1.0
    suite.write_text('[precision]\ncpu_model = "ieee"\n')
    code, _, err = run_cli_here("run", "--suite", str(suite), "--backend", "cpu", "--only", "precision",
                                "--out", str(tmp_path))
    assert code == 2 and "cpu_model" in err


@pytest.mark.parametrize("key, model", [
    # A device that flushes subnormal outputs but keeps subnormal inputs (bf16: 2^-133 inputs).
    ("bf16_f32acc", emulate.Model(neab=11, output_rounding="rne", subnormal_outputs=False, anchor_floor=None)),
    ("f16_f16acc", emulate.Model(neab=-3, subnormal_outputs=False, block=4)),
    # One that flushes subnormal inputs: the probes use normal factors wherever they can.
    ("e4m3_f32acc", emulate.Model(neab=2, subnormal_inputs=False)),
    ("nvfp4_f32acc", emulate.Model(neab=-3, subnormal_inputs=False, output_rounding="rne", block=8)),
])
def test_probes_survive_flushing_devices(key, model):
    fitted = precision.fit(precision.BY_KEY[key], precision.emulator_device(model))
    verdict = precision.recovered(model, fitted)
    assert fitted.model is not None and "WRONG" not in verdict.values(), verdict
    assert verdict["subnormal_inputs"] == "recovered"
    if key != "nvfp4_f32acc":  # FP4's few values cannot place every bit
        assert verdict["neab"] == "recovered"


def test_random_models_are_never_misread():
    """Whatever the model, the fit names it or leaves the truth among what remains."""
    rng = np.random.default_rng(11)
    for _ in range(5):
        model = emulate.Model(neab=int(rng.integers(-12, 19)), output_rounding=str(rng.choice(emulate.ROUNDINGS)),
                              block=[None, 2, 4, 8][int(rng.integers(4))],
                              block_bits=[None, 12, 18][int(rng.integers(3))],
                              anchor_floor=[None, -130, -140][int(rng.integers(3))],
                              subnormal_inputs=bool(rng.integers(2)), subnormal_outputs=bool(rng.integers(2)))
        unscaled = [k for k, f in precision.BY_KEY.items() if not f.scale]  # the block-scaled ones are slow to fit
        key = unscaled[int(rng.integers(len(unscaled)))]
        if precision.BY_KEY[key].accumulator == "f16":
            model = model.with_(block_bits=None)  # the fit tries widths below the accumulator's only
        fitted = precision.fit(precision.BY_KEY[key], precision.emulator_device(model))
        assert fitted.model is not None, (key, model)
        assert "WRONG" not in precision.recovered(model, fitted).values(), (key, model)


def test_the_cpu_path_probes_only_cpu_formats_when_a_suite_names_them():
    from smbench import run, suites

    suite = suites.load("selftest")
    part = family.plan(suite, run.CpuRunner())
    assert [c.params["format"] for c in part.cases] == suite.data["precision"]["cpu_formats"]
    assert "not f16_f16acc" in part.notes["precision_cpu_formats"]
    everything = family.plan(suites.load("quick"), run.CpuRunner())
    assert len(everything.cases) == len(precision.BY_KEY) and not everything.notes


# ---------------------------------------------------------------- block scales

FP8 = emulate.published_model("H100", "e4m3")  # neab -10, blocks of 32, 14-bit block results


def scaled(a, b, c, sa, sb, model, input_format="e2m1"):
    """One dot product with block scales (lists, one per scale block)."""
    return float(emulate.dot(np.array([a], dtype=float), np.array([b], dtype=float), np.array([c], dtype=float),
                             model, input_format, scales=(np.array([sa], dtype=float), np.array([sb], dtype=float)))[0])


def test_where_the_scale_enters_worked_by_hand():
    # -1 + 1 (scale block 0) + 3 x 1.5 x 2^-15 (block 1): the quantum is 2^(0 - 13) = 2^-13 and
    # 1.5 x 2^-15 is 0.375 of it: per product each is truncated away; summed first (4.5 x 2^-15
    # = 1.125 quanta) one quantum survives.
    a, b = [1.0, 0, 0, 0, 1.5, 1.5, 1.5, 0], [1.0, 0, 0, 0, 1.0, 1.0, 1.0, 0]
    assert scaled(a, b, -1.0, [1.0, 2**-15], [1.0, 1.0], FP8.with_(block=8)) == 0.0
    assert scaled(a, b, -1.0, [1.0, 2**-15], [1.0, 1.0], FP8.with_(block=8, scale_entry="block")) == 2**-13
    # A scale that is not a power of two: 31.75 x 1.875 = 59.53125 has 12 significant bits; with
    # block results of 8 bits, per block it is cut to 59.5 before c = -59 takes its top away.
    chain = [16.0, 8, 4, 2, 1, 0.5, 0.25]
    model = emulate.Model(neab=2, block_bits=8, block=8)
    assert scaled(chain + [0], [1.0] * 8, -59.0, [1.875], [1.0], model) == 0.53125
    assert scaled(chain + [0], [1.0] * 8, -59.0, [1.875], [1.0], model.with_(scale_entry="block")) == 0.5
    # Unit scales and no c: the same arithmetic either way.
    assert scaled(chain + [0], [1.0] * 8, 0.0, [1.0], [1.0], model) == \
        scaled(chain + [0], [1.0] * 8, 0.0, [1.0], [1.0], model.with_(scale_entry="block"))


def test_the_scale_entry_is_described_only_for_scaled_formats():
    assert "scale" not in FP8.describe("f32")
    assert "each product exactly" in FP8.describe("f32", scaled=True)
    assert "scale block's sum" in FP8.with_(scale_entry="block").describe("f32", scaled=True)
    with pytest.raises(ValueError):
        emulate.Model(scale_entry="row")


@pytest.mark.parametrize("key", [k for k, f in precision.BY_KEY.items() if f.scale])
def test_scale_words_round_trip_through_the_isa_layout(key):
    """Distinct scales per row, column and K block: packed into the lanes' scale words as the
    kernels pass them, read back as the instruction reads them."""
    fmt = precision.BY_KEY[key]
    blocks = fmt.k // fmt.scale_block
    held = [v for v in fragments.formats.MINIFLOATS[fmt.scale].values if np.isfinite(v) and 2**-20 <= v <= 2**20]
    rng = np.random.default_rng(5)
    sa, sb = rng.choice(held, (16, blocks)), rng.choice(held, (8, blocks))
    words = fragments.pack_scales(fmt.scale, sa, sb)
    assert words.shape == (32, 2)
    back_a, back_b = fragments.unpack_scales(fmt.scale, words, blocks)
    assert np.array_equal(back_a, sa) and np.array_equal(back_b, sb)
    # The ISA's places, {byte-id 0, thread-id 0}: A's row 9 is lane 4 x 1 + 1; B's column 3 is lane 12.
    code = fragments.formats.encode(fmt.scale, sa[9, blocks - 1])
    assert (int(words[5, 0]) >> (8 * (blocks - 1))) & 0xFF == code
    assert int(words[12, 1]) & 0xFF == fragments.formats.encode(fmt.scale, sb[3, 0])
    assert not words[2:4].any() and not words[6:8, 1].any()  # lanes the instruction does not read


@pytest.mark.parametrize("key", [k for k, f in precision.BY_KEY.items() if f.scale])
def test_scale_probes_separate_the_hypotheses_and_the_long_way_agrees(key):
    """Every scale probe answers; the two hypotheses differ on some of them for the CPU path's
    model; and the fragment device (scales through the packed words) answers as the emulator."""
    fmt = precision.BY_KEY[key]
    model = precision.cpu_model("H100", fmt)[0]
    probes = precision.scale_probes(fmt)
    a, b, c = probes.arrays()
    scales = probes.scales(fmt)
    assert len(probes) and not np.all(scales[0] * scales[1] == 1.0)
    product = precision.emulator_device(model)(fmt, a, b, c, scales)
    block = precision.emulator_device(model.with_(scale_entry="block"))(fmt, a, b, c, scales)
    assert not np.array_equal(product, block)
    rows = np.arange(0, len(c), max(1, len(c) // 6))
    packed = precision.fragment_device(model.with_(scale_entry="block"))(fmt, a[rows], b[rows], c[rows],
                                                                          (scales[0][rows], scales[1][rows]))
    assert np.array_equal(packed, block[rows], equal_nan=True)


@pytest.mark.parametrize("entry", emulate.SCALE_ENTRIES)
def test_a_model_with_its_scale_entry_matches_on_random_scaled_rows(entry):
    """The emulator as either hypothesis agrees with itself the long way round on random rows
    with random non-unit scales, and the two hypotheses differ there."""
    fmt = precision.BY_KEY["nvfp4_f32acc"]
    model = precision.cpu_model("H100", fmt)[0].with_(scale_entry=entry)
    rng = np.random.default_rng(7)
    a, b = precision.random_operands(fmt, (40, 64), rng), precision.random_operands(fmt, (40, 64), rng)
    held = [v for v in fragments.formats.MINIFLOATS["ue4m3"].values if np.isfinite(v) and 0.25 <= v <= 8]
    scales = rng.choice(held, (40, 4)), rng.choice(held, (40, 4))
    c = rng.standard_normal(40).astype(np.float32).astype(float)
    direct = precision.emulator_device(model)(fmt, a, b, c, scales)
    assert np.array_equal(precision.fragment_device(model)(fmt, a[:8], b[:8], c[:8], (scales[0][:8], scales[1][:8])),
                          direct[:8])
    other = precision.emulator_device(model.with_(scale_entry=emulate.SCALE_ENTRIES[entry == "product"]))
    assert not np.array_equal(other(fmt, a, b, c, scales), direct)


def test_verdict_lines_say_where_the_scale_enters():
    from smbench.families.precision import view

    def record(key, found):
        return {"family": "precision", "status": "ok", "benchmark": key, "behaves": {"verdict": "no published model"},
                "fit": {"parameters": {"scale_entry": found}}}
    decided = {"value": "block", "consistent": ["block"], "determined": True}
    open_ = {"value": None, "consistent": ["block", "product"], "determined": False}
    unscaled = {"value": "product", "consistent": ["product"], "determined": True}
    assert view.verdict_lines([record("nvfp4_f32acc", decided), record("mxf4_f32acc", open_),
                               record("e2m1_f32acc", unscaled)]) == [
        "nvfp4: no published model; scale: on the block sum",
        "mxf4: no published model; scale: undecided (the probes left on the block sum and per product)",
        "e2m1>f32: no published model"]


@pytest.mark.parametrize("key, entry", [("nvfp4_f32acc", "block"), ("mxf4_f32acc", "product"),
                                        ("mxf8_e4m3_f32acc", "block")])
def test_the_fit_finds_where_the_scale_enters_and_agrees_on_fresh_scaled_rows(key, entry):
    """With the emulator as the device (a Blackwell-like model: 2 extra bits, fused sums of 16,
    block results of 20 bits), the fit decides the scale's entry and its model answers fresh
    random scaled rows (another seed than the probes') bit for bit as the device does."""
    fmt = precision.BY_KEY[key]
    truth = emulate.Model(neab=2, block=16, block_bits=20, output_rounding="rz", scale_entry=entry)
    fitted = precision.fit(fmt, precision.emulator_device(truth))
    assert fitted.parameters["scale_entry"] == {"value": entry, "consistent": [entry], "determined": True}
    assert "WRONG" not in precision.recovered(truth, fitted).values()
    fresh = probes.random_scaled_probes(fmt, 2000, seed=99)
    a, b, c = fresh.arrays()
    device = precision.emulator_device(truth)(fmt, a, b, c, fresh.scales(fmt))
    model = precision.emulator_device(fitted.model)(fmt, a, b, c, fresh.scales(fmt))
    assert np.array_equal(device, model, equal_nan=True)
    other = precision.emulator_device(fitted.model.with_(scale_entry=emulate.SCALE_ENTRIES[entry == "product"]))
    assert not np.array_equal(other(fmt, a, b, c, fresh.scales(fmt)), device, equal_nan=True)


def test_the_fragment_device_takes_unit_scales_when_given_none():
    """The CPU path's GEMM statistics call the device without scales: unit scales, as the
    emulator takes them (this raised a TypeError once)."""
    fmt = precision.BY_KEY["nvfp4_f32acc"]
    model = precision.cpu_model("H100", fmt)[0]
    rng = np.random.default_rng(3)
    a, b = precision.random_operands(fmt, (3, fmt.k), rng), precision.random_operands(fmt, (3, fmt.k), rng)
    c = np.array([0.0, 1.0, -2.5])
    assert np.array_equal(precision.fragment_device(model)(fmt, a, b, c), precision.emulator_device(model)(fmt, a, b, c))
