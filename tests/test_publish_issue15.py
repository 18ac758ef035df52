"""Issue 15, report and plots: each defect's test (they failed before the fix)."""

import json
from pathlib import Path

import pytest

from smbench import reference, results
from smbench.errors import SmbenchError

from conftest import ROOT, run_cli_here

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
        code, out, err = run_cli_here(command, str(path), *extra)
        assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, (command, err)
        assert field in err and "malformed" in err or "should be" in err, err


def test_a_published_record_without_its_figure_is_refused(tmp_path):
    document = published("rtx5090")
    del next(r for r in document["records"] if r["family"] == "stream")["gbps"]
    path = tmp_path / "p.json"
    path.write_text(json.dumps(document))
    code, _, err = run_cli_here("compare", str(path), str(RESULTS / reference.file_name("gb10")))
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
    code, out_text, err = run_cli_here(command, str(RESULTS / reference.file_name("gb10")), "--out", str(out))
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
    # someone's mma.sync loop first (like with like), the vendor's figure beside it in the same cell
    assert row[1] is not None and row[2] == 253 and row[3] == pytest.approx(253 / row[1])
    assert not any("(V)" in str(r[0]) or "(M)" in str(r[0]) for r in peak.rows)
    entry = peak.entries[peak.rows.index(row)][1]
    assert entry.mark == "M" and entry.qualifier == "mma.sync loop" and "kekzl/imp" in entry.note
    spec = entry.others[0]
    assert spec.mark == "V" and spec.value == 209.5 and "RTX Blackwell whitepaper" in spec.note
    text = compare.render(tables, "md")
    assert "| f16_f32acc | " in text and "253 M (mma.sync loop); 209.5 V" in text


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

    code, out, err = run_cli_here("compare", str(CPU_RUN), str(RESULTS / reference.file_name("rtx5090")),
                                  "--format", fmt)
    assert code == 0, err
    if fmt == "json":
        data = json.loads(out)
        peak = next(t for t in data["tables"] if t["title"].startswith("Throughput per precision"))
        row = next(r for r in peak["rows"] if r["key"] == "f16_f32acc")
        cell = row["files"]["rtx5090"]
        assert cell["value"] == 253 and cell["kind"] == "M" and cell["how"] == "mma.sync loop"
        assert cell["also"][0]["value"] == 209.5 and cell["also"][0]["kind"] == "V"
        assert cell["ratio"] == pytest.approx(253 / row["files"][peak["first"]]["value"])
    elif fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(out)))
        assert {"table", "key", "file", "value", "kind", "ratio_to_first", "verdict"} <= set(rows[0])
        assert any(r["key"] == "f16_f32acc" and r["kind"] == "M" and r["value"] == "253" for r in rows)
    else:
        assert "f16_f32acc" in out and "209.5 V" in out


def test_fail_above_exits_non_zero_on_a_regression_beyond_noise(tmp_path):
    base = tmp_path / "base.json"
    base.write_text(CPU_RUN.read_text())
    slow, fast = tmp_path / "slow.json", tmp_path / "fast.json"
    slow.write_text(json.dumps(_slowed(_cpu_run(), 2.0)))
    fast.write_text(json.dumps(_slowed(_cpu_run(), 0.5)))
    code, out, err = run_cli_here("compare", str(base), str(slow), "--fail-above", "10")
    assert code == 1 and "regressed" in err and "Bandwidth" in err and "-50.0%" in err, err
    code, _, err = run_cli_here("compare", str(base), str(fast), "--fail-above", "10")
    assert code == 0, err  # faster is no regression
    code, _, err = run_cli_here("compare", str(base), str(slow), "--fail-above", "60")
    assert code == 0, err  # 50% slower is within a 60% allowance
    code, _, err = run_cli_here("compare", str(base), str(RESULTS / reference.file_name("gb10")), "--fail-above", "1")
    assert code == 0, err  # published figures have no samples: never a regression
    code, _, err = run_cli_here("compare", str(base), str(slow), "--fail-above", "x")
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


# ---------------------------------------------------------------- the report: one page per device set

def _as_gpu(document: dict, name: str = "NVIDIA H200", cc: str = "9.0") -> dict:
    """The CPU run dressed as a GPU run (what the report does with a measured GPU)."""
    gpu = json.loads(json.dumps(document))
    gpu["backend"] = "cuda"
    gpu["device"] = {"name": name, "compute_capability": cc, "key": None}
    gpu["expected_bandwidth"] = {"gbps": 4800, "kind": "V", "source": "NVIDIA H200 datasheet"}
    return gpu


def _section(text: str, title: str) -> str:
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 3)
    return text[start:end if end > 0 else None]


def _table_lines(section: str) -> list[str]:
    return [line for line in section.splitlines() if line.startswith("|")]


def _column(section: str, device: str) -> list[str]:
    """A device's cells in a device table (one column per device, one row per figure)."""
    lines = _table_lines(section)
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    at = header.index(device)
    return [line.strip("|").split(" | ")[at].strip() for line in lines[2:]]


