"""Every subcommand's screen drawn at 80 and 120 columns, as a terminal of that width shows
it (COLUMNS set, stdout taken for a terminal): each line within the width by display cells
(rich's cell_len), a path longer than the line alone on its own, nothing cut with an
ellipsis, no number split across lines (each number also one of the same screen drawn
1000 wide), and the labels and figures that matter whole on one line."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from conftest import ROOT, run_cli_here
from rich.console import Console
from screen_check import check_fits, plain
from test_compat import PARTIAL
from test_run import TINY

from smbench import cli

WIDTHS = (80, 120)
WIDE = 1000
RESULTS = ROOT / "results"
CPU_RUN = RESULTS / "cpu-reference-quick-x86_64-2cpu.json"
LONG = "a-folder-whose-name-goes-on/and-on-and-on/as-paths-on-a-cluster-do/for-ever"


def _peak(benchmark: str) -> str:
    """A peak loop's figure in the shipped CPU run, as the screens write it (4 significant figures)."""
    document = json.loads(CPU_RUN.read_text(encoding="utf-8"))
    return next(f"{r['tflops']['median']:.4g}" for r in document["records"]
                if r["family"] == "peak" and r["benchmark"] == benchmark and r["status"] == "ok")

# C++ kernels (long names once demangled) beside tensor-core ones that some targets reject (test_compat's).
KERNELS = r"""
template <int N> __global__ void scale_by(float *y, const float *x, int n, float factor) {
    y[threadIdx.x] = x[threadIdx.x] * N * factor + n;
}
template __global__ void scale_by<4>(float *, const float *, int, float);
__global__ void axpy(float a, const float *x, float *y, int n) { if (threadIdx.x < n) y[threadIdx.x] += a * x[threadIdx.x]; }
""" + PARTIAL


@pytest.fixture
def terminal(monkeypatch):
    """stdout taken for a terminal, as in tmux: tables fitted to COLUMNS."""
    monkeypatch.setattr(cli.common, "stdout_is_terminal", lambda: True)


def screen(width: int, *argv: str, codes=(0,)) -> str:
    code, out, err = run_cli_here(*argv, env={"COLUMNS": str(width)})
    assert code in codes, err
    return out


def digits_as_zeros(pattern: str):
    """For `both`'s same=: what `pattern` matches (a time, a free-memory figure: it moves between
    the two drawings) with its digits as zeros, its length and line breaks kept."""
    return lambda text: re.sub(pattern, lambda match: re.sub(r"\d", "0", match.group()), text)


def both(draw, whole=(), same=lambda text: text):
    """Draw at WIDE once, then check each of WIDTHS against it (`same`: what differs between
    two drawings, a time taken, made equal)."""
    # `same` reads the plain text: a line break inside a styled span has escape codes around it.
    wide = same(plain(draw(WIDE)))
    for width in WIDTHS:
        check_fits(same(plain(draw(width))), width, wide, whole)


def test_targets(terminal):
    both(lambda width: screen(width, "targets"), whole=("sm_121a", "sm_100f"))


def test_compat(terminal, tmp_path):
    source = tmp_path / "kernels.cu"
    source.write_text(KERNELS)
    targets = "sm_80,sm_89,sm_90,sm_90a,sm_100a,sm_120,sm_120a,gb10,sm_121a"
    both(lambda width: screen(width, "compat", str(source), "--targets", targets, "--fail-on", "never"),
         whole=("scale_by<4>", "HMMA", "QMMA", "sm_121a", "✗ →80:HMMA", "axpy(float, float const*, float*, int)"))


def test_scan(terminal):
    cupy = pytest.importorskip("cupy")
    where = str(Path(cupy.__file__).parent)
    both(lambda width: screen(width, "scan", where, "--gpu", "gb10", "--gpu", "sm_90", "--gpu", "sm_70"),
         whole=("cupy-cuda13x", "gb10 (sm_121)", "sm_120f", "will not run"),
         # The time it took, as zeros of the same length (a long path may put it on a line of its own).
         same=digits_as_zeros(r"in\s+\d+\.\d+ s"))


def test_doctor(terminal, monkeypatch):
    from smbench import doctor

    tool = f"/opt/{LONG}/nvidia/cu13/bin/cuobjdump"
    checks = [doctor.Check("python", "ok", "3.12.3 (/usr/bin/python3)"),
              doctor.Check("packages", "ok", ", ".join(f"package-number-{n} 13.{n}.37" for n in range(12))),
              doctor.Check("cuobjdump", "ok", f"{tool} (from pip wheel, via cuda.pathfinder; release 13.5)"),
              doctor.Check("gpu", "warn", "no GPU: CPU reference path and compile matrix only")]
    monkeypatch.setattr(doctor, "run_checks", lambda: checks)
    both(lambda width: screen(width, "doctor"), whole=(tool, "13.11.37", "release 13.5"))


def test_run_and_its_list(terminal, tmp_path):
    suite = tmp_path / "tiny.toml"
    suite.write_text(TINY)
    for width in WIDTHS:  # each run measures anew: its numbers are checked against themselves below
        check_fits(screen(width, "run", "--backend", "cpu", "--suite", str(suite), "--only", "stream,launch",
                          "--out", str(tmp_path / "out")), width, whole=("memory bandwidth", "triad f32 16B"))
    # The free memory the cap is taken from moves between the two listings: its figures as zeros.
    both(lambda width: screen(width, "run", "--backend", "cpu", "--list", "--set", "stream.largest_mib=1"),
         same=digits_as_zeros(r"\d+(\.\d+)? GiB"))


