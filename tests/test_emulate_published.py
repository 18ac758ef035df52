"""The emulator set to each published tensor-core model (smbench.tensor_core_models): the
papers' own cases, the fit recovering every model with the emulator playing the device, and
the numerics table that says which model a GPU behaves like."""

import numpy as np
import pytest
from rich.console import Console

from smbench import emulate, tensor_core_models
from smbench.errors import SmbenchError
from smbench.families import precision
from smbench.families.precision import view

TWO_24 = 2.0**-24


def one(gpu, a, b, c, input_format="f16", accumulator="f32"):
    model = emulate.published_model(gpu, input_format, accumulator)
    return float(emulate.dot(np.array([a], dtype=float), np.array([b], dtype=float), np.array([c], dtype=float),
                             model, input_format, accumulator)[0])


# Fasi, Higham, Mikaitis and Pranesh 2021's cases, with what each GPU's model must answer.

@pytest.mark.parametrize("gpu, expected", [("V100", 1.0), ("A100", 1 + 2**-22), ("H100", 1 + 2**-22)])
def test_one_plus_four_products_of_2_to_the_minus_24(gpu, expected):
    # V100 keeps no bit below fp32's 23 (neab 0): the four 2^-24 vanish; A100 and H100 keep them.
    assert one(gpu, [2**-12] * 4, [2**-12] * 4, 1.0) == expected


@pytest.mark.parametrize("gpu, expected", [("V100", 0.0), ("A100", TWO_24), ("Ada", TWO_24), ("H100", TWO_24)])
def test_one_minus_one_minus_2_to_the_minus_24(gpu, expected):
    # 1 - (1 - 2^-24) as c = 1, products -1 x 1 and 2^-12 x 2^-12.
    assert one(gpu, [-1.0, 2**-12], [1.0, 2**-12], 1.0) == expected


def test_v100_is_not_monotonic():
    # A larger c moves the anchor up a binade and the small products fall out of the alignment.
    smaller = one("V100", [2**-12] * 4, [2**-12] * 4, 1 - 2**-24)
    larger = one("V100", [2**-12] * 4, [2**-12] * 4, 1.0)
    assert smaller == 1 + 2**-23 and larger == 1.0 and smaller > larger
    assert one("A100", [2**-12] * 4, [2**-12] * 4, 1.0) > one("A100", [2**-12] * 4, [2**-12] * 4, 1 - 2**-24)


@pytest.mark.parametrize("gpu", ["V100", "A100", "H100"])
def test_a_carry_separates_round_toward_zero_from_to_nearest(gpu):
    # Four products of 1 plus c = 1 + 2^-22 + 2^-23: 5 + 0.75 ulp(4). RZ into fp32 on every GPU.
    c = 1 + 2**-22 + 2**-23
    assert one(gpu, [1.0] * 4, [1.0] * 4, c) == 5.0
    rne = emulate.published_model(gpu, "f16").with_(output_rounding="rne")
    assert float(emulate.dot(np.ones((1, 4)), np.ones((1, 4)), np.array([c]), rne, "f16")[0]) == 5 + 2**-21


def test_fp16_output_rounds_to_nearest_and_the_floor_decides_a_tie():
    # 2^-25 (half f16's smallest subnormal) + 2^-48: the anchor -25 is below every fp16-output
    # floor, so 2^-48 (subnormal x subnormal) is truncated and the tie rounds to even, 0.
    # Without the floor the anchor stays -25, 2^-48 is kept and the sum rounds up to 2^-24.
    a, b = [2**-12, 2**-24], [2**-13, 2**-24]
    for gpu in ("V100", "A100", "H100"):
        assert one(gpu, a, b, 0.0, "f16", "f16") == 0.0
        model = emulate.published_model(gpu, "f16", "f16").with_(anchor_floor=None)
        assert float(emulate.dot(np.array([a]), np.array([b]), np.zeros(1), model, "f16", "f16")[0]) == TWO_24


