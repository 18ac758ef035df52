"""The end-of-run tables in a real terminal: at 80 and at 120 columns every row label and
every figure is whole (rich would otherwise shrink a column to nothing or cut '523.4' to
'5...'); what does not fit is named under the table, never silently cut."""

from __future__ import annotations

import pytest
from rich.console import Console

from smbench import run_view
from smbench.families import gemm, peak
from smbench.families.stream.view import kernel_label

ELLIPSIS = "\u2026"
MEMORY = ("device", "managed", "managed-prefetch", "pinned-mapped", "pageable")


def _stream_records() -> list[dict]:
    records = []
    for memory in MEMORY:
        for op in ("copy", "scale", "add", "triad", "dot", "read", "write"):
            for size, gbps in ((1 << 20, 21345.678), (4 << 30, 4123.4)):
                records.append({"family": "stream", "status": "ok", "kernel": f"stream_{op}_f64_v16",
                                "memory": memory, "working_set_bytes": size, "gbps": {"median": gbps},
                                "percent_of_expected": 85.9, "verdict": "suspicious-high"})
    records.append({"family": "transfer", "status": "ok", "benchmark": "d2d", "host": "device", "bytes": 1 << 30,
                    "gbps": {"median": 3912.3}, "counting": "bytes copied, once",
                    "gbps_read_write": {"median": 7824.6}})
    records.append({"family": "launch", "status": "ok", "queued_us": {"median": 1.93},
                    "launch_sync_us": {"median": 8.52}})
    return records


def _peak_records() -> list[dict]:
    return [{"family": "peak", "status": "ok", "benchmark": fmt.key, "group": fmt.group, "label": fmt.label,
             "unit": fmt.unit, "ops_unit": fmt.ops_unit, "instruction": "QMMA.16832.F32.E4M3.E4M3 (emulated)",
             "support": "emulated", "tflops": {"median": 1234.5678}, "percent_of_spec": 103.4,
             "percent_of_clock_peak": 98.7, "expected": {"clock_mhz": 1980.0}, "verdict": "below the wgmma rate",
             "fallback": {"status": "ok", "native_over_fallback": 1.23}} for fmt in peak.FORMATS]


def _gemm_records() -> list[dict]:
    shapes = ("8192x8192x8192", "1x14336x4096", "16x28672x8192", "127x255x77")
    return [{"family": "gemm", "status": "ok", "benchmark": fmt.key, "label": fmt.label, "shape": shape,
             "m": int(shape.split("x")[0]), "tile": {"bm": 128, "bn": 256, "stages": 4}, "splits": 16,
             "tflops": {"median": 1234.5678}, "gbps": {"median": 3456.78}, "percent_of_bandwidth": 71.2,
             "percent_of_mma_peak": 87.6, "percent_of_spec": 45.6,
             "cublas": {"status": "ok", "tflops": 1400.25, "ours_over_cublas": 0.88},
             "fallback": {"status": "ok", "native_over_fallback": 1.02},
             "validation": {"exact": {"ok": True}, "random": {"ok": True}}}
            for fmt in gemm.FORMATS for shape in shapes]


def _render(view, records, width: int) -> str:
    console = Console(width=width, record=True, force_terminal=False, color_system=None)
    view(records, console)
    return console.export_text()


def _check_fits(text: str, width: int, labels: list[str], figures: list[str]) -> None:
    lines = text.splitlines()
    assert all(len(line) <= width for line in lines), max(lines, key=len)
    assert ELLIPSIS not in text and "..." not in text
    for label in labels:
        assert label in text, label
    for figure in figures:
        assert figure in text, figure


@pytest.mark.parametrize("width", [80, 100, 120])
def test_the_memory_table_keeps_labels_and_whole_figures(width):
    from smbench.families.stream import view

    text = _render(view.view, _stream_records(), width)
    _check_fits(text, width, [kernel_label(f"stream_{op}_f64_v16") for op in ("copy", "triad", "write")] +
                ["cudaMemcpy d2d (copied)", "empty kernel", "launch+sync"], ["4123.4", "3912.3", "1.93 us", "8.52 us"])
    assert all(memory in text for memory in MEMORY)
    if width >= 100:
        assert "suspicious-high" in text and "86%" in text


