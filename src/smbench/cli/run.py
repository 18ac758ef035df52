"""`smbench run`: a suite's cases on the GPU (or the CPU reference path), one result file,
the summary at the end; `run --list` says what would run. The choice of device and backend
here is shared with bench and selftest."""

from __future__ import annotations

import argparse
import io
import os
import signal
import sys

from rich.console import Console

from smbench.backends import CHOICES
from smbench.cli import common
from smbench.cli.progress import on_case, progress
from smbench.errors import SmbenchError


def select_device(index: int | None) -> None:
    """--device N: only GPU N is visible to this process and its workers (N counts within
    CUDA_VISIBLE_DEVICES when that is set). Must run before anything initialises CUDA."""
    if index is None:
        return
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        entries = [v.strip() for v in visible.split(",") if v.strip()]
        if index >= len(entries):
            raise SmbenchError(f"--device {index}: CUDA_VISIBLE_DEVICES={visible!r} makes {len(entries)} visible")
        os.environ["CUDA_VISIBLE_DEVICES"] = entries[index]
    else:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(index)


def suite_for(args: argparse.Namespace):
    from smbench import suites

    suite = suites.load(args.suite)
    return suites.with_settings(suite, args.set) if args.set else suite


def _families_asked(args: argparse.Namespace) -> set[str]:
    from smbench import suites

    if args.only is None:
        return set(suites.names())
    only = set(x.strip() for x in args.only.split(",") if x.strip())
    if not only:
        raise SmbenchError(f"--only names no family; families: {', '.join(suites.names())}")
    return suites.check_families(only)  # before the backend starts: bad input costs nothing


def _rank_device(args: argparse.Namespace):
    """The GPU of this rank under a multi-rank launch: its local rank among the host's GPUs,
    unless --device says, the CPU path was asked for, or the launcher gave it one GPU."""
    from smbench import ranks

    world = ranks.world()
    visible = [v for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
    if world.size == 1 or args.device is not None or args.backend == "cpu" or len(visible) == 1:
        return args.device
    return world.launch.local_rank


def runner_for(args: argparse.Namespace, suite):
    """The backend asked for; with --device, a GPU or a one-line error (never a quiet CPU run)."""
    from smbench import run as runner_module

    select_device(_rank_device(args))
    runner = runner_module.resolve_backend(args.backend, suite)
    if args.device is not None and runner.name != "cuda":
        raise SmbenchError(f"--device {args.device}: no such GPU here ({runner.why})")
    return runner


def cmd_run(args: argparse.Namespace) -> int:
    from smbench import ranks

    world = ranks.world()  # a multi-rank launch (mpiexec, srun) without mpi4py: one line, the install hint
    if world.size == 1:
        return _run(args, world)
    return ranks.as_one_job(world, lambda: _run(args, world), "smbench run")


def _run(args: argparse.Namespace, world) -> int:
    """`smbench run` on this rank: under a multi-rank launch every rank runs the cases and
    rank 0 alone shows progress, writes the result file and prints the summary."""
    from smbench import run as runner_module
    from smbench import run_view

    suite = suite_for(args)
    only = _families_asked(args)
    if not args.list and world.is_root:
        common.check_writable_dir(args.out)
    runner = runner_for(args, suite)
    if args.list:
        return _list_cases(suite, runner, only)
    if not world.is_root:
        runner_module.execute(suite, runner, only, args.out)
        return 0
    err = Console(stderr=True)
    err.print(f"smbench run: suite {suite.name}, backend {runner.name} ({runner.info['name']}; {runner.why})",
              highlight=False, soft_wrap=True)
    try:
        with progress("planning", "smbench run", "cases") as update:
            path, records = runner_module.execute(suite, runner, only, args.out, on_case(update))
    except runner_module.RunInterrupted as stop:
        common.say_if_writable(stop.line("smbench run"))
        return stop.exit_code
    from smbench.results import load

    document = load(path)
    terminal = common.stdout_is_terminal()
    console = Console(file=io.StringIO(), width=table_width(terminal, world.size), force_terminal=terminal)
    run_view.render(document, console)
    try:
        common.write(console.file.getvalue(), None)
        print(f"result file: {path}", file=sys.stderr)
    except BrokenPipeError:
        # `smbench run | head -1`: the file is whole; the reader went away, as SIGPIPE would say.
        common.quiet_stdout()
        return 128 + signal.SIGPIPE
    return 1 if any(r["status"] == "failed" for r in records) else 0


def table_width(terminal: bool, ranks: int, environ=None) -> int:
    """The summary's width: the terminal's; piped from one process, 160 (a file or a pager);
    under a multi-rank launch rank 0's stdout is the launcher's pipe even when a person watches
    at a terminal, so COLUMNS if set, else 80."""
    if terminal:
        return Console().width
    if ranks == 1:
        return 160
    columns = (os.environ if environ is None else environ).get("COLUMNS", "")
    return int(columns) if columns.isdigit() and int(columns) >= 40 else 80


def _list_cases(suite, runner, only: set[str]) -> int:
    """`run --list`: the plan on this machine, a line per case under a line per family with
    its count and estimated time; nothing is run."""
    from smbench import run as runner_module
    from smbench.families import registry

    cases, notes = runner_module.plan(suite, runner, only)
    if not cases:
        raise SmbenchError(f"suite {suite.name!r} has nothing to run for {', '.join(sorted(only))}")
    budget = suite.timing(runner.name).budget_s
    out = [f"suite {suite.name} on {runner.info['name']} ({runner.name}): {len(cases)} cases"]
    total = 0.0
    for name, family in registry().items():
        mine = [c for c in cases if c.family == name]
        if not mine:
            continue
        timed, other = family.cost
        seconds = len(mine) * (timed * budget + other)
        total += seconds
        out.append(f"{name}: {len(mine)} case{'' if len(mine) == 1 else 's'}, about {_duration(seconds)}")
        out += [f"  {case.label}" for case in mine]
    out += [f"note: {text}" for text in notes.values() if text]
    out.append(f"estimated {_duration(total)} in all (each case's timing budget of {budget:g} s times its timed "
               f"measurements, plus its setup and checks; the first build of each kernel comes on top)")
    for line in out:
        common.say(line)
    return 0


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def add_parser(sub) -> None:
    from smbench.families import registry

    families = registry()
    run = sub.add_parser("run", help="run a benchmark suite on the GPU (or the CPU reference) and write results",
                         description="Run a suite's cases, validate each against the CPU reference, and write "
                                     "one JSON result file as they finish. Families: "
                                     + "; ".join(f"{name} ({family.summary})" for name, family in families.items())
                                     + ".")
    run.add_argument("--suite", default="quick", help="quick, full, or the path of a suite .toml (default quick)")
    run.add_argument("--backend", choices=CHOICES, default="auto",
                     help="auto: the CUDA GPU if there is one, else MLX on a Mac with Metal, else the CPU reference "
                          "path; mlx: Apple silicon through MLX (on Linux MLX's CPU device, not Apple hardware)")
    run.add_argument("--only", metavar="FAMILY,...", help=", ".join(families) + " (default: all)")
    common.out_dir(run, "out", "the result file")
    run.add_argument("--list", action="store_true",
                     help="print the cases the suite would run on this machine, with an estimated time; run nothing")
    common.suite_options(run)
    run.set_defaults(handler=cmd_run)
