"""The collectives family without a GPU: nccl-tests' busbw factors, the patterned inputs
and their exact outputs (every collective simulated over n ranks in NumPy, in each type's
own arithmetic), a corrupted element caught and located, the links and verdicts, the
launch read from the environment, agreement between ranks, the missing-mpi4py message,
world size 1 in this process, and real `mpiexec -n 2` / `-n 3` jobs on the CPU path
(a full run, a settings mismatch, a rank that dies and one that hangs)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, run_cli_here
from smbench import ranks
from smbench.errors import SmbenchError
from smbench.families import collectives as co
from smbench.families.collectives import cpu, links


@pytest.fixture(autouse=True)
def fresh_world():
    ranks.reset()
    yield
    ranks.reset()


# ---------------------------------------------------------------- busbw

def test_busbw_factors_are_nccl_tests():
    """doc/PERFORMANCE.md of nccl-tests: 1 GB in 1 s over 4 ranks."""
    want = {"all_reduce": 1.5, "all_gather": 0.75, "reduce_scatter": 0.75, "alltoall": 0.75, "broadcast": 1.0,
            "reduce": 1.0, "sendrecv": 1.0}
    for name, busbw in want.items():
        assert co.figures(name, 10**9, 1.0, 4) == pytest.approx((1.0, busbw)), name
    assert co.figures("all_reduce", 10**9, 0.5, 2) == pytest.approx((2.0, 2.0))
    assert co.bus_factor("all_reduce", 1) == 0 and co.bus_factor("all_gather", 8) == pytest.approx(7 / 8)


def test_chunked_sizes_round_down_to_the_ranks():
    assert co.element_count("all_gather", 64, "f32", 3) == 15
    assert co.element_count("all_reduce", 64, "f32", 3) == 16
    assert co.element_count("alltoall", 8, "f64", 2) == 0  # one element cannot be split over two ranks
    assert co.sweep(8, 1 << 30, 2)[-1] == 1 << 30 and len(co.sweep(8, 1 << 30, 2)) == 28


# ---------------------------------------------------------------- exact outputs

def _typed_sum(parts, dtype):
    """Sum rank by rank in the type's own arithmetic (each partial rounded to the type)."""
    total = co.decode(np, parts[0], dtype)
    for part in parts[1:]:
        total = co.decode(np, co.encode(np, total + co.decode(np, part, dtype), dtype) if dtype != "int8"
                          else (total + co.decode(np, part, dtype)).astype(np.int8), dtype)
    return co.encode(np, total, dtype) if dtype != "int8" else total.astype(np.int8)


def _simulate(collective, placement, n, count, dtype):
    """Each rank's output, computed from the family's own initial buffers by moving and
    summing them as the collective would."""
    c = co.chunk(count, n)
    sends = [co.encode(np, co.initial(np, collective, placement, r, n, count)[0], dtype) for r in range(n)]
    if collective == "all_gather":
        mine = [s[r * c:(r + 1) * c] if placement == "in_place" else s for r, s in enumerate(sends)]
        return [np.concatenate(mine)] * n
    if collective == "all_reduce":
        return [_typed_sum(sends, dtype)] * n
    if collective == "reduce":
        return [_typed_sum(sends, dtype)] + [None] * (n - 1)
    if collective == "reduce_scatter":
        total = _typed_sum(sends, dtype)
        return [total[r * c:(r + 1) * c] for r in range(n)]
    if collective == "alltoall":
        return [np.concatenate([sends[s][r * c:(r + 1) * c] for s in range(n)]) for r in range(n)]
    if collective == "broadcast":
        return [sends[0]] * n
    return [sends[(r - 1) % n] for r in range(n)]  # sendrecv: from the rank before


@pytest.mark.parametrize("n", [1, 2, 3, 8, 16, 29])
def test_every_collective_and_type_is_exact_and_checked(n):
    for collective in co.COLLECTIVES:
        for dtype in co.DTYPES:
            assert co.exact_for(dtype, n)
            count = co.element_count(collective, 256 * co.DTYPES[dtype][1], dtype, n)
            for placement in co.COLLECTIVES[collective].placements:
                outputs = _simulate(collective, placement, n, count, dtype)
                checks = []
                for rank, got in enumerate(outputs):
                    want = co.expected(np, collective, rank, n, count)
                    checks.append(None if want is None else co.check(np, got, want, dtype))
                result = co.combine(checks)
                assert result["ok"], (collective, dtype, placement, result["detail"])
                assert result["checked"] > 0


