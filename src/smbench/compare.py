"""`smbench compare`: the same benchmarks side by side across result files.

Tables: each family's (Family.compare: a title, a function from a document to its
figures by key, the key's name), in the registry's order. A row is one figure, keyed by its
identity's fields (smbench.axes); a published figure names the same fields
(smbench.reference), so it lands on the row of the measured figure it describes, and says
where its conditions differ. Every value is also given as a ratio to the first file, and a
measured one with its spread (smbench.noise: the noise, the median's 95% interval, whether
sampling converged). Whether a difference is real is the two-sided Mann-Whitney U test's
answer at ALPHA on the raw samples, with the ratio of medians and its interval as the effect
(smbench.noise.difference); published figures have no samples, so no verdict.
"""

from __future__ import annotations

from dataclasses import dataclass

from smbench import noise
from smbench.noise import ALPHA, mann_whitney_p  # noqa: F401 - compare's test, named here too
from smbench.reference import LARGEST, NO_COUNTERPART
from smbench.units import size_text


def differs(a: list[float] | None, b: list[float] | None) -> tuple[bool | None, float | None]:
    """(is the difference beyond noise, p): the test's answer alone; (None, None) without samples."""
    found = noise.difference(a, b)
    return (None, None) if found is None else (found.beyond, found.p)


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
    timing: dict | None = None  # the record's time_s: the noise and convergence of a measured figure
    condition: str = ""  # how a published figure's conditions differ from the measured one's
    counterpart: str = ""  # why smbench has no measured figure of this kind ('' when it has)
    size: int | None = None  # where a published figure's size is LARGEST: the measured size, to find the largest
    others: tuple = ()  # further published figures of the same row and file (the first is the basis)

    @property
    def spread(self) -> noise.Spread | None:
        """The spread of a measured figure (smbench.noise): the noise of its timed samples, the
        median's 95% interval in the figure's unit, whether sampling converged."""
        if not self.samples or len(self.samples) < 2:
            return None
        timing = self.timing if isinstance(self.timing, dict) else {}
        converged = timing.get("converged")
        return noise.spread(self.samples, converged if isinstance(converged, bool) else None,
                            str(timing.get("stop_reason", "")), noise.relative_iqr(timing.get("samples")))

    def shown(self) -> str:
        """The value as a cell: 4 significant figures; a measured one's noise (and the mark of a
        non-converged one), a published one's kind, the qualifier, '*' where conditions differ."""
        spread = self.spread
        text = _number(self.value) + (f" {spread.text()}" if spread else "")
        text += f" {self.mark}" if self.mark else ""
        text += f" ({self.qualifier})" if self.qualifier else ""
        text += "*" if self.condition else ""
        for other in self.others:
            text += f"; {other.shown()}"
        return text


def published_entry(record: dict, value: float) -> Entry:
    """A published figure: no samples; its kind in the cell, its source in the note, how its
    conditions differ and whether smbench measures such a figure at all."""
    return Entry(value, None, f"{record.get('figure_kind', '')}: {record.get('source', '')}",
                 record.get("figure_kind", ""), qualifier=record.get("how", ""),
                 condition=record.get("condition", ""), counterpart=record.get("counterpart", ""))


# The basis a figure is read by, first to last: measured by smbench (no mark), then measured by
# others, then the vendor's figure, then a derived one. Like with like across devices: the spec
# only where nothing was measured (the report's LLM table and roofline; a row's published cell).
BASIS = ("", "M", "V", "D")
BASIS_WORDS = {"": "measured by smbench", "M": "measured by others", "V": "vendor spec", "D": "derived"}


def basis_rank(entry: Entry) -> int:
    return BASIS.index(entry.mark) if entry.mark in BASIS else len(BASIS)


def by_basis(entries) -> Entry | None:
    """Of several figures of one kind (a column, a kernel), the one to read: the best basis
    (BASIS), then the highest value ('lower' figures: the lowest)."""
    found = list(entries)
    if not found:
        return None
    return min(found, key=lambda e: (basis_rank(e), -e.value if e.better == "higher" else e.value))


def expanded(entries: dict) -> list[tuple]:
    """(key, entry) for every figure, a cell's further published figures (Entry.others) included."""
    return [(key, one) for key, entry in entries.items() for one in (entry, *entry.others)]


