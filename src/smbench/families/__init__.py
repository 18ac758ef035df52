"""Benchmark families, one folder each, found by the registry.

A family is a package `smbench.families.<name>` whose `family` module defines FAMILY, a
Family: its axes (smbench.axes: the one table of its suite section, from which come the
suite's checking and defaults, its plan's cartesian product and its records' identity),
its plan (cases from the suite and the device) and its run (one case -> one validated
record). The harness (suites, run, selftest, rerun, export, the CLI) iterates registry()
and names no family: a new folder here is a new family.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Callable, NamedTuple

from smbench.axes import Axes


@dataclass
class PlanPart:
    """A family's share of a run's plan."""

    cases: list = field(default_factory=list)
    last: list = field(default_factory=list)  # run after every family's cases (memory the CPU owns)
    notes: dict = field(default_factory=dict)  # for the result file's notes


@dataclass(frozen=True)
class SizeCap:
    """The largest size a backend allows a family's sweep, and why (the result file's notes say it)."""

    bytes: int
    why: str


class Figure(NamedTuple):
    """The figure a family's records are judged and exported by."""

    field: str  # the record's field: an object with a 'median' (and its best)
    unit: str
    # The record's amount each timed sample divides (bytes, operations); "" where the samples are not rates.
    amount: str = ""
    scale: float = 1.0  # the rate's unit: 1e9 for GB/s
    best: str = "best"  # the statistic of `field` that is its best: "best" for a rate, "min" for a time


@dataclass(frozen=True)
class Family:
    name: str
    rank: int  # where its cases come in a run: smaller first
    summary: str  # what it measures, one line (`smbench run --help` lists them)
    axes: Axes  # its suite section: axes (what a record measured) and settings, declared once
    plan: Callable  # (suite, runner) -> PlanPart; suite.section(name) gives its settings with defaults
    run: Callable  # (case, runner, policy) -> record; raises cases.Skip for a case the device cannot run
    view: Callable | None = None  # (records, console): its part of the summary at the end of a run
    check_record: Callable | None = None  # (an ok record, where): what its readers index, checked on load
    # Publishing: `smbench compare` tables ((title, document -> {key: compare.Entry}, key name), ...),
    # report verdict lines ((label, document) -> lines), a report section (named documents ->
    # an object with title, intro, table, lines, empty), figures ((named documents, out dir) -> paths).
    compare: tuple = ()
    report_lines: Callable | None = None
    report_section: Callable | None = None
    plots: Callable | None = None
    # What one case costs, for `smbench run --list`'s estimate: (timed measurements per case,
    # each up to the suite's time budget; seconds of other work per case: setup, validation).
    cost: tuple = (1, 0.05)
    # Its lines on the one screen that ends `smbench bench`: (document) -> [(label, text)],
    # a line or three saying what the machine did (smbench.headlines).
    headline: Callable | None = None
    # The figure a record is judged and exported by — the loader, export and rerun read it.
    figure: Figure = Figure("gbps", "GB/s", "bytes_moved", 1e9)
    # Runs on every rank of a multi-rank launch (mpiexec, srun), its cases called by all of them
    # together; a family without it runs only in a single process (smbench.run.plan leaves it out).
    all_ranks: bool = False
    # What it needs a backend's own part for, in its words ("kernel launches need a GPU"): on a
    # backend without families/<name>/<backend>.py it is one skipped row that says so. "" for a
    # family whose run needs no backend part (it runs anywhere).
    needs: str = ""
    # What it adds to a result file beyond its records (the harness asks every family, run or not,
    # so a file's header does not depend on --only): (runner) -> {field: value} for the header of a
    # run; (document, origin) those fields checked on load (a one-line SmbenchError); (document) ->
    # its clause of the run summary's title ("" for none); (device table row) -> (records, header
    # fields) of the published figures `smbench reference` writes for it.
    header: Callable | None = None
    check_header: Callable | None = None
    title: Callable | None = None
    published: Callable | None = None
    # The device table's public figures it describes: devices.Figure.what -> reference.Describes
    # (the identity fields of the measured figure each is set beside in compare and the report).
    vocabulary: dict = field(default_factory=dict)
    # Its verdict words and how a terminal colours them (rich styles), beyond the ones every
    # family shares (smbench.run_view.VERDICT_STYLE).
    verdict_styles: dict = field(default_factory=dict)
    # Keys a result file's suite may hold from an earlier smbench that are now elsewhere: (section,
    # key) -> its key in this family's section, or None where it is no longer needed (rerun migrates).
    moved: dict = field(default_factory=dict)


@functools.lru_cache(maxsize=None)
def registry() -> dict[str, Family]:
    """Every family in this folder, by rank."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        if not info.ispkg:
            continue
        try:
            module = importlib.import_module(f"{__name__}.{info.name}.family")
        except ModuleNotFoundError as exc:
            if exc.name == f"{__name__}.{info.name}.family":
                continue  # a folder of shared code, not a family
            raise
        found.append(module.FAMILY)
    return {family.name: family for family in sorted(found, key=lambda f: (f.rank, f.name))}


def require(record: dict, where: str, fields: dict, what: str) -> None:
    """An ok record of `what` holds each field its readers index (name -> type; dict: an object
    with a numeric 'median'), else a one-line SmbenchError naming the first that is not."""
    from smbench.errors import SmbenchError

    for name, kind in fields.items():
        value = record.get(name)
        if kind is dict:
            median = value.get("median") if isinstance(value, dict) else None
            if not isinstance(median, (int, float)) or isinstance(median, bool):
                raise SmbenchError(f"{where}: an ok {what} record lacks '{name}' (an object with a numeric "
                                   f"'median'): a malformed record")
        elif not isinstance(value, kind) or isinstance(value, bool):
            raise SmbenchError(f"{where}: an ok {what} record lacks '{name}' "
                               f"({'a whole number' if kind is int else 'a ' + kind.__name__}): a malformed record")


def identity(record: dict) -> tuple:
    """What a record measured, by its family's axes (smbench.axes.Axes.identity); for a family
    this smbench does not know (a file from another version), every field but its figures."""
    family = registry().get(record.get("family"))
    if family is not None:
        return family.axes.identity(record)
    return (record.get("family"), record.get("benchmark"), record.get("kernel"))


def describe(record: dict) -> str:
    """A record's identity in words (smbench.axes.Axes.describe)."""
    family = registry().get(record.get("family"))
    if family is not None:
        return family.axes.describe(record)
    return " ".join(str(v) for v in identity(record) if v is not None)


def names() -> tuple[str, ...]:
    return tuple(registry())


def figure_of(record: dict) -> Figure:
    """The Figure of a record's family; a bandwidth for a family this smbench does not know
    (a file from another version)."""
    family = registry().get(record.get("family"))
    return family.figure if family is not None else Family.figure