def test_the_exact_rank_counts_end_where_the_sums_leave_the_type():
    assert [max(n for n in range(1, 200) if co.exact_for(t, n)) for t in ("int8", "bf16", "f16")] == [29, 41, 125]
    assert co.exact_for("f32", 1000)


@pytest.mark.parametrize("n", range(2, 17))
def test_no_two_ranks_chunks_are_alike_and_the_sum_is_no_ranks_input(n):
    """The old pattern, (i + 5r) mod 7, gave every rank the same all_gather chunk when the
    chunk length was 2 mod 7, summed to rank 0's input at 8 ranks and to zeros at 7 and 14."""
    for k in range(1, 21):
        c = 1 << k
        head = np.arange(min(c, 64))  # a prefix that differs is enough: the chunks differ
        chunks = {tuple(co.value(np, r, r * c + head, n).tolist()) for r in range(n)}
        assert len(chunks) == n, (n, c)
    for count in (2 * n, 256 * n, 1 << 20):
        total = co.expected(np, "all_reduce", 0, n, count)
        assert total.any() and np.abs(total).max() <= co.bound(n)
        index = np.arange(count)
        for r in range(n):
            assert (total != co.value(np, r, index, n)).any(), (n, count, r)


@pytest.mark.parametrize("n", [2, 4, 8])
def test_an_all_gather_that_copies_its_own_chunk_everywhere_fails(n):
    """The reviewer's repro: every rank's output is its own chunk n times over."""
    for rank in range(n):
        send = co.encode(np, co.initial(np, "all_gather", "out_of_place", rank, n, 256)[0], "f32")
        assert not co.check(np, np.tile(send, n), co.expected(np, "all_gather", rank, n, 256), "f32")["ok"]


def test_the_sentinel_is_never_an_expected_value():
    """An output element the collective never wrote cannot pass as right."""
    for n in (1, 2, 3, 16, 42, 127):
        for collective in co.COLLECTIVES:
            want = co.expected(np, collective, 0, n, 4 * n)
            assert want is None or co.sentinel(n) not in set(want.tolist())


def test_a_corrupted_element_fails_and_says_where():
    n, count, dtype = 3, 96, "bf16"
    outputs = [o.copy() for o in _simulate("alltoall", "out_of_place", n, count, dtype)]
    outputs[2][41] = co.encode(np, np.array([7]), dtype)[0]
    checks = [co.check(np, got, co.expected(np, "alltoall", r, n, count), dtype) for r, got in enumerate(outputs)]
    result = co.combine(checks)
    assert not result["ok"]
    assert result["detail"].startswith("rank 2: 1 of 96 elements wrong, the first at element 41 (got 7, expected")


def test_a_chunk_in_the_wrong_place_fails():
    """all_gather with two ranks' chunks swapped: every element of both is wrong."""
    n, count = 2, 64
    got = _simulate("all_gather", "out_of_place", n, count, "f32")[0].copy()
    got[:32], got[32:] = got[32:].copy(), got[:32].copy()
    check = co.check(np, got, co.expected(np, "all_gather", 0, n, count), "f32")
    assert not check["ok"] and check["first"] == 0 and check["wrong"] > 32


def test_bf16_sum_rounds_to_nearest_even():
    """The CPU path's bf16 sum: 1 + 2^-8 is a tie between 1 and 1 + 2^-7 and goes to the even 1."""
    one, tiny = cpu.f32_to_bf16(np.array([1.0], np.float32)), cpu.f32_to_bf16(np.array([2 ** -8], np.float32))
    total = cpu.f32_to_bf16(cpu.bf16_to_f32(one) + cpu.bf16_to_f32(tiny))
    assert cpu.bf16_to_f32(total)[0] == 1.0
    three = cpu.f32_to_bf16(np.array([1 + 3 * 2 ** -8], np.float32))  # a tie above an odd last bit: rounds up
    assert cpu.bf16_to_f32(three)[0] == 1 + 2 ** -6


# ---------------------------------------------------------------- links

def test_a_low_figure_names_only_a_link_that_could_produce_it():
    assert links.verdict(0.11, links.LINKS["200gbe"])[2] == "looks like the 1 GbE management port (0.125 GB/s)"
    assert links.verdict(5.6, links.LINKS["100gbe"]) == ("low", pytest.approx(44.8), "")  # not 0.125 GB/s
    assert links.verdict(200, links.LINKS["nvlink4"])[2] == ""  # not PCIe gen5's 63 GB/s
    assert links.verdict(0.52, links.LINKS["200gbe-x2"])[2] == ""  # 4x the management port: not it

