"""The one-screen summary that ends `smbench bench` (and `make bench`): each family's
headline lines (Family.headline), what compiles where, and where the files are. The
harness names no family: each family says its own headline."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from smbench import screen

LABEL_WIDTH = 8  # "numerics" and the other labels line up in one column


def family_lines(document: dict) -> list[tuple[str, str]]:
    """(label, text) lines from every family with a headline, in the registry's order."""
    from smbench.families import registry

    lines: list[tuple[str, str]] = []
    for family in registry().values():
        if family.headline is not None:
            lines += family.headline(document)
    return lines


def compat_lines(matrix, native: str | None) -> list[tuple[str, str]]:
    """What the compile matrix says in one or two lines: how many kernel/target pairs build,
    and for the GPU's own target (else the Spark's, sm_121) which kernels do not."""
    cells = matrix.cells
    ok = sum(c.status == "ok" for c in cells)
    kernels = sorted({(c.file, c.kernel) for c in cells})
    lines = [("compile", f"{ok} of {len(cells)} kernel/target pairs build ({len(kernels)} kernels x "
                             f"{len(matrix.targets)} targets, NVRTC {'.'.join(map(str, matrix.nvrtc_version))})")]
    target = native if native in matrix.targets else "sm_121" if "sm_121" in matrix.targets else None
    if target:
        mine = [c for c in cells if c.target == target]
        missing = sorted({c.kernel for c in mine if c.status != "ok"})
        text = f"{target}: {len(mine) - len(missing)} of {len(mine)} build"
        specific = target + "a"
        if missing and specific in matrix.targets:
            on_specific = {c.kernel for c in cells if c.target == specific and c.status == "ok"}
            moved = [k for k in missing if k in on_specific]
            rest = [k for k in missing if k not in on_specific]
            if moved:
                text += f"; {len(moved)} more build for {specific} (its arch-specific instructions)"
            if rest:
                text += f"; {len(rest)} build on neither: {', '.join(rest[:3])}{' ...' if len(rest) > 3 else ''}"
        elif missing:
            text += f"; not: {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}"
        lines.append(("", text))
    return lines


def print_screen(console: Console, title: str, lines: list[tuple[str, str]]) -> None:
    console.print(Text(title, style="bold"))
    # Wrapped text continues under the text, the labels stay in their column; a path too long
    # for the room beside the label gets a line of its own, whole (smbench.screen).
    for label, text in lines:
        first, *rest = screen.hanging(label, text, console.width, LABEL_WIDTH)
        line = Text(first[:LABEL_WIDTH], style="bold")
        line.append(first[LABEL_WIDTH:])
        console.print(line, soft_wrap=True)
        for more in rest:
            console.print(Text(more), soft_wrap=True)