def gather(entries: dict, key, entry: Entry) -> None:
    """Put a published entry under its key: where one is there already (a vendor figure and
    someone's measurement of the same format), the measured one is the cell's value and the
    other is shown beside it."""
    present = entries.get(key)
    if present is None:
        entries[key] = entry
        return
    both = sorted([present, *present.others, entry], key=basis_rank)
    first = both[0]
    first.others = tuple(both[1:])
    for other in first.others:
        other.others = ()
    entries[key] = first


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
    beyond_noise: list[list] = None  # per row, per file after the first: the test's answer (True/False/None)
    tests: list[list] = None  # per row, per file after the first: its noise.Difference, or None
    keys: list = None  # per row: its key

    def __post_init__(self) -> None:
        self.absent = self.absent or []
        self.labels = self.labels or []
        self.entries = self.entries or []
        self.beyond_noise = self.beyond_noise or []
        self.tests = self.tests or []
        self.keys = self.keys or []

    def counterpart(self, number: int) -> str:
        """Why row `number` has no measured figure in smbench ('' when it can have one)."""
        return next((e.counterpart for e in self.entries[number] if e is not None and e.counterpart), "")


def verdict(found: noise.Difference | None) -> str:
    return "n/a (no samples)" if found is None else found.verdict()


def land_largest(per_file: list[dict]) -> None:
    """A published figure whose size is LARGEST goes to the row of the largest measured size of
    the same figure (the keys alike but for the size); with none, it keeps a row of its own."""
    sized = {}
    for entries in per_file:
        for key, entry in entries.items():
            if isinstance(key, tuple) and entry.size is not None:
                best = sized.get(key[:-1])
                if best is None or entry.size > best[1]:
                    sized[key[:-1]] = (key, entry.size)
    for entries in per_file:
        for key in [k for k in entries if isinstance(k, tuple) and k[-1] == LARGEST and k[:-1] in sized]:
            entry = entries.pop(key)
            gather(entries, sized[key[:-1]][0], entry)


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
        land_largest(per_file)
        keys = list(dict.fromkeys(k for entries in per_file for k in entries))
        columns = [key_name, *labels, *[f"{label} / {labels[0]}" for label in labels[1:]],
                   *[f"{label} vs {labels[0]}" for label in labels[1:]]]
        table = Table(title, columns, [], [label for label, document in named if label not in labels], labels)
        for key in keys:
            base = per_file[0].get(key)
            row_entries = [entries.get(key) for entries in per_file]
            ratios, verdicts, beyond, tests = [], [], [], []
            for other in row_entries[1:]:
                if base is None or other is None or not base.value:
                    ratios.append(None)
                    verdicts.append("")
                    beyond.append(None)
                    tests.append(None)
                    continue
                ratios.append(other.value / base.value)
                found = noise.difference(base.samples, other.samples)
                verdicts.append(verdict(found))
                beyond.append(None if found is None else found.beyond)
                tests.append(found)
            label = key_label(key)
            missing = next((e.counterpart for e in row_entries if e is not None and e.counterpart), "")
            table.rows.append([f"{label} ({NO_COUNTERPART})" if missing else label,
                               *[e.value if e else None for e in row_entries], *ratios, *verdicts])
            table.entries.append(row_entries)
            table.beyond_noise.append(beyond)
            table.tests.append(tests)
            table.keys.append(key)
        tables.append(table)
    return tables


def key_label(key) -> str:
    return " / ".join(_fmt_key(part) for part in key) if isinstance(key, tuple) else key


def regressions(tables: list[Table], percent: float) -> list[str]:
    """Figures measured in both the first file and another that moved the wrong way (down for
    GB/s and TFLOP/s, up for ns and us) by more than `percent`, the test calling it beyond noise."""
    found = []
    for table in tables:
        for row, entries, tests in zip(table.rows, table.entries, table.tests):
            base = entries[0]
            for label, other, test in zip(table.labels[1:], entries[1:], tests):
                if base is None or other is None or test is None or not test.beyond or not base.value:
                    continue
                change = 100 * (other.value / base.value - 1)
                worse = -change if base.better == "higher" else change
                if worse > percent:
                    found.append(f"{table.title}: {row[0]}: {label} {_number(other.value)} vs {table.labels[0]} "
                                 f"{_number(base.value)} ({change:+.1f}%, beyond noise: p={test.p:.1e}, "
                                 f"n={test.n[0]}/{test.n[1]})")
    return found


def _number(value: float) -> str:
    """4 significant figures, never an exponent for a figure in the thousands."""
    return f"{value:.0f}" if 1e4 <= abs(value) < 1e12 else f"{value:.4g}"


def _fmt_key(part) -> str:
    if isinstance(part, int) and not isinstance(part, bool) and part >= 1024:
        return size_text(part)
    return str(part)


# ---------------------------------------------------------------- rendering (smbench compare --format)

NOTE = (f"A ratio is to the first file. Verdict: two-sided Mann-Whitney U on the raw samples at p < {ALPHA:g}: "
        "'within noise' where the test cannot tell the runs apart, 'differs: Rx [low-high]' where it can, R the ratio "
        f"of medians and [low-high] its Hodges-Lehmann interval at {100 * (1 - ALPHA):g}%. Measured cells: "
        f"{noise.DEFINITION}. Published figures have no samples, so no verdict: V = vendor specification, "
        "M = measured by others, D = derived (sources in the files); * = its conditions differ from the measured "
        "figure's (listed under the table).")
