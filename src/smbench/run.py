"""`smbench run`: a suite's cases on a backend, validated, written as they finish.

The plan comes from the suite (benchmarks/*.toml) and the device's facts; each case
becomes one record in the result file the moment it finishes. A case that fails to
compile, allocate, launch or validate is a record that says why, and the run goes on.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import re
import signal
import threading
from pathlib import Path
from typing import Callable

from smbench import provenance, ranks
# The backends as the families see them live in smbench.backends.runners; their names stay
# importable here, where the CLI, the worker processes and the tests reach them.
from smbench.backends.runners import (  # noqa: F401
    CpuRunner, CudaRunner, MlxRunner, Runner, _metal_here, dram_starts, make_runner, prepare_runner, resolve_backend)
from smbench.cases import Case, Skip, base_record
from smbench.errors import SmbenchError, cannot_write
from smbench.errors import one_line as _one_line
from smbench.families import registry
from smbench.results import ResultWriter
from smbench.suites import Suite, check_families


# ---------------------------------------------------------------- the plan

def plan(suite: Suite, runner, only: set[str]) -> tuple[list[Case], dict]:
    """Each family's cases, in the registry's order (a family runs where its section is in
    the suite and --only names it); cases a family asks to run last come after all others,
    or before the families the suite's [order] last_before names."""
    cases: list[Case] = []
    last: list[Case] = []
    after_last = set(suite.section("order")["last_before"])
    held: list[Case] = []
    notes: dict = {}
    world = ranks.world()
    alone = []
    for name, family in registry().items():
        if name in only and suite.runs(name) and world.size > 1 and not family.all_ranks:
            alone.append(name)  # its figures are one process's: run it without the launcher
            continue
        if name in only and suite.runs(name):
            lacking = getattr(runner, "lacks", lambda _: "")(family)  # a stand-in runner runs every family
            if lacking:  # one row says why, instead of every case the plan would expand to
                cases.append(Case(name, name, f"{name}: not on {runner.name}", {}, skip=lacking))
                continue
            part = family.plan(suite, runner)
            (held if name in after_last else cases).extend(part.cases)
            last += part.last
            notes.update(part.notes)
    if alone:
        notes["ranks"] = (f"{world.size} ranks ({world.launch.launcher}): only the families that use every rank ran; "
                          f"{', '.join(alone)} run in a single process (start smbench without the launcher)")
    unique(cases + last + held)
    return cases + last + held, notes


def unique(cases: list[Case]) -> None:
    """Two cases of one identity (smbench.axes) would be two records rerun, export and compare
    cannot tell apart: a family's plan that makes them is a bug, said before anything runs."""
    from smbench.axes import duplicates
    from smbench.families import identity

    twice = duplicates(identity(base_record(case)) for case in cases)
    if twice:
        first = twice[0]
        labels = [c.label for c in cases if identity(base_record(c)) == first]
        raise SmbenchError(f"{first[0]}: {len(labels)} cases measure the same thing ({' and '.join(labels[:2])}): "
                           f"its axes do not tell them apart")


# ---------------------------------------------------------------- one case -> one record

# Stand-ins for a family's run, by family name (the fault-isolation tests add one).
RUNNERS: dict[str, Callable] = {}


def run_case(case: Case, runner, policy) -> dict:
    if case.skip:
        return {**base_record(case), "status": "skipped", "reason": case.skip}
    try:
        return (RUNNERS.get(case.family) or registry()[case.family].run)(case, runner, policy)
    except (KeyboardInterrupt, SystemExit, ranks.RankLost):
        raise  # a lost rank ends the job: no later case could run
    except Skip as why:  # the device cannot run it: a skipped row that says why
        return {**base_record(case), "status": "skipped", "reason": str(why)}
    except Exception as exc:  # noqa: BLE001 - one failing case is a row, never the end of the run
        return {**base_record(case), "status": "failed", "reason": _one_line(exc)}


def run_checked(case: Case, runner, policy) -> tuple[dict, str]:
    """(the case's record, the sticky CUDA error if the context did not survive it, else '').
    The context is asked after every case: a fault in a part of a case that keeps its row
    (cuBLAS, the fallback build) loses it just the same; such a case is then failed."""
    record = run_case(case, runner, policy)
    lost = runner.context_lost()
    if lost:
        record.update(status="failed", reason=f"{record.get('reason', 'a part of this case failed')} "
                                              f"(the CUDA context was lost: {lost})")
    return record, lost


