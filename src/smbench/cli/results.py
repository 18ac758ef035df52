"""`smbench reference`, `export`, `compare` and `rerun`: published figures written, result
files as one table, side by side with a noise test, and a file's configuration run again."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from rich.console import Console

from smbench.cli import common, files
from smbench.cli.progress import on_case, progress
from smbench.errors import SmbenchError


def cmd_reference(args: argparse.Namespace) -> int:
    from smbench import reference

    with common.writing_into(args.out):
        paths = reference.write_all(args.out)
    for path in paths:
        print(path)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from smbench import frames

    if not args.files:
        raise SmbenchError("name at least one result file")
    named = [(Path(p).name, files.load(Path(p), "export")) for p in args.files]
    terminal = args.output is None and common.stdout_is_terminal()
    fmt = args.format or ("table" if terminal else "csv")  # a person at a terminal gets a table, a pipe CSV
    if fmt == "table":
        from smbench import export_view

        rows = [row for name, document in named for row in frames.rows(document, name)]
        common.write(export_view.render(rows, Console().width if terminal else 160, terminal), args.output)
        return 0
    table = frames.frame(named)
    if fmt == "csv":
        common.write(table.to_csv(index=False), args.output)
    else:
        common.write(frames.to_markdown(table), args.output)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from smbench import compare

    tables = compare.build(files.load_all(args.files, "compare"))
    if not tables:
        raise SmbenchError("these files hold no figures to compare")
    problems = compare.regressions(tables, args.fail_above) if args.fail_above is not None else []
    terminal = args.output is None and common.stdout_is_terminal() and args.format == "text"
    common.write(compare.render(tables, "text" if args.format == "table" else args.format, terminal,
                                Console().width if terminal else 200, problems), args.output)
    if problems:
        print(f"smbench compare: {len(problems)} measured figures regressed by more than {args.fail_above:g}% "
              f"and beyond the noise against {args.files[0]}:", file=sys.stderr)
        for line in problems:
            print(f"  {line}", file=sys.stderr)
        return 1
    return 0


def cmd_rerun(args: argparse.Namespace) -> int:
    from smbench import ranks

    world = ranks.world()
    if world.size == 1:
        return _rerun(args)
    return ranks.as_one_job(world, lambda: _rerun(args), "smbench rerun")


def _rerun(args: argparse.Namespace) -> int:
    from smbench import noise, ranks, rerun

    root = ranks.world().is_root
    files.load(args.file, "rerun", say=root)  # bad input and an unfinished file, said first
    try:
        # A bar or progress lines on rank 0 (a rerun takes as long as the run it repeats).
        with progress("running again", "smbench rerun", "cases") if root else contextlib.nullcontext(None) as update:
            outcome = rerun.rerun(args.file, args.out, on_case(update) if update else None)
    except KeyboardInterrupt as stop:
        common.say_if_writable(stop.line("smbench rerun") if hasattr(stop, "line")
                               else f"smbench rerun: interrupted ({stop})")
        return getattr(stop, "exit_code", 130)
    if outcome is None:
        return 0  # a rank other than 0: rank 0 says what moved
    common.say(f"rerun of {outcome.original} -> {outcome.new}")
    if outcome.config_changes:
        common.say(f"configuration changed in {len(outcome.config_changes)} figures (not the same measurement):")
        for line in outcome.config_changes:
            common.say(f"  {line}")
    else:
        common.say("configuration: same kernels (source hash), options, targets and sizes")
    common.say(f"{len(outcome.moved)} figures moved beyond noise; {outcome.steady} within it (two-sided Mann-Whitney "
               f"U on the samples, p < 0.01; a move as the ratio of medians, new / old, with its 99% interval)")
    for line in outcome.moved + outcome.within:
        common.say(f"  {line}")
    if outcome.not_converged:
        common.say(f"  {outcome.not_converged} figures did not converge in one run or both (~): {noise.DEFINITION}")
    for line in outcome.unmatched:
        common.say(f"  not in the new run: {line}")
    if args.fail_above is not None:
        regressed = outcome.regressions(args.fail_above)
        if regressed:
            worst = max(regressed, key=lambda item: item[1])
            print(f"smbench rerun: {len(regressed)} figures regressed more than {args.fail_above:g}% beyond the noise "
                  f"(worst: {worst[0]}, {worst[1]:.1f}% slower)", file=sys.stderr)
            return 1
    return 0


def add_parsers(sub) -> None:
    reference = sub.add_parser("reference", help="write the published reference results of the device table",
                               description="Write one result file per device of the device table, holding its "
                                           "published figures (vendor specifications and others' measurements, each "
                                           "with its source), for compare, plot and report to set runs beside.")
    common.out_dir(reference, "results", "the reference files")
    reference.set_defaults(handler=cmd_reference)

    export = sub.add_parser("export", help="result files as one CSV or Markdown table",
                            description="Every record of the result files (measured or published) as one table, a "
                                        "row per figure: CSV for a spreadsheet or pandas, Markdown for a page, or a "
                                        "table fitted to the terminal.")
    export.add_argument("files", nargs="+", type=Path, metavar="FILE.json", help="result files (measured or published)")
    export.add_argument("--format", choices=("csv", "md", "table"), default=None,
                        help="csv (the default into a file or a pipe), md, or table (the default at a terminal: "
                             "fitted to its width)")
    common.out_file(export)
    export.set_defaults(handler=cmd_export)

    compare_parser = sub.add_parser("compare", help="the same benchmarks side by side, with ratios and a noise test",
                                    description="Align the same figures across result files (measured or "
                                                "published), each as a ratio to the first file, with a noise test "
                                                "where both have samples. Exit 1 with --fail-above when a measured "
                                                "figure regressed against the first file.")
    compare_parser.add_argument("files", nargs="+", type=Path, metavar="FILE.json",
                                help="result files; ratios are to the first")
    compare_parser.add_argument("--format", choices=("text", "md", "csv", "json", "table"), default="text",
                                help="text (default; 'table' is the same), md, csv (one row per figure and file), "
                                     "json (rows with each file's value, kind, ratio and verdict)")
    compare_parser.add_argument("--fail-above", type=common.percent, metavar="PCT",
                                help="exit 1 when a figure measured in the first file and another moved the wrong "
                                     "way (GB/s, TFLOP/s down; ns, us up) by more than PCT percent and beyond the "
                                     "noise of both (for CI: the first file is the baseline)")
    common.out_file(compare_parser)
    compare_parser.set_defaults(handler=cmd_compare)

    rerun_parser = sub.add_parser("rerun", help="run a result file's configuration again and say what moved",
                                  description="Run the suite, backend and settings recorded in a measured result file "
                                              "again, write a new file, and say which figures moved beyond the noise "
                                              "of both runs and which configuration changed (kernel source, options, "
                                              "sizes). Exit 1 with --fail-above when a figure got slower.")
    rerun_parser.add_argument("file", type=Path, metavar="FILE.json",
                              help="a measured result file: its suite, backend and settings are run again")
    common.out_dir(rerun_parser, "out", "the new result file")
    rerun_parser.add_argument("--fail-above", type=common.percent, metavar="PCT",
                              help="exit 1 when any figure got slower by more than PCT percent, beyond the noise of "
                                   "both runs (for CI)")
    rerun_parser.set_defaults(handler=cmd_rerun)
