"""Lines of prose for a terminal of a given width: wrapped between words with a hanging
indent, never inside a word. A number stays with its unit ('329.0 ns', '4 GiB', '87%'), a
path or a symbol longer than the line stands alone on its line and runs past the edge
(whole, so it can be copied) instead of being cut where the terminal would cut it.
Tables have their own fitting (run_view.print_fitted); this is for the lines around them."""

from __future__ import annotations

import re
import textwrap

from rich.cells import cell_len

# Units that follow a number with a space; the space between them is kept unbroken.
UNITS = ("ns", "us", "ms", "s", "B", "KiB", "MiB", "GiB", "TiB", "kB", "MB", "GB", "GB/s", "TB/s", "TFLOP/s",
         "TOPS", "GFLOP/s", "T(FL)OP/s", "W", "MHz", "GHz", "cycles", "cases", "ranks", "registers", "files")
_NUMBER_UNIT = re.compile(r"(\d)( )(" + "|".join(re.escape(u) for u in sorted(UNITS, key=len, reverse=True))
                          + r")(?=$|[\s,;:.)\]])")
_FROM_TO = re.compile(r"(\d) -> (\d)")  # a figure that moved, "22.3 -> 11.3 GB/s", read as one
_GLUE = "\u00a0"  # textwrap breaks at ASCII whitespace only: a no-break space holds a pair together


def wrap(text: str, width: int, indent: int = 0, first: str = "") -> list[str]:
    """`first` + text wrapped to `width` display columns, later lines indented by `indent`;
    between words only (a word longer than the room left gets a line of its own)."""
    glued = _NUMBER_UNIT.sub(lambda m: m.group(1) + _GLUE + m.group(3), _FROM_TO.sub(f"\\1{_GLUE}->{_GLUE}\\2", text))
    room = max(width, indent + 12)
    wrapper = textwrap.TextWrapper(width=room, initial_indent=first, subsequent_indent=" " * indent,
                                   break_long_words=False, break_on_hyphens=False)
    out = []
    for number, line in enumerate(wrapper.wrap(glued) or [first.rstrip()]):
        line = line.replace(_GLUE, " ")
        lead = first if number == 0 else " " * indent
        word = line[len(lead):]
        if cell_len(line) > width and line.startswith(lead) and " " not in word:
            # A path or symbol too long for the indented room: at the start of a line of its own,
            # where the whole width holds it (or, longer still, where it runs on unbroken).
            out += ([lead.rstrip()] if lead.strip() else []) + [word]
        else:
            out.append(line)
    return out


def hanging(label: str, text: str, width: int, label_width: int) -> list[str]:
    """A labelled line (`label` padded to `label_width`, then the text), wrapped under the text."""
    head = f"{label:<{label_width}} "
    return wrap(text, width, indent=len(head), first=head)



def say(console, text: str, style: str = "", indent: int = 2) -> None:
    """`text` printed on a rich console as wrap() lays it out at the console's width."""
    from rich.text import Text

    for line in wrap(text, console.width, indent=indent):
        console.print(Text(line, style=style), soft_wrap=True)
