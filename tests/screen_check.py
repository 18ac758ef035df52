"""Checks every screen test shares: each line within the terminal's width (display cells, as
rich counts them: wide and combining characters included), except a word that cannot be
broken (a path, a symbol) standing alone on its line; nothing cut with an ellipsis; and no
number split across lines (each number of the screen also a number of the same screen drawn
wide, where nothing needs to wrap)."""

from __future__ import annotations

import re

from rich.cells import cell_len

ANSI = re.compile(r"\x1b\[[0-9;]*m")
CONTINUED = re.compile(r"^\(continued, \d+ of \d+\)$", re.MULTILINE)
NUMBER = re.compile(r"(?<![\w./])\d+(?:\.\d+)?(?:e[+-]?\d+)?(?![\w./])")  # not inside a name (fp6/4, sm_90)


def plain(text: str) -> str:
    return ANSI.sub("", text)


def overlong(text: str, width: int) -> list[str]:
    """Lines wider than `width`, but for one unbreakable word alone on its line."""
    return [line for line in plain(text).splitlines()
            if cell_len(line) > width and len(line.split()) != 1]


def check_fits(text: str, width: int, wide: str | None = None, whole: tuple[str, ...] = ()) -> None:
    """`text` drawn at `width` columns: see the module's docstring. `wide`: the same screen at
    a width where nothing wraps, whose numbers every number of `text` must be one of; `whole`:
    strings (labels, figures with units, header words) that must each stand on one line."""
    shown = plain(text)
    assert not overlong(shown, width), overlong(shown, width)
    assert "\u2026" not in shown and "..." not in shown.replace("' ...'", ""), shown
    lines = shown.splitlines()
    for item in whole:
        assert any(item in line for line in lines), (item, shown)
    if wide is not None:
        known = set(NUMBER.findall(plain(wide)))
        # The page numbers of a table stacked in parts, and the width itself, are the narrow screen's own.
        counted = CONTINUED.sub("", shown)
        split = sorted({n for n in NUMBER.findall(counted) if n not in known and n != str(width)})
        assert not split, (split, shown)