@pytest.fixture
def no_plots(monkeypatch):
    """Reports whose tables are the point: no figures drawn (the plot tests and the page test draw them)."""
    from smbench import plots

    monkeypatch.setattr(plots, "plot_all", lambda named, matrices, out: [])


def test_the_device_tables_have_one_column_per_device_and_one_row_per_figure(tmp_path, no_plots):
    from smbench import report

    named = [("H200 run", _as_gpu(_cpu_run()))] + [(k, published(k)) for k in reference.PUBLISHED]
    _, markdown = report.build(named, [], tmp_path)
    text = markdown.read_text()
    assert text.count("## Throughput per precision") == 1
    for title in ("Bandwidth at the largest working set", "Throughput per precision"):
        lines = _table_lines(_section(text, title))
        header = [cell.strip() for cell in lines[0].strip("|").split("|")]
        # the default set: the run, the Spark, RTX 5090, A100, the Macs and the measured GPU's own figures
        assert header == ["figure", "H200 run", "gb10", "rtx5090", "a100-80", "m4max", "m3ultra", "h200"], header
        assert lines[2].startswith("| (figures) | measured by smbench | published |")
    assert "Published files given but not in the device set (--against): " in text and "b200" in text
    throughput = _section(text, "Throughput per precision")
    row = next(line for line in _table_lines(throughput) if line.startswith("| FP16/BF16 tensor, FP32 acc |"))
    rtx = row.strip("|").split(" | ")[3]
    assert "209.5 V (" in rtx and "x)" in rtx  # a ratio against the measured GPU, in the same row
    assert not any("x)" in cell for cell in _column(throughput, "H200 run"))  # what the others are divided by


def test_against_chooses_the_published_devices(tmp_path, no_plots):
    code, out, err = run_cli_here("report", str(CPU_RUN), "--against", "gb10,rtx5090,a100-80,m4max", "--out",
                                  str(tmp_path))
    assert code == 0, err
    text = (tmp_path / "report.md").read_text()
    lines = _table_lines(_section(text, "Bandwidth at the largest working set"))
    assert [cell.strip() for cell in lines[0].strip("|").split("|")][1:] == ["CPU path (host NumPy)", "gb10", "rtx5090",
                                                                             "a100-80", "m4max"]
    code, _, err = run_cli_here("report", str(CPU_RUN), "--against", "gb10,nosuch", "--out", str(tmp_path / "x"))
    assert code == 2 and "nosuch" in err and len(err.strip().splitlines()) == 1


def test_cpu_path_figures_are_host_numpy_never_hardware(tmp_path, no_plots):
    from smbench import report

    named = [("CPU path (host NumPy)", results.load(CPU_RUN)), ("gb10", published("gb10"))]
    _, markdown = report.build(named, [], tmp_path)
    text = markdown.read_text()
    verdicts = _section(text, "Verdicts")
    assert "host NumPy" not in verdicts and "no GPU was measured" in verdicts
    assert "triad bandwidth" in _section(text, "Host CPU files (not hardware)")
    for title in ("Bandwidth at the largest working set", "Throughput per precision"):
        section = _section(text, title)
        cells = _column(section, "CPU path (host NumPy)")
        assert "measured by smbench" not in cells[0] and "not a GPU" in cells[0]
        assert "x)" not in section  # no ratios against NumPy
    environment = _section(text, "Environment")
    assert "host NumPy on the CPU reference path, not a GPU" in environment


# ---------------------------------------------------------------- plots

def _captured(monkeypatch, module):
    """Figures a plot function makes, drawn, instead of written."""
    figures = []

    def keep(figure, out_dir, stem):
        figure.canvas.draw()
        figures.append(figure)
        return []

    monkeypatch.setattr(module, "save", keep)
    return figures


def test_an_empty_clock_and_power_plot_is_omitted(tmp_path, monkeypatch):
    from smbench import plots

    named = [("gb10", published("gb10")), ("cpu", results.load(CPU_RUN))]
    assert plots.telemetry_over_run(named, tmp_path) == []
    # Which figures plot_all makes, each built but not drawn (drawing is other tests' and ~10 s).
    from matplotlib.figure import Figure

    with monkeypatch.context() as patched:
        patched.setattr(Figure, "savefig", lambda figure, path, **options: Path(path).touch())
        stems = {p.stem for p in plots.plot_all(named, [], tmp_path)}
    assert any("bandwidth" in stem for stem in stems) and "clock_and_power" not in stems, stems
    gpu = _as_gpu(_cpu_run())
    gpu["records"][0]["telemetry"] = {"samples": [{"t": 0.0, "sm_clock_mhz": 1980, "power_w": 500},
                                                  {"t": 0.1, "sm_clock_mhz": 1975, "power_w": 510}]}
    assert {p.stem for p in plots.telemetry_over_run([("h200", gpu)], tmp_path)} == {"clock_and_power"}