def test_a_spark_pair_on_the_management_port_says_so():
    link, why = links.choose("auto", 2, 2, "cuda", ["NVIDIA GB10", "NVIDIA GB10"])
    assert link.key == "200gbe-x2" and "GB10" in why
    verdict, percent, words = links.verdict(0.11, link)
    assert verdict == "low" and percent < 1 and words == "looks like the 1 GbE management port (0.125 GB/s)"
    assert links.verdict(11.0, link)[2] == "looks like 100 GbE (12.5 GB/s)"
    assert links.verdict(45.0, link)[0] == "normal"
    assert links.verdict(45.0, None) == ("no expectation", None, "")


def test_the_link_is_chosen_or_inferred():
    assert links.choose("nvlink4", 8, 1, "cuda", [])[0].gbps == 450
    assert links.choose("auto", 1, 1, "cpu", [])[0] is None
    assert links.choose("auto", 3, 1, "cpu", [])[0].key == "shm"
    assert links.choose("auto", 2, 1, "cuda", ["H100", "H100"])[0] is None  # NVLink or PCIe: not guessed
    with pytest.raises(SmbenchError, match="one of auto"):
        links.choose("infiniband", 2, 2, "cuda", [])


# ---------------------------------------------------------------- the rank layer

@pytest.mark.parametrize("env, want", [
    ({}, ("single process", 0, 1, 0)),
    ({"PMI_RANK": "2", "PMI_SIZE": "3", "MPI_LOCALRANKID": "0"}, ("mpiexec (PMI)", 2, 3, 0)),
    ({"OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_LOCAL_RANK": "1"},
     ("Open MPI", 1, 4, 1)),
    ({"SLURM_PROCID": "5", "SLURM_NTASKS": "8", "SLURM_LOCALID": "1", "SLURM_STEP_ID": "0"}, ("Slurm srun", 5, 8, 1)),
    ({"SLURM_PROCID": "0", "SLURM_NTASKS": "8"}, ("single process", 0, 1, 0)),  # a batch script's shell, no srun
])
def test_the_launch_is_read_from_the_environment(env, want):
    launch = ranks.detect(env)
    assert (launch.launcher, launch.rank, launch.size, launch.local_rank) == want


def test_a_nonsense_launch_is_one_line():
    with pytest.raises(SmbenchError, match="rank 3 of 2"):
        ranks.detect({"PMI_RANK": "3", "PMI_SIZE": "2"})


class _TwoRanks(ranks.World):
    """Rank 0 of two, rank 1's answers changed by `theirs` (what -> function of rank 0's value)."""

    def __init__(self, theirs=None):
        super().__init__(ranks.Launch("test", 0, 2, 0))
        self.theirs = theirs or {}

    def allgather(self, value, what):
        return [value, self.theirs.get(what, lambda v: v)(value)]


def test_ranks_that_disagree_on_the_version_stop():
    mine = ranks.fingerprint("quick", {"collectives": {"dtypes": ["f32"]}})
    _TwoRanks().agree("the suite", mine)  # the same: no error
    with pytest.raises(SmbenchError) as error:
        _TwoRanks({"the suite": lambda ours: {**ours, "smbench": "0.0.9"}}).agree("the suite", mine)
    assert "rank 1 has smbench \"0.0.9\" where rank 0 has" in str(error.value) and "\n" not in str(error.value)
    assert ranks.fingerprint("quick", {"a": 1}) != ranks.fingerprint("quick", {"a": 2})


def _no_mpi_library():
    """mpi4py 4 without an MPI library to load (a Mac without mpich or Open MPI)."""
    import types

    module = types.ModuleType("mpi4py")

    def missing(name):
        raise RuntimeError("cannot load MPI library")

    module.__getattr__ = missing
    return module


# (what stands in for mpi4py, what the one line must say)
NO_MPI = [(None, "needs mpi4py"), (_no_mpi_library(), "needs an MPI library (cannot load MPI library)")]


@pytest.mark.parametrize("mpi4py, says", NO_MPI)
def test_a_multi_rank_launch_without_mpi4py_says_how_to_install(monkeypatch, mpi4py, says):
    monkeypatch.setitem(sys.modules, "mpi4py", mpi4py)
    code, out, err = run_cli_here("run", "--backend", "cpu", "--only", "collectives",
                                  env={"PMI_RANK": "0", "PMI_SIZE": "2"})
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and says in err and "install" in err


