"""`smbench scan`: will the installed software run natively on this GPU?"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from rich.console import Console

from smbench.cli import common
from smbench.cli.progress import progress


def cmd_scan(args: argparse.Namespace) -> int:
    from smbench import scan
    from smbench.scan import view

    common.check_writable(args.output)
    with progress("reading device code", "smbench scan", "files") as update:
        result = scan.run(list(args.paths), args.gpu, detail=args.detail, on_total=lambda n: update(total=n),
                          on_file=lambda _: update(advance=1))
    terminal = args.format == "table" and args.output is None and common.stdout_is_terminal()
    renderers = {"json": view.render_json, "csv": view.render_csv, "md": view.render_markdown,
                 "table": lambda r: view.render_text(r, _scan_width(terminal), colour=terminal)}
    common.write(renderers[args.format](result), args.output)
    if args.format != "table" or args.output is not None:
        for line in ([result.gpu_note] if result.gpu_note else []) + result.summary_lines():
            print(f"smbench scan: {line}", file=sys.stderr)
    return result.exit_code(args.fail_on)


def _scan_width(terminal: bool) -> int:
    """The scan table's width: the terminal's; through a pipe or into a file, $COLUMNS when
    it is set (as a script that knows its page says), else 120."""
    columns = os.environ.get("COLUMNS", "")
    if not terminal and columns.isdigit() and int(columns) >= 40:
        return int(columns)
    return Console().width if terminal else 120


def add_parser(sub) -> None:
    scan = sub.add_parser(
        "scan", help="will the installed software run natively on this GPU? (reads device code in binaries)",
        description="Read the device code (SASS and PTX) inside shared libraries, cubins, fatbins, PTX files, "
                    "wheels and Triton's kernel cache by its headers, and say per file and package whether a GPU "
                    "runs it natively, only through the driver's PTX JIT, or not at all. Default: every shared "
                    "library in this Python environment, and Triton's cache. Exit 0 when the scan ran.")
    scan.add_argument("paths", nargs="*", type=Path, metavar="PATH",
                      help="directories, .so, .cubin, .fatbin, .ptx, .whl, a Triton cache (default: this environment)")
    scan.add_argument("--gpu", action="append", metavar="TARGET",
                      help="judge for this GPU: a real one, as sm_75 ... sm_121f, 8.6, or a device such as gb10, "
                           "rtx5090, a100; repeat for a column each (default: the GPU present, else gb10)")
    scan.add_argument("--format", choices=("table", "md", "csv", "json"), default="table",
                      help="table (default), md, csv, or json (rows and provenance; smbench report reads it)")
    common.out_file(scan, " (report reads the JSON)")
    scan.add_argument("--detail", action="store_true",
                      help="also list kernels and registers per architecture (runs cuobjdump on each file)")
    scan.add_argument("--fail-on", choices=("never", "none", "jit"), default="never",
                      help="exit 1 when a package will not run (none) or is not native (jit) on a GPU asked for")
    scan.set_defaults(handler=cmd_scan)
