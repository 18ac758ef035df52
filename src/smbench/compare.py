"""`smbench compare`: the same benchmarks side by side across result files.

Tables: each family's (Family.compare: a title, a function from a document to its
figures by key, the key's name), in the registry's order. Every value is also given as a
ratio to the first file. Whether a difference is real is decided from the raw samples:
a two-sided Mann-Whitney U test at p < 0.01 *and* medians further apart than the larger
of the two interquartile ranges; published figures have no samples, so no verdict.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from smbench.units import size_text

ALPHA = 0.01


def mann_whitney_p(a: list[float], b: list[float]) -> float:
    """Two-sided p-value of the Mann-Whitney U test, normal approximation with tie correction
    (adequate from about 8 samples a side; smaller samples give a conservative answer)."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    n1, n2 = len(x), len(y)
    if n1 < 2 or n2 < 2:
        return 1.0
    combined = np.concatenate([x, y])
    order = combined.argsort(kind="mergesort")
    ranks = np.empty(len(combined))
    sorted_values = combined[order]
    i = 0
    while i < len(combined):  # average ranks over ties
        j = i
        while j + 1 < len(combined) and sorted_values[j + 1] == sorted_values[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    u1 = ranks[:n1].sum() - n1 * (n1 + 1) / 2
    mean = n1 * n2 / 2
    _, counts = np.unique(combined, return_counts=True)
    n = n1 + n2
    variance = n1 * n2 / 12 * ((n + 1) - (counts ** 3 - counts).sum() / (n * (n - 1)))
    if variance <= 0:
        return 1.0 if u1 == mean else 0.0
    z = (abs(u1 - mean) - 0.5) / math.sqrt(variance)  # with continuity correction
    return math.erfc(max(z, 0.0) / math.sqrt(2))


def _iqr(values: list[float]) -> float:
    return float(np.subtract(*np.percentile(values, [75, 25]))) if len(values) > 1 else 0.0


def differs(a: list[float] | None, b: list[float] | None) -> tuple[bool | None, float | None]:
    """(is the difference beyond the noise of both, p); (None, None) without samples on both sides."""
    if not a or not b or len(a) < 2 or len(b) < 2:
        return None, None
    p = mann_whitney_p(a, b)
    gap = abs(float(np.median(a)) - float(np.median(b)))
    return bool(p < ALPHA and gap > max(_iqr(a), _iqr(b))), p


@dataclass
class Entry:
    value: float
    samples: list[float] | None  # the figure's own samples, in its unit, when measured
    note: str = ""
    mark: str = ""  # a published figure's kind: V vendor, M measured by others, D derived; "" measured by smbench
    better: str = "higher"  # "higher" (GB/s, TFLOP/s) or "lower" (ns, us): which way a regression goes
    column: str = ""  # a device table's column (the report's): figures alike enough to compare; default the key
    order: int = 0  # where that column stands (smaller first; then first seen)
    qualifier: str = ""  # what the cell adds in brackets: how a published figure was had, a measured format's name

    def shown(self) -> str:
        """The value as a cell: 4 significant figures, the published kind and the qualifier beside it."""
        return (f"{_number(self.value)}{f' {self.mark}' if self.mark else ''}"
                f"{f' ({self.qualifier})' if self.qualifier else ''}")


def published_entry(record: dict, value: float) -> Entry:
    """A published figure: no samples; its kind in the cell, its source in the note."""
    return Entry(value, None, f"{record.get('figure_kind', '')}: {record.get('source', '')}",
                 record.get("figure_kind", ""))


def samples_of(record: dict, amount_field: str, scale: float) -> list[float] | None:
    """Each timed sample as a rate: the record's amount (bytes, operations) / seconds / scale."""
    timing = record.get("time_s")
    amount = record.get(amount_field)
    if not isinstance(timing, dict) or not amount or not timing.get("samples"):
        return None
    return [amount / t / scale for t in timing["samples"] if t > 0]


def gbps_samples(record: dict) -> list[float] | None:
    return samples_of(record, "bytes_moved", 1e9)


def tflops_samples(record: dict) -> list[float] | None:
    return samples_of(record, "ops", 1e12)


@dataclass
class Table:
    title: str
    columns: list[str]  # after the key column: one per file, then ratio and verdict columns
    rows: list[list]
    absent: list[str] = None  # files with no figure for this table
    labels: list[str] = None  # the files in it, in column order
    entries: list[list] = None  # per row, per file: its Entry or None (marks, notes, samples)
    beyond_noise: list[list] = None  # per row, per file after the first: the noise test (True/False/None)

    def __post_init__(self) -> None:
        self.absent = self.absent or []
        self.labels = self.labels or []
        self.entries = self.entries or []
        self.beyond_noise = self.beyond_noise or []


def verdict(real: bool | None, p: float | None) -> str:
    return "n/a (no samples)" if real is None else (f"differs (p={p:.1e})" if real else f"within noise (p={p:.2g})")


def build(named: list[tuple[str, dict]]) -> list[Table]:
    """Aligned tables for several (label, document) pairs. A table holds only the files that have
    figures for it; ratios are to the first of those."""
    from smbench.families import registry

    tables = []
    for title, extract, key_name in [table for family in registry().values() for table in family.compare]:
        present = [(label, entries) for (label, document) in named if (entries := extract(document))]
        if not present:
            continue
        labels = [label for label, _ in present]
        per_file = [entries for _, entries in present]
        keys = list(dict.fromkeys(k for entries in per_file for k in entries))
        columns = [key_name, *labels, *[f"{label} / {labels[0]}" for label in labels[1:]],
                   *[f"{label} vs {labels[0]}" for label in labels[1:]]]
        table = Table(title, columns, [], [label for label, document in named if label not in labels], labels)
        for key in keys:
            base = per_file[0].get(key)
            row_entries = [entries.get(key) for entries in per_file]
            ratios, verdicts, noise = [], [], []
            for other in row_entries[1:]:
                if base is None or other is None or not base.value:
                    ratios.append(None)
                    verdicts.append("")
                    noise.append(None)
                    continue
                ratios.append(other.value / base.value)
                real, p = differs(base.samples, other.samples)
                verdicts.append(verdict(real, p))
                noise.append(real)
            table.rows.append([key_label(key), *[e.value if e else None for e in row_entries], *ratios, *verdicts])
            table.entries.append(row_entries)
            table.beyond_noise.append(noise)
        tables.append(table)
    return tables


def key_label(key) -> str:
    return " / ".join(_fmt_key(part) for part in key) if isinstance(key, tuple) else key


def regressions(tables: list[Table], percent: float) -> list[str]:
    """Figures measured in both the first file and another that moved the wrong way (down for
    GB/s and TFLOP/s, up for ns and us) by more than `percent` and beyond the noise of both."""
    found = []
    for table in tables:
        for row, entries, noise in zip(table.rows, table.entries, table.beyond_noise):
            base = entries[0]
            for label, other, real in zip(table.labels[1:], entries[1:], noise):
                if base is None or other is None or not real or not base.value:
                    continue
                change = 100 * (other.value / base.value - 1)
                worse = -change if base.better == "higher" else change
                if worse > percent:
                    found.append(f"{table.title}: {row[0]}: {label} {_number(other.value)} vs {table.labels[0]} "
                                 f"{_number(base.value)} ({change:+.1f}%, beyond noise)")
    return found


def _number(value: float) -> str:
    """4 significant figures, never an exponent for a figure in the thousands."""
    return f"{value:.0f}" if 1e4 <= abs(value) < 1e12 else f"{value:.4g}"


def _fmt_key(part) -> str:
    if isinstance(part, int) and not isinstance(part, bool) and part >= 1024:
        return size_text(part)
    return str(part)


# ---------------------------------------------------------------- rendering (smbench compare --format)

NOTE = ("A ratio is to the first file. 'differs': two-sided Mann-Whitney U on the raw samples, p < 0.01, and "
        "medians further apart than the larger interquartile range; published figures have no samples, so no "
        "verdict. V = vendor specification, M = measured by others, D = derived (published figures; the sources "
        "are in the files).")
FORMATS = ("text", "md", "csv", "json")


def _cells(table: Table, row: list, entries: list) -> list[str]:
    """A row as text: the key, each file's value with its published kind, ratios, verdicts."""
    values = [entry.shown() if entry else "-" for entry in entries]
    ratios = [f"{r:.3g}" if r is not None else "-" for r in row[1 + len(entries):1 + 2 * len(entries) - 1]]
    return [str(row[0]), *values, *ratios, *[str(v) for v in row[2 * len(entries):]]]


def render(tables: list[Table], fmt: str, terminal: bool = False, width: int = 200,
           problems: list[str] = ()) -> str:
    if fmt == "json":
        import json

        return json.dumps({"tables": [_table_json(t) for t in tables], "regressions": list(problems),
                           "note": NOTE}, indent=1) + "\n"
    if fmt == "csv":
        import csv
        import io

        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["table", "key", "file", "value", "kind", "ratio_to_first", "verdict", "note"])
        for table in tables:
            for row in _table_json(table)["rows"]:
                for label in table.labels:
                    cell = row["files"][label]
                    writer.writerow([table.title, row["key"], label, cell["value"], cell["kind"], cell["ratio"],
                                     cell["verdict"], cell["note"]])
        return buffer.getvalue()
    if fmt == "md":
        out = []
        for t in tables:
            out += [f"### {t.title}", "", "| " + " | ".join(t.columns) + " |", "|" + "---|" * len(t.columns)]
            out += ["| " + " | ".join(c.replace("|", "\\|") for c in _cells(t, row, entries)) + " |"
                    for row, entries in zip(t.rows, t.entries)]
            out += [""] + ([f"Not in this table (no such figures): {', '.join(t.absent)}", ""] if t.absent else [])
        return "\n".join(out + [NOTE] + [f"REGRESSED: {line}" for line in problems]) + "\n"
    from smbench import compare_view  # the terminal layout: fitted to the width, every cell whole

    return compare_view.render_text(tables, terminal, width, problems)


def _table_json(table: Table) -> dict:
    rows = []
    count = len(table.labels)
    for row, entries, noise in zip(table.rows, table.entries, table.beyond_noise):
        ratios = [None, *row[1 + count:2 * count]]
        verdicts = ["", *row[2 * count:]]
        files = {label: {"value": entry.value if entry else None,
                         "kind": (entry.mark or "measured") if entry else None,
                         "note": entry.note if entry else "", "ratio": ratio, "verdict": verdict_text}
                 for label, entry, ratio, verdict_text in zip(table.labels, entries, ratios, verdicts)}
        rows.append({"key": row[0], "files": files})
    return {"title": table.title, "key": table.columns[0], "files": table.labels, "first": table.labels[0],
            "rows": rows, "absent": table.absent}