# ---------------------------------------------------------------- world size 1, in this process

TINY = ["--suite", "quick", "--set", "collectives.smallest_bytes=256", "--set", "collectives.cpu_largest_kib=1",
        "--set", "collectives.size_step=4", "--set", "timing.min_samples=3", "--set", "timing.max_samples=5",
        "--set", "timing.warmup=1"]


def _records(out_dir: Path) -> dict:
    (path,) = out_dir.glob("*.json")
    return json.loads(path.read_text())


def test_world_size_one_runs_without_a_launcher(tmp_path):
    code, out, err = run_cli_here("run", "--backend", "cpu", "--only", "collectives", *TINY, "--out",
                                  str(tmp_path / "r"))
    assert code == 0, err
    document = _records(tmp_path / "r")
    assert document["world"]["size"] == 1 and document["world"]["launcher"] == "single process"
    ok = [r for r in document["records"] if r["status"] == "ok"]
    assert len(ok) == len(document["records"]) == 11 * 2  # 7 collectives, their placements (MPI: no
    # out-of-place broadcast), 256 B and 1 KiB
    assert {r["ranks"] for r in ok} == {1}
    for r in ok:
        assert r["validation"]["ok"] and r["engine"] == "MPI" and len(r["rank_time_s"]) == 1
        factor = {"all_reduce": 0, "all_gather": 0, "reduce_scatter": 0, "alltoall": 0}.get(r["benchmark"], 1)
        assert r["busbw_gbps"]["median"] == pytest.approx(factor * r["bytes"] / r["time_s"]["median"] / 1e9)
        # At one rank busbw is 0 by definition for most collectives: compare, export and rerun
        # judge algbw there (the figure names itself).
        assert r["figure_gbps"] == r["algbw_gbps"] and r["figure"].startswith("algbw")
    assert "collectives (MPI, 1 rank)" in out and "MPI has no broadcast" in json.dumps(document["notes"])
    from smbench import cli

    path = str(next((tmp_path / "r").glob("*.json")))
    assert cli.main(["plot", path, "--out", str(tmp_path / "p")]) == 0
    assert (tmp_path / "p" / "collectives_busbw_vs_size.png").stat().st_size > 10_000
    code, out, err = run_cli_here("compare", path, path, "--format", "csv")
    assert code == 0 and "all_reduce f32 out of place 1 KiB" in out
    import csv
    import io

    rows = [row for row in csv.DictReader(io.StringIO(out)) if row["key"] == "all_reduce f32 out of place 1 KiB"]
    assert rows and all(float(row["value"]) > 0 for row in rows)  # algbw, not the 0 of a one-rank busbw
    code, out, err = run_cli_here("rerun", path, "--out", str(tmp_path / "again"))
    assert code == 0, err
    assert "same kernels" in out and "not in the new run" not in out


@pytest.mark.parametrize("mpi4py, says", NO_MPI)
def test_world_size_one_without_mpi4py_is_skipped_with_the_hint(tmp_path, monkeypatch, mpi4py, says):
    monkeypatch.setitem(sys.modules, "mpi4py", mpi4py)
    monkeypatch.setattr(cpu, "_ENGINE", None)
    code, out, err = run_cli_here("run", "--backend", "cpu", "--only", "collectives", *TINY, "--set",
                                  "collectives.collectives=[\"all_reduce\"]", "--out", str(tmp_path / "r"))
    assert code == 0, err
    records = _records(tmp_path / "r")["records"]
    assert records and {r["status"] for r in records} == {"skipped"}
    assert says in records[0]["reason"] and ("pip install 'smbench[collectives]'" in records[0]["reason"]
                                             or "brew install open-mpi" in records[0]["reason"])


# ---------------------------------------------------------------- real mpiexec jobs on the CPU path

def _mpiexec() -> str | None:
    beside = Path(sys.executable).parent / "mpiexec"
    return str(beside) if beside.exists() else shutil.which("mpiexec")


def _job_command(ranks_: int, out_dir: Path, extra, fault: str) -> tuple[list[str], dict]:
    mpiexec = _mpiexec()
    if mpiexec is None:
        pytest.skip("no mpiexec here (pip install 'smbench[collectives]' puts one beside python)")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + str(ROOT / "tests"),
           "SMBENCH_TEST_FAULT": fault}
    for name in [k for k in env if k.startswith(("PMI_", "OMPI_", "SLURM_")) or k == "COLUMNS"]:
        del env[name]
    command = [mpiexec, "-n", str(ranks_), sys.executable, str(ROOT / "tests" / "collectives_rank.py"), "run",
               "--backend", "cpu", "--only", "collectives", *TINY, *extra, "--out", str(out_dir)]
    return command, env


