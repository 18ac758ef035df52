"""The summary a person reads at the end of `smbench run`: a title, each family's view
(families/<name>/view.py, through the registry), then what was skipped and what failed.
The helpers here are the pieces family views share: a family's table, percentages, sizes,
verdict colours."""

from __future__ import annotations

from dataclasses import dataclass

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from smbench import origin, screen
from smbench.units import size_text

# The verdict words every family shares (smbench.devices' bands, nccl-tests' link shares); a
# family's own words and colours come with it (Family.verdict_styles, through verdict_style).
VERDICT_STYLE = {"normal": "green", "low": "red", "suspicious-high": "magenta", "no expectation": "dim"}
GROUP_ORDER = ("FP4", "FP6", "FP8", "INT4", "INT8", "FP16", "BF16", "TF32", "FP32", "FP64", "INT32")


size = size_text  # a byte count as a person reads it (smbench.units)


def verdict_style(verdict: str) -> str:
    """How a terminal colours a verdict: the shared words, then each family's own."""
    from smbench.families import registry  # here: the families import this module

    if verdict in VERDICT_STYLE:
        return VERDICT_STYLE[verdict]
    return next((f.verdict_styles[verdict] for f in registry().values() if verdict in f.verdict_styles), "")


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


@dataclass(frozen=True)
class Column:
    """A column of a table that must fit the terminal: its header, a shorter one for a
    narrow terminal, and how long it is kept (columns with the lowest `keep` go first; the
    row labels and the figure itself are never dropped)."""

    name: str
    short: str = ""
    keep: int = 5
    right: bool = False
    legend: bool = True  # whether the short header is explained under the table (False: it explains itself)
    wrap: bool = False  # a column of words that may wrap between them when the columns kept still do not fit

    NEVER_DROPPED = 9


class Short(tuple):
    """A cell with a shorter form for a narrow terminal: Short((full, short))."""


def _cell(cell, short: bool):
    return cell[1] if isinstance(cell, Short) and short else cell[0] if isinstance(cell, Short) else cell


def _cell_width(cell, short: bool) -> int:
    cell = _cell(cell, short)
    return cell_len(cell.plain if isinstance(cell, Text) else str(cell))


def _table_width(widths: list[int]) -> int:
    """A rich table's width for these column widths: one space of padding each side of a
    cell, and a border line before, between and after the columns."""
    return sum(widths) + 2 * len(widths) + len(widths) + 1


def fit_columns(columns: list[Column], rows: list[list], width: int) -> tuple[list[int], bool, list[Column]]:
    """(indices of the columns shown, whether in their short form, the columns dropped) so
    that the table is at most `width` wide with every cell whole: full headers and cells if
    they fit, else the short ones, then the columns that matter least dropped until it fits."""
    def widths(shown: list[int], short: bool) -> list[int]:
        return [max([cell_len(_header(columns[i], short))] + [_cell_width(row[i], short) for row in rows])
                for i in shown]

    shown = list(range(len(columns)))
    for short in (False, True):
        if _table_width(widths(shown, short)) <= width:
            return shown, short, []
    droppable = sorted((i for i in shown if columns[i].keep < Column.NEVER_DROPPED),
                       key=lambda i: (columns[i].keep, -i))
    dropped = []
    for index in droppable:
        if _table_width(widths(shown, True)) <= width:
            break
        shown.remove(index)
        dropped.append(columns[index])
    return shown, True, dropped


def _header(column: Column, short: bool) -> str:
    return (column.short or column.name) if short else column.name


