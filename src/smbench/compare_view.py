"""How `smbench compare` lays its tables out on a terminal (or in a file as text): each table
fitted to the width with every cell whole (run_view.print_fitted). What the rows and cells
say is compare.py's (compare._cells); here only how they are placed: the files' columns get
letters at a narrow width (A = the first file, with a legend), the verdicts a short word,
and what still does not fit comes in a further table with the key repeated."""

from __future__ import annotations

import io
import string

from rich.console import Console
from rich.text import Text

from smbench import compare, screen
from smbench.run_view import Column, Short, print_fitted

# A verdict's short form for a narrow terminal (compare.verdict's words; the p-value stays in the full form).
SHORT_VERDICTS = (("differs", "DIFFERS"), ("within noise", "noise"), ("n/a", "n/a"))


def _letter(number: int) -> str:
    return string.ascii_uppercase[number] if number < 26 else f"F{number + 1}"


def _short_verdict(text: str) -> str:
    return next((short for start, short in SHORT_VERDICTS if text.startswith(start)), text)


def columns_of(table: compare.Table) -> list[Column]:
    """The key (never dropped), a column per file (letters in short form; the first file's
    figure is never dropped), then the ratios and verdicts compare adds, as many as there are."""
    files = len(table.labels)
    letters = [_letter(i) for i in range(files)]
    out = [Column(table.columns[0], keep=Column.NEVER_DROPPED, wrap=True)]  # a long key (a counterpart note) wraps
    for number, label in enumerate(table.labels):
        out.append(Column(label, letters[number], keep=Column.NEVER_DROPPED if number == 0 else 8, right=True))
    for number, name in enumerate(table.columns[1 + files:]):
        ratio = number < files - 1
        other = letters[1 + number % max(files - 1, 1)]
        short = f"{other}/{letters[0]}" if ratio else f"{other} vs {letters[0]}"
        out.append(Column(name, short, keep=6 if ratio else 4, right=ratio, legend=False))  # B/A: the letters say it
    return out


def rows_of(table: compare.Table) -> list[list]:
    """compare's cells; a verdict with its short word beside it for a narrow terminal."""
    files = len(table.labels)
    rows = []
    for row, entries in zip(table.rows, table.entries):
        cells = compare._cells(table, row, entries)
        rows.append([*cells[:2 * files], *(Short((Text(c), Text(_short_verdict(c)))) for c in cells[2 * files:])])
    return rows


def render_text(tables: list[compare.Table], terminal: bool, width: int, problems: list[str] = ()) -> str:
    console = Console(file=io.StringIO(), width=width, force_terminal=terminal)
    for table in tables:
        print_fitted(console, table.title, columns_of(table), rows_of(table), stack=True)
        for line in compare.conditions(table):
            screen.say(console, line, "dim")
        if table.absent:
            screen.say(console, f"not in this table (no such figures): {', '.join(table.absent)}", "dim")
    screen.say(console, compare.NOTE, "dim")
    for line in problems:
        screen.say(console, f"REGRESSED: {line}", "red")
    return console.file.getvalue()

