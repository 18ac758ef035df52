"""SIGTERM, SIGHUP and SIGPIPE end `smbench run` exactly as Ctrl-C does: the result file is
finished as "interrupted" with every case done so far, one line on stderr says so (where
stderr can still be written), and the exit status is the signal's (128 + its number), in one
process and under mpiexec. Real child processes, killed while a case hangs (the collectives
test rank's "hang" fault: a timed MPI call that never returns), and a run whose stdout reader
went away (`smbench run | head -1`)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT

pytestmark = pytest.mark.cli

SIGNALS = [signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE]
TINY = ["--backend", "cpu", "--only", "collectives", "--suite", "quick", "--set", "collectives.smallest_bytes=256",
        "--set", "collectives.cpu_largest_kib=1", "--set", "collectives.size_step=4", "--set",
        "timing.min_samples=3", "--set", "timing.max_samples=5", "--set", "timing.warmup=1"]

ONE_CASE = ["--set", "collectives.collectives=[\"all_reduce\"]", "--set", "collectives.placements=[\"in_place\"]",
            "--set", "collectives.smallest_bytes=1024"]


def _env(fault: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + str(ROOT / "tests"), "SMBENCH_TEST_FAULT": fault}
    for name in [k for k in env if k.startswith(("PMI_", "OMPI_", "SLURM_"))]:
        del env[name]
    return env


def _file(out_dir: Path) -> dict | None:
    found = list(out_dir.glob("*.json"))
    if not found:
        return None
    try:
        return json.loads(found[0].read_text())
    except ValueError:  # being rewritten
        return None


def _wait_for_a_finished_case(out_dir: Path, job: subprocess.Popen, seconds: float = 40) -> dict:
    """The result file once it holds a finished case (the run is then in the hanging one)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and job.poll() is None:
        document = _file(out_dir)
        if document and any(r["status"] == "ok" for r in document["records"]):
            time.sleep(0.5)  # into the hang
            return document
        time.sleep(0.1)
    pytest.fail(f"no finished case within {seconds} s (exit {job.poll()})")


def _start(command: list[str], fault: str, **options) -> subprocess.Popen:
    return subprocess.Popen(command, env=_env(fault), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, **options)


def _finish(job: subprocess.Popen) -> tuple[str, str]:
    try:
        return job.communicate(timeout=30)
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)


def _rank_command(out_dir: Path) -> list[str]:
    return [sys.executable, str(ROOT / "tests" / "collectives_rank.py"), "run", *TINY, "--out", str(out_dir)]


def test_each_signal_ends_a_single_process_run_as_ctrl_c_does(tmp_path):
    """Four children side by side, each hanging in its second timed call: one per signal, and
    one sent SIGTERM, SIGTERM again and Ctrl-C at once, of which one is handled (Python runs
    the handlers of signals that arrive together in the order of their numbers, so Ctrl-C's may
    come first) and the others are ignored while the file is finished."""
    sent = {number.name: [number] for number in SIGNALS}
    sent["several"] = [signal.SIGTERM, signal.SIGTERM, signal.SIGINT]
    jobs = {name: _start(_rank_command(tmp_path / name), "0:14:hang") for name in sent}
    try:
        for name, job in jobs.items():
            _wait_for_a_finished_case(tmp_path / name, job)
            for number in sent[name]:
                job.send_signal(number)
        for name, job in jobs.items():
            out, err = _finish(job)
            document = _file(tmp_path / name)
            assert document["status"] == "interrupted", name
            assert [r["status"] for r in document["records"]] == ["ok"], name
            assert "Traceback" not in err
            lines = [line for line in err.splitlines() if "interrupted" in line]
            if name == "several":
                assert job.returncode in (128 + signal.SIGTERM, 128 + signal.SIGINT) and len(lines) == 1, err
                continue
            assert job.returncode == 128 + sent[name][0], (name, err)
            assert lines == [f"smbench run: interrupted by {name}; 1 finished cases kept in "
                             f"{next((tmp_path / name).glob('*.json'))} (status \"interrupted\")"], err
    finally:
        for job in jobs.values():
            if job.poll() is None:
                os.killpg(job.pid, signal.SIGKILL)


def test_a_run_whose_stdout_reader_went_away_ends_as_sigpipe(tmp_path):
    """`smbench run ... | head -1` where the reader is gone before the summary: the file is whole
    ("complete": every case ran), the exit status is SIGPIPE's and nothing is said about it."""
    read, write = os.pipe()
    os.close(read)  # the reader went away before the run writes its summary
    done = subprocess.run([sys.executable, "-m", "smbench", "run", *TINY, *ONE_CASE, "--out", str(tmp_path / "r")],
                          env=_env(""), stdout=write, stderr=subprocess.PIPE, text=True, timeout=120)
    os.close(write)
    assert done.returncode == 128 + signal.SIGPIPE, done.stderr
    assert _file(tmp_path / "r")["status"] == "complete"
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr


def test_head_reads_the_first_line_of_a_run(tmp_path):
    """The shell's own pipe: head gets the summary's first line, smbench ends without a word."""
    command = " ".join([sys.executable, "-m", "smbench", "run", *[f"'{a}'" for a in TINY + ONE_CASE], "--out",
                        str(tmp_path / "r"), "| head -1"])
    done = subprocess.run(command, shell=True, env=_env(""), capture_output=True, text=True, timeout=120)
    assert done.stdout.count("\n") == 1 and done.stdout.strip()
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr
    assert _file(tmp_path / "r")["status"] == "complete"


# ---------------------------------------------------------------- under mpiexec

def _mpiexec() -> str:
    beside = Path(sys.executable).parent / "mpiexec"
    if not beside.exists():
        pytest.skip("no mpiexec beside python (pip install 'smbench[collectives]')")
    return str(beside)


@pytest.mark.parametrize("number, target", [(signal.SIGTERM, "launcher"), (signal.SIGHUP, "ranks"),
                                            (signal.SIGPIPE, "ranks")])
def test_a_signal_under_mpiexec_finishes_the_file_as_interrupted(tmp_path, number, target):
    """MPICH's mpiexec passes SIGTERM on to every rank; SIGHUP and SIGPIPE end mpiexec itself
    (its own default action), so those are sent where a batch system or a closed terminal sends
    them: to each rank. Rank 1 hangs in the second case; rank 0 finishes the file and says so."""
    job = _start([_mpiexec(), "-n", "2", *_rank_command(tmp_path / "r")], "1:14:hang")
    try:
        document = _wait_for_a_finished_case(tmp_path / "r", job)
        if target == "launcher":
            os.killpg(job.pid, number)
        else:
            for rank in document["world"]["ranks"]:
                os.kill(rank["pid"], number)
        out, err = _finish(job)
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
    document = _file(tmp_path / "r")
    assert document["status"] == "interrupted" and [r["status"] for r in document["records"]] == ["ok"], err
    assert f"smbench run: interrupted by {number.name}; 1 finished cases kept in" in err
    assert job.returncode != 0