@pytest.mark.parametrize("width", [80, 100, 120])
def test_the_peak_table_keeps_every_loop_and_its_figure(width):
    from smbench.families.peak import view

    text = _render(view.view, _peak_records(), width)
    _check_fits(text, width, [fmt.key for fmt in peak.FORMATS], ["1235 TOPS", "1235"])
    assert "below the wgmma rate" in text  # the verdict outlasts the columns that explain it
    if width == 80:
        assert "Not shown at 80 columns:" in text and "instruction" in text.split("Not shown at 80 columns:")[1]


@pytest.mark.parametrize("width", [80, 120])
def test_a_verdict_against_an_assumed_rate_stays_whole(width):
    """GB10's verdicts say they rest on an assumed rate: the longest one, whole at 80 columns."""
    from smbench.families.peak import view

    records = _peak_records()
    for record in records:
        record["verdict"] = "twice expected (assumed rate)"
    text = _render(view.view, records, width)
    _check_fits(text, width, [fmt.key for fmt in peak.FORMATS], ["1235"])
    assert "twice expected (assumed rate)" in text


@pytest.mark.parametrize("width", [80, 100, 120])
def test_the_gemm_table_keeps_format_shape_and_figure(width):
    from smbench.families.gemm import view

    text = _render(view.view, _gemm_records(), width)
    _check_fits(text, width, [fmt.key for fmt in gemm.FORMATS] + ["8192x8192x8192", "16x28672x8192"], ["1235"])
    if width >= 120:
        assert "88%" in text or "0.88x" in text


def test_a_wide_terminal_gets_every_column_and_full_labels():
    from smbench.families.peak import view

    text = _render(view.view, _peak_records(), 220)
    assert "Not shown" not in text
    assert all(fmt.label in text for fmt in peak.FORMATS)
    assert "QMMA.16832.F32.E4M3.E4M3 (emulated)" in text and "1.23x" in text


def test_fit_columns_drops_what_matters_least_first():
    columns = [run_view.Column("name", keep=run_view.Column.NEVER_DROPPED), run_view.Column("a" * 30, keep=1),
               run_view.Column("b" * 30, keep=5), run_view.Column("figure", keep=run_view.Column.NEVER_DROPPED)]
    rows = [["x", "1", "2", "3"]]
    shown, short, dropped = run_view.fit_columns(columns, rows, 60)
    assert shown == [0, 2, 3] and short and [c.name for c in dropped] == ["a" * 30]
    shown, _, dropped = run_view.fit_columns(columns, rows, 20)
    assert shown == [0, 3] and len(dropped) == 2  # never the label or the figure


@pytest.mark.parametrize("width", [80, 120])
def test_targets_in_a_terminal_keeps_every_mark(width, monkeypatch, capsys):
    """`smbench targets` in an 80-column terminal once showed 'y...': the feature columns now
    come in further tables with the target repeated, every cell whole."""
    import re

    from smbench import cli
    from smbench import targets as target_table

    monkeypatch.setenv("COLUMNS", str(width))
    monkeypatch.setattr(cli.common, "stdout_is_terminal", lambda: True)
    assert cli.main(["targets"]) == 0
    text = re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().out)
    lines = text.splitlines()
    assert all(len(line) <= width for line in lines), max(lines, key=len)
    assert ELLIPSIS not in text
    for target in target_table.all_targets():
        rows = [line for line in lines if line.startswith(f"│ {target.name} ")]
        marks = " ".join(rows)
        assert rows and marks.count("│") >= 2, target.name
    header_cells = " ".join(line for line in lines if line.startswith("┃"))
    for _, short, _ in cli.targets.TARGET_COLUMNS:
        assert short in header_cells
