"""`make gpu-check`: everything a short loan of a GPU machine should bring back, in one call.

Steps, each a child process under its own time limit: a preflight (every Python module the
steps import, the missing ones named in one line), doctor, prebuild (every kernel the
selftest and the quick run build, compiled on every core before anything is timed), the
selftest, the GPU tests, then the quick suite on the GPU with every family. A step past its
limit gets SIGINT (the run and the selftest then finish their result file as "interrupted",
pytest writes its report), then SIGKILL if it does not stop. The last step may also use what
the steps before it left of the whole budget. At most MAX_FILES files land in the output
directory: the first three steps' log (setup.log), a log per later step, the two result
files, the tests' JUnit XML and summary.txt, which is also printed last.

On a machine with only its own Python: PYTHONPATH=src python3 -m smbench.gpu_check --out DIR
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

MAX_FILES = 8
GRACE_S = 5  # after SIGINT, time to write what finished before SIGKILL (the file is whole after every case)


@dataclass(frozen=True)
class Step:
    name: str
    argv: tuple[str, ...]  # after the interpreter
    limit_s: int
    log: str
    env: tuple[tuple[str, str], ...] = ()
    needs: tuple[str, ...] = ()  # modules without which the step cannot run at all (preflight)


ROOT = Path(__file__).resolve().parent.parent.parent
# The GPU tests that prove the first-contact fixes run first (device-bound timing, telemetry,
# a fault that must not end the run), so that a step cut at its limit has them; then the rest.
FIRST_GPU_TESTS = ("test_gpu_stream.py", "test_gpu_fault.py", "test_gpu.py")

# What the steps import, and what goes without each (preflight). Essential: nothing on the
# GPU runs without it.
MODULES = {
    "numpy": "everything", "cupy": "every GPU step", "cuda.bindings.nvrtc": "every kernel build (NVRTC)",
    "cuda.pathfinder": "finding NVRTC, nvJitLink and cuobjdump", "rich": "the terminal tables",
    "pynvml": "telemetry (clocks, power; the records say unavailable)", "pytest": "the GPU tests step",
    "mpi4py": "collectives across ranks (one rank runs without it)",
    "cupy.cuda.nccl": "the collectives family (its cases are skipped rows)",
    "pandas": "export and report (not run here)", "matplotlib": "plots (not run here)",
}
ESSENTIAL = ("numpy", "cupy", "cuda.bindings.nvrtc", "cuda.pathfinder")

# Limits (seconds), from benchmarks/gpu_host_cost.py's host-side figures for an H200 plan plus
# the GPU's share (docs/gpu-machine.md has the arithmetic and the margins). Their sum with a
# grace each is TOTAL_S, under 8 minutes.
LIMITS = {"preflight": 10, "doctor": 20, "prebuild": 45, "selftest": 75, "gpu tests": 90, "quick run": 200}
TOTAL_S = sum(LIMITS.values()) + GRACE_S * len(LIMITS)


def gpu_test_files(root: Path = ROOT) -> list[str]:
    """Every tests/test_gpu*.py, those in FIRST_GPU_TESTS first (a new family's join the rest)."""
    found = sorted(p.name for p in (root / "tests").glob("test_gpu*.py"))
    ordered = [name for name in FIRST_GPU_TESTS if name in found] + [n for n in found if n not in FIRST_GPU_TESTS]
    return [f"tests/{name}" for name in ordered]


SETUP_LOG = "setup.log"  # preflight, doctor and prebuild share one: at most 8 files come back


def steps(out: Path) -> list[Step]:
    """The plan, in LIMITS' order. The GPU tests leave out those that run `smbench run` in a
    child process (marked cli): the selftest and the quick run here cover that path. The
    quick run comes last (370 cases on an H200; the collectives last of all): what finishes
    in its limit is kept."""
    return [
        Step("preflight", ("-m", "smbench.gpu_check", "--preflight"), LIMITS["preflight"], SETUP_LOG),
        Step("doctor", ("-m", "smbench", "doctor"), LIMITS["doctor"], SETUP_LOG),
        Step("prebuild", ("-m", "smbench.prebuild", "--suites", "selftest,quick"), LIMITS["prebuild"], SETUP_LOG,
             needs=ESSENTIAL),
        Step("selftest", ("-m", "smbench", "selftest", "--out", str(out)), LIMITS["selftest"], "selftest.log",
             needs=ESSENTIAL),
        Step("gpu tests", ("-m", "pytest", "-q", "-m", "gpu and not cli", "-p", "no:cacheprovider",
                           f"--junitxml={out / 'gpu-tests.xml'}", *gpu_test_files()), LIMITS["gpu tests"],
             "gpu-tests.log", (("SMBENCH_REQUIRE_GPU", "1"),), needs=(*ESSENTIAL, "pytest")),
        Step("quick run", ("-m", "smbench", "run", "--suite", "quick", "--backend", "cuda", "--out", str(out)),
             LIMITS["quick run"], "run.log", needs=ESSENTIAL),
    ]


def missing_modules(modules=MODULES) -> dict[str, str]:
    """module -> what goes without it, for each module that does not import here."""
    missing = {}
    for name, what in modules.items():
        try:
            module = importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - ImportError, or a library that fails to load
            missing[name] = f"{what}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")
            continue
        if getattr(module, "available", True) is False:  # CuPy's nccl module imports without its library
            missing[name] = f"{what}: imports, but its library was not found"
    return missing


