"""The summary a person reads at the end of `smbench run`: a title, each family's view
(families/<name>/view.py, through the registry), then what was skipped and what failed.
The helpers here are the pieces family views share: a family's table, percentages, sizes,
verdict colours."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

VERDICT_STYLE = {"normal": "green", "low": "red", "suspicious-high": "magenta", "cache": "dim",
                 "no expectation": "dim", "half rate": "yellow", "twice expected": "magenta", "emulated": "yellow",
                 "below the wgmma rate": "yellow"}
GROUP_ORDER = ("FP4", "FP6", "FP8", "INT4", "INT8", "FP16", "BF16", "TF32", "FP32", "FP64", "INT32")


def size(nbytes: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if nbytes >= scale:
            return f"{nbytes / scale:.4g} {unit}"
    return f"{nbytes} B"


def percent(value) -> str:
    return f"{value:.0f}%" if value is not None else "-"


def fallback_cell(record: dict) -> str:
    fallback = record.get("fallback") or {}
    if fallback.get("status") == "ok":
        return f"{fallback['native_over_fallback']:.2f}x"
    return {"absent": "not in sm_80", "failed": "failed", "not run": "-"}.get(fallback.get("status", ""), "-")


def family_table(records: list[dict], family: str, title: str, columns: tuple[str, ...],
                  wrapped: tuple[str, ...] = (), right: tuple[str, ...] = ()) -> tuple[list[dict], Table | None]:
    """A family's ok records and an empty table with its columns (None when there are none):
    `wrapped` columns may wrap, `right` ones are right-aligned (figures)."""
    rows = [r for r in records if r["family"] == family and r["status"] == "ok"]
    if not rows:
        return rows, None
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, no_wrap=column not in wrapped, justify="right" if column in right else "left")
    return rows, table


def render(document: dict, console: Console) -> None:
    """The title, each family's view of its records (in the registry's order), what failed."""
    from smbench.families import registry

    records = document["records"]
    expected = document.get("expected_bandwidth")
    title = f"{document['device'].get('name', '?')} — suite {document['suite']}, backend {document['backend']}"
    if expected:
        title += f"; expected DRAM bandwidth {expected['gbps']:g} GB/s ({expected['kind']}: {expected['source']})"
    console.print(Text(title, style="bold"), soft_wrap=True)
    for family in registry().values():
        if family.view is not None:
            family.view(records, console)
    _render_outcomes(document, console)


def ratio(value) -> str:
    return f"{value:.2f}x" if value is not None else "-"


def print_table(console: Console, table: Table | None, caption: str) -> None:
    """A family's table with the line that says how to read it; nothing when it has no rows."""
    if table is not None:
        console.print(table)
        console.print(Text(caption, style="dim"), soft_wrap=True)


def _render_outcomes(document: dict, console: Console) -> None:
    records = document["records"]
    failed = [r for r in records if r["status"] == "failed"]
    skipped = [r for r in records if r["status"] == "skipped"]
    reasons: dict[str, list[str]] = {}
    for record in skipped:
        reasons.setdefault(record["reason"], []).append(record.get("kernel") or record["benchmark"])
    for reason, names in reasons.items():
        console.print(f"skipped {len(names)}: {reason}", soft_wrap=True, highlight=False, markup=False)
    for record in failed:
        console.print(Text(f"FAILED {record.get('kernel') or record['benchmark']} "
                           f"{record.get('memory', '')}: {record['reason']}", style="red"), soft_wrap=True)
    ok = sum(r["status"] == "ok" for r in records)
    console.print(f"{ok} ok, {len(failed)} failed, {len(skipped)} skipped; status {document['status']}",
                  highlight=False)
