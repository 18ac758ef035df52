"""`smbench ...`: the command-line entry point.

Bad input (an unknown target, a missing file, a malformed option) is one line on
stderr and exit status 2; a kernel that does not compile is a row in the output.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Sequence

from rich.console import Console
from rich.text import Text

from smbench import __version__, origin, run_view
from smbench import targets as target_table
from smbench.backends import CHOICES
from smbench.errors import SmbenchError

EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line, not a usage block."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _write(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise SmbenchError(f"cannot write {output}: {exc.strerror or exc}") from None


def _check_writable(output: Path | None) -> None:
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


def _check_writable_dir(directory: Path) -> None:
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


def _whole(least: int, what: str):
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


_positive_int = _whole(1, "a whole number")
_index = _whole(0, "a GPU index")


def _percent(text: str) -> float:
    try:
        value = float(text.rstrip("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a percentage") from None
    if not 0 <= value < 1000:
        raise argparse.ArgumentTypeError(f"a percentage from 0 up, not {value:g}")
    return value


def _stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


@contextlib.contextmanager
def _progress(description: str):
    """A transient progress bar on stderr, only when stderr is a terminal (piped output stays
    clean). Yields update(completed=, total=, description=, advance=), a no-op without a bar."""
    console = Console(stderr=True)
    if not console.is_terminal:
        yield lambda **_: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task(description, total=None)
        yield lambda **changes: progress.update(task, **changes)


# ---------------------------------------------------------------- targets

# (header, short header, feature key) of each feature column of `smbench targets`.
_TARGET_COLUMNS = (
    ("mma f16/bf16/tf32/s8", "f16", "mma.f16"),  # the four go together on every target (tests check each)
    ("INT4 (s4/u4)", "s4", "mma.s4"),
    ("FP64 tensor (DMMA)", "f64", "mma.f64"),
    ("fp8 (sm_89 form)", "fp8", "mma.fp8"),
    ("f8f6f4 fp8", "f8f6f4", "mma.f8f6f4.fp8"),
    ("f8f6f4 fp6/fp4", "fp6/4", "mma.f8f6f4.fp6fp4"),
    ("block-scaled (mxf8f6f4, mxf4, nvfp4)", "mx/nv", "mma.block_scale"),
    ("wgmma", "wgmma", "wgmma"),
    ("tcgen05", "tc05", "tcgen05"),
    ("cp.async", "cp.a", "cp.async"),
    ("ldmatrix", "ldm", "ldmatrix"),
    ("TMA", "TMA", "cp.async.bulk"),
)


def _support_mark(level: str | None) -> str:
    return {target_table.NATIVE: "yes", target_table.EMULATED: "emulated"}.get(level or "", "-")


def _targets_rows(nvrtc_archs: Sequence[int]) -> list[dict]:
    rows = []
    for t in target_table.all_targets():
        row = {"target": t.name, "cc": t.compute_capability, "architecture": t.architecture,
               "family": t.family, "runs_on": " ".join(t.runs_on),
               "devices": t.devices, "min_nvrtc": ".".join(map(str, t.min_nvrtc)),
               "this_nvrtc": ("yes" if t.number in nvrtc_archs else "no") if nvrtc_archs else "unknown"}
        row.update({key: _support_mark(t.support(key)) for _, _, key in _TARGET_COLUMNS})
        rows.append(row)
    return rows


def cmd_targets(args: argparse.Namespace) -> int:
    from smbench import toolchain

    try:
        archs = toolchain.nvrtc_supported_archs()
    except SmbenchError:
        archs = ()  # the table is still worth printing without NVRTC
    rows = _targets_rows(archs)
    if args.format == "json":
        # Every feature in full here (the columns fold f16/bf16/tf32/s8/f64 into one).
        for row in rows:
            target = target_table.get(row["target"])
            row["features"] = {key: target.support(key) for key in target_table.FEATURES}
        _write(json.dumps({"features": target_table.FEATURES, "targets": rows}, indent=2) + "\n", args.output)
        return 0
    if args.format in ("csv", "md"):
        import pandas as pd

        from smbench import frames

        table = pd.DataFrame(rows)
        if args.format == "csv":
            _write(table.to_csv(index=False, lineterminator="\n"), args.output)
        else:
            # For people: the terminal table's column names, not the feature keys.
            labels = {"min_nvrtc": "min NVRTC", "this_nvrtc": "this NVRTC", "runs_on": "runs on cc",
                      **{k: l for l, _, k in _TARGET_COLUMNS}}
            _write(frames.to_markdown(table.rename(columns=labels)), args.output)
        return 0
    terminal = args.output is None and _stdout_is_terminal()
    console = Console(file=io.StringIO(), width=Console().width if terminal else 220, force_terminal=terminal)
    columns = [run_view.Column("target", keep=run_view.Column.NEVER_DROPPED), run_view.Column("cc", keep=8),
               run_view.Column("architecture", "arch", keep=4), run_view.Column("runs on cc", "runs on", keep=6),
               run_view.Column("this NVRTC", "NVRTC", keep=7),
               *(run_view.Column(label, short) for label, short, _ in _TARGET_COLUMNS)]
    style = {"yes": "green", "emulated": "yellow"}
    rows = [[row["target"], row["cc"], row["architecture"], row["runs_on"], row["this_nvrtc"],
             *(run_view.Short((Text(row[key], style=style.get(row[key], "dim")),
                               Text({"emulated": "emu"}.get(row[key], row[key]), style=style.get(row[key], "dim"))))
               for _, _, key in _TARGET_COLUMNS)] for row in rows]
    run_view.print_fitted(console, "CUDA targets: what each compiles (checked against NVRTC by the test suite)",
                          columns, rows, "emulated (emu) = compiles, but to a slower instruction of another class "
                          "(FP8 through HMMA on sm_90/sm_100). Devices per target: smbench targets --format md",
                          stack=True)
    _write(console.file.getvalue(), args.output)
    return 0


# ---------------------------------------------------------------- compat

def _compile_options(args: argparse.Namespace) -> list[str]:
    options = []
    for directory in args.include or []:
        path = Path(directory)
        if not path.is_dir():
            raise SmbenchError(f"-I {directory}: no such directory")
        options.append(f"-I{path.resolve()}")
    options += [f"-D{define}" for define in args.define or []]
    options += list(args.nvrtc_option or [])
    return options


def cmd_compat(args: argparse.Namespace) -> int:
    from smbench import compat, compat_view
    from smbench.cache import Cache

    target_list = target_table.parse_list(args.targets, real_only=True)
    _check_writable(args.output)
    if args.files:
        units = compat.user_units([Path(f) for f in args.files], _compile_options(args))
    else:
        if args.include or args.define or args.nvrtc_option:
            raise SmbenchError("-I/-D/--nvrtc-option apply to your own .cu files; name them")
        units = compat.builtin_units()
    cache = Cache(enabled=not args.no_cache)

    with _progress("compiling") as update:
        update(total=len(units) * len(target_list))
        report = compat.run(units, target_list, cache=cache, jobs=args.jobs, on_done=lambda: update(advance=1))

    if len(report.skipped_targets) == len(target_list):
        raise SmbenchError(next(iter(report.skipped_targets.values())))
    if args.format == "json":
        _write(compat_view.render_json(report), args.output)
    elif args.format == "csv":
        _write(compat_view.render_csv(report), args.output)
    elif args.format == "md":
        _write(compat_view.render_markdown(report), args.output)
    else:
        terminal = args.output is None and _stdout_is_terminal()
        width = max(Console().width, compat_view.table_width(report)) if terminal else None
        _write(compat_view.render_table_text(report, width, colour=terminal), args.output)
    return _compat_status(report, args.fail_on)


def _compat_status(report, fail_on: str) -> int:
    """Exit 1 when a cell is as bad as --fail-on says, with a line on stderr saying which."""
    bad = {"error": ("error",), "failed": ("error", "failed"), "never": ()}[fail_on]
    cells = [c for c in report.cells if c.status in bad]
    if not cells:
        return 0
    errors = sum(c.status == "error" for c in cells)
    print(f"smbench compat: {errors} kernel/target cells do not compile for any target (errors in the code), "
          f"{len(cells) - errors} rejected by their target (--fail-on {fail_on})", file=sys.stderr)
    return 1


# ---------------------------------------------------------------- doctor

def cmd_doctor(args: argparse.Namespace) -> int:
    from smbench.doctor import FAIL, run_checks

    checks = run_checks()
    if args.format == "json":
        _write(json.dumps([c.__dict__ for c in checks], indent=2) + "\n", None)
    else:
        console = Console(file=io.StringIO(), width=200, force_terminal=_stdout_is_terminal())
        colours = {"ok": "green", "warn": "yellow", "fail": "red bold"}
        for check in checks:
            line = Text()
            line.append(f"{check.status:<5}", style=colours.get(check.status, ""))
            line.append(f" {check.name:<14} ", style="bold")
            line.append(check.detail)
            console.print(line, soft_wrap=True)
        _write(console.file.getvalue(), None)
    return 1 if any(c.status == FAIL for c in checks) else 0


# ---------------------------------------------------------------- run

def _select_device(index: int | None) -> None:
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


def _suite_for(args: argparse.Namespace):
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


def _runner_for(args: argparse.Namespace, suite):
    """The backend asked for; with --device, a GPU or a one-line error (never a quiet CPU run)."""
    from smbench import run as runner_module

    _select_device(_rank_device(args))
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

    suite = _suite_for(args)
    only = _families_asked(args)
    if not args.list and world.is_root:
        _check_writable_dir(args.out)
    runner = _runner_for(args, suite)
    if args.list:
        return _list_cases(suite, runner, only)
    if not world.is_root:
        runner_module.execute(suite, runner, only, args.out)
        return 0
    err = Console(stderr=True)
    err.print(f"smbench run: suite {suite.name}, backend {runner.name} ({runner.info['name']}; {runner.why})",
              highlight=False, soft_wrap=True)
    try:
        with _progress("planning") as update:
            path, records = runner_module.execute(
                suite, runner, only, args.out,
                lambda case, number, total: update(total=total, completed=number, description=case.label))
    except runner_module.RunInterrupted as stop:
        print(f"smbench run: interrupted; {stop.records} finished cases kept in {stop.path} "
              f"(status \"interrupted\")", file=sys.stderr)
        return 130
    from smbench.results import load

    document = load(path)
    terminal = _stdout_is_terminal()
    console = Console(file=io.StringIO(), width=_table_width(terminal, world.size), force_terminal=terminal)
    run_view.render(document, console)
    _write(console.file.getvalue(), None)
    print(f"result file: {path}", file=sys.stderr)
    return 1 if any(r["status"] == "failed" for r in records) else 0


def _table_width(terminal: bool, ranks: int, environ=None) -> int:
    """The summary's width: the terminal's; piped from one process, 160 (a file or a pager);
    under a multi-rank launch rank 0's stdout is the launcher's pipe even when a person watches
    at a terminal, so COLUMNS if set, else 80."""
    if terminal:
        return Console().width
    if ranks == 1:
        return 160
    columns = (os.environ if environ is None else environ).get("COLUMNS", "")
    return int(columns) if columns.isdigit() and int(columns) >= 40 else 80


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
    _check_writable_dir(args.out)
    suite = _suite_for(args)
    terminal = _stdout_is_terminal()
    console = Console(file=io.StringIO(), width=Console().width if terminal else 100, force_terminal=terminal)
    try:
        # MLX asked for, or a Mac left to choose: no CUDA tool is needed to measure.
        mlx_here = args.backend == "mlx" or (args.backend == "auto" and platform.system() == "Darwin")
        status = bench.main_job(suite, lambda: _runner_for(args, suite), args.out, _progress, console,
                                Console(stderr=True), cuda_tools_needed=not mlx_here)
    except run.RunInterrupted as stop:
        print(f"smbench bench: interrupted; {stop.records} finished cases kept in {stop.path}", file=sys.stderr)
        return 130
    text = console.file.getvalue()
    if not terminal:  # a grid pads every line to the width: a file or a pipe gets none of that
        text = "".join(line.rstrip() + "\n" for line in text.splitlines())
    _write(text, None)
    return status


def cmd_selftest(args: argparse.Namespace) -> int:
    from smbench import selftest
    from smbench.backends import cuda

    _one_process("selftest")
    _check_writable_dir(args.out)
    _select_device(args.device)
    if args.backend == "cuda":
        usable, why = cuda.available()
        if not usable:
            raise SmbenchError(f"no usable GPU ({why}): the selftest launches every kernel on a GPU "
                               f"(--backend cpu runs it on the CPU reference path)")
    width = min(Console().width, 120) if _stdout_is_terminal() else 100
    try:
        with _progress("selftest") as update:
            code, text, path = selftest.run(args.backend, args.out, width,
                                            lambda case, number, total: update(total=total, completed=number,
                                                                               description=case.label))
    except KeyboardInterrupt:
        print("smbench selftest: interrupted; the cases finished are in the result file under "
              f"{args.out}", file=sys.stderr)
        return 130
    _write("\n".join(text) + "\n", None)
    print(f"result file: {path}", file=sys.stderr)
    return code


# ---------------------------------------------------------------- results: reference, export, compare

def _load_all(paths: Sequence[Path]) -> list[tuple[str, dict]]:
    from smbench.results import load

    if not paths:
        raise SmbenchError("name at least one result file")
    loaded = [(Path(p), load(Path(p))) for p in paths]
    return [(label, document) for label, (_, document) in zip(_labels(loaded), loaded)]


def _labels(loaded: list[tuple[Path, dict]]) -> list[str]:
    """Short column names: the device, with the file's stem where two files share a device."""
    def short(document: dict, path: Path) -> str:
        device = document["device"]
        if device.get("key"):
            return device["key"]
        if origin.not_hardware(document):
            return origin.label(document)
        return str(device.get("name", path.stem)).replace("NVIDIA ", "")

    names = [short(document, path) for path, document in loaded]
    return [name if names.count(name) == 1 else f"{name} ({path.stem})" for name, (path, _) in zip(names, loaded)]


