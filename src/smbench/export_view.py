"""`smbench export` at a terminal: the export's rows (smbench.frames) as a table fitted to
the width (run_view.print_fitted): what each figure measured and its value with its unit
are never dropped; the file, device, samples, noise, status and verdict go first when the
terminal is narrow, and are named under the table. CSV and Markdown have every column."""

from __future__ import annotations

import io
import math

from rich.console import Console
from rich.text import Text

from smbench.run_view import Column, Short, print_fitted, size, verdict_style


def _present(value) -> bool:
    return value is not None and value is not _NA and not (isinstance(value, float) and math.isnan(value))


try:  # pandas' missing value, which a frame's whole-number columns hold
    from pandas import NA as _NA
except ImportError:  # pragma: no cover - pandas is a dependency
    _NA = None


def _what(row: dict) -> str:
    """What the figure measured: the kernel (or benchmark), its memory, shape and size."""
    parts = [row.get("kernel") or row.get("benchmark"), row.get("memory"), row.get("shape"),
             size(int(row["size_bytes"])) if _present(row.get("size_bytes")) else None]
    return " ".join(str(p) for p in parts if _present(p) and p != "")


def _figure(row: dict) -> str:
    value = row.get("value")
    return f"{value:.4g} {row.get('metric') or ''}".strip() if _present(value) else "-"


def render(rows: list[dict], width: int, terminal: bool) -> str:
    """The table of `rows` (frames.rows' dicts) at `width` columns."""
    console = Console(file=io.StringIO(), width=width, force_terminal=terminal)
    files = list(dict.fromkeys(row.get("file") for row in rows))
    columns = [Column("family", keep=Column.NEVER_DROPPED), Column("what", keep=Column.NEVER_DROPPED, wrap=True),
               Column("figure", keep=Column.NEVER_DROPPED, right=True), Column("n", keep=4, right=True),
               Column("noise", keep=3, right=True), Column("status", keep=6),
               Column("verdict", keep=5), Column("device", "dev", keep=2)]
    if len(files) > 1:
        columns.insert(0, Column("file", keep=7))
    table = []
    for row in rows:
        noise = row.get("noise")
        verdict = row.get("verdict") if _present(row.get("verdict")) else ""
        cells = [row.get("family", ""), _what(row), _figure(row),
                 str(row["n"]) if _present(row.get("n")) else "-",
                 f"{100 * noise:.1f}%" if _present(noise) else "-", row.get("status", ""),
                 Text(str(verdict), style=verdict_style(str(verdict))),
                 Short((str(row.get("device", "")), str(row.get("device", "")).replace("NVIDIA ", "")))]
        table.append(([row.get("file", "")] if len(files) > 1 else []) + cells)
    title = f"{len(rows)} figures from {', '.join(str(f) for f in files)}"
    print_fitted(console, title, columns, table,
                 "figure: the median (noise: IQR / median of the timed samples; n: how many). "
                 "smbench export --format csv or md: every column, for a spreadsheet or a page.")
    return console.file.getvalue()
