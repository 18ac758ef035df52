"""The rest of a run in a fresh process, after a case left the CUDA context unusable.

An illegal address (or any other sticky CUDA error) poisons the process's context: every
later CUDA call fails with the same error, so one faulting kernel would turn every case
after it into a failed row. When that happens the run hands its remaining cases to a
worker: `python -m smbench.worker`, which reads a JSON job on stdin (the suite, the
backend, the cases, what the run measured so far) and writes one JSON line per event on
stdout ({"start": i}, {"record": i, "data": ...}, {"lost": i, "why": ...}). A worker whose
own context is lost stops after that case's record, and the run starts another for the
cases after it; a worker that dies in a case makes that case a failed row. At most
MAX_WORKERS are started; cases still left then are rows that say they were not run and
how to run them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Callable

from smbench.cases import base_record
from smbench.results import _jsonable

MAX_WORKERS = 8
LOST_EXIT = 3  # a worker's exit code after its context was lost
UNUSABLE_EXIT = 4  # a worker's exit code when it could not open the GPU at all


def command() -> list[str]:
    """How to start a worker: this interpreter, this package (PYTHONPATH=src runs included)."""
    return [sys.executable, "-m", "smbench.worker"]


def _environment() -> dict:
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    paths = [package_root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(dict.fromkeys(paths))}


def job(suite, backend: str, cases: list, runner) -> dict:
    return {"suite": {"name": suite.name, "path": str(suite.path), "description": suite.description,
                      "data": suite.data},
            "backend": backend, "cases": [asdict(case) for case in cases],
            "shared": getattr(runner, "shared", {})}


def not_run(case, why: str) -> dict:
    return {**base_record(case), "status": "skipped",
            "reason": f"not run: {why}; run it again with `smbench run --only {case.family}`"}


def run_elsewhere(suite, backend: str, cases: list, runner, add: Callable[[dict], None],
                  on_case: Callable[[object, int], None] | None) -> None:
    """Run `cases` in workers, passing each record to `add` as it arrives."""
    from smbench.errors import one_line

    left = list(cases)
    released = _release(runner)
    for _ in range(MAX_WORKERS):
        if not left:
            return
        request = json.dumps(job(suite, backend, left, runner), default=_jsonable)
        try:
            process = subprocess.Popen(command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                       env=_environment())
        except OSError as exc:
            for case in left:
                add(not_run(case, f"no worker process could start ({one_line(exc)})"))
            return
        started: int | None = None
        unusable = ""
        done = 0
        try:
            process.stdin.write(request)
            process.stdin.close()
            for line in process.stdout:
                try:
                    event = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a stray print from a library: not a worker event
                if "start" in event:
                    started = event["start"]
                    if on_case:
                        on_case(left[started], started)
                elif "record" in event:
                    add(event["data"])
                    done = event["record"] + 1
                    started = None
                elif "lost" in event:
                    shared = event.get("shared")
                    if shared and hasattr(runner, "shared"):
                        runner.shared.update(shared)
                elif "unusable" in event:
                    unusable = event["unusable"]
            code = process.wait()
        except KeyboardInterrupt:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=3)  # within gpu-check's 5 s grace, so the run can still finish its file
            except subprocess.TimeoutExpired:
                process.kill()
            raise
        if unusable:  # a fresh process cannot open the GPU: another would not either
            why = f"a fresh process could not open the GPU ({unusable})"
            mode = _compute_mode(runner)
            if mode == "exclusive-process":
                why += f"; the GPU is in EXCLUSIVE_PROCESS compute mode: one process at a time; {released}"
            for case in left:
                add(not_run(case, why))
            return
        if started is not None:  # it died inside a case: that case is the culprit
            add({**base_record(left[started]), "status": "failed",
                 "reason": f"the worker process died while running this case (exit code {code})"})
            done = started + 1
        elif code not in (0, LOST_EXIT) and done < len(left):
            for case in left[done:]:
                add(not_run(case, f"the worker process failed to start (exit code {code})"))
            return
        left = left[done:]
    for case in left:
        add(not_run(case, f"the CUDA context was lost {MAX_WORKERS} times in fresh processes"))


def _backend(runner):
    return getattr(runner, "backend", None) if getattr(runner, "name", "") == "cuda" else None


def _release(runner) -> str:
    """In EXCLUSIVE_PROCESS compute mode the run's own (broken) CUDA context is destroyed before
    the workers start (backends.cuda.release_context): no other process can open the GPU while
    it exists. In the default mode it is left alone: the workers can open the GPU beside it,
    and CuPy's objects in this process then stay valid until it exits. '' where nothing was done."""
    release = getattr(_backend(runner), "release_context", None)
    return release() if release and _compute_mode(runner) == "exclusive-process" else ""


def _compute_mode(runner) -> str:
    mode = getattr(_backend(runner), "compute_mode", None)
    return mode() if mode else "unknown"


def main() -> int:
    """A worker: the job from stdin, events on stdout, exit LOST_EXIT after a lost context,
    UNUSABLE_EXIT (after an "unusable" event saying why) when it cannot open the backend."""
    from smbench import run
    from smbench.errors import one_line
    from smbench.suites import Suite

    request = json.load(sys.stdin)
    spec = request["suite"]
    out = sys.stdout

    def emit(event: dict) -> None:
        out.write(json.dumps(event, default=_jsonable) + "\n")
        out.flush()

    suite = Suite(spec["name"], Path(spec["path"]), spec["description"], spec["data"])
    try:
        runner = run.make_runner(request["backend"], suite)
    except Exception as exc:  # noqa: BLE001 - EXCLUSIVE_PROCESS held by the parent, no device left...
        emit({"unusable": one_line(exc)})
        return UNUSABLE_EXIT
    runner.shared.update(request.get("shared", {}))
    run.prepare_runner(runner, suite)
    policy = suite.timing(runner.name)

    # Libraries that print would corrupt the event stream: their output goes to stderr.
    sys.stdout = sys.stderr
    for number, fields in enumerate(request["cases"]):
        case = run.Case(**fields)
        emit({"start": number})
        record, lost = run.run_checked(case, runner, policy)
        emit({"record": number, "data": record})
        if lost:
            emit({"lost": number, "why": lost, "shared": runner.shared})
            return LOST_EXIT
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