def _job(ranks_: int, out_dir: Path, *extra: str, fault: str = "", timeout: float = 60):
    """`mpiexec -n N python tests/collectives_rank.py run ...`: (exit status, stdout, stderr, seconds)."""
    import time

    command, env = _job_command(ranks_, out_dir, extra, fault)
    start = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)
    return done.returncode, done.stdout, done.stderr, time.monotonic() - start


@pytest.mark.cli
@pytest.mark.parametrize("n, dtype", [(2, "bf16"), (3, "f16")])
def test_mpiexec_ranks_run_the_collectives_and_rank_zero_writes_one_file(tmp_path, n, dtype):
    code, out, err, _ = _job(n, tmp_path / "r", "--set", f"collectives.dtypes=[\"{dtype}\"]", "--set",
                             "collectives.smallest_bytes=1024")
    assert code == 0, err
    assert len(list((tmp_path / "r").glob("*.json"))) == 1
    document = _records(tmp_path / "r")
    assert document["status"] == "complete" and document["world"]["size"] == n
    assert [r["rank"] for r in document["world"]["ranks"]] == list(range(n))
    assert document["world"]["mpi_library"].startswith("MPICH")
    records = document["records"]
    assert len(records) == 11 and {r["status"] for r in records} == {"ok"}
    for r in records:
        assert r["ranks"] == n and len(r["rank_time_s"]) == n and r["validation"]["checked"] > 0
        # each timed sample is the slowest rank's
        per_rank = [x["samples"] for x in r["rank_time_s"]]
        slowest = [max(samples[i] for samples in per_rank) for i in range(len(per_rank[0]))]
        assert r["time_s"]["samples"] == pytest.approx(slowest[-len(r["time_s"]["samples"]):])
    assert f"collectives (MPI, {n} ranks)" in out
    assert "Held to: shared memory within one host" in " ".join(out.split())
    assert max(len(line) for line in out.splitlines()) <= 80  # rank 0's stdout is a pipe: 80 columns
    assert err.count("smbench run: suite") == 1  # progress from rank 0 only


@pytest.mark.cli
def test_ranks_with_other_settings_stop_with_one_line_each(tmp_path):
    code, out, err, _ = _job(2, tmp_path / "r", fault="1:0:other-settings")
    assert code != 0
    lines = [line for line in err.splitlines() if "do not agree" in line]
    assert len(lines) == 2 and any("rank 1:" in line for line in lines)
    assert not list((tmp_path / "r").glob("*.json"))


@pytest.mark.cli
def test_a_rank_that_hangs_ends_the_job_within_the_timeout(tmp_path):
    code, out, err, seconds = _job(3, tmp_path / "r", "--set", "collectives.timeout_s=2", fault="1:14:hang")
    assert code == 3 and seconds < 20
    # The launcher merges every rank's stderr: the line is looked for anywhere in a line.
    lines = [line for line in err.splitlines() if "smbench run: error:" in line]
    assert len(lines) == 1 and "did not complete within 2 s" in lines[0] and "finished cases kept in" in lines[0], \
        err[-2000:]
    document = _records(tmp_path / "r")
    assert document["status"] == "interrupted" and [r["status"] for r in document["records"]] == ["ok"]


@pytest.mark.cli
def test_a_rank_that_dies_ends_the_job_and_the_file_keeps_what_finished(tmp_path):
    """mpiexec (hydra) ends every rank at once when one dies: the file holds the cases before."""
    code, out, err, seconds = _job(3, tmp_path / "r", "--set", "collectives.timeout_s=2", fault="2:14:die")
    assert code != 0 and seconds < 20
    document = _records(tmp_path / "r")
    assert document["status"] in ("running", "interrupted")
    assert [r["status"] for r in document["records"]] == ["ok"]


@pytest.mark.cli
def test_ctrl_c_under_mpiexec_finishes_the_file_as_interrupted_and_says_so(tmp_path):
    """Ctrl-C reaches every rank (the terminal's process group): rank 0 must finish the file
    before another rank ends the job. Rank 1 hangs in the second case, so the job is still
    running, with one case kept, when the signal comes."""
    import signal
    import time

    command, env = _job_command(2, tmp_path / "r", ["--set", "collectives.timeout_s=60"], "1:14:hang")
    job = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(
                '"status": "ok"' in p.read_text() for p in (tmp_path / "r").glob("*.json")):
            time.sleep(0.1)
        time.sleep(0.5)  # into the hang
        os.killpg(job.pid, signal.SIGINT)
        out, err = job.communicate(timeout=20)
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
    document = _records(tmp_path / "r")
    assert document["status"] == "interrupted" and [r["status"] for r in document["records"]] == ["ok"], err
    assert "smbench run: interrupted; 1 finished cases kept in" in err and job.returncode != 0
    assert "interrupted on rank" not in err