def test_published_models_carry_the_papers_parameters():
    h100, ada = emulate.published_model("H200", "e4m3"), emulate.published_model("L40S", "e5m2")
    assert (h100.neab, h100.block, h100.block_bits, h100.anchor_floor) == (-10, 32, 14, -133)
    assert (ada.neab, ada.block, ada.block_bits, ada.anchor_floor) == (-10, 16, 14, -132)
    assert [emulate.published_model(g, "tf32").block for g in ("A30", "RTX 40", "B200")] == [4, 4, 8]
    assert emulate.published_model("V100", "f16", "f16") == emulate.Model(neab=0, block=4, output_rounding="rne",
                                                                          anchor_floor=-19)
    for entry in tensor_core_models.MODELS:
        assert "Khattak & Mikaitis 2025" in entry.cite, entry


@pytest.mark.parametrize("gpu, fmt", [("RTX 5090", "f16"), ("B200", "e4m3"), ("V100", "tf32"), ("H100", "f64")])
def test_unknown_names_are_one_line_errors(gpu, fmt):
    with pytest.raises(SmbenchError) as error:
        emulate.published_model(gpu, fmt)
    assert "\n" not in str(error.value) and "published" in str(error.value)


# ---------------------------------------------------------------- the fit recovers each one

def _distinct_models():
    """Each published (model, format) once: H100 and B200, A100 and Ada share their 16- and
    19-bit models."""
    seen = {}
    for entry in tensor_core_models.MODELS:
        seen.setdefault((entry.model, entry.input_format, entry.accumulator), entry)
    return list(seen.values())


def _random_rows(fmt, model, rows, rng):
    a = precision.random_operands(fmt, (rows, fmt.k), rng)
    b = precision.random_operands(fmt, (rows, fmt.k), rng)
    # Products spread over binades (some cancelling), and c at every scale of the sum.
    c = emulate.dot(a, b, np.zeros(rows), model, fmt.input_format, fmt.accumulator) * rng.uniform(-2, 2, rows)
    kind = np.float32 if fmt.accumulator == "f32" else np.float16
    return a, b, c.astype(kind).astype(np.float64)


@pytest.mark.parametrize("entry", _distinct_models(), ids=lambda e: f"{e.gpu}-{e.input_format}-{e.accumulator}")
def test_the_fit_recovers_every_published_model(entry):
    fmt = precision.BY_KEY[f"{entry.input_format}_{entry.accumulator}acc"]
    fitted = precision.fit(fmt, precision.emulator_device(entry.model))
    verdict = precision.recovered(entry.model, fitted)
    assert "WRONG" not in verdict.values(), verdict
    # What the formats can always show is determined.
    for name in ("neab", "block", "c_entry", "subnormal_inputs"):
        assert verdict[name] == "recovered", (name, fitted.parameters[name])
    if entry.model.block_bits is None:
        assert verdict["output_rounding"] == "recovered" and verdict["block_bits"] == "recovered"
    else:  # a result narrowed to 14 bits reaches fp32 exactly: the output rounding cannot show
        assert verdict["block_bits"] == "recovered"
    if entry.input_format in ("bf16", "tf32") or entry.accumulator == "f16":  # products reach the floor
        assert verdict["anchor_floor"] == "recovered"
    kind, like = precision.likeness(fitted.published)
    assert kind == "like" and entry.gpu in [p["gpu"] for p in like]
    assert precision.verdict(fitted.published).startswith(f"behaves like {entry.cite}") or entry.gpu != like[0]["gpu"]
    # The fitted model is the published one, bit for bit, on 10,000 random rows.
    a, b, c = _random_rows(fmt, entry.model, 10_000, np.random.default_rng(0))
    got = emulate.dot_many(a, b, c, [fitted.model, entry.model], fmt.input_format, fmt.accumulator)
    assert np.array_equal(got[0], got[1], equal_nan=True)


def test_a_gpu_unlike_every_published_model_is_told_where_it_differs():
    fmt = precision.BY_KEY["f16_f32acc"]
    odd = emulate.published_model("H100", "f16").with_(neab=3)
    fitted = precision.fit(fmt, precision.emulator_device(odd))
    kind, nearest = precision.likeness(fitted.published)
    assert kind == "nearest" and {p["gpu"] for p in nearest} == {"H100", "B200"}
    assert precision.verdict(fitted.published).startswith("matches no published model; nearest H100 "
                                                          "(Khattak & Mikaitis 2025): differs in neab 3 vs 2")


# ---------------------------------------------------------------- the table

