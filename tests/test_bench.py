"""`smbench bench` (what `make bench` runs) ends with one screen: what the machine did,
what compiles where, and where every file is; the detail goes to those files."""

from __future__ import annotations

import re

import pytest

from smbench import cli, compat, run

from screen_check import check_fits
from test_run import TINY


@pytest.fixture
def small_matrix(monkeypatch):
    """The compile matrix of one small kernel file (the whole one takes a minute cold)."""
    everything = compat.builtin_units

    monkeypatch.setattr(compat, "builtin_units", lambda: [u for u in everything() if u.path.name == "timing.cu"])


@pytest.mark.parametrize("width", [80, 120])
def test_bench_ends_with_one_screen_and_writes_the_detail_to_files(tmp_path, monkeypatch, capsys, small_matrix,
                                                                      width):
    suite = tmp_path / "tiny.toml"
    suite.write_text(TINY + "[latency]\npoints_per_octave = 1\n")
    monkeypatch.setenv("COLUMNS", str(width))
    monkeypatch.setattr(cli.common, "stdout_is_terminal", lambda: True)
    out = tmp_path / "out"
    assert cli.main(["bench", "--backend", "cpu", "--suite", str(suite), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    lines = re.sub(r"\x1b\[[0-9;]*m", "", text).splitlines()
    assert len(lines) <= 45, len(lines)  # one screen
    check_fits("\n".join(lines), width)  # a path longer than the line has a line of its own
    labels = {line.split()[0] for line in lines[1:] if line and not line.startswith(" ")}
    assert {"checks", "memory", "compile", "cases", "files", "report"} <= labels, labels
    assert "CPU reference path, host NumPy figures, not a GPU's" in " ".join(line.strip() for line in lines[:3])
    result = next(out.glob("*-tiny-*.json"))
    assert (out / f"summary-{result.stem}.txt").read_text().count("memory bandwidth") == 1
    assert (out / "compat.json").is_file() and (out / "compat.md").is_file()
    assert (out / "report" / "report.html").is_file()
    assert any(line.endswith(str(out / "report" / "report.html")) for line in lines)  # whole, on one line


def test_bench_refuses_an_out_that_is_a_file(tmp_path, capsys):
    blocker = tmp_path / "taken"
    blocker.write_text("x")
    assert cli.main(["bench", "--backend", "cpu", "--out", str(blocker)]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "a file of that name exists" in err[0]


def test_bench_into_a_pipe_has_no_padding(tmp_path, monkeypatch, capsys, small_matrix):
    suite = tmp_path / "tiny.toml"
    suite.write_text(TINY)
    monkeypatch.setattr(cli.common, "stdout_is_terminal", lambda: False)
    assert cli.main(["bench", "--backend", "cpu", "--suite", str(suite), "--out", str(tmp_path / "out")]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines and all(line == line.rstrip() for line in lines) and "\x1b[" not in "".join(lines)
    # Where a bar cannot be drawn (CI, `make bench | tee log`): a line per family and at the end of each step.
    progress = [line for line in captured.err.splitlines() if line.startswith("smbench bench: ")]
    assert any(re.fullmatch(r"smbench bench: stream: 0 of \d+ cases done, 0:\d\d elapsed", line) for line in progress)
    assert any(re.fullmatch(r"smbench bench: finished: (\d+) of \1 cases done, \d+:\d\d elapsed", line)
               for line in progress), progress


def test_bench_without_nvrtc_skips_the_compile_matrix_and_says_why(tmp_path, monkeypatch, capsys):
    """A Mac (the mlx backend) has no CUDA wheels: bench measures, reports and says in one
    line that the compile matrix was skipped, instead of a matrix of failures."""
    from smbench import toolchain
    from smbench.errors import SmbenchError

    def no_nvrtc():
        raise SmbenchError("cuda-bindings is not installed (No module named 'cuda'); pip install cuda-bindings")

    monkeypatch.setattr(toolchain, "nvrtc_version", no_nvrtc)
    monkeypatch.setattr(compat, "run", lambda *a, **k: pytest.fail("the matrix was built without NVRTC"))
    monkeypatch.setattr(cli.common, "stdout_is_terminal", lambda: False)
    suite = tmp_path / "tiny.toml"
    suite.write_text(TINY)
    out = tmp_path / "out"
    # The CPU path needs NVRTC for nothing either, but only MLX turns the failed check into a warning.
    assert cli.main(["bench", "--backend", "cpu", "--suite", str(suite), "--out", str(out)]) == 2
    assert "the environment check failed (nvrtc, cuda headers)" in capsys.readouterr().err
    monkeypatch.setattr(run, "resolve_backend", lambda choice, suite: run.CpuRunner("a stand-in for MLX"))
    assert cli.main(["bench", "--backend", "mlx", "--suite", str(suite), "--out", str(out)]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "nvrtc: cuda-bindings is not installed" in text and "(the mlx backend needs no CUDA)" in text
    assert "compile compile matrix skipped: cuda-bindings is not installed" in text
    assert (out / "report" / "report.html").is_file() and not (out / "compat.json").exists()
