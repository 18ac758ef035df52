"""Reference results, export, compare, plots and report: everything runs on files, no GPU."""

import io
import re
import json
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from smbench import compare, frames, plots, reference, report, results
from smbench.errors import SmbenchError

from conftest import ROOT, run_cli_here

RESULTS = ROOT / "results"


def published(key):
    return results.load(RESULTS / reference.file_name(key))


def test_reference_files_are_exactly_what_the_device_table_says(tmp_path):
    reference.write_all(tmp_path)
    for key in reference.PUBLISHED:
        committed = json.loads((RESULTS / reference.file_name(key)).read_text())
        assert committed == json.loads((tmp_path / reference.file_name(key)).read_text()), key
        assert committed["kind"] == "published"
        assert all(r["published"] and r["source"] for r in committed["records"])


def test_published_spark_figures_carry_their_sources():
    spark = published("gb10")
    spec = next(r for r in spark["records"] if r["benchmark"] == "spec")
    assert spec["gbps"]["median"] == 273 and spec["figure_kind"] == "V"
    read = next(r for r in spark["records"] if r["benchmark"] == "read")
    assert read["figure_kind"] == "M" and "antirez/ds4 issue 773" in read["source"]
    assert {r["benchmark"] for r in spark["records"] if r["family"] == "peak"} == {"fp4", "bf16", "fp32"}
    assert {r["benchmark"] for r in spark["records"] if r["family"] == "gemm"} == {"nvfp4_gemm", "fp8_gemm"}
    # the sources state no accumulation for these: the labels must not invent one, and the
    # figure says so where it sits beside a measured format that states one
    assert not any("acc" in r["benchmark"] for r in spark["records"])
    bf16 = next(r for r in spark["records"] if r["benchmark"] == "bf16")
    assert bf16["format"] == "bf16_f32acc" and bf16["condition"] == "accumulation not stated"


def test_fuzzed_and_truncated_files_are_rejected_cleanly(tmp_path):
    text = (RESULTS / reference.file_name("a100-40")).read_text()
    rng = random.Random(7)
    for trial in range(200):
        if trial % 2:
            mutated = text[: rng.randrange(len(text))]
        else:
            position = rng.randrange(len(text))
            mutated = text[:position] + rng.choice('{}[]":,0aZ ') + text[position + 1:]
        path = tmp_path / f"fuzz{trial}.json"
        path.write_text(mutated)
        try:
            results.load(path)
        except SmbenchError as exc:
            assert "\n" not in str(exc) and str(path) in str(exc)


def test_export_round_trips_through_csv(tmp_path):
    named = [("gb10", published("gb10")), ("a100-40", published("a100-40"))]
    table = frames.frame(named)
    back = pd.read_csv(io.StringIO(table.to_csv(index=False)))
    assert list(back.columns) == list(table.columns) and len(back) == len(table)
    assert np.allclose(back["value"].astype(float), table["value"].astype(float))
    assert set(back["device"]) == {"NVIDIA DGX Spark (GB10)", "NVIDIA A100 40GB"}
    markdown = frames.to_markdown(table)
    assert markdown.count("\n") == len(table) + 2 and "| 273 |" in markdown
    path = RESULTS / reference.file_name("gb10")
    code, out, _ = run_cli_here("export", str(path), "--format", "csv")
    assert code == 0 and pd.read_csv(io.StringIO(out))["value"].max() == 500


def test_compare_ratios_to_the_first_file():
    tables = compare.build([("gb10", published("gb10")), ("a100-80", published("a100-80"))])
    dram = next(t for t in tables if t.title.startswith("Bandwidth at the largest"))
    spec = next(r for r in dram.rows if r[0] == "spec")
    assert spec[1:4] == [273, 2039, pytest.approx(2039 / 273)]
    read = next(r for r in dram.rows if r[0] == "read")
    assert read[3] == pytest.approx(1776 / 232.5) and read[4] == "n/a (no samples)"


def test_noise_test_separates_real_differences_from_noise():
    rng = np.random.default_rng(3)
    a = list(100 + rng.normal(0, 1, 30))
    same = list(100 + rng.normal(0, 1, 30))
    faster = list(103 + rng.normal(0, 1, 30))
    assert compare.differs(a, same)[0] is False
    real, p = compare.differs(a, faster)
    assert real is True and p < 1e-6
    # smaller than the spread yet told apart by the test: a difference (the verdict is the test's)
    wide = list(100 + rng.normal(0, 5, 400))
    wider = list(101.5 + rng.normal(0, 5, 400))
    real, p = compare.differs(wide, wider)
    assert real is True and p < 0.01
    assert compare.differs([1.0], [2.0]) == (None, None)
    assert compare.mann_whitney_p(list(range(1, 11)), list(range(11, 21))) < 0.001
    assert compare.mann_whitney_p([5.0] * 10, [5.0] * 10) == 1.0


