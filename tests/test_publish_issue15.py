"""Issue 15, report and plots: each defect's test (they failed before the fix)."""

import json

import pytest

from smbench import reference, results
from smbench.errors import SmbenchError

from conftest import ROOT, run_cli

RESULTS = ROOT / "results"
CPU_RUN = RESULTS / "cpu-reference-quick-x86_64-2cpu.json"


def published(key):
    return results.load(RESULTS / reference.file_name(key))


def _cpu_run():
    return json.loads(CPU_RUN.read_text())


# ---------------------------------------------------------------- a record without its figure

@pytest.mark.parametrize("family, field", [("stream", "gbps"), ("peak", "tflops"), ("gemm", "tflops")])
def test_a_record_without_its_figure_is_a_one_line_error_everywhere(tmp_path, family, field):
    document = _cpu_run()
    record = next(r for r in document["records"] if r["family"] == family and r["status"] == "ok")
    del record[field]
    path = tmp_path / "missing.json"
    path.write_text(json.dumps(document))
    with pytest.raises(SmbenchError, match=f"lacks '{field}'|{field} should be"):
        results.load(path)
    for command, extra in (("compare", ()), ("export", ()), ("report", ("--out", str(tmp_path / "r"))),
                           ("plot", ("--out", str(tmp_path / "p")))):
        code, out, err = run_cli(command, str(path), *extra)
        assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, (command, err)
        assert field in err and "malformed" in err or "should be" in err, err


def test_a_published_record_without_its_figure_is_refused(tmp_path):
    document = published("rtx5090")
    del next(r for r in document["records"] if r["family"] == "stream")["gbps"]
    path = tmp_path / "p.json"
    path.write_text(json.dumps(document))
    code, _, err = run_cli("compare", str(path), str(RESULTS / reference.file_name("gb10")))
    assert code == 2 and "lacks 'gbps'" in err and "Traceback" not in err


# ---------------------------------------------------------------- an unwritable --out

@pytest.mark.parametrize("command", ["plot", "report"])
@pytest.mark.parametrize("where", ["a file", "/proc/x"])
def test_an_unwritable_out_is_one_line_and_a_failure(tmp_path, command, where):
    if where == "a file":
        out = tmp_path / "taken"
        out.write_text("a file, not a directory")
    else:
        out = "/proc/x"
    code, out_text, err = run_cli(command, str(RESULTS / reference.file_name("gb10")), "--out", str(out))
    assert code != 0 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"smbench {command}: error: cannot write to {out}")


# ---------------------------------------------------------------- compare: keys, samples, formats, --fail-above

def _slowed(document: dict, factor: float) -> dict:
    """The same run with every stream figure `factor` times slower (samples and medians)."""
    slow = json.loads(json.dumps(document))
    for record in slow["records"]:
        if record["family"] == "stream" and record["status"] == "ok":
            record["time_s"]["samples"] = [t * factor for t in record["time_s"]["samples"]]
            record["gbps"]["median"] /= factor
    return slow


def test_a_measured_loop_and_a_published_figure_share_the_format_row():
    from smbench import compare

    tables = compare.build([("cpu", results.load(CPU_RUN)), ("rtx5090", published("rtx5090"))])
    peak = next(t for t in tables if t.title.startswith("Throughput per precision"))
    row = next(r for r in peak.rows if r[0] == "f16_f32acc")
    assert row[1] is not None and row[2] == 209.5 and row[3] == pytest.approx(209.5 / row[1])
    assert not any("(V)" in str(r[0]) or "(M)" in str(r[0]) for r in peak.rows)
    entry = peak.entries[peak.rows.index(row)][1]
    assert entry.mark == "V" and "RTX Blackwell whitepaper" in entry.note  # the kind and source travel with the cell
    text = compare.render(tables, "md")
    assert "| f16_f32acc | " in text and "209.5 V" in text


def test_two_measured_files_get_a_noise_verdict_on_every_peak_row(tmp_path):
    from smbench import compare

    run = results.load(CPU_RUN)
    tables = compare.build([("one", run), ("two", json.loads(json.dumps(run)))])
    peak = next(t for t in tables if t.title.startswith("Throughput per precision"))
    assert peak.rows and all(row[-1].startswith("within noise") for row in peak.rows), peak.rows[:3]


@pytest.mark.parametrize("fmt", ["text", "md", "csv", "json"])
def test_compare_formats(tmp_path, fmt):
    import csv
    import io

    code, out, err = run_cli("compare", str(CPU_RUN), str(RESULTS / reference.file_name("rtx5090")), "--format", fmt)
    assert code == 0, err
    if fmt == "json":
        data = json.loads(out)
        peak = next(t for t in data["tables"] if t["title"].startswith("Throughput per precision"))
        row = next(r for r in peak["rows"] if r["key"] == "f16_f32acc")
        assert row["files"]["rtx5090"]["value"] == 209.5 and row["files"]["rtx5090"]["kind"] == "V"
        assert row["files"]["rtx5090"]["ratio"] == pytest.approx(209.5 / row["files"][peak["first"]]["value"])
    elif fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(out)))
        assert {"table", "key", "file", "value", "kind", "ratio_to_first", "verdict"} <= set(rows[0])
        assert any(r["key"] == "f16_f32acc" and r["kind"] == "V" and r["value"] == "209.5" for r in rows)
    else:
        assert "f16_f32acc" in out and "209.5 V" in out


def test_fail_above_exits_non_zero_on_a_regression_beyond_noise(tmp_path):
    base = tmp_path / "base.json"
    base.write_text(CPU_RUN.read_text())
    slow, fast = tmp_path / "slow.json", tmp_path / "fast.json"
    slow.write_text(json.dumps(_slowed(_cpu_run(), 2.0)))
    fast.write_text(json.dumps(_slowed(_cpu_run(), 0.5)))
    code, out, err = run_cli("compare", str(base), str(slow), "--fail-above", "10")
    assert code == 1 and "regressed" in err and "Bandwidth" in err and "-50.0%" in err, err
    code, _, err = run_cli("compare", str(base), str(fast), "--fail-above", "10")
    assert code == 0, err  # faster is no regression
    code, _, err = run_cli("compare", str(base), str(slow), "--fail-above", "60")
    assert code == 0, err  # 50% slower is within a 60% allowance
    code, _, err = run_cli("compare", str(base), str(RESULTS / reference.file_name("gb10")), "--fail-above", "1")
    assert code == 0, err  # published figures have no samples: never a regression
    code, _, err = run_cli("compare", str(base), str(slow), "--fail-above", "x")
    assert code == 2 and len(err.strip().splitlines()) == 1


# ---------------------------------------------------------------- sources users can follow

def test_reference_files_and_the_report_cite_public_sources_not_a_private_file(tmp_path):
    from smbench import report

    for key in reference.PUBLISHED:
        text = (RESULTS / reference.file_name(key)).read_text()
        assert "facts.md" not in text and "shared/" not in text, key
    named = [(key, published(key)) for key in reference.PUBLISHED]
    _, markdown = report.build(named, [], tmp_path)
    assert "facts.md" not in markdown.read_text()
    m3 = next(r for r in published("m3ultra")["records"] if r["benchmark"] == "fp32")
    assert m3["figure_kind"] == "D" and "derived: 80 GPU cores" in m3["source"]