def test_the_run_summary_of_every_family():
    """The summary `smbench run` ends with, for a run of every family (the shipped CPU run)."""
    from smbench import run_view

    document = json.loads(CPU_RUN.read_text(encoding="utf-8"))

    def draw(width: int) -> str:
        console = Console(file=io.StringIO(), width=width, force_terminal=True)
        run_view.render(document, console)
        return console.file.getvalue()

    both(draw, whole=("memory bandwidth", "compute peaks", "f8f6f4_e2m1_f32acc", _peak("f8f6f4_e2m1_f32acc"), "latency"))


def test_selftest_lines():
    from smbench import selftest

    records = [{"family": "stream", "benchmark": "b", "status": "ok"},
               {"family": "gemm", "benchmark": "b", "status": "failed", "label": "GEMM FP16", "shape": "4099x129x257",
                "reason": f"validation failed: C[3, 7] = 2 (must be 3); the build log is in /tmp/{LONG}/gemm.log"},
               {"family": "peak", "benchmark": "b", "status": "skipped",
                "reason": "needs sm_120a, sm_121a: sm_90 has no kind::f8f6f4 (the target table)"}]
    both(lambda width: "\n".join(selftest.lines(selftest.judge(records), width)),
         whole=("4099x129x257", "C[3, 7] = 2", f"/tmp/{LONG}/gemm.log"))  # the path, whole on one line


def test_bench_screen():
    """The last screen of `smbench bench` (tests/test_bench.py draws it from a real run at 80 and 120)."""
    from smbench import headlines

    document = json.loads(CPU_RUN.read_text(encoding="utf-8"))
    lines = headlines.family_lines(document) + [("files", f"results: /scratch/{LONG}/out/run.json"),
                                                ("report", f"/scratch/{LONG}/out/report/report.html")]

    def draw(width: int) -> str:
        console = Console(file=io.StringIO(), width=width, force_terminal=True)
        headlines.print_screen(console, "smbench bench: CPU reference, suite quick, 812 s", lines)
        return console.file.getvalue()

    latency = dict(lines)["latency"].split("; ")[-1]  # 'cache 2: 526.3 ns': a level's name kept with its figure
    both(draw, whole=(f"/scratch/{LONG}/out/report/report.html", latency, " GB/s at 64 MiB"))


def test_reference_plot_and_report_print_their_paths(terminal, tmp_path, monkeypatch):
    from smbench import plots, report

    out = tmp_path / LONG
    both(lambda width: screen(width, "reference", "--out", str(out)), whole=(str(out / "reference-gb10.json"),))
    monkeypatch.setattr(plots, "plot_all", lambda named, matrices, where: [where / "bandwidth_vs_size.png"])
    both(lambda width: screen(width, "plot", str(CPU_RUN), "--out", str(out / "plots")))
    monkeypatch.setattr(report, "build", lambda named, matrices, where, against, **_: (where / "report.html",
                                                                                  where / "report.md"))
    both(lambda width: screen(width, "report", str(CPU_RUN), "--out", str(out / "report")),
         whole=(str(out / "report" / "report.html"),))


def test_export(terminal):
    both(lambda width: screen(width, "export", str(RESULTS / "reference-gb10.json"), str(CPU_RUN)),
         whole=("232.5 GB/s", f"{_peak('f8f6f4_e2m1_f32acc')} TFLOP/s", "MPI_Isend/Irecv f32 (out of place) 32 KiB"))


def test_compare_of_published_and_measured_files(terminal):
    files = [str(RESULTS / name) for name in ("reference-gb10.json", "reference-rtx5090.json",
                                              "reference-h100-sxm.json")] + [str(CPU_RUN)]
    both(lambda width: screen(width, "compare", *files), whole=("232.5 M", "1792 V", _peak("mxf4"), "precision"))


def test_compare_of_two_runs_with_their_verdicts(terminal, tmp_path):
    """Two measured runs: values, ratios and the noise test's verdicts (half the samples slower)."""
    document = json.loads(CPU_RUN.read_text(encoding="utf-8"))
    for number, record in enumerate(document["records"]):
        samples = (record.get("time_s") or {}).get("samples")
        if samples and number % 2:
            record["time_s"]["samples"] = [s * 1.5 for s in samples]
    slower = tmp_path / "slower.json"
    slower.write_text(json.dumps(document), encoding="utf-8")
    both(lambda width: screen(width, "compare", str(CPU_RUN), str(slower)), whole=(_peak("mxf4"), "precision"))


def test_rerun(terminal, tmp_path, monkeypatch):
    from smbench import rerun

    moved = [f"stream op=triad dtype=f32 width=16 memory=host working_set={n} KiB: 22.{n} -> 11.{n} GB/s "
             f"(-50.{n}%, p=4.2e-05)" for n in range(5)]
    outcome = rerun.Comparison(tmp_path / LONG / "before.json", tmp_path / LONG / "after.json", [], moved, 12, [],
                               [])
    monkeypatch.setattr(rerun, "rerun", lambda path, out, *_: outcome)
    both(lambda width: screen(width, "rerun", str(CPU_RUN), "--out", str(tmp_path / "again")),
         whole=("22.3 -> 11.3 GB/s", "p=4.2e-05", "Mann-Whitney U"))


def test_a_split_number_and_an_overlong_line_are_caught():
    """The checks themselves: planted screens they must refuse."""
    wide = "│ kernel │ 0.006538 │\n"
    with pytest.raises(AssertionError):
        check_fits("│ kernel │ 0.00653 │\n│        │       8 │\n", 80, wide)
    with pytest.raises(AssertionError):
        check_fits("x " * 41, 80)
    with pytest.raises(AssertionError):
        check_fits("│ precisi… │", 80)
    check_fits(f"files\n/{LONG}/{LONG}\n", 80)  # a path alone on its line may run on
    assert plain("\x1b[1mbold\x1b[0m") == "bold"
