"""A kernel fault must not poison the run: the case that faulted is a failed row, the cases
after it run in fresh worker processes, and memory the CPU owns runs after device memory."""

from __future__ import annotations

import sys
import types

import pytest

from smbench import results, run, suites, worker
from smbench.cases import base_record
from smbench.results import ResultWriter

from test_run import TINY, FakeCudaRunner

STICKY = "CUDARuntimeError: cudaErrorIllegalAddress: an illegal memory access was encountered"


class PoisonedRunner(run.CpuRunner):
    """The CPU path, with a context that a 'fault' case destroys for good: every later case
    in this process would fail, as a CUDA process's does after an illegal address."""

    def __init__(self):
        super().__init__()
        self.lost = ""

    def context_lost(self) -> str:
        return self.lost

    def part(self, family):
        real = super().part(family)
        if family != "stream":
            return real

        def run_case(*args, **kwargs):
            if self.lost:
                raise RuntimeError(STICKY)
            return real.run_case(*args, **kwargs)
        return types.SimpleNamespace(run_case=run_case, plan_cases=real.plan_cases)


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    return suites.load(str(path))


def _fault(case, runner, policy):
    runner.lost = STICKY
    raise RuntimeError(STICKY)


def _run(tiny, tmp_path, monkeypatch):
    monkeypatch.setitem(run.RUNNERS, "fault", _fault)
    runner = PoisonedRunner()
    run.prepare_runner(runner, tiny)
    cases, _ = run.plan(tiny, runner, {"stream"})
    cases = cases[:2] + [run.Case("fault", "fault", "a kernel that faults on purpose", {})] + cases[2:5]
    writer = ResultWriter(tmp_path / "run.json", run.header(tiny, runner, {}))
    seen = []
    run.run_cases(tiny, runner, cases, tiny.timing("cpu"), writer, lambda case, n, total: seen.append(n))
    writer.finish("complete")
    return cases, results.load(writer.path), seen


def test_the_cases_after_a_lost_context_run_in_a_fresh_process(tiny, tmp_path, monkeypatch):
    cases, document, seen = _run(tiny, tmp_path, monkeypatch)
    records = document["records"]
    assert [r["benchmark"] for r in records] == [c.benchmark for c in cases]
    statuses = [r["status"] for r in records]
    assert statuses == ["ok", "ok", "failed", "ok", "ok", "ok"], [r.get("reason") for r in records]
    assert "illegal memory access" in records[2]["reason"] and "context was lost" in records[2]["reason"]
    # The poisoned runner raises for any case after the fault: these ran elsewhere.
    assert all(r["validation"]["ok"] for r in records[3:])
    assert "fresh processes" in document["notes"]["context_lost"]
    assert seen == list(range(len(cases)))  # progress kept counting through the workers


def test_a_fault_inside_a_case_that_keeps_its_row_is_caught_too(tiny, tmp_path, monkeypatch):
    """cuBLAS or a fallback build may fault inside a case whose own figure stands: the context
    is asked after every case, not only after failed ones."""
    def quiet_fault(case, runner, policy):
        runner.lost = STICKY
        return {**base_record(case), "status": "ok", "validation": {"ok": True}}

    monkeypatch.setattr(sys.modules[__name__], "_fault", quiet_fault)
    _, document, _ = _run(tiny, tmp_path, monkeypatch)
    records = document["records"]
    assert [r["status"] for r in records] == ["ok", "ok", "failed", "ok", "ok", "ok"]
    assert "context was lost" in records[2]["reason"]


def test_a_worker_that_dies_in_a_case_fails_that_case_and_the_rest_still_run(tiny, tmp_path, monkeypatch):
    marker = tmp_path / "died-once"
    dying = tmp_path / "dying_worker.py"
    # The first worker starts its first case and dies (a segfault, say); later ones are real.
    dying.write_text(
        "import json, os, sys, runpy\n"
        f"marker = {str(marker)!r}\n"
        "if not os.path.exists(marker):\n"
        "    open(marker, 'w').close()\n"
        "    sys.stdin.read()\n"
        "    print(json.dumps({'start': 0}), flush=True)\n"
        "    os._exit(139)\n"
        "runpy.run_module('smbench.worker', run_name='__main__')\n")
    monkeypatch.setattr(worker, "command", lambda: [sys.executable, str(dying)])
    cases, document, _ = _run(tiny, tmp_path, monkeypatch)
    records = document["records"]
    assert [r["status"] for r in records] == ["ok", "ok", "failed", "failed", "ok", "ok"]
    assert "died while running this case (exit code 139)" in records[3]["reason"]
    assert records[3]["benchmark"] == cases[3].benchmark


def test_a_worker_that_cannot_start_leaves_rows_that_say_how_to_run_them(tiny, tmp_path, monkeypatch):
    monkeypatch.setattr(worker, "command", lambda: [sys.executable, "-c", "import sys; sys.exit(1)"])
    _, document, _ = _run(tiny, tmp_path, monkeypatch)
    rest = document["records"][3:]
    assert rest and all(r["status"] == "skipped" and r["reason"].startswith("not run:") for r in rest)
    assert all("smbench run --only stream" in r["reason"] for r in rest)


