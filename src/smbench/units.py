"""Binary byte units and how a size is written: one place for both."""

from __future__ import annotations

KIB, MIB, GIB = 1 << 10, 1 << 20, 1 << 30


def size_text(nbytes: float, digits: int = 4) -> str:
    """A size in the largest binary unit it fills: 512 B, 4 KiB, 1.5 MiB, 64 GiB (`digits`
    significant figures, so that 2329 ns-like run-ons never happen: the unit always follows)."""
    for unit, scale in (("GiB", GIB), ("MiB", MIB), ("KiB", KIB)):
        if nbytes >= scale:
            return f"{nbytes / scale:.{digits}g} {unit}"
    return f"{nbytes:.{digits}g} B"