# ---------------------------------------------------------------- ending a run on a signal

# The signals that end a run exactly as Ctrl-C does: a batch system's or a user's kill (SIGTERM),
# the terminal going away (SIGHUP), the reader of a pipe going away (SIGPIPE, e.g. `| tee` ended
# by the same Ctrl-C, or `| head`). Their default action would end the process at once and leave
# the result file "running". Windows has only SIGTERM of them.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP", "SIGPIPE") if hasattr(signal, name))


class Stopped(KeyboardInterrupt):
    """One of STOP_SIGNALS arrived: raised where the run is, handled as Ctrl-C's KeyboardInterrupt."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.exit_code = 128 + signum


@contextlib.contextmanager
def stopping_on_signals():
    """While the cases run, each of STOP_SIGNALS raises Stopped in the main thread, and Ctrl-C
    KeyboardInterrupt, once: a second signal (Ctrl-C pressed again) while the result file is
    being finished is ignored, so that finishing it is not cut. Python itself ignores SIGPIPE (a
    write to a closed pipe raises BrokenPipeError instead); execute() handles that error as this
    signal too. Outside the main thread nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived: list[int] = []

    def handler(signum, frame):
        if not arrived:
            arrived.append(signum)
            raise KeyboardInterrupt() if signum == signal.SIGINT else Stopped(signum)

    numbers = (signal.SIGINT, *STOP_SIGNALS)
    previous = {number: signal.signal(number, handler) for number in numbers}
    _REASSERT.append(lambda: [signal.signal(number, handler) for number in numbers])
    try:
        yield
    finally:
        _REASSERT.pop()
        for number, before in previous.items():
            signal.signal(number, before)


# The handlers of the run in progress, put back after each case: a library that a case starts
# may install its own (MPICH's singleton MPI_Init takes SIGHUP, without calling Python's).
_REASSERT: list[Callable[[], object]] = []


def reassert_signal_handlers() -> None:
    if _REASSERT:
        _REASSERT[-1]()


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C (or a STOP_SIGNALS signal) during a run, after the result file was finished as
    "interrupted": `signum` is the signal, `exit_code` 128 + it, as a shell reports a process
    that a signal ended."""

    def __init__(self, path: Path, records: int, signum: int = signal.SIGINT):
        super().__init__(str(path))
        self.path, self.records, self.signum = path, records, int(signum)
        self.exit_code = 128 + self.signum

    def line(self, program: str) -> str:
        """The one line that says so: `smbench run: interrupted; 3 finished cases kept in FILE ...`
        (the signal named where it was not Ctrl-C)."""
        how = "" if self.signum == signal.SIGINT else f" by {signal.Signals(self.signum).name}"
        return (f"{program}: interrupted{how}; {self.records} finished cases kept in {self.path} "
                f"(status \"interrupted\")")


def output_path(out_dir: Path, runner, suite: Suite) -> Path:
    """A new file: time to the second, the process id (two runs in one second), a counter."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    device = re.sub(r"[^A-Za-z0-9]+", "-", runner.info["name"]).strip("-").lower()[:40]
    stem = f"{stamp}-{runner.name}-{device}-{suite.name}-{os.getpid()}"
    path, number = Path(out_dir) / f"{stem}.json", 1
    while path.exists():
        number += 1
        path = Path(out_dir) / f"{stem}-{number}.json"
    return path


def header(suite: Suite, runner, notes: dict) -> dict:
    """The result file's header; every family adds its own fields (Family.header), run or not,
    so that a file's layout does not depend on --only."""
    info = {k: v for k, v in runner.info.items() if k != "facts"}
    families = {}
    for family in registry().values():
        if family.header is not None:
            families.update(family.header(runner))
    return {"suite": suite.name, "suite_description": suite.description, "suite_config": suite.data,
            "backend": runner.name,
            "provenance": provenance.collect(), "device": info, **families,
            "notes": {"backend": runner.why, **notes},
            "timing_policy": suite.timing(runner.name).__dict__}


