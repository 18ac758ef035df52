"""`make gpu-check`: everything a short loan of a GPU machine should bring back, in one call.

Steps, each a child process under its own time limit: doctor, selftest, the GPU tests,
then the quick suite on the GPU with every family. A step past its limit gets SIGINT
(the run and the selftest then finish their result file as "interrupted", pytest writes
its report), then SIGKILL if it does not stop. At most MAX_FILES files land in the output
directory: a log per step, the two result files, the tests' JUnit XML and summary.txt,
which is also printed last.

On a machine with only its own Python: PYTHONPATH=src python3 -m smbench.gpu_check --out DIR
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

MAX_FILES = 8
GRACE_S = 10  # after SIGINT, time to write what finished before SIGKILL


@dataclass(frozen=True)
class Step:
    name: str
    argv: tuple[str, ...]  # after the interpreter
    limit_s: int
    log: str
    env: tuple[tuple[str, str], ...] = ()


ROOT = Path(__file__).resolve().parent.parent.parent
# The GPU tests that prove the first-contact fixes run first (device-bound timing, telemetry,
# a fault that must not end the run), so that a step cut at its limit has them; then the rest.
FIRST_GPU_TESTS = ("test_gpu_stream.py", "test_gpu_fault.py", "test_gpu.py")


def gpu_test_files(root: Path = ROOT) -> list[str]:
    """Every tests/test_gpu*.py, those in FIRST_GPU_TESTS first (a new family's join the rest)."""
    found = sorted(p.name for p in (root / "tests").glob("test_gpu*.py"))
    ordered = [name for name in FIRST_GPU_TESTS if name in found] + [n for n in found if n not in FIRST_GPU_TESTS]
    return [f"tests/{name}" for name in ordered]


def steps(out: Path) -> list[Step]:
    """The plan: 15 + 60 + 130 + 170 s of limits, plus 10 s of grace each: 7 minutes at most.
    The GPU tests leave out those that run `smbench run` in a child process (marked cli): the
    selftest and the quick run here cover that path. The quick run comes last: 330 cases on
    an H200, 48 of them GEMMs, latency and then the collectives last (estimated 3-4 minutes; what
    finishes in its limit is kept)."""
    return [
        Step("doctor", ("-m", "smbench", "doctor"), 15, "doctor.log"),
        Step("selftest", ("-m", "smbench", "selftest", "--out", str(out)), 60, "selftest.log"),
        Step("gpu tests", ("-m", "pytest", "-q", "-m", "gpu and not cli", "-p", "no:cacheprovider",
                           f"--junitxml={out / 'gpu-tests.xml'}", *gpu_test_files()), 130, "gpu-tests.log",
             (("SMBENCH_REQUIRE_GPU", "1"),)),
        Step("quick run", ("-m", "smbench", "run", "--suite", "quick", "--backend", "cuda", "--out", str(out)),
             170, "run.log"),
    ]


@dataclass
class Outcome:
    step: Step
    code: int | None  # None: stopped at its time limit
    seconds: float

    @property
    def status(self) -> str:
        if self.code is None:
            return f"stopped at its {self.step.limit_s} s limit"
        return "ok" if self.code == 0 else f"exit {self.code}"


def _environment(extra: tuple[tuple[str, str], ...]) -> dict:
    source = str(Path(__file__).resolve().parent.parent)
    path = [source] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(dict.fromkeys(path)), "PYTHONUNBUFFERED": "1",
            **dict(extra)}


def run_step(step: Step, out: Path, root: Path, python: str = sys.executable) -> Outcome:
    started = time.monotonic()
    with open(out / step.log, "w", encoding="utf-8") as log:
        process = subprocess.Popen([python, *step.argv], stdout=log, stderr=subprocess.STDOUT, cwd=root,
                                   env=_environment(step.env), start_new_session=True)
        try:
            code = process.wait(timeout=step.limit_s)
        except subprocess.TimeoutExpired:
            code = None
            os.killpg(process.pid, signal.SIGINT)  # the step and any worker it started
            try:
                process.wait(timeout=GRACE_S)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            log.write(f"\n[gpu-check: stopped with SIGINT at the {step.limit_s} s limit]\n")
    return Outcome(step, code, time.monotonic() - started)


def _result_files(out: Path) -> list[Path]:
    return sorted(out.glob("*.json"), key=lambda p: p.stat().st_mtime)


def _counts(path: Path) -> str:
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        return f"{path.name}: unreadable ({exc})"
    tally: dict[str, dict[str, int]] = {}
    for record in document.get("records", []):
        family = tally.setdefault(record.get("family", "?"), {})
        family[record.get("status", "?")] = family.get(record.get("status", "?"), 0) + 1
    parts = [f"{name} " + "/".join(f"{n} {status}" for status, n in sorted(counts.items()))
             for name, counts in tally.items()]
    return f"{path.name} ({document.get('status')}): " + "; ".join(parts)


def _tail(path: Path, lines: int) -> list[str]:
    try:
        return path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return []


def summary(outcomes: list[Outcome], out: Path) -> list[str]:
    text = ["gpu-check summary", ""]
    for outcome in outcomes:
        text.append(f"{outcome.step.name:<10} {outcome.status:<28} {outcome.seconds:6.0f} s   {outcome.step.log}")
    text.append("")
    for path in _result_files(out):
        text.append(_counts(path))
    by_name = {o.step.name: o for o in outcomes}
    for name, lines in (("selftest", 12), ("gpu tests", 3)):
        if name in by_name:
            text += ["", f"--- {name} (end of {by_name[name].step.log})", *_tail(out / by_name[name].step.log, lines)]
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gpu-check", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("out/gpu-check"))
    args = parser.parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    stale = [p for p in out.iterdir()]
    if stale:
        print(f"gpu-check: error: {out} is not empty ({len(stale)} entries): give it an empty directory, so "
              f"that what comes back is this run's (at most {MAX_FILES} files)", file=sys.stderr)
        return 2
    root = ROOT
    outcomes = []
    for step in steps(out):
        print(f"gpu-check: {step.name} (limit {step.limit_s} s) -> {out / step.log}", flush=True)
        outcomes.append(run_step(step, out, root))
    text = summary(outcomes, out)
    (out / "summary.txt").write_text("\n".join(text) + "\n")
    print("\n".join(text))
    files = [p for p in out.rglob("*") if p.is_file()]
    if len(files) > MAX_FILES:
        print(f"gpu-check: warning: {len(files)} files in {out}, more than {MAX_FILES}", file=sys.stderr)
    return 0 if all(o.code == 0 for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
