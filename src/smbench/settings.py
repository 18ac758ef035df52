"""Checks for suite settings: each a predicate and the words an error uses for what it wants.

A family declares its suite section as {key: (check, what it should be)}; suites.check
runs them. Shared here so that every family writes its checks the same way.
"""

from __future__ import annotations

import math
from typing import Callable

Check = tuple[Callable[[object], bool], str]


def is_int(low: int) -> Callable[[object], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low


def power_of_two(low: int) -> Callable[[object], bool]:
    """A whole number >= low that is a power of two (a factor between sweep sizes)."""
    return lambda v: is_int(low)(v) and v & (v - 1) == 0


def is_number(v) -> bool:
    """A finite positive number (not a bool)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0


def is_bool(v) -> bool:
    return isinstance(v, bool)


def triple(v) -> bool:
    return isinstance(v, list) and len(v) == 3 and all(is_int(1)(x) for x in v)


def list_of(check: Callable[[object], bool]) -> Callable[[object], bool]:
    return lambda v: isinstance(v, list) and all(check(x) for x in v)


def formats_setting(known: dict) -> Check:
    """A family's `formats`: "all" or a non-empty list of its format keys."""
    return (lambda v: v == "all" or (list_of(lambda x: x in known)(v) and bool(v)),
            f"\"all\" or a list of {', '.join(known)}")


def chosen_formats(section: dict, known: dict) -> list[str]:
    """A family's `formats` setting: "all" (the default) is every format, in table order."""
    chosen = section.get("formats", "all")
    return list(known) if chosen == "all" else list(chosen)