def run_cases(suite: Suite, runner, cases: list[Case], policy, writer: ResultWriter,
              on_case: Callable[[Case, int, int], None] | None = None) -> None:
    """Each case's record into the writer as it finishes. After each case the runner is asked
    whether its CUDA context survived; if not, the case is failed and the cases left run in
    fresh worker processes (smbench.worker), their records added here as they arrive."""
    from smbench import worker

    for number, case in enumerate(cases):
        if on_case:
            on_case(case, number, len(cases))
        record, lost = run_checked(case, runner, policy)
        reassert_signal_handlers()
        writer.add(record)
        if lost:
            writer.document["notes"]["context_lost"] = (
                f"after {case.label!r} the CUDA context was unusable; the {len(cases) - number - 1} cases after "
                f"it ran in fresh processes")
            rest = cases[number + 1:]
            worker.run_elsewhere(suite, runner.name, rest, runner, writer.add,
                                 (lambda c, i: on_case(c, number + 1 + i, len(cases))) if on_case else None)
            return


def agree(suite: Suite, runner, only: set[str]) -> None:
    """Under a multi-rank launch every rank must run the same job: the same suite and settings,
    smbench version, backend and families (else a one-line error on every rank)."""
    world = ranks.world()
    if world.size > 1:
        world.agree("the suite, its settings, smbench's version, the backend and the families",
                    {**ranks.fingerprint(suite.name, suite.data), "backend": runner.name, "families": sorted(only)})


class _NoFile:
    """A writer for a rank other than 0: keeps the records in memory, writes nothing."""

    path = Path("(rank 0's file)")

    def __init__(self, header: dict):
        self.document = {**header, "records": []}

    def add(self, record: dict) -> None:
        self.document["records"].append(record)

    def finish(self, status: str) -> None:
        self.document["status"] = status


def execute(suite: Suite, runner, only: set[str], out_dir: Path,
            on_case: Callable[[Case, int, int], None] | None = None) -> tuple[Path, list[dict]]:
    """Run the plan; returns (the result file, its records). An interrupt finishes the file
    as "interrupted" with every record so far, then propagates."""
    check_families(only)
    agree(suite, runner, only)
    cases, notes = plan(suite, runner, only)
    if not cases:
        raise SmbenchError(f"suite {suite.name!r} has nothing to run for {', '.join(sorted(only))}"
                           + (f" ({notes['ranks']})" if "ranks" in notes else ""))
    policy = suite.timing(runner.name)
    prepare_runner(runner, suite)
    world = ranks.world()
    document = {**header(suite, runner, notes), "world": world.describe(runner.info)}
    # Under a multi-rank launch rank 0 writes the one file; the others' records are theirs
    # to compute (a family gathers every rank's samples into rank 0's record) and go nowhere.
    writer = ResultWriter(output_path(out_dir, runner, suite), document) if world.is_root else _NoFile(document)
    # The handlers stay in place while the file is finished: a second signal cannot cut that.
    with stopping_on_signals():
        try:
            run_cases(suite, runner, cases, policy, writer, on_case)
            writer.finish("complete")
        except ranks.RankLost as lost:
            writer.finish("interrupted")
            raise ranks.RankLost(f"{lost}; {len(writer.document['records'])} finished cases kept in {writer.path} "
                                 f"(status \"interrupted\")") from None
        except KeyboardInterrupt as stop:  # Ctrl-C, or Stopped by a signal
            writer.finish("interrupted")
            raise RunInterrupted(writer.path, len(writer.document["records"]),
                                 getattr(stop, "signum", signal.SIGINT)) from None
        except BrokenPipeError:
            # A write to stdout or stderr whose reader went away (Python ignores SIGPIPE and raises
            # this instead; the result file is a plain file and cannot raise it): as SIGPIPE.
            writer.finish("interrupted")
            raise RunInterrupted(writer.path, len(writer.document["records"]), signal.SIGPIPE) from None
        except OSError as exc:
            # The disk filled or went away: what is on it is the last whole version of the file.
            raise cannot_write(writer.path, why=f"{exc.strerror or exc}; the file holds the cases written "
                                                f"before this one") from None
    return writer.path, writer.document["records"]
