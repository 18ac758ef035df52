"""`smbench selftest`: on arrival, does every kernel this GPU should run, run right?

Runs the selftest suite (benchmarks/selftest.toml: every kernel once, on small data, with
two timed samples at most) through the ordinary run, so every record is validated
against the CPU reference exactly as in a measurement, and writes the ordinary result
file. Then one line per family. A failed case fails the selftest; so does a case that
never ran (after a lost CUDA context). A skipped case is one the target table or the
device rules out (a format this target lacks, a memory kind the device does not offer):
the line says why, and it does not fail the selftest.
"""

from __future__ import annotations

import textwrap
import time
from collections import Counter
from dataclasses import dataclass, field

from smbench import screen
from smbench.cases import HOME_MEMORY

SUITE = "selftest"


@dataclass
class FamilyOutcome:
    family: str
    ok: int = 0
    skipped: Counter = field(default_factory=Counter)  # reason -> count
    failed: list[tuple[str, str]] = field(default_factory=list)  # (case, reason)

    @property
    def passed(self) -> bool:
        return not self.failed


def _case_name(record: dict) -> str:
    parts = [record.get("label") or record.get("kernel") or record.get("benchmark"), record.get("shape"),
             record.get("memory") if record.get("memory") not in (None, *HOME_MEMORY) else None]
    return " ".join(str(p) for p in parts if p)


def judge(records: list[dict]) -> list[FamilyOutcome]:
    """Per family, in the order families first appear."""
    outcomes: dict[str, FamilyOutcome] = {}
    for record in records:
        outcome = outcomes.setdefault(record["family"], FamilyOutcome(record["family"]))
        reason = str(record.get("reason", ""))
        if record["status"] == "ok":
            outcome.ok += 1
        elif record["status"] == "skipped" and not reason.startswith("not run"):
            outcome.skipped[textwrap.shorten(reason.split(":")[0], 64, placeholder=" ...", break_on_hyphens=False)] += 1
        else:
            outcome.failed.append((_case_name(record), reason or record["status"]))
    return list(outcomes.values())


INDENT = " " * 5


def _wrapped(text: str, width: int) -> list[str]:
    """Wrapped to `width` columns between words only (screen.wrap): whole numbers, and a path
    longer than the line on a line of its own, never cut."""
    return screen.wrap(text, width, indent=len(INDENT)) or [""]


def lines(outcomes: list[FamilyOutcome], width: int = 80) -> list[str]:
    """A line per family (and one per failure under it), wrapped within `width` columns."""
    out = []
    for o in outcomes:
        mark = "ok  " if o.passed else "FAIL"
        text = f"{mark} {o.family:<10} {o.ok:>4} ok"
        if o.failed:
            text += f", {len(o.failed)} failed"
        if o.skipped:
            reason, _ = o.skipped.most_common(1)[0]
            text += f", {sum(o.skipped.values())} skipped ({reason}" + (", ..." if len(o.skipped) > 1 else "") + ")"
        out += _wrapped(text, width)
        for case, reason in o.failed:
            out += _wrapped(f"{INDENT}{case}: {reason}", width)
    return out


def run(backend: str, out_dir, width: int = 80, on_case=None) -> tuple[int, list[str], object]:
    """(exit code, the lines to print, the result file). Exit 0 only if no family failed."""
    from smbench import run as runner_module
    from smbench import suites

    suite = suites.load(SUITE)
    runner = runner_module.resolve_backend(backend, suite)
    started = time.monotonic()
    path, records = runner_module.execute(suite, runner, set(suites.names()), out_dir, on_case)
    outcomes = judge(records)
    seconds = time.monotonic() - started
    total_ok = sum(o.ok for o in outcomes)
    failed = sum(len(o.failed) for o in outcomes)
    head = f"smbench selftest: {len(records)} cases in {seconds:.0f} s on {runner.info['name']} ({runner.name})"
    ran = "cases ran on the CPU reference path (no GPU kernel)" if runner.name == "cpu" else "kernels ran"
    verdict = (f"selftest passed: {total_ok} {ran} and validated" if not failed else
               f"selftest FAILED: {failed} of {len(records)} cases failed or did not run")
    return (0 if not failed else 1), [*_wrapped(head, width), *lines(outcomes, width), *_wrapped(verdict, width)], path