# ---------------------------------------------------------------- the NCCL calls, against a stand-in

class _Recorder:
    """Stands in for CuPy's NcclCommunicator and the nccl module: records each call."""

    NCCL_SUM = "sum"

    def __init__(self):
        self.calls = []

    def __getattr__(self, name):
        return lambda *args: self.calls.append((name, *args))


def _nccl_calls(collective, placement, rank=1, n=3, count=12):
    from types import SimpleNamespace

    from smbench.families.collectives import cuda

    recorder = _Recorder()
    engine = SimpleNamespace(comm=recorder, nccl=recorder, world=SimpleNamespace(rank=rank, size=n),
                             stream=SimpleNamespace(ptr=7), types={"f32": "F32"},
                             cupy=SimpleNamespace(cuda=SimpleNamespace(Device=lambda: SimpleNamespace(
                                 synchronize=lambda: None))))
    buffer = lambda ptr: SimpleNamespace(data=SimpleNamespace(ptr=ptr), dtype=np.dtype("float32"))  # noqa: E731
    call = cuda.NcclCall(engine, collective, "f32", placement, buffer(1000),
                         None if placement == "in_place" else buffer(5000), count)
    call.issue()
    return recorder.calls


def test_the_nccl_calls_follow_nccls_layout():
    """CuPy's argument order, NCCL's in-place layout (a rank's chunk at rank x chunk), and
    alltoall and send/recv as grouped point-to-point calls, as nccl-tests makes them."""
    chunk = 4 * 4  # 12 f32 over 3 ranks: 4 elements each
    assert _nccl_calls("all_reduce", "out_of_place") == [("allReduce", 1000, 5000, 12, "F32", "sum", 7)]
    assert _nccl_calls("all_reduce", "in_place") == [("allReduce", 1000, 1000, 12, "F32", "sum", 7)]
    assert _nccl_calls("all_gather", "in_place") == [("allGather", 1000 + chunk, 1000, 4, "F32", 7)]
    assert _nccl_calls("reduce_scatter", "out_of_place") == [("reduceScatter", 1000, 5000, 4, "F32", "sum", 7)]
    assert _nccl_calls("reduce_scatter", "in_place") == [("reduceScatter", 1000, 1000 + chunk, 4, "F32", "sum", 7)]
    assert _nccl_calls("broadcast", "in_place") == [("broadcast", 1000, 1000, 12, "F32", 0, 7)]
    assert _nccl_calls("reduce", "out_of_place") == [("reduce", 1000, 5000, 12, "F32", "sum", 0, 7)]
    assert _nccl_calls("alltoall", "out_of_place") == [
        ("groupStart",), *[c for p in range(3) for c in (("send", 1000 + p * chunk, 4, "F32", p, 7),
                                                          ("recv", 5000 + p * chunk, 4, "F32", p, 7))], ("groupEnd",)]
    assert _nccl_calls("sendrecv", "out_of_place") == [
        ("groupStart",), ("send", 1000, 12, "F32", 2, 7), ("recv", 5000, 12, "F32", 0, 7), ("groupEnd",)]


def test_nccl_version_and_interface_lines(tmp_path):
    from smbench.families.collectives import cuda

    assert cuda.version_text(23203) == "2.32.3" and cuda.version_text(22705) == "2.27.5"
    (tmp_path / "nccl.spark1.123").write_text(
        "spark1:123:123 [0] NCCL INFO NET/IB : Using [0]rocep1s0f0:1/RoCE [1]roceP2p1s0f1:1/RoCE\n"
        "spark1:123:123 [0] NCCL INFO Bootstrap : Using enP7s7:192.168.1.2<0>\n")
    assert cuda.chosen_interface(str(tmp_path)) == ["NET/IB : Using [0]rocep1s0f0:1/RoCE [1]roceP2p1s0f1:1/RoCE"]


# ---------------------------------------------------------------- one case over two ranks, against stand-ins

