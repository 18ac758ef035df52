"""What every subcommand shares: the parser that says a usage mistake in one line, writing
to stdout or a file (said at once when it cannot be), the output options, argparse types."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from pathlib import Path

from smbench.errors import SmbenchError

EXIT_BAD_INPUT = 2


class Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line, not a usage block."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def write(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise SmbenchError(f"cannot write {output}: {exc.strerror or exc}") from None


def check_writable(output: Path | None) -> None:
    """Say at once, not after minutes of compiling, that the output cannot be written."""
    if output is None:
        return
    existed = output.exists()
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        with open(output, "a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise SmbenchError(f"cannot write {output}: {exc.strerror or exc}") from None
    if not existed:
        output.unlink()


def check_writable_dir(directory: Path) -> None:
    """Say at once that an output directory cannot be made or written (a file of that name,
    /proc, no permission), not after minutes of measuring."""
    if directory.exists() and not directory.is_dir():
        raise SmbenchError(f"cannot write to {directory}: a file of that name exists; name a directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".smbench-write-test-"):
            pass
    except OSError as exc:
        raise SmbenchError(f"cannot write to {directory}: {exc.strerror or exc}") from None


@contextlib.contextmanager
def writing_into(directory: Path):
    """Make the output directory (a file in the way, /proc or no permission said at once), and
    turn any later failure to write into it (a full disk) into one line, not a traceback."""
    check_writable_dir(Path(directory))
    try:
        yield
    except OSError as exc:
        where = exc.filename or directory
        raise SmbenchError(f"cannot write to {directory}: {exc.strerror or exc}"
                           + (f" ({where})" if str(where) != str(directory) else "")) from None


def whole(least: int, what: str):
    """An argparse type: a whole number of at least `least`."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"must be at least {least}, not {value}")
        return value
    return parse


positive_int = whole(1, "a whole number")
index = whole(0, "a GPU index")


def percent(text: str) -> float:
    try:
        value = float(text.rstrip("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a percentage") from None
    if not 0 <= value < 1000:
        raise argparse.ArgumentTypeError(f"a percentage from 0 up, not {value:g}")
    return value


def out_file(parser: argparse.ArgumentParser, more: str = "") -> None:
    """--out FILE (the one name every subcommand gives its output; --output and -o as well):
    args.output, None for stdout."""
    parser.add_argument("--out", "--output", "-o", dest="output", type=Path, metavar="FILE",
                        help=f"write to this file instead of stdout{more}")


def out_dir(parser: argparse.ArgumentParser, default: str, what: str) -> None:
    """--out DIR (also -o): args.out, the directory `what` is written to."""
    parser.add_argument("--out", "-o", type=Path, default=Path(default), metavar="DIR",
                        help=f"directory for {what} (default {default}/)")


def suite_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", default=[],
                        help="change one suite setting for this run, e.g. --set stream.largest_mib=256 "
                             "--set timing.warmup=3 (values as in TOML; repeatable)")
    parser.add_argument("--device", type=index, metavar="N",
                        help="the GPU to use, by index (within CUDA_VISIBLE_DEVICES when set); default 0")


def say_if_writable(line: str) -> None:
    """One line on stderr, unless stderr is the pipe whose reader went away (SIGPIPE)."""
    try:
        print(line, file=sys.stderr, flush=True)
    except (BrokenPipeError, OSError):
        pass


def quiet_stdout() -> None:
    """Point stdout at /dev/null after its reader went away, so that Python's own flush at exit
    does not complain on stderr."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except OSError:
        pass


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def say(line: str) -> None:
    """A line of a report on stdout: at a terminal wrapped to its width under the text (a
    number with its unit, a path, whole; smbench.screen); into a file or a pipe, whole."""
    if not stdout_is_terminal():
        print(line)
        return
    from rich.console import Console

    from smbench import screen

    indent = len(line) - len(line.lstrip(" ")) + 4
    print("\n".join(screen.wrap(line, Console().width, indent=indent)))