def preflight_line(missing: dict[str, str]) -> str:
    """One line: ok, or every missing module and what goes without it."""
    if not missing:
        return f"preflight: ok: {', '.join(MODULES)} import"
    return "preflight: missing Python modules: " + "; ".join(f"{name} ({why})" for name, why in missing.items())


@dataclass
class Outcome:
    step: Step
    code: int | None  # None: stopped at its time limit
    seconds: float
    limit_s: float | None = None  # the limit it ran under (the step's, or more for the last step)
    not_run: str = ""  # why it did not run (a module it needs is missing)

    @property
    def status(self) -> str:
        if self.not_run:
            return f"not run: {self.not_run}"
        if self.code is None:
            return f"stopped at its {self.limit_s or self.step.limit_s:.0f} s limit"
        return "ok" if self.code == 0 else f"exit {self.code}"


def _environment(extra: tuple[tuple[str, str], ...]) -> dict:
    source = str(Path(__file__).resolve().parent.parent)
    path = [source] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(dict.fromkeys(path)), "PYTHONUNBUFFERED": "1",
            **dict(extra)}


def run_step(step: Step, out: Path, root: Path, python: str = sys.executable, limit_s: float | None = None) -> Outcome:
    """The step in a child process, its output appended to its log, stopped at `limit_s`
    (the step's own limit by default)."""
    limit = step.limit_s if limit_s is None else limit_s
    started = time.monotonic()
    with open(out / step.log, "a", encoding="utf-8") as log:
        log.write(f"=== gpu-check: {step.name} (limit {limit:.0f} s)\n")
        log.flush()
        process = subprocess.Popen([python, *step.argv], stdout=log, stderr=subprocess.STDOUT, cwd=root,
                                   env=_environment(step.env), start_new_session=True)
        try:
            code = process.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            code = None
            os.killpg(process.pid, signal.SIGINT)  # the step and any worker it started
            try:
                process.wait(timeout=GRACE_S)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            log.write(f"\n[gpu-check: stopped with SIGINT at the {limit:.0f} s limit]\n")
    return Outcome(step, code, time.monotonic() - started, limit)


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
        limit = outcome.limit_s or outcome.step.limit_s
        text.append(f"{outcome.step.name:<10} {outcome.status:<28} {outcome.seconds:4.0f} s of {limit:3.0f}   "
                    f"{outcome.step.log}")
    setup = [line for line in _tail(out / SETUP_LOG, 200) if line.startswith(("preflight:", "prebuild:"))]
    if setup:
        text += ["", *setup[:1], *setup[-1:]] if len(setup) > 1 else ["", *setup]
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
    parser.add_argument("--preflight", action="store_true", help="only say which Python modules are missing")
    args = parser.parse_args(argv)
    if args.preflight:
        missing = missing_modules()
        print(preflight_line(missing), flush=True)
        return 1 if any(name in missing for name in ESSENTIAL) else 0
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    stale = [p for p in out.iterdir()]
    if stale:
        print(f"gpu-check: error: {out} is not empty ({len(stale)} entries): give it an empty directory, so "
              f"that what comes back is this run's (at most {MAX_FILES} files)", file=sys.stderr)
        return 2
    root = ROOT
    outcomes: list[Outcome] = []
    plan = steps(out)
    started = time.monotonic()
    missing = missing_modules({name: MODULES.get(name, name) for step in plan for name in step.needs})
    for number, step in enumerate(plan):
        lacking = [name for name in step.needs if name in missing]
        if lacking:
            outcomes.append(Outcome(step, 1, 0.0, not_run=f"{', '.join(lacking)} missing (see the preflight line)"))
            print(f"gpu-check: {step.name}: not run, {', '.join(lacking)} missing", flush=True)
            continue
        limit = step.limit_s
        if number == len(plan) - 1:  # the last step may use what the steps before it left
            limit = max(limit, TOTAL_S - (time.monotonic() - started) - GRACE_S)
        print(f"gpu-check: {step.name} (limit {limit:.0f} s) -> {out / step.log}", flush=True)
        outcomes.append(run_step(step, out, root, limit_s=limit))
    text = summary(outcomes, out)
    (out / "summary.txt").write_text("\n".join(text) + "\n")
    print("\n".join(text))
    files = [p for p in out.rglob("*") if p.is_file()]
    if len(files) > MAX_FILES:
        print(f"gpu-check: warning: {len(files)} files in {out}, more than {MAX_FILES}", file=sys.stderr)
    return 0 if all(o.code == 0 for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