def stack_columns(columns: list[Column], rows: list[list], width: int) -> list[list[int]]:
    """Pages of column indices, each at most `width` wide in short form: every page repeats
    the columns never dropped (the row labels) and takes as many of the others, in order,
    as fit. A table of many narrow columns (the targets' features) is printed page by page
    instead of losing any."""
    labels = [i for i, c in enumerate(columns) if c.keep >= Column.NEVER_DROPPED]

    def fits(shown: list[int]) -> bool:
        widths = [max([cell_len(_header(columns[i], True))] + [_cell_width(row[i], True) for row in rows])
                  for i in shown]
        return _table_width(widths) <= width

    def paginate(most: int) -> list[list[int]]:
        pages, page = [], []
        for index in (i for i in range(len(columns)) if i not in labels):
            if page and (len(page) == most or not fits(sorted(labels + page + [index]))):
                pages.append(sorted(labels + page))
                page = []
            page.append(index)
        if page or not pages:
            pages.append(sorted(labels + page))
        return pages

    others = len(columns) - len(labels)
    greedy = paginate(others)
    # As many pages as the greedy fill needs, the columns shared out evenly between them.
    even = paginate(-(-others // len(greedy)))
    return even if len(even) == len(greedy) else greedy


def _wrapped(columns: list[Column], rows: list[list], page: list[int], short: bool, width: int) -> list[list]:
    """The rows with the page's `wrap` column (a label of words) wrapped to what the other
    columns leave of `width`, between words and never between a number and its unit
    (smbench.screen), when the page is still too wide with every droppable column gone."""
    wide = [i for i in page if columns[i].wrap]
    widths = [max([cell_len(_header(columns[i], short))] + [_cell_width(row[i], short) for row in rows]) for i in page]
    excess = _table_width(widths) - width
    if not wide or excess <= 0:
        return rows
    from smbench import screen

    index = wide[0]
    room = max(widths[page.index(index)] - excess, cell_len(_header(columns[index], short)), 8)
    out = []
    for row in rows:
        cell = _cell(row[index], short)
        plain = cell.plain if isinstance(cell, Text) else str(cell)
        lines = "\n".join(screen.wrap(plain, room))
        out.append([*row[:index], Text(lines, style=cell.style) if isinstance(cell, Text) else lines, *row[index + 1:]])
    return out


def print_fitted(console: Console, title: str, columns: list[Column], rows: list[list], caption: str = "",
                 sections: tuple[int, ...] = (), stack: bool = False) -> None:
    """A table that keeps every label and number whole at the console's width (a wide
    terminal gets every column; a narrow one short headers and labels, then fewer columns,
    named below the table, or with `stack` the rest in further tables with the labels
    repeated). `sections`: row indices before which a rule is drawn."""
    if not rows:
        return
    shown, short, dropped = fit_columns(columns, rows, console.width)
    pages = [shown]
    if dropped and stack:
        pages, dropped = stack_columns(columns, rows, console.width), []
    for number, page in enumerate(pages):
        heading = title if number == 0 else f"(continued, {number + 1} of {len(pages)})"
        if heading:  # a line of its own, wrapped at the console's width (a table title wraps at the table's)
            console.print(Text(heading, style="table.title"))
        table = Table()
        for index in page:
            table.add_column(_header(columns[index], short), no_wrap=True,
                             justify="right" if columns[index].right else "left")
        for row_number, row in enumerate(_wrapped(columns, rows, page, short, console.width)):
            table.add_row(*(_cell(row[i], short) for i in page), end_section=row_number + 1 in sections)
        console.print(table)
    notes = []
    legend = [f"{columns[i].short} = {columns[i].name}" for i in sorted({i for p in pages for i in p})
              if short and columns[i].short and columns[i].legend]
    if legend:
        notes.append("; ".join(legend) + ".")
    if dropped:
        notes.append(f"Not shown at {console.width} columns: {', '.join(c.name for c in dropped)} "
                     f"(a wider terminal shows them; the result file and `smbench report` have every figure).")
    if caption:
        notes.append(caption)
    if notes:
        screen.say(console, " ".join(notes), "dim", indent=0)


def render(document: dict, console: Console) -> None:
    """The title, each family's view of its records (in the registry's order), what failed."""
    from smbench.families import registry

    records = document["records"]
    title = f"{document['device'].get('name', '?')} — suite {document['suite']}, backend {document['backend']}"
    if document["backend"] != "cpu" and origin.not_hardware(document):
        title += f"; {origin.not_hardware(document)}: the figures are the host CPU's"
    for family in registry().values():  # what a family's verdicts are against (Family.title)
        clause = family.title(document) if family.title is not None else ""
        title += f"; {clause}" if clause else ""
    screen.say(console, title, "bold")
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
        screen.say(console, caption, "dim")


def _render_outcomes(document: dict, console: Console) -> None:
    records = document["records"]
    failed = [r for r in records if r["status"] == "failed"]
    skipped = [r for r in records if r["status"] == "skipped"]
    reasons: dict[str, list[str]] = {}
    for record in skipped:
        reasons.setdefault(record["reason"], []).append(record.get("kernel") or record["benchmark"])
    for reason, names in reasons.items():
        screen.say(console, f"skipped {len(names)}: {reason}")
    for record in failed:
        screen.say(console, f"FAILED {record.get('kernel') or record['benchmark']} "
                            f"{record.get('memory', '')}: {record['reason']}", "red")
    ok = sum(r["status"] == "ok" for r in records)
    console.print(f"{ok} ok, {len(failed)} failed, {len(skipped)} skipped; status {document['status']}",
                  highlight=False)
