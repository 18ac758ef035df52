"""What every reader (export, compare, rerun, plot, report) does with a file it should not
take at its word: a run that never finished is read with one line of warning; a figure that
cannot be negative (a bandwidth, a throughput, a time) is refused with the file and field."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from conftest import ROOT, run_cli_here

CPU_RUN = ROOT / "results" / "cpu-reference-quick-x86_64-2cpu.json"


def _small_run(tmp_path: Path, name: str, **changes) -> tuple[Path, dict]:
    """The shipped CPU run cut to a few stream and latency records (plot and report stay quick), with changes."""
    document = json.loads(CPU_RUN.read_text(encoding="utf-8"))
    document["records"] = [r for family in ("stream", "latency")
                           for r in [r for r in document["records"] if r["family"] == family][:6]]
    document.update(changes)
    path = tmp_path / name
    path.write_text(json.dumps(document), encoding="utf-8")
    return path, document


READERS = {
    "export": lambda path, tmp: ["export", str(path)],
    "compare": lambda path, tmp: ["compare", str(CPU_RUN), str(path)],
    "plot": lambda path, tmp: ["plot", str(path), "--out", str(tmp / "plots")],
    "report": lambda path, tmp: ["report", str(path), "--out", str(tmp / "report"), "--against", "gb10"],
}


@pytest.mark.parametrize("reader, status", [(reader, "running") for reader in sorted(READERS)]
                         + [("export", "interrupted"), ("compare", "interrupted")])
def test_a_reader_warns_once_on_an_unfinished_run(tmp_path, monkeypatch, reader, status):
    from smbench import plots

    # What is drawn is not the point here (tests of plots draw it); the file is read as always.
    def drawn(named, matrices, out):
        out.mkdir(parents=True, exist_ok=True)
        (out / "drawn.png").write_bytes(b"\x89PNG\r\n\x1a\n")
        return [out / "drawn.png"]

    monkeypatch.setattr(plots, "plot_all", drawn)
    path, document = _small_run(tmp_path, f"{status}.json", status=status)
    code, _, err = run_cli_here(*READERS[reader](path, tmp_path))
    assert code == 0, err
    warned = [line for line in err.splitlines() if "warning" in line]
    assert len(warned) == 1, err
    assert warned[0].startswith(f"smbench {reader}: warning: {path} has status '{status}'")
    assert f"{len(document['records'])} records" in warned[0]


def test_a_finished_run_is_read_without_a_word(tmp_path):
    path, _ = _small_run(tmp_path, "complete.json")
    code, _, err = run_cli_here("export", str(path))
    assert code == 0 and err == ""


def test_rerun_warns_before_it_runs_anything(tmp_path):
    """rerun of an unfinished file says so first (here the file then has nothing to run)."""
    path, _ = _small_run(tmp_path, "running.json", status="running", records=[])
    code, out, err = run_cli_here("rerun", str(path), "--out", str(tmp_path / "new"))
    lines = err.strip().splitlines()
    assert code == 2 and out == ""
    assert lines[0].startswith(f"smbench rerun: warning: {path} has status 'running'")
    assert lines[1] == f"smbench rerun: error: {path} holds no records: nothing says what to run again"


def _negative(tmp_path: Path, field: str, statistic: str = "median") -> tuple[Path, str]:
    """A run whose first record with `field` has it negative; the 'records[i].field.stat' named."""
    path, document = _small_run(tmp_path, "negative.json")
    number = next(i for i, r in enumerate(document["records"]) if isinstance(r.get(field), dict)
                  and statistic in r[field])
    document["records"][number][field][statistic] = -1 * abs(document["records"][number][field][statistic])
    path.write_text(json.dumps(document), encoding="utf-8")
    return path, f"records[{number}].{field}.{statistic}"


@pytest.mark.parametrize("reader", sorted(READERS))
def test_a_negative_figure_is_refused_with_the_file_and_field(tmp_path, reader):
    path, where = _negative(tmp_path, "gbps")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code, out, err = run_cli_here(*READERS[reader](path, tmp_path))
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1
    assert f"{path}: {where} is -" in err and "cannot be negative" in err
    assert not [w for w in caught if issubclass(w.category, UserWarning)]  # nothing leaks from matplotlib


@pytest.mark.parametrize("field, statistic", [("gbps", "best"), ("time_s", "median"), ("time_s", "q25"),
                                              ("latency_ns", "median")])
def test_every_statistic_of_a_figure_is_checked(tmp_path, field, statistic):
    path, where = _negative(tmp_path, field, statistic)
    code, _, err = run_cli_here("compare", str(CPU_RUN), str(path))
    assert code == 2 and f"{path}: {where} is -" in err and "cannot be negative" in err


def test_a_negative_sample_is_refused(tmp_path):
    path, document = _small_run(tmp_path, "negative.json")
    number = next(i for i, r in enumerate(document["records"]) if (r.get("time_s") or {}).get("samples"))
    document["records"][number]["time_s"]["samples"][0] = -2e-6
    path.write_text(json.dumps(document), encoding="utf-8")
    code, _, err = run_cli_here("compare", str(CPU_RUN), str(path))
    assert code == 2 and f"records[{number}].time_s.samples holds a negative value" in err


def test_temperatures_below_zero_are_not_figures(tmp_path):
    """Telemetry is not a figure: a cold sensor's reading is kept as it is."""
    from smbench import results

    path, document = _small_run(tmp_path, "cold.json")
    document["records"][0]["telemetry"] = {"samples": [{"t": 0.0, "temperature_c": -5}],
                                           "temperature_c": {"median": -5, "min": -5, "max": -5}}
    path.write_text(json.dumps(document), encoding="utf-8")
    assert results.load(path)["records"][0]["telemetry"]["temperature_c"]["median"] == -5


def test_plot_of_a_compat_matrix_draws_the_matrix_alone(tmp_path):
    """A compat matrix holds no family's figures: no blank bandwidth axes, no placeholder."""
    matrix = json.loads((ROOT / "results" / "compat-nvrtc13.5.json").read_text(encoding="utf-8"))
    first = matrix["files"][0]
    matrix["files"], matrix["cells"] = [first], [c for c in matrix["cells"] if c["file"] == first]
    path = tmp_path / "compat.json"
    path.write_text(json.dumps(matrix), encoding="utf-8")
    code, out, err = run_cli_here("plot", str(path), "--out", str(tmp_path / "plots"))
    assert code == 0, err
    assert {Path(line).name for line in out.split()} == {"compat_matrix.png", "compat_matrix.svg"}


def test_plot_with_nothing_to_draw_says_so_in_one_line(tmp_path):
    path = tmp_path / "scan.json"
    path.write_text(json.dumps({"schema": "smbench.scan/1", "files": []}), encoding="utf-8")
    code, out, err = run_cli_here("plot", str(path), "--out", str(tmp_path / "plots"))
    assert code == 2 and out == ""
    assert err.strip().splitlines() == ["smbench plot: error: nothing to draw: these files hold no figure a plot "
                                        "shows (no ok record of a family and no compat matrix; smbench report "
                                        "reads a scan result)"]
    assert not (tmp_path / "plots").exists()  # no empty folder left behind
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("kept")
    assert run_cli_here("plot", str(path), "--out", str(tmp_path / "mine"))[0] == 2
    assert (tmp_path / "mine" / "notes.txt").read_text() == "kept"  # a folder the user had stays