def test_compare_of_two_measured_runs_uses_their_samples(tmp_path):
    from smbench import run, suites

    suite_path = tmp_path / "tiny.toml"
    suite_path.write_text('[stream]\noperations = ["copy"]\ndtypes = ["f32"]\nwidths = [16]\nsize_step = 16\n'
                          '[timing]\nmin_samples = 8\nbudget_s = 0.05\n[cpu]\nlargest_mib = 2\nbudget_s = 0.05\n')
    suite = suites.load(str(suite_path))
    first, _ = run.execute(suite, run.CpuRunner(), {"stream"}, tmp_path)
    second, _ = run.execute(suite, run.CpuRunner(), {"stream"}, tmp_path)
    tables = compare.build([("one", results.load(first)), ("two", results.load(second))])
    per_size = next(t for t in tables if t.title.startswith("Bandwidth per kernel"))
    assert all(row[-1].startswith(("differs", "within noise")) for row in per_size.rows)
    code, out, err = run_cli_here("compare", str(first), str(second), "--format", "md")
    assert code == 0 and "### Bandwidth at the largest working set" in out and "stream_copy_f32_v16" in out, err


def _named():
    return [(key, published(key)) for key in ("gb10", "rtx5090", "a100-80")]


def test_every_plot_is_written_and_not_empty(tmp_path):
    matrix = json.loads((RESULTS / "compat-nvrtc13.5.json").read_text())
    paths = plots.plot_all(_named(), [matrix], tmp_path)
    stems = {p.stem for p in paths}
    # no file here has telemetry: the clock and power figure is left out, not drawn empty
    assert stems == {"bandwidth_vs_size", "throughput_by_precision", "roofline", "compat_matrix"}
    for path in paths:
        data = path.read_bytes()
        assert len(data) > 5_000, path
        assert data[:8] == b"\x89PNG\r\n\x1a\n" if path.suffix == ".png" else b"<svg" in data[:2000]


def test_report_has_verdicts_tables_plots_and_the_decode_bound(tmp_path):
    from smbench import run, suites

    suite_path = tmp_path / "tiny.toml"
    suite_path.write_text('[stream]\noperations = ["copy", "triad"]\ndtypes = ["f32"]\nwidths = [16]\n'
                          'size_step = 16\n[timing]\nmin_samples = 3\nbudget_s = 0.02\n[cpu]\nlargest_mib = 2\n'
                          'budget_s = 0.02\n')
    measured, _ = run.execute(suites.load(str(suite_path)), run.CpuRunner(), {"stream"}, tmp_path / "run")
    html_path, markdown_path = report.build([("cpu", results.load(measured)), *_named()], [], tmp_path / "report")
    page = html_path.read_text()
    assert page.count("data:image/png;base64,") == 3 and "<table" in page and "src='plots/" not in page
    text = markdown_path.read_text()
    assert text.index("## Verdicts") < text.index("## Environment")
    assert "| cpu (host NumPy) | stream | triad bandwidth" in text
    assert "gb10: 8B parameters x 0.5 byte (4-bit) = 4 GB per token; 232.5 GB/s / 4 GB = 58.1 tokens/s at most" in text
    # a 2 MiB CPU figure is not passed off as DRAM; each device's basis is said
    assert "| triad, measured by smbench, cache-resident |" in text and "| read, measured by others |" in text
    assert (tmp_path / "report" / "plots" / "roofline.png").exists()


def test_cli_plot_and_report_on_the_reference_files(tmp_path):
    files = [str(RESULTS / reference.file_name(k)) for k in ("gb10", "h100-sxm")]
    code, out, err = run_cli_here("plot", *files, str(RESULTS / "compat-nvrtc13.5.json"), "--out", str(tmp_path / "p"))
    assert code == 0, err
    assert len([line for line in out.splitlines() if line.endswith(".png")]) == 4  # no empty clock/power figure
    code, out, err = run_cli_here("report", *files, "--out", str(tmp_path / "r"))
    assert code == 0 and (tmp_path / "r" / "report.html").exists(), err


