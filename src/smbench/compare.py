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

    def __post_init__(self) -> None:
        self.absent = self.absent or []


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
        rows = []
        for key in keys:
            base = per_file[0].get(key)
            values = [entries[key].value if key in entries else None for entries in per_file]
            ratios, verdicts = [], []
            for entries in per_file[1:]:
                other = entries.get(key)
                if base is None or other is None or not base.value:
                    ratios.append(None)
                    verdicts.append("")
                    continue
                ratios.append(other.value / base.value)
                real, p = differs(base.samples, other.samples)
                verdicts.append("n/a (no samples)" if real is None else
                                (f"differs (p={p:.1e})" if real else f"within noise (p={p:.2g})"))
            label = " / ".join(_fmt_key(part) for part in key) if isinstance(key, tuple) else key
            rows.append([label, *values, *ratios, *verdicts])
        tables.append(Table(title, columns, rows, [label for label, document in named
                                                    if label not in labels]))
    return tables


def _fmt_key(part) -> str:
    if isinstance(part, int) and part >= 1024:
        for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
            if part >= scale:
                return f"{part / scale:.4g} {unit}"
    return str(part)
