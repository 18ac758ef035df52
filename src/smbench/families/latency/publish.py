"""The latency family in comparisons, reports and plots: ns per load by chase, memory and
working set (`smbench compare`, with the noise test on each launch's ns per load); a report
line per level of every curve, with the published anchors; the figure of latency against
working set, the steps found on each curve marked."""

from __future__ import annotations

import math
from pathlib import Path

from smbench.cases import HOME_MEMORY
from smbench.compare import Entry
from smbench.families import latency
from smbench.families.latency.view import curve_name, level_mark
from smbench.noise import mark
from smbench.plots import plt, ring_unconverged, save, size_label, ticker
from smbench.run_view import size

# What users expect, per level, for a one-thread chase with ordinary loads (cycles).
ANCHORS = {"L1": 28, "L2": 193, "DRAM": 400}
# Jia et al., "Dissecting the NVIDIA Volta GPU Architecture via Microbenchmarking" (arXiv 1804.06826).
ANCHOR_SOURCE = "V100 (Jia et al., arXiv 1804.06826)"


def _anchor(curve: latency.Curve, level: latency.Level) -> str:
    mode, pattern, cache, memory = curve.key
    if mode != "latency" or cache != "ca" or level.name not in ANCHORS:
        return ""
    more = "+" if level.name == "DRAM" else ""
    return f"; {ANCHOR_SOURCE}: ~{ANCHORS[level.name]}{more} cycles"


# ---------------------------------------------------------------- report lines

def report_lines(label: str, document: dict) -> list[str]:
    """One line per level of every curve in a result file, then the other memory kinds."""
    records = document.get("records", [])
    lines = []
    for curve in latency.curves(records):
        if curve.key[3] not in HOME_MEMORY:
            continue
        name = curve_name(curve.key)
        for number, level in enumerate(curve.levels):
            cycles = f", {level.cycles:.0f} cycles" if level.cycles is not None else ""
            step = curve.steps[number] if number < len(curve.steps) else None
            where = (f"working sets {size(level.first_bytes)} to {size(level.last_bytes)}" if level.points > 1
                     else f"at {size(level.first_bytes)}")
            steps = (f"; steps to {step.above} ({step.ratio:.1f}x) between {size(step.last_bytes)} and "
                     f"{size(step.next_bytes)}") if step else ""
            lines.append(f"{label}: latency {name}, {level.name}: {level.ns:.1f}{level_mark(records, curve, level)} "
                         f"ns{cycles} "
                         f"({where}{steps}){_anchor(curve, level)}")
    for record in records:
        if record.get("family") != "latency" or record.get("status") != "ok" or \
                record.get("memory") in HOME_MEMORY:
            continue
        cycles = (record.get("cycles") or {}).get("median")
        lines.append(f"{label}: latency in {record['memory']} memory at {size(record['working_set_bytes'])}: "
                     f"{record['latency_ns']['median']:.1f}{mark(record)} ns" + (f", {cycles:.0f} cycles" if cycles else ""))
    clocks = {r.get("clock_mhz") for r in records if r.get("family") == "latency" and r.get("status") == "ok"}
    clocks.discard(None)
    if clocks and lines:
        lines.append(f"{label}: latency cycles at SM clocks of {', '.join(f'{c:.0f}' for c in sorted(clocks))} MHz")
    return lines


# ---------------------------------------------------------------- smbench compare

def per_load_samples(record: dict) -> list[float] | None:
    """Each timed launch as ns per load (time / loads per chain), for the noise test."""
    timing = record.get("time_s") or {}
    steps = record.get("steps_per_launch")
    if not steps or not timing.get("samples"):
        return None
    return [t * 1e9 / steps for t in timing["samples"]]


def compare_entries(document: dict) -> dict[tuple, Entry]:
    """(chase, memory, working set) -> ns per load, with its samples."""
    entries = {}
    if document.get("kind", "measured") != "measured":
        return entries
    for record in document.get("records", []):
        if record.get("family") != "latency" or record.get("status") != "ok":
            continue
        key = (curve_name(latency.curve_key(record)), record.get("memory"), record["working_set_bytes"])
        cycles = (record.get("cycles") or {}).get("median")
        entries[key] = Entry(record["latency_ns"]["median"], per_load_samples(record),
                             f"{cycles:.0f} cycles" if cycles is not None else "", better="lower",
                             timing=record.get("time_s"))
    return entries