class _PairWorld:
    """Rank 0 of two; rank 1 answers like rank 0 but takes twice as long (or fails a step)."""

    size, rank, is_root, timeout_s = 2, 0, True, 30.0

    def __init__(self, failing_step: str = ""):
        self.failing_step = failing_step

    def barrier(self, what):
        pass

    def allgather(self, value, what):
        if what == "a sample's times":
            if self.failing_step == what:
                return [value, (None, value[1], "CUDARuntimeError: an illegal memory access")]
            return [value, (value[0] * 2, *value[1:])]
        if what == self.failing_step:
            return [value, "MemoryError: out of memory"]
        return [value, value]


class _NumpyEngine:
    """An engine whose collective 'completes' at once with the exact output (1 ms per call)."""

    name, library, xp, timing = "stand-in", "none", np, "fake"

    def prepare(self, collective, dtype, placement, send, receive, count):
        from types import SimpleNamespace

        out = co.encode(np, co.expected(np, collective, 0, 2, count), dtype)
        return SimpleNamespace(api="fake_" + collective, run=lambda reps: 1e-3 * reps, result=lambda: out)


def _pair_case(link_key="200gbe-x2", size=1 << 20):
    from smbench.cases import Case

    count = size // 4
    return Case("collectives", "all_reduce", "all_reduce f32 1 MiB",
                {"collective": "all_reduce", "dtype": "f32", "placement": "out_of_place", "bytes": size,
                 "count": count, "ranks": 2, "bus_factor": 1.0, "bus_bytes": size, "figure_bytes": size,
                 "link": links.describe(links.LINKS[link_key], "test"), "sample_ms": 1.0, "max_reps": 4,
                 "verdict_min_bytes": size})


def test_a_case_over_two_ranks_takes_the_slowest_and_judges_the_link():
    from smbench.families.collectives import measure
    from smbench.timing import TimingPolicy

    record = measure.run_case(_pair_case(), _PairWorld(), _NumpyEngine(),
                              TimingPolicy(warmup=1, min_samples=3, max_samples=5, budget_s=0.01))
    assert record["status"] == "ok", record.get("reason")
    assert record["time_s"]["median"] == pytest.approx(2e-3)  # rank 1's 2 ms per call, not rank 0's 1 ms
    assert record["busbw_gbps"]["median"] == pytest.approx((1 << 20) / 2e-3 / 1e9)  # 2(n-1)/n = 1 for n = 2
    assert record["verdict"] == "low" and record["looks_like"] == ""  # 0.52 GB/s: no link of the table
    assert [r["median"] for r in record["rank_time_s"]] == pytest.approx([1e-3, 2e-3])


def test_a_step_that_fails_on_one_rank_fails_the_case_on_every_rank():
    from smbench.families.collectives import measure
    from smbench.timing import TimingPolicy

    record = measure.run_case(_pair_case(), _PairWorld("setting up the buffers"), _NumpyEngine(), TimingPolicy())
    assert record["status"] == "failed"
    assert record["reason"] == "setting up the buffers failed on rank 1: MemoryError: out of memory"


# ---------------------------------------------------------------- the plan over two ranks, against stand-ins

def _gpu_plan(monkeypatch, world, free=16 * co.GIB):
    from types import SimpleNamespace

    from smbench.families.collectives import family

    monkeypatch.setattr(ranks, "world", lambda: world)
    runner = SimpleNamespace(name="cuda", info={"free_bytes": free, "name": "NVIDIA H200"},
                             part=lambda name: SimpleNamespace(ENGINE="NCCL", unsupported=lambda *a: ""))
    from pathlib import Path

    from smbench.suites import Suite

    suite = Suite("test", Path("test.toml"), "", {"collectives": {"collectives": ["all_reduce"], "dtypes": ["f32"],
                                                                  "placements": ["in_place"],
                                                                  "smallest_bytes": 1 << 20}})
    return family.plan(suite, runner)


