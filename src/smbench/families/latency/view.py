"""The latency family's part of the summary at the end of `smbench run`: per curve, the
levels found on it (ns and cycles per load, the largest working set on each, where it
steps), then the other memory kinds beside device memory. Readable at 80 columns."""

from __future__ import annotations

from rich.console import Console

from smbench.cases import HOME_MEMORY
from smbench.families import latency
from smbench.noise import NOT_CONVERGED, mark
from smbench.run_view import Column, print_fitted, size


def curve_name(key: tuple) -> str:
    """('loaded', 'random', 'cg', 'device') -> 'loaded random cg'; the mode and the cache
    operator only where they are not the plain one-thread, ordinary-load chase."""
    mode, pattern, cache, _ = key
    parts = ([] if mode == "latency" else [mode]) + [pattern] + ([cache] if cache not in ("ca", "host") else [])
    return " ".join(parts)


def _cycles(value) -> str:
    return f"{value:.0f}" if value is not None else "-"


def _ns(value: float) -> str:
    return f"{value:.1f}" if value < 1000 else f"{value:.0f}"


def level_mark(records: list[dict], curve: latency.Curve, level: latency.Level) -> str:
    """NOT_CONVERGED where a point of the level (among `records`) did not converge, else ''."""
    return NOT_CONVERGED if any(mark(r) for r in records if r.get("family") == "latency" and r.get("status") == "ok"
                                and latency.curve_key(r) == curve.key
                                and level.first_bytes <= r["working_set_bytes"] <= level.last_bytes) else ""


def level_rows(curve: latency.Curve, records: list[dict] = ()) -> list[tuple[str, ...]]:
    """(level, up to, ns, cycles, steps at) for each level of a curve; the ns marked where a
    point of the level did not converge (among `records`)."""
    rows = []
    for number, level in enumerate(curve.levels):
        step = curve.steps[number] if number < len(curve.steps) else None
        rows.append((level.name, size(level.last_bytes), _ns(level.ns) + level_mark(records, curve, level),
                     _cycles(level.cycles), size(step.next_bytes) if step else "-"))
    return rows


def memory_rows(records: list[dict]) -> list[tuple[str, ...]]:
    """(memory, working set, ns, cycles, x device) for each one-thread random chase in a
    memory kind other than device, beside device memory's at the same working set."""
    device = {r["working_set_bytes"]: r for r in records
              if r.get("family") == "latency" and r["status"] == "ok" and r.get("memory") == "device"
              and r.get("mode") == "latency" and r.get("pattern") == "random" and r.get("cache_op") == "ca"}
    rows = []
    for record in records:
        if record.get("family") != "latency" or record["status"] != "ok" or record.get("memory") in HOME_MEMORY:
            continue
        ns = record["latency_ns"]["median"]
        reference = device.get(record["working_set_bytes"])
        ratio = f"{ns / reference['latency_ns']['median']:.2f}x" if reference else "-"
        rows.append((record["memory"], size(record["working_set_bytes"]), _ns(ns) + mark(record),
                     _cycles((record.get("cycles") or {}).get("median")), ratio))
    return rows


# The tables' columns (smbench.run_view.print_fitted keeps every label and figure whole at 80
# and 120 columns: short headers first, then the columns with the lowest `keep` go, named below).
LEVEL_COLUMNS = [Column("chase", keep=Column.NEVER_DROPPED), Column("level", keep=Column.NEVER_DROPPED),
                 Column("up to", keep=6, right=True), Column("ns", keep=Column.NEVER_DROPPED, right=True),
                 Column("cycles", "cyc", keep=5, right=True), Column("steps at", "step", keep=4, right=True)]
MEMORY_COLUMNS = [Column("memory", keep=Column.NEVER_DROPPED), Column("set", keep=6, right=True),
                  Column("ns", keep=Column.NEVER_DROPPED, right=True), Column("cycles", "cyc", keep=5, right=True),
                  Column("x device", "x dev", keep=7, right=True)]


def _clock_words(records: list[dict]) -> str:
    sources = {r.get("clock_source") for r in records if r.get("family") == "latency" and r["status"] == "ok"}
    sources.discard(None)
    return sources.pop() if len(sources) == 1 else "each record's clock_source" if sources else "not recorded"


def view(records: list[dict], console: Console) -> None:
    """Each curve's levels (a rule between curves), then the other memory kinds."""
    home = [c for c in latency.curves(records) if c.key[3] in HOME_MEMORY]
    if not home:
        return
    rows, sections = [], []
    for curve in home:
        sections.append(len(rows))
        rows += [[curve_name(curve.key) if number == 0 else "", *row] for number, row in enumerate(level_rows(curve, records))]
    print_fitted(console, "latency: dependent loads (pointer chase)", LEVEL_COLUMNS, rows,
                 f"ns: median per dependent load; cycles at the SM clock ({_clock_words(records)}). Levels and steps "
                 "are found from the measured curve: 'up to' is the largest working set on a level, 'steps at' the "
                 "first one above it (the capacity lies between). loaded: many chains at once (on a GPU, every SM "
                 f"full of them). {NOT_CONVERGED}: a point of the level did not converge (smbench.noise).", sections=tuple(sections[1:]))
    kinds = memory_rows(records)
    if kinds:
        print_fitted(console, "latency by memory kind (one thread, random)", MEMORY_COLUMNS, [list(r) for r in kinds])


def headline(document: dict) -> list[tuple[str, str]]:
    """The one-thread random chase in the device's own memory: each level's latency."""
    for curve in latency.curves(document["records"]):
        mode, pattern, cache, memory = curve.key
        if mode == "latency" and pattern == "random" and memory in HOME_MEMORY and curve.levels:
            # "cache 2: 329.0 ns": a level's name ends in a number on the CPU path ("cache 2"),
            # which next to the figure once read as 2329 ns.
            levels = "; ".join(f"{level.name}: {_ns(level.ns)} ns" + (f" ({level.cycles:.0f} cycles)"
                                                                         if level.cycles else "")
                               for level in curve.levels)
            return [("latency", f"dependent loads, random chase: {levels}")]
    return []