def cmd_reference(args: argparse.Namespace) -> int:
    from smbench import reference

    with _writing_into(args.out):
        paths = reference.write_all(args.out)
    for path in paths:
        print(path)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from smbench import frames

    from smbench.results import load

    if not args.files:
        raise SmbenchError("name at least one result file")
    table = frames.frame([(Path(p).name, load(Path(p))) for p in args.files])
    if args.format == "csv":
        _write(table.to_csv(index=False), args.output)
    else:
        _write(frames.to_markdown(table), args.output)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from smbench import compare

    tables = compare.build(_load_all(args.files))
    if not tables:
        raise SmbenchError("these files hold no figures to compare")
    problems = compare.regressions(tables, args.fail_above) if args.fail_above is not None else []
    terminal = args.output is None and _stdout_is_terminal() and args.format == "text"
    _write(compare.render(tables, "text" if args.format == "table" else args.format, terminal,
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
    from smbench import noise, rerun

    try:
        outcome = rerun.rerun(args.file, args.out)
    except KeyboardInterrupt as stop:
        print(f"smbench rerun: interrupted ({stop})", file=sys.stderr)
        return 130
    if outcome is None:
        return 0  # a rank other than 0: rank 0 says what moved
    print(f"rerun of {outcome.original} -> {outcome.new}")
    if outcome.config_changes:
        print(f"configuration changed in {len(outcome.config_changes)} figures (not the same measurement):")
        for line in outcome.config_changes:
            print(f"  {line}")
    else:
        print("configuration: same kernels (source hash), options, targets and sizes")
    print(f"{len(outcome.moved)} figures moved beyond noise; {outcome.steady} within it (two-sided Mann-Whitney U "
          f"on the samples, p < 0.01; a move as the ratio of medians, new / old, with its 99% interval)")
    for line in outcome.moved + outcome.within:
        print(f"  {line}")
    if outcome.not_converged:
        print(f"  {outcome.not_converged} figures did not converge in one run or both (~): {noise.DEFINITION}")
    for line in outcome.unmatched:
        print(f"  not in the new run: {line}")
    if args.fail_above is not None:
        regressed = outcome.regressions(args.fail_above)
        if regressed:
            worst = max(regressed, key=lambda item: item[1])
            print(f"smbench rerun: {len(regressed)} figures regressed more than {args.fail_above:g}% beyond the noise "
                  f"(worst: {worst[0]}, {worst[1]:.1f}% slower)", file=sys.stderr)
            return 1
    return 0


# ---------------------------------------------------------------- plot, report

def _results_and_matrices(paths: Sequence[Path]) -> tuple[list[tuple[str, dict]], list[dict]]:
    """Result files, and compat matrices (smbench compat --format json) among them."""
    results_paths, matrices = [], []
    for path in paths:
        try:
            head = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SmbenchError(f"no such file: {path}") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SmbenchError(f"{path}: not a JSON result file ({exc})") from None
        if isinstance(head, dict) and str(head.get("schema", "")).startswith(("smbench.compat/", "smbench.scan/")):
            matrices.append(head)
        else:
            results_paths.append(path)
    return (_load_all(results_paths) if results_paths else []), matrices


@contextlib.contextmanager
def _writing_into(directory: Path):
    """Make the output directory (a file in the way, /proc or no permission said at once), and
    turn any later failure to write into it (a full disk) into one line, not a traceback."""
    _check_writable_dir(Path(directory))
    try:
        yield
    except OSError as exc:
        where = exc.filename or directory
        raise SmbenchError(f"cannot write to {directory}: {exc.strerror or exc}"
                           + (f" ({where})" if str(where) != str(directory) else "")) from None


def cmd_plot(args: argparse.Namespace) -> int:
    from smbench import plots

    named, matrices = _results_and_matrices(args.files)
    with _writing_into(args.out):
        paths = plots.plot_all(named, matrices, args.out)
    for path in paths:
        print(path)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from smbench import report

    named, matrices = _results_and_matrices(args.files)
    with _writing_into(args.out):
        html_path, markdown_path = report.build(named, matrices, args.out, args.against, files=args.files,
                                                replace=args.replace)
    print(html_path)
    print(markdown_path)
    return 0


# ---------------------------------------------------------------- scan

def cmd_scan(args: argparse.Namespace) -> int:
    from smbench import scan
    from smbench.scan import view

    _check_writable(args.output)
    with _progress("reading device code") as update:
        result = scan.run(list(args.paths), args.gpu, detail=args.detail, on_total=lambda n: update(total=n),
                          on_file=lambda _: update(advance=1))
    terminal = args.format == "table" and args.output is None and _stdout_is_terminal()
    renderers = {"json": view.render_json, "csv": view.render_csv, "md": view.render_markdown,
                 "table": lambda r: view.render_text(r, _scan_width(terminal), colour=terminal)}
    _write(renderers[args.format](result), args.output)
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


def add_scan_parser(sub) -> None:
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
    scan.add_argument("--output", "-o", type=Path, help="write to this file instead of stdout (report reads JSON)")
    scan.add_argument("--detail", action="store_true",
                      help="also list kernels and registers per architecture (runs cuobjdump on each file)")
    scan.add_argument("--fail-on", choices=("never", "none", "jit"), default="never",
                      help="exit 1 when a package will not run (none) or is not native (jit) on a GPU asked for")
    scan.set_defaults(handler=cmd_scan)


# ---------------------------------------------------------------- main

def _suite_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", default=[],
                        help="change one suite setting for this run, e.g. --set stream.largest_mib=256 "
                             "--set timing.warmup=3 (values as in TOML; repeatable)")
    parser.add_argument("--device", type=_index, metavar="N",
                        help="the GPU to use, by index (within CUDA_VISIBLE_DEVICES when set); default 0")


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
    _write("\n".join(out) + "\n", None)
    return 0


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="smbench", description="GPU microbenchmarks: what this CUDA GPU really does.")
    parser.add_argument("--version", action="version", version=f"smbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    targets = sub.add_parser("targets", help="the CUDA target table: what each target compiles")
    targets.add_argument("--format", choices=("table", "json", "csv", "md"), default="table",
                         help="table (default), json (every feature of every target), csv or md")
    targets.add_argument("--output", "-o", type=Path, help="write to this file instead of stdout")
    targets.set_defaults(handler=cmd_targets)

    compat = sub.add_parser("compat", help="which kernels compile for which targets, to which instructions",
                            description="Compile every kernel (yours, or smbench's own) for every target with "
                                        "NVRTC and read the machine code: no GPU needed.")
    compat.add_argument("files", nargs="*", metavar="FILE.cu",
                        help="your CUDA files (extern \"C\" __global__ kernels); default: smbench's kernels/")
    compat.add_argument("--targets", default="all", help="comma-separated, e.g. sm_80,sm_121,sm_121a (default all)")
    compat.add_argument("--format", choices=("table", "json", "csv", "md"), default="table",
                        help="table (default), json (the matrix with its provenance: plot and report read it), "
                             "csv or md")
    compat.add_argument("--output", "-o", type=Path, help="write to this file instead of stdout")
    compat.add_argument("-I", dest="include", action="append", metavar="DIR", help="include directory")
    compat.add_argument("-D", dest="define", action="append", metavar="NAME[=VALUE]", help="preprocessor define")
    compat.add_argument("--nvrtc-option", action="append", metavar="OPT",
                        help="any other NVRTC option, e.g. --nvrtc-option=-use_fast_math")
    compat.add_argument("--jobs", "-j", type=_positive_int, default=None,
                        help="parallel compiles (default: CPU count)")
    compat.add_argument("--no-cache", action="store_true", help="compile everything again")
    compat.add_argument("--fail-on", choices=("error", "failed", "never"), default="error",
                        help="exit 1 when code does not compile for any target (error, the default), also when a "
                             "target rejects a kernel (failed), or never")
    compat.set_defaults(handler=cmd_compat)
    add_scan_parser(sub)

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
    run.add_argument("--out", type=Path, default=Path("out"), help="directory for the result file (default out/)")
    run.add_argument("--list", action="store_true",
                     help="print the cases the suite would run on this machine, with an estimated time; run nothing")
    _suite_options(run)
    run.set_defaults(handler=cmd_run)

    selftest = sub.add_parser("selftest", help="every kernel once on small data, validated: does this GPU work?",
                              description="Launch every kernel this GPU should run once, on small data, validate "
                                          "each against the CPU reference, and print a line per family. Exit 0 "
                                          "only if every kernel the target table says should work did; exit 2 "
                                          "without a GPU.")
    selftest.add_argument("--backend", choices=("cuda", "mlx", "cpu"), default="cuda",
                          help="cuda (default), mlx: the families MLX runs, or cpu: the same cases on the CPU "
                               "reference path")
    selftest.add_argument("--out", type=Path, default=Path("out"), help="directory for the result file (default out/)")
    selftest.add_argument("--device", type=_index, metavar="N",
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
    bench.add_argument("--out", type=Path, default=Path("out"), help="directory for every file (default out/)")
    _suite_options(bench)
    bench.set_defaults(handler=cmd_bench)

    reference = sub.add_parser("reference", help="write the published reference results of the device table")
    reference.add_argument("--out", type=Path, default=Path("results"), help="directory (default results/)")
    reference.set_defaults(handler=cmd_reference)

    export = sub.add_parser("export", help="result files as one CSV or Markdown table")
    export.add_argument("files", nargs="+", type=Path, metavar="FILE.json", help="result files (measured or published)")
    export.add_argument("--format", choices=("csv", "md"), default="csv", help="csv (default) or md")
    export.add_argument("--output", "-o", type=Path, help="write to this file instead of stdout")
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
    compare_parser.add_argument("--fail-above", type=_percent, metavar="PCT",
                                help="exit 1 when a figure measured in the first file and another moved the wrong "
                                     "way (GB/s, TFLOP/s down; ns, us up) by more than PCT percent and beyond the "
                                     "noise of both (for CI: the first file is the baseline)")
    compare_parser.add_argument("--output", "-o", type=Path, help="write to this file instead of stdout")
    compare_parser.set_defaults(handler=cmd_compare)

    rerun_parser = sub.add_parser("rerun", help="run a result file's configuration again and say what moved")
    rerun_parser.add_argument("file", type=Path, metavar="FILE.json",
                              help="a measured result file: its suite, backend and settings are run again")
    rerun_parser.add_argument("--out", type=Path, default=Path("out"), help="directory for the new result file")
    rerun_parser.add_argument("--fail-above", type=_percent, metavar="PCT",
                              help="exit 1 when any figure got slower by more than PCT percent, beyond the noise of "
                                   "both runs (for CI)")
    rerun_parser.set_defaults(handler=cmd_rerun)

    plot = sub.add_parser("plot", help="figures (PNG and SVG) from result files and compat matrices")
    plot.add_argument("files", nargs="+", type=Path, metavar="FILE.json",
                      help="result files, published reference files and compat matrices (compat --format json)")
    plot.add_argument("--out", type=Path, default=Path("out/plots"), help="directory for the PNG and SVG files "
                                                                           "(default out/plots)")
    plot.set_defaults(handler=cmd_plot)

    report_parser = sub.add_parser("report", help="one self-contained HTML page and a Markdown report")
    report_parser.add_argument("files", nargs="+", type=Path, metavar="FILE.json",
                               help="result files, compat matrices and scan results (--format json)")
    report_parser.add_argument("--out", type=Path, default=Path("out/report"),
                               help="directory for report.html, report.md and plots/ (default out/report)")
    report_parser.add_argument("--against", type=lambda text: [k.strip() for k in text.split(",") if k.strip()],
                               metavar="KEY,...", help="the published devices to set the measured files beside, "
                               "e.g. gb10,rtx5090,a100-80,m4max (default: gb10, rtx5090, a100-80, m4max, m3ultra "
                               "and the measured GPU's own; figures come from the files given, else the device table)")
    report_parser.add_argument("--replace", action="store_true",
                               help="replace a report already in --out (without it, that is an error)")
    report_parser.set_defaults(handler=cmd_report)

    doctor = sub.add_parser("doctor", help="is this machine ready: Python, packages, NVRTC, tools, GPUs")
    doctor.add_argument("--format", choices=("table", "json"), default="table", help="table (default) or json")
    doctor.set_defaults(handler=cmd_doctor)
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
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