def _records():
    records = []
    for key, gpu in [("f16_f32acc", "H100"), ("e4m3_f32acc", "Ada"), ("e4m3_f16acc", "H100"), ("e2m1_f32acc", "H100")]:
        fmt = precision.BY_KEY[key]
        model, _ = precision.cpu_model(gpu, fmt)
        fitted = precision.fit(fmt, precision.emulator_device(model))
        kind, like = precision.likeness(fitted.published)
        records.append({"family": "precision", "status": "ok", "benchmark": key, "label": fmt.label,
                        "accumulator": fmt.accumulator, "k": fmt.k, "fit": fitted.to_dict(),
                        "behaves": {"kind": kind, "models": [p["gpu"] for p in like],
                                    "verdict": precision.verdict(fitted.published)},
                        "gemm": [{"k": 64, "bit_identical": 1.0, "published_identical": 0.5}]})
    return records


@pytest.fixture(scope="module")
def records():
    return _records()


@pytest.mark.parametrize("width", [80, 120])
def test_the_numerics_table_stays_readable(records, width):
    console = Console(width=width, record=True, color_system=None)
    view.view(records, console)
    text = console.export_text()
    table = text.split("neab: bits kept")[0]
    for column in view.COLUMNS:
        assert column in table, (column, table)
    assert max(len(line) for line in table.splitlines()) <= width
    for label in ("f16>f32", "e4m3>f32", "e4m3>f16", "e2m1>f32"):
        assert label in table
    # Whole numbers stay whole: neab, the block, the floor, the shares.
    rows = {line.split()[1]: line for line in table.splitlines() if line.startswith("│ ")}
    assert "-10" in rows["e4m3>f32"] and "16" in rows["e4m3>f32"] and "14" in rows["e4m3>f32"]
    assert "any" in rows["e4m3>f32"]  # FP8 products cannot reach fp32's floor: every floor tried fits
    assert "100%" in rows["f16>f32"] and "50%" in rows["f16>f32"] and "H100," in rows["f16>f32"]
    # The verdict lines wrap under their text at the width (once they ran past it), words whole.
    assert max(len(line) for line in text.splitlines()) <= width
    flat = " ".join(text.split())
    assert "e4m3>f32: behaves like Ada (Khattak & Mikaitis 2025)" in flat
    assert "f16>f32: behaves like H100 (Khattak & Mikaitis 2025), B200 (Khattak & Mikaitis 2025)" in flat
    assert "e2m1>f32: no published model for this format" in text


def test_report_lines_name_the_model(records):
    from smbench.families.precision.family import report_lines

    lines = report_lines("H200", {"records": records})
    assert "H200: numerics e4m3>f32: behaves like Ada (Khattak & Mikaitis 2025) [mma.sync, Ada RTX 1000 and L40S]" \
        in lines and len(lines) == 4


def test_the_one_screen_summary_names_the_model_and_leaves_the_parameters_to_the_table(records):
    """Issue 27: the expert parameters (neab, block, c_entry) are the table's detail, not the summary's."""
    (_, text), = view.headline({"records": records})
    assert "e4m3>f16: matches no published model (nearest: " in text
    for word in ("neab", "block", "c_entry", "interleave"):
        assert word not in text, text
    assert any("differs in neab" in line for line in view.verdict_lines(records))  # still in the detail


def test_the_cpu_path_says_what_it_emulated_never_that_the_host_behaves_like_a_gpu(records):
    cpu = []
    for record, gpu in zip(records, ("H100", "Ada", "H100", "H100")):
        fmt = precision.BY_KEY[record["benchmark"]]
        cpu.append({**record, "cpu_model": gpu, "input_format": fmt.input_format,
                    "recovered": {"neab": "recovered", "block": "consistent"}})
    cpu[1]["recovered"] = {"neab": "WRONG", "block": "recovered"}
    lines = view.verdict_lines(cpu)
    assert lines[0] == "f16>f32: emulating H100's published model: recovered"
    assert lines[1] == "e4m3>f32: emulating Ada's published model: WRONG for neab"
    assert lines[2].startswith("e4m3>f16: emulating H100's nearest published model, standing in (none is published "
                               "for e4m3 -> f16): recovered")
    (_, text), = view.headline({"records": cpu})
    assert "behaves like" not in text and "emulating H100's published model: recovered" in text