COMPARE = (("Load latency, ns per dependent load", compare_entries, "chase / memory / set"),)


# ---------------------------------------------------------------- the figure

def plots(named: list[tuple[str, dict]], out_dir: Path) -> list[Path]:
    """latency_vs_size.png and .svg: latency against working set (log x), one line per file and
    curve, the one-thread chases above and the loaded ones below (their ns are another scale);
    the steps found on each curve marked (a dotted line between the last working set on a
    level and the first above it) and each level's latency written on it; nothing when no file
    holds a latency curve."""
    drawn = [(label, curve) for label, document in named if document.get("kind", "measured") == "measured"
             for curve in latency.curves(document.get("records", []))]
    if not drawn:
        return []
    unconverged: dict[tuple, list] = {}  # (file, curve) -> the points whose sampling did not converge
    for label, document in named:
        for r in document.get("records", []):
            if r.get("family") == "latency" and r.get("status") == "ok" and mark(r):
                unconverged.setdefault((label, latency.curve_key(r)), []).append(
                    (r["working_set_bytes"], r["latency_ns"]["median"]))
    modes = [mode for mode in latency.MODES if any(curve.key[0] == mode for _, curve in drawn)]
    figure, axes = plt.subplots(len(modes), 1, figsize=(12, 5 * len(modes)), sharex=True, squeeze=False)
    colours = plt.get_cmap("tab10").colors
    for axis, mode in zip(axes[:, 0], modes):
        for number, (label, curve) in enumerate(c for c in drawn if c[1].key[0] == mode):
            colour = colours[number % len(colours)]
            memory = "" if curve.key[3] in HOME_MEMORY else f" ({curve.key[3]})"
            axis.plot([point[0] for point in curve.points], [point[1] for point in curve.points],
                      "--" if memory else "-", marker="o", markersize=3, color=colour,
                      label=f"{label}: {curve_name(curve.key)}{memory}")
            ring_unconverged(axis, unconverged.get((label, curve.key), []), colour)
            if memory:
                continue  # a few sizes in another memory kind: no levels to mark
            for step in curve.steps:
                middle = math.sqrt(step.last_bytes * step.next_bytes)
                axis.axvline(middle, color=colour, linestyle=":", linewidth=1)
                axis.text(middle, 0.98, f" {step.below} -> {step.above}", transform=axis.get_xaxis_transform(),
                          rotation=90, va="top", ha="right", fontsize=7, color=colour)
            largest = max(point[0] for point in curve.points)
            for level in curve.levels:
                axis.hlines(level.ns, level.first_bytes, level.last_bytes, colors=[colour], linewidth=3, alpha=0.35)
                # Each level's label at the middle of its span, right-aligned at the sweep's end
                # (or it runs off the axes), above the line for one curve and below it for the
                # next, so two curves with levels near the same latency do not write over each other.
                middle = math.sqrt(level.first_bytes * level.last_bytes)
                above = number % 2 == 0
                axis.annotate(f"{level.name} {level.ns:.0f} ns", (middle, level.ns), fontsize=7, color=colour,
                              textcoords="offset points", xytext=(0, 4 if above else -4),
                              va="bottom" if above else "top",
                              ha="right" if level.first_bytes >= largest else "center")
        axis.set_ylabel("ns per dependent load" + (" (each chain)" if mode == "loaded" else ""))
        axis.set_ylim(bottom=0, top=axis.get_ylim()[1] * 1.08)  # room for the labels of the top level
        axis.grid(True, which="major", alpha=0.3)
        axis.legend(fontsize=7, loc="upper left")
        axis.set_title("one thread, one chain" if mode == "latency" else
                       "loaded: many chains at once (every SM full of them on a GPU)", fontsize=9)
    bottom = axes[-1, 0]
    bottom.set_xscale("log", base=2)
    bottom.set_xlabel("working set (bytes of the ring)")
    bottom.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: size_label(v)))
    figure.suptitle("Load latency against working set (pointer chase; dotted: the steps found on each curve; "
                    "dashed: other memory kinds)", fontsize=10)
    return save(figure, out_dir, "latency_vs_size")