def test_host_memory_kinds_run_after_every_device_case():
    import device_data

    cases, _ = run.plan(suites.load("quick"), FakeCudaRunner(device_data.GB10, 100 << 30),
                        {"stream", "transfer", "launch"})
    host = [i for i, c in enumerate(cases) if c.family == "stream" and c.params["memory"] != "device"]
    assert host and host == list(range(len(cases) - len(host), len(cases)))


class ExclusiveRunner(PoisonedRunner):
    """A CUDA run on a GPU in EXCLUSIVE_PROCESS compute mode: its backend can destroy this
    process's context (release_context), and says the mode."""

    name = "cuda"

    def __init__(self, released: str, mode: str = "exclusive-process"):
        super().__init__()
        self.calls = []
        self.backend = types.SimpleNamespace(
            release_context=lambda: self.calls.append("release") or released, compute_mode=lambda: mode)

    def part(self, family):
        return run.CpuRunner.part(self, family) if family != "stream" else super().part(family)


def test_the_run_releases_its_context_before_workers_start(tiny, tmp_path, monkeypatch):
    """EXCLUSIVE_PROCESS: a worker cannot open the GPU while the run holds its (broken) context,
    so the run destroys it first; here the worker then runs the rest."""
    monkeypatch.setitem(run.RUNNERS, "fault", _fault)
    runner = ExclusiveRunner("this process's CUDA context was destroyed (cuDevicePrimaryCtxReset)")
    spawned = []

    def command():
        spawned.append(list(runner.calls))  # what had happened when a worker was started
        return [sys.executable, "-c", "import sys; sys.stdin.read(); sys.exit(0)"]

    monkeypatch.setattr(worker, "command", command)
    run.prepare_runner(runner, tiny)
    cases, _ = run.plan(tiny, runner, {"stream"})
    cases = cases[:1] + [run.Case("fault", "fault", "a kernel that faults on purpose", {})] + cases[1:3]
    writer = ResultWriter(tmp_path / "run.json", run.header(tiny, runner, {}))
    run.run_cases(tiny, runner, cases, tiny.timing("cpu"), writer)
    assert runner.calls == ["release"] and spawned and all(seen == ["release"] for seen in spawned)
    # In the default compute mode the context is left alone: workers open the GPU beside it.
    default = ExclusiveRunner("destroyed", mode="default")
    run.prepare_runner(default, tiny)
    run.run_cases(tiny, default, cases, tiny.timing("cpu"), ResultWriter(tmp_path / "run2.json",
                                                                         run.header(tiny, default, {})))
    assert default.calls == []


def test_a_gpu_no_fresh_process_can_open_says_why_once(tiny, tmp_path, monkeypatch):
    """Planted: the context could not be destroyed, and the worker finds the GPU busy (the
    driver's error in EXCLUSIVE_PROCESS mode). Every case left says so, after one worker, not 8."""
    monkeypatch.setitem(run.RUNNERS, "fault", _fault)
    starts = tmp_path / "starts"
    busy = ("import json, sys\n"
            f"open({str(starts)!r}, 'a').write('x')\n"
            "sys.stdin.read()\n"
            "print(json.dumps({'unusable': 'CUDARuntimeError: cudaErrorDevicesUnavailable: CUDA-capable device(s) "
            "is/are busy or unavailable'}), flush=True)\n"
            "sys.exit(4)\n")
    monkeypatch.setattr(worker, "command", lambda: [sys.executable, "-c", busy])
    runner = ExclusiveRunner("this process's CUDA context could not be destroyed (CUDA_ERROR_ILLEGAL_ADDRESS)")
    run.prepare_runner(runner, tiny)
    cases, _ = run.plan(tiny, runner, {"stream"})
    cases = cases[:1] + [run.Case("fault", "fault", "a kernel that faults on purpose", {})] + cases[1:4]
    writer = ResultWriter(tmp_path / "run.json", run.header(tiny, runner, {}))
    run.run_cases(tiny, runner, cases, tiny.timing("cpu"), writer)
    rest = writer.document["records"][2:]
    assert len(rest) == 3 and starts.read_text() == "x"
    for record in rest:
        assert record["status"] == "skipped" and record["reason"].startswith("not run: a fresh process could not "
                                                                             "open the GPU (CUDARuntimeError")
        assert "EXCLUSIVE_PROCESS compute mode" in record["reason"] and "could not be destroyed" in record["reason"]


def test_a_worker_that_cannot_open_its_backend_says_so_in_one_event(monkeypatch, capsys):
    import io
    import json

    monkeypatch.setattr(run, "make_runner", lambda name, suite: (_ for _ in ()).throw(
        RuntimeError("cudaErrorDevicesUnavailable: busy")))
    job = {"suite": {"name": "t", "path": "t.toml", "description": "", "data": {}}, "backend": "cuda", "cases": []}
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(job)))
    assert worker.main() == worker.UNUSABLE_EXIT
    assert json.loads(capsys.readouterr().out) == {"unusable": "RuntimeError: cudaErrorDevicesUnavailable: busy"}
