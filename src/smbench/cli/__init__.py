"""`smbench ...`: the command-line entry point, a module per subcommand (or a few alike).

Bad input (an unknown target, a missing file, a malformed option) is one line on
stderr and exit status 2; a kernel that does not compile is a row in the output.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from smbench import __version__
from smbench.cli import bench, common, compat, doctor, figures, results, run, scan, targets
from smbench.cli.run import select_device as _select_device  # noqa: F401  (tests and callers use these names)
from smbench.cli.run import table_width as _table_width  # noqa: F401
from smbench.errors import SmbenchError


def build_parser() -> argparse.ArgumentParser:
    parser = common.Parser(prog="smbench", description="GPU microbenchmarks: what this CUDA GPU really does.")
    parser.add_argument("--version", action="version", version=f"smbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=common.Parser)
    sub.required = True
    # The order of `smbench --help`: what compiles, what runs, what reads the results.
    targets.add_parser(sub)
    compat.add_parser(sub)
    scan.add_parser(sub)
    run.add_parser(sub)
    bench.add_parsers(sub)
    results.add_parsers(sub)
    figures.add_parsers(sub)
    doctor.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # A terminal or pipe that cannot show ✗ or → gets a replacement character, not a traceback.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except SmbenchError as exc:
        print(f"smbench {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"smbench {args.command}: interrupted (nothing written)", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `smbench compat | head`: the reader has all it wanted. Point stdout at /dev/null so
        # that Python's own flush at exit does not complain.
        common.quiet_stdout()
        return 0