def test_the_roofline_compares_tensor_with_tensor_and_cuda_cores_with_cuda_cores(monkeypatch, tmp_path):
    from smbench.families.peak import publish

    tensor, cuda_cores = (columns for _, columns in publish.ROOFS)
    assert publish._roof(published("rtx-pro-6000"), tensor) == (None, "")  # no published tensor figure
    assert publish._roof(published("rtx-pro-6000"), cuda_cores)[0] == 125
    # like with like: someone's mma.sync loop before the vendor's 209.5, never FP16-acc's 419
    assert publish._roof(published("rtx5090"), tensor) == (253, "f16_f32acc M, mma.sync loop")
    assert publish._roof(published("gb10"), tensor) == (60, "bf16_f32acc M")  # measured by others, acc not stated
    assert publish._roof(published("a100-80"), tensor)[0] == 312
    assert publish._roof(published("m4max"), tensor) == (None, "")  # MPS FP16 is not a tensor-core figure
    run = results.load(CPU_RUN)
    loops = {r["benchmark"]: r["tflops"]["median"] for r in run["records"] if r["family"] == "peak"
             and r["status"] == "ok"}
    assert publish._roof(run, tensor)[0] == max(loops["f16_f32acc"], loops["bf16_f32acc"])
    assert publish._roof(run, cuda_cores)[0] == loops["fp32"]
    figures = _captured(monkeypatch, publish)
    publish.roofline([("rtx5090", published("rtx5090")), ("rtx-pro-6000", published("rtx-pro-6000"))], tmp_path)
    tensor_axis, cuda_axis = figures[0].axes
    tensor_labels = [t.get_text() for t in tensor_axis.get_legend().get_texts()]
    assert len(tensor_labels) == 1 and tensor_labels[0].startswith("rtx5090") and "253 TFLOP/s" in tensor_labels[0]
    assert any(t.get_text().startswith("rtx-pro-6000") and "125 TFLOP/s" in t.get_text()
               for t in cuda_axis.get_legend().get_texts())


def test_the_compat_heat_map_shows_emulation_and_spills(monkeypatch, tmp_path):
    from smbench import plots

    matrix = json.loads((RESULTS / "compat-nvrtc13.5.json").read_text())
    # The shipped matrix has no spills left (each target builds its own GEMM tile): one planted,
    # on a tensor cell that is drawn, must be outlined and named.
    planted = next(c for c in matrix["cells"] if c["kernel"] == "gemm_e4m3_f32acc_sm89" and c["target"] == "sm_90a")
    assert planted["status"] == "ok" and not plots.spills(planted)
    planted["spill_instructions"], planted["local_bytes"] = 12, 96
    # A user's C++ kernel: the matrix keeps its symbol; the figure names it as compat's table does.
    matrix["cells"] += [{**planted, "file": "mine.cu", "kernel": "_Z4axpyfPKfPfi", "target": target,
                         "spill_instructions": 0, "local_bytes": 0} for target in matrix["targets"]]
    figures = _captured(monkeypatch, plots)
    plots.compat_heatmap(matrix, tmp_path)
    axis = figures[0].axes[0]
    grid = axis.images[0].get_array()
    kernels = [t.get_text() for t in axis.get_yticklabels()]
    targets = [t.get_text() for t in axis.get_xticklabels()]
    assert "_Z4axpyfPKfPfi" not in kernels and ("axpy" in kernels or plots.demangle.unavailable())
    fp8 = kernels.index("mma_e4m3_f32acc_sm89")
    assert grid[fp8, targets.index("sm_90")] == plots.STATUS_VALUE["emulated"]  # HMMA standing in for QMMA
    assert grid[fp8, targets.index("sm_120")] == plots.STATUS_VALUE["ok-tensor"]  # native QMMA
    assert grid[kernels.index("mma_f16_f32acc"), targets.index("sm_90")] == plots.STATUS_VALUE["ok-tensor"]
    spilled = [c for c in matrix["cells"] if c["status"] == "ok" and plots.spills(c)]
    assert spilled == [planted] and len([p for p in axis.patches if p.get_edgecolor()[:3] != (1, 1, 1)]) >= len(
        {(c["kernel"], c["target"]) for c in spilled if c["kernel"] in kernels})
    texts = [t.get_text() for t in axis.texts]
    assert any("spill" in t for t in texts)


def test_device_names_under_the_throughput_bars_never_overlap(monkeypatch, tmp_path):
    from smbench.families.peak import publish

    figures = _captured(monkeypatch, publish)
    named = [("CPU path (host NumPy)", results.load(CPU_RUN))] + sorted(
        (key, published(key)) for key in reference.PUBLISHED)
    publish.throughput_bars(named, tmp_path)
    figure = figures[0]
    renderer = figure.canvas.get_renderer()
    boxes = [label.get_window_extent(renderer) for label in figure.axes[0].get_xticklabels()]
    assert len(boxes) == len(named)
    assert all(not a.overlaps(b) for a, b in zip(boxes, boxes[1:]))
    # the CPU path is not styled as measured by smbench (a black edge): its bars are pale, grey-edged
    bars = [p for p in figure.axes[0].patches if p.get_height() > 0]
    cpu = [p for p in bars if p.get_height() < 1]  # NumPy's figures are far below any GPU's
    assert cpu and all(p.get_edgecolor()[:3] != (0, 0, 0) and p.get_alpha() < 1 for p in cpu)