def test_the_gpu_sweep_is_capped_by_the_rank_with_the_least_free_memory(monkeypatch):
    part = _gpu_plan(monkeypatch, _TwoRanks({"the free GPU memory": lambda free: free // 4}))
    assert part.cases[-1].params["bytes"] == 4 * co.GIB // 16  # rank 1's 4 GiB, not rank 0's 16
    assert "rank 1's, the least" in part.notes["collectives_sweep_cap"]


def test_ranks_that_plan_different_sweeps_stop_with_one_line(monkeypatch):
    world = _TwoRanks({"the collectives plan": lambda mine: {**mine, "cases": mine["cases"] - 1}})
    with pytest.raises(SmbenchError, match="do not agree on the collectives plan: rank 1 has cases"):
        _gpu_plan(monkeypatch, world)


def test_a_sample_that_fails_on_one_rank_fails_the_case_on_every_rank_with_its_reason():
    from smbench.families.collectives import measure
    from smbench.timing import TimingPolicy

    record = measure.run_case(_pair_case(), _PairWorld("a sample's times"), _NumpyEngine(), TimingPolicy())
    assert record["status"] == "failed"
    assert record["reason"] == "a timed sample failed on rank 1: CUDARuntimeError: an illegal memory access"


def test_an_engine_that_fails_to_start_on_one_rank_is_named_on_every_rank(monkeypatch):
    from types import SimpleNamespace

    from smbench.families.collectives import family

    monkeypatch.setattr(ranks, "world", lambda: _PairWorld("starting NCCL"))
    runner = SimpleNamespace(part=lambda name: SimpleNamespace(ENGINE="NCCL", engine=lambda world, r: _NumpyEngine()))
    record = family.run(_pair_case(), runner, None)
    assert record["status"] == "failed"
    assert record["reason"] == "starting NCCL failed on rank 1: MemoryError: out of memory"


def test_an_nccl_init_that_never_completes_ends_within_the_timeout():
    import threading
    import time
    from types import SimpleNamespace

    from smbench.families.collectives import cuda

    never = threading.Event()
    nccl = SimpleNamespace(NcclCommunicator=lambda size, uid, rank: never.wait())  # a rank that never joins
    start = time.monotonic()
    with pytest.raises(ranks.RankLost, match="ncclCommInitRank did not complete within 0.2 s on rank 0"):
        cuda._communicator(nccl, SimpleNamespace(size=2, rank=0, timeout_s=0.2), b"id")
    assert time.monotonic() - start < 2
    never.set()


def test_the_summary_fits_the_terminal_of_whoever_watches_a_launch():
    """Under mpiexec rank 0's stdout is a pipe even at a terminal: 80 columns, or COLUMNS."""
    from smbench import cli

    assert cli._table_width(False, 2, {}) == 80
    assert cli._table_width(False, 3, {"COLUMNS": "120"}) == 120
    assert cli._table_width(False, 1, {"COLUMNS": "120"}) == 160  # one process piped: a file, as before


def test_cupy_without_nccl_is_a_skipped_row_with_the_hint(monkeypatch):
    """Every call would fail with an AttributeError: one skipped row per case says why."""
    import types

    from smbench import cases
    from smbench.families.collectives import cuda, family

    monkeypatch.setattr(cuda, "_ENGINE", None)
    monkeypatch.setitem(sys.modules, "cupy.cuda.nccl", types.SimpleNamespace(available=False))
    monkeypatch.setitem(sys.modules, "cupy.cuda", types.SimpleNamespace(nccl=sys.modules["cupy.cuda.nccl"]))
    runner = types.SimpleNamespace(name="cuda", part=lambda name: cuda, backend=types.SimpleNamespace(_cupy=lambda: None))
    case = _pair_case()
    case.params["ranks"] = 1
    with pytest.raises(cases.Skip, match="no NCCL library.*smbench\\[collectives\\]"):
        family.run(case, runner, None)  # smbench.run.run_case makes the Skip a skipped row


@pytest.mark.parametrize("collective", sorted(co.COLLECTIVES))
def test_the_output_is_checked_piece_by_piece_as_a_whole(collective):
    """A 1 GiB int8 buffer is checked in pieces (memory a few times a piece, not the buffer):
    the pieces' expected values are the whole one's, and a wrong element is found at its
    place in the whole output."""
    n, count = 3, 3 * 1000
    for rank in range(n):
        whole = co.expected(np, collective, rank, n, count)
        if whole is None:
            assert co.check_output(np, collective, rank, n, count, np.zeros(count, np.int8), "int8") is None
            continue
        pieces = [co.expected(np, collective, rank, n, count, start, min(len(whole), start + 7))
                  for start in range(0, len(whole), 7)]
        assert np.array_equal(np.concatenate(pieces), whole)
        stored = co.encode(np, whole, "int8")
        assert co.check_output(np, collective, rank, n, count, stored, "int8", piece=7) == \
            {"ok": True, "checked": len(whole), "wrong": 0}
        stored[len(whole) - 2] += 1
        found = co.check_output(np, collective, rank, n, count, stored, "int8", piece=7)
        assert not found["ok"] and found["wrong"] == 1 and found["first"] == len(whole) - 2