FORMATS = ("text", "md", "csv", "json")


def _cells(table: Table, row: list, entries: list) -> list[str]:
    """A row as text: the key, each file's value with its spread or published kind, ratios, verdicts."""
    values = [entry.shown() if entry else "-" for entry in entries]
    ratios = [f"{r:.3g}" if r is not None else "-" for r in row[1 + len(entries):1 + 2 * len(entries) - 1]]
    return [str(row[0]), *values, *ratios, *[str(v) for v in row[2 * len(entries):]]]


def conditions(table: Table) -> list[str]:
    """'* gb10, bf16_f32acc: accumulation not stated': each published figure whose conditions differ."""
    return [f"* {label}, {key_label(key)}: {entry.condition}" for key, entries in zip(table.keys, table.entries)
            for label, cell in zip(table.labels, entries) if cell is not None
            for entry in (cell, *cell.others) if entry.condition]


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
        writer.writerow(["table", "key", "file", "value", "kind", "ratio_to_first", "verdict", "p", "n_first", "n",
                         "ratio_low", "ratio_high", "noise", "ci95_low", "ci95_high", "converged", "condition",
                         "counterpart", "note"])
        for table in tables:
            for row in _table_json(table)["rows"]:
                for label in table.labels:
                    cell = row["files"][label]
                    test = cell.get("test") or {}
                    spread = cell.get("spread") or {}
                    interval, ratio_interval = spread.get("median_ci95") or [None, None], \
                        test.get("ratio_interval") or [None, None]
                    writer.writerow([table.title, row["key"], label, cell["value"], cell["kind"], cell["ratio"],
                                     cell["verdict"], test.get("p"), *(test.get("n") or [None, None]),
                                     *ratio_interval, spread.get("noise"), *interval, spread.get("converged"),
                                     cell.get("condition", ""), row.get("counterpart", ""), cell["note"]])
        return buffer.getvalue()
    if fmt == "md":
        out = []
        for t in tables:
            out += [f"### {t.title}", "", "| " + " | ".join(t.columns) + " |", "|" + "---|" * len(t.columns)]
            out += ["| " + " | ".join(c.replace("|", "\\|") for c in _cells(t, row, entries)) + " |"
                    for row, entries in zip(t.rows, t.entries)]
            out += [""] + [f"{line}  " for line in conditions(t)] + ([""] if conditions(t) else [])
            out += [f"Not in this table (no such figures): {', '.join(t.absent)}", ""] if t.absent else []
        return "\n".join(out + [NOTE] + [f"REGRESSED: {line}" for line in problems]) + "\n"
    from smbench import compare_view  # the terminal layout: fitted to the width, every cell whole

    return compare_view.render_text(tables, terminal, width, problems)


def _cell_json(entry: Entry | None, ratio, verdict_text: str, test: noise.Difference | None) -> dict:
    """One file's cell: its value and kind; a measured one's spread, a published one's conditions;
    against the first file, the ratio, the verdict and the test's numbers."""
    cell = {"value": entry.value if entry else None, "kind": (entry.mark or "measured") if entry else None,
            "note": entry.note if entry else "", "ratio": ratio, "verdict": verdict_text,
            "test": test.to_dict() if test is not None else None}
    if entry is not None:
        spread = entry.spread
        cell["spread"] = spread.to_dict() if spread else None
        if entry.condition:
            cell["condition"] = entry.condition
        if entry.qualifier:
            cell["how"] = entry.qualifier
        if entry.others:
            cell["also"] = [{"value": o.value, "kind": o.mark, "note": o.note, "how": o.qualifier,
                             "condition": o.condition} for o in entry.others]
    return cell


def _table_json(table: Table) -> dict:
    rows = []
    count = len(table.labels)
    for number, (row, entries, tests) in enumerate(zip(table.rows, table.entries, table.tests)):
        ratios = [None, *row[1 + count:2 * count]]
        verdicts = ["", *row[2 * count:]]
        files = {label: _cell_json(entry, ratio, verdict_text, test)
                 for label, entry, ratio, verdict_text, test in zip(table.labels, entries, ratios, verdicts,
                                                                    [None, *tests])}
        found = {"key": key_label(table.keys[number]), "files": files}
        if table.counterpart(number):
            found["counterpart"] = table.counterpart(number)
        rows.append(found)
    return {"title": table.title, "key": table.columns[0], "files": table.labels, "first": table.labels[0],
            "rows": rows, "absent": table.absent}
