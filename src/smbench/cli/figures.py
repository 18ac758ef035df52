"""`smbench plot` and `smbench report`: figures and one self-contained page from result
files, compat matrices and scan results."""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

from smbench.cli import common
from smbench.cli.files import results_and_matrices
from smbench.errors import SmbenchError


def cmd_plot(args: argparse.Namespace) -> int:
    from smbench import plots

    named, matrices = results_and_matrices(args.files, args.command)
    made = not Path(args.out).exists()
    with common.writing_into(args.out):
        paths = plots.plot_all(named, matrices, args.out)
    if not paths:
        if made:  # a folder made for nothing is not left behind
            with contextlib.suppress(OSError):
                Path(args.out).rmdir()
        raise SmbenchError("nothing to draw: these files hold no figure a plot shows (no ok record of a family "
                           "and no compat matrix; smbench report reads a scan result)")
    for path in paths:
        print(path)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from smbench import report

    named, matrices = results_and_matrices(args.files, args.command)
    with common.writing_into(args.out):
        html_path, markdown_path = report.build(named, matrices, args.out, args.against, files=args.files,
                                                replace=args.replace)
    print(html_path)
    print(markdown_path)
    return 0


def add_parsers(sub) -> None:
    plot = sub.add_parser("plot", help="figures (PNG and SVG) from result files and compat matrices",
                          description="Draw each family's figures (bandwidth over working set, peaks per precision, "
                                      "latency curves ...) from result files, published reference files and compat "
                                      "matrices, as PNG and SVG into --out; prints each file written.")
    plot.add_argument("files", nargs="+", type=Path, metavar="FILE.json",
                      help="result files, published reference files and compat matrices (compat --format json)")
    common.out_dir(plot, "out/plots", "the PNG and SVG files")
    plot.set_defaults(handler=cmd_plot)

    report_parser = sub.add_parser("report", help="one self-contained HTML page and a Markdown report",
                                   description="One self-contained HTML page and a Markdown report from result files, "
                                               "compat matrices and scan results: each figure beside the published "
                                               "devices (--against), with its verdict and the figures; prints the "
                                               "two files written.")
    report_parser.add_argument("files", nargs="+", type=Path, metavar="FILE.json",
                               help="result files, compat matrices and scan results (--format json)")
    common.out_dir(report_parser, "out/report", "report.html, report.md and plots/")
    report_parser.add_argument("--against", type=lambda text: [k.strip() for k in text.split(",") if k.strip()],
                               metavar="KEY,...", help="the published devices to set the measured files beside, "
                               "e.g. gb10,rtx5090,a100-80,m4max (default: gb10, rtx5090, a100-80, m4max, m3ultra "
                               "and the measured GPU's own; figures come from the files given, else the device table)")
    report_parser.add_argument("--replace", action="store_true",
                               help="replace a report already in --out (without it, that is an error)")
    report_parser.set_defaults(handler=cmd_report)
