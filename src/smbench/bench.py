"""`smbench bench` (what `make bench` runs): the main job on a new machine, ending in one screen.

The environment check, the suite on the GPU if there is one (else the CPU reference
path), the compile matrix of every kernel over every target (built once, written as JSON
and Markdown), and a report beside the published devices. The detail goes to files; the
terminal gets progress while it works and, at the end, what the machine did and where
everything is.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

from rich.console import Console

from smbench import headlines, origin
from smbench.errors import SmbenchError

SUMMARY_WIDTH = 120  # the full tables, in a file, at a width every table fits


def environment(err: Console, cuda_tools_needed: bool = True) -> list[tuple[str, str]]:
    """The doctor's checks as lines for the last screen: how many passed, then each warning.
    A failure ends the job at once (nothing after it would work), except a CUDA tool's where
    the backend needs none (MLX on a Mac, which has no CUDA wheels): that one is a warning."""
    from smbench.doctor import CUDA_ONLY, FAIL, WARN, Check, run_checks

    checks = run_checks()
    if not cuda_tools_needed:
        checks = [Check(c.name, WARN, f"{c.detail} (the mlx backend needs no CUDA)")
                  if c.status == FAIL and c.name in CUDA_ONLY else c for c in checks]
    failed = [c for c in checks if c.status == FAIL]
    for check in failed:
        err.print(f"{check.status} {check.name}: {check.detail}", highlight=False, soft_wrap=True)
    if failed:
        raise SmbenchError(f"the environment check failed ({', '.join(c.name for c in failed)}); "
                           f"`smbench doctor` says more")
    warned = [c for c in checks if c.status == WARN]
    return [("checks", f"{len(checks) - len(warned)} of {len(checks)} environment checks passed"
                       + (", warnings:" if warned else ""))] + [("", f"{c.name}: {c.detail}") for c in warned]


def measure(suite, runner, out_dir: Path, err: Console, progress) -> tuple[Path, dict]:
    """The suite, its result file in out_dir and its full tables beside it (summary-*.txt)."""
    from smbench import run, run_view, suites
    from smbench.results import load

    # What is starting; the device and the suite head the screen at the end, once.
    # At a terminal, wrapped between words (soft-wrapped, the terminal would cut one); in a pipe
    # or a log, one whole line.
    err.print(f"smbench bench: running suite {suite.name} on the {runner.name} backend ({runner.why})",
              highlight=False, soft_wrap=not err.is_terminal)
    with progress("running", unit="cases") as update:
        path, _ = run.execute(suite, runner, set(suites.names()), out_dir,
                              lambda case, number, total: update(total=total, completed=number,
                                                                 description=case.label, section=case.family))
    document = load(path)
    console = Console(file=io.StringIO(), width=SUMMARY_WIDTH, force_terminal=False)
    run_view.render(document, console)
    summary = path.with_name(f"summary-{path.stem}.txt")
    summary.write_text(console.file.getvalue(), encoding="utf-8")
    return path, document


def compile_matrix(out_dir: Path, progress):
    """Every built-in kernel on every target, compiled once; the matrix as JSON and Markdown."""
    from smbench import compat, compat_view
    from smbench import targets as target_table
    from smbench.cache import Cache

    target_list = target_table.parse_list("all", real_only=True)
    units = compat.builtin_units()
    start = time.perf_counter()
    with progress("compiling", unit="compiles") as update:
        update(total=len(units) * len(target_list))
        matrix = compat.run(units, target_list, cache=Cache(), on_done=lambda: update(advance=1))
    seconds = time.perf_counter() - start
    paths = out_dir / "compat.json", out_dir / "compat.md"
    paths[0].write_text(compat_view.render_json(matrix), encoding="utf-8")
    paths[1].write_text(compat_view.render_markdown(matrix), encoding="utf-8")
    return matrix, paths, seconds


def main_job(suite, make_runner, out_dir: Path, progress, console: Console, err: Console,
             cuda_tools_needed: bool = True) -> int:
    """The job for a suite (smbench.suites.Suite) on the runner make_runner() gives (after the
    environment check: the backend is chosen once the checks pass). Returns the exit status:
    1 when any benchmark case failed, else 0."""
    import json

    from smbench import report

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    lines = environment(err, cuda_tools_needed)
    path, document = measure(suite, make_runner(), out_dir, err, progress)
    no_compiler = _no_compiler()
    matrix = None
    if not no_compiler:
        matrix, matrix_paths, seconds = compile_matrix(out_dir, progress)
    # report.select adds the published devices a first report sets a run beside.
    named = [("this machine", document)]
    # The job's own report, beside its result file: made again by every run of the job (said below).
    replaced = (out_dir / "report" / "report.html").exists()
    html_path, _ = report.build(named, [] if matrix is None else
                                [json.loads(matrix_paths[0].read_text(encoding="utf-8"))], out_dir / "report",
                                files=[path] + ([] if matrix is None else [matrix_paths[0]]), replace=True)
    lines += headlines.family_lines(document)
    if matrix is None:  # a Mac has no NVRTC: the measurements stand without the CUDA compile matrix
        lines.append(("compile", f"compile matrix skipped: {no_compiler}"))
    else:
        lines += headlines.compat_lines(matrix, _native_target(document))
    failed = [r for r in document["records"] if r["status"] == "failed"]
    skipped = sum(r["status"] == "skipped" for r in document["records"])
    ok = sum(r["status"] == "ok" for r in document["records"])
    lines.append(("cases", f"{ok} ok, {len(failed)} failed, {skipped} skipped (the reasons: the summary file)"))
    # A file a line, its path last: a path too long for the line gets one of its own, whole.
    lines.append(("files", f"results: {_shown(path)}"))
    lines.append(("", f"every table: {_shown(path.with_name(f'summary-{path.stem}.txt'))}"))
    if matrix is not None:
        lines.append(("", f"compile matrix ({seconds:.0f} s; and {matrix_paths[1].name}): {_shown(matrix_paths[0])}"))
    # The path last, as every file line has it (a long path gets a line of its own, whole).
    lines.append(("report", ("made again, replacing the previous run's: " if replaced else "") + _shown(html_path)))
    title = f"smbench bench: {document['device'].get('name', '?')}, suite {document['suite']}, " \
            f"{time.perf_counter() - started:.0f} s"
    if document["backend"] == "cpu":
        title += " (no GPU: the CPU reference path, host NumPy figures, not a GPU's)"
    elif origin.not_hardware(document):
        title += f" ({origin.not_hardware(document)}: MLX on the host's CPU, figures not an Apple GPU's)"
    headlines.print_screen(console, title, lines)
    return 1 if failed else 0


def _no_compiler() -> str:
    """Why the compile matrix cannot be built here ('' when NVRTC loads): on a Mac (the mlx
    backend) there are no CUDA wheels at all."""
    from smbench import toolchain
    from smbench.errors import SmbenchError

    try:
        toolchain.nvrtc_version()
    except (SmbenchError, ImportError) as exc:
        return str(exc).splitlines()[0]
    return ""


def _shown(path: Path) -> str:
    """A path as short as it can be said: relative to the working directory when under it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _native_target(document: dict) -> str | None:
    """The measured GPU's own target, from its compute capability; None on the CPU path."""
    from smbench import targets as target_table

    capability = document.get("device", {}).get("compute_capability")
    if document.get("backend") != "cuda" or not capability:
        return None
    major, minor = (int(x) for x in str(capability).split("."))
    return target_table.best_native(major, minor).name
