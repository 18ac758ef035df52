"""`smbench bench` (the main job on a new machine) and `smbench selftest` (every kernel once,
validated): each runs in one process, never once per rank."""

from __future__ import annotations

import argparse
import functools
import io
import platform
import sys

from rich.console import Console

from smbench.backends import CHOICES
from smbench.cli import common
from smbench.cli.progress import on_case, progress
from smbench.cli.run import runner_for, select_device, suite_for
from smbench.errors import SmbenchError


def _one_process(command: str) -> None:
    """bench and selftest are one process's: under mpiexec or srun they would run once per rank."""
    from smbench import ranks

    launch = ranks.detect()
    if launch.size > 1:
        raise SmbenchError(f"smbench {command} runs in one process, not as {launch.size} ranks ({launch.launcher}); "
                           f"across ranks run: mpiexec -n {launch.size} smbench run --only collectives")


def cmd_bench(args: argparse.Namespace) -> int:
    from smbench import bench, run

    _one_process("bench")
    suite = suite_for(args)  # a typo in --suite or --set said before anything is made
    common.check_writable_dir(args.out)
    terminal = common.stdout_is_terminal()
    console = Console(file=io.StringIO(), width=Console().width if terminal else 100, force_terminal=terminal)
    try:
        # MLX asked for, or a Mac left to choose: no CUDA tool is needed to measure.
        mlx_here = args.backend == "mlx" or (args.backend == "auto" and platform.system() == "Darwin")
        status = bench.main_job(suite, lambda: runner_for(args, suite), args.out,
                                functools.partial(progress, command="smbench bench"), console,
                                Console(stderr=True), cuda_tools_needed=not mlx_here)
    except run.RunInterrupted as stop:
        common.say_if_writable(stop.line("smbench bench"))
        return stop.exit_code
    text = console.file.getvalue()
    if not terminal:  # a grid pads every line to the width: a file or a pipe gets none of that
        text = "".join(line.rstrip() + "\n" for line in text.splitlines())
    common.write(text, None)
    return status


def cmd_selftest(args: argparse.Namespace) -> int:
    from smbench import selftest
    from smbench.backends import cuda

    _one_process("selftest")
    common.check_writable_dir(args.out)
    select_device(args.device)
    if args.backend == "cuda":
        usable, why = cuda.available()
        if not usable:
            raise SmbenchError(f"no usable GPU ({why}): the selftest launches every kernel on a GPU "
                               f"(--backend cpu runs it on the CPU reference path)")
    width = min(Console().width, 120) if common.stdout_is_terminal() else 100
    try:
        with progress("selftest", "smbench selftest", "cases") as update:
            code, text, path = selftest.run(args.backend, args.out, width, on_case(update))
    except KeyboardInterrupt:
        print("smbench selftest: interrupted; the cases finished are in the result file under "
              f"{args.out}", file=sys.stderr)
        return 130
    common.write("\n".join(text) + "\n", None)
    print(f"result file: {path}", file=sys.stderr)
    return code


def add_parsers(sub) -> None:
    selftest = sub.add_parser("selftest", help="every kernel once on small data, validated: does this GPU work?",
                              description="Launch every kernel this GPU should run once, on small data, validate "
                                          "each against the CPU reference, and print a line per family. Exit 0 "
                                          "only if every kernel the target table says should work did; exit 2 "
                                          "without a GPU.")
    selftest.add_argument("--backend", choices=("cuda", "mlx", "cpu"), default="cuda",
                          help="cuda (default), mlx: the families MLX runs, or cpu: the same cases on the CPU "
                               "reference path")
    common.out_dir(selftest, "out", "the result file")
    selftest.add_argument("--device", type=common.index, metavar="N",
                          help="the GPU to test, by index (within CUDA_VISIBLE_DEVICES when set); default 0")
    selftest.set_defaults(handler=cmd_selftest)

    bench = sub.add_parser("bench", help="the main job on a new machine (make bench): check, run, compile, report",
                           description="The environment check, the suite on the GPU (else the CPU reference path), "
                                       "the compile matrix of every kernel over every target, and a report beside "
                                       "the published devices; then one screen of what the machine did. The full "
                                       "tables, the matrix and the report are written to --out.")
    bench.add_argument("--suite", default="quick", help="a suite name or a .toml file (default quick)")
    bench.add_argument("--backend", choices=CHOICES, default="auto",
                       help="auto (default): the CUDA GPU if there is one, else MLX on a Mac with Metal, else the "
                            "CPU reference path; mlx: Apple silicon through MLX")
    common.out_dir(bench, "out", "every file")
    common.suite_options(bench)
    bench.set_defaults(handler=cmd_bench)