@pytest.mark.parametrize("command", ["compare", "plot", "report", "export"])
def test_bad_files_are_one_line_errors(tmp_path, command):
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "smbench.result/1", "kind": "measured"}')
    code, _, err = run_cli_here(command, str(bad))
    assert code == 2 and "missing field" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli_here(command, str(tmp_path / "absent.json"))
    assert code == 2 and "no such file" in err


def _tiny_run(tmp_path):
    from smbench import run, suites

    suite_path = tmp_path / "tiny.toml"
    suite_path.write_text('[stream]\noperations = ["copy"]\ndtypes = ["f32"]\nwidths = [16]\nsize_step = 16\n'
                          '[timing]\nmin_samples = 5\nbudget_s = 0.02\n[cpu]\nlargest_mib = 2\nbudget_s = 0.02\n')
    path, _ = run.execute(suites.load(str(suite_path)), run.CpuRunner(), {"stream"}, tmp_path / "first")
    return path


def test_rerun_uses_the_same_configuration_and_reports_moves(tmp_path):
    from smbench import rerun

    original = _tiny_run(tmp_path)
    outcome = rerun.rerun(original, tmp_path / "again")
    assert outcome.config_changes == [] and outcome.unmatched == []
    assert outcome.steady + len(outcome.moved) == len(results.load(original)["records"])
    assert results.load(outcome.new)["suite_config"] == results.load(original)["suite_config"]
    code, out, err = run_cli_here("rerun", str(original), "--out", str(tmp_path / "cli"))
    assert code == 0 and "configuration: same kernels" in out and "within it" in out, err


def test_rerun_notices_a_changed_configuration(tmp_path):
    from smbench import rerun

    original = results.load(_tiny_run(tmp_path))
    changed = json.loads(json.dumps(original))
    for record in changed["records"]:
        record["elements"] += 1024
        record["kernel_source_hash"] = "abc"
    outcome = rerun.compare_runs(changed, original, Path("a"), Path("b"))
    assert len(outcome.config_changes) == 2 * len(original["records"])
    assert any("kernel_source_hash was 'abc', now None" in line for line in outcome.config_changes)


def test_rerun_refuses_published_files_and_files_without_their_suite(tmp_path):
    code, _, err = run_cli_here("rerun", str(RESULTS / reference.file_name("gb10")))
    assert code == 2 and "published figures" in err
    document = results.load(_tiny_run(tmp_path))
    document.pop("suite_config")
    old = tmp_path / "old.json"
    old.write_text(json.dumps(document))
    code, _, err = run_cli_here("rerun", str(old))
    assert code == 2 and "no 'suite_config'" in err


@pytest.mark.parametrize("mutate, message", [
    (lambda r: r["time_s"].update(median="fast"), "time_s.median should be a number"),
    (lambda r: r.update(working_set_bytes="big"), "working_set_bytes should be a whole number"),
    (lambda r: r["time_s"].update(samples="x"), "samples should be a list of numbers"),
    (lambda r: r.update(bytes_moved="x"), "bytes_moved should be a whole number"),
    (lambda r: r.update(gbps=13.3), "gbps should be an object with a numeric 'median'"),
    (lambda r: r.update(telemetry="x"), "telemetry should be an object"),
])
def test_wrongly_typed_figures_are_rejected_by_the_loader(tmp_path, mutate, message):
    """Files that pass the schema's shape but would crash compare/plot/report are refused up front."""
    document = results.load(_tiny_run(tmp_path))
    mutate(document["records"][0])
    path = tmp_path / "typed.json"
    path.write_text(json.dumps(document))
    with pytest.raises(SmbenchError, match=re.escape(message)):
        results.load(path)
    for command in ("compare", "plot", "report", "export"):
        code, _, err = run_cli_here(command, str(path), "--out" if command in ("plot", "report") else "--format",
                                    str(tmp_path / "o") if command in ("plot", "report") else "csv")
        assert code == 2 and "Traceback" not in err, (command, err)


def test_published_figures_with_wrong_types_are_rejected(tmp_path):
    document = published("gb10")
    document["records"][-1]["tflops"]["median"] = "lots"
    path = tmp_path / "p.json"
    path.write_text(json.dumps(document))
    with pytest.raises(SmbenchError, match="tflops should be an object with a numeric 'median'"):
        results.load(path)
    document = published("gb10")
    document["expected_bandwidth"] = "x"
    path.write_text(json.dumps(document))
    with pytest.raises(SmbenchError, match="expected_bandwidth"):
        results.load(path)
