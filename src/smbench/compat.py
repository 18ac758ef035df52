"""The compatibility matrix: which kernels compile for which targets, to which instructions.

For each kernel file and target, NVRTC compiles the whole file once. When ptxas
rejects part of it, the PTX NVRTC still produced tells which kernel each error
belongs to; those kernels are dropped and the rest assembled again with nvJitLink,
so one bad kernel never hides what its neighbours compile to. For a kernel that
fails natively, the file's compute_80 PTX is assembled for the target as the driver
would JIT it: the "sm_80 fallback" column.
"""

from __future__ import annotations

import contextvars
import contextlib
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from smbench import __version__, ptx as ptx_tools, sass, sass_batch, toolchain
from smbench import targets as target_table
from smbench.cache import Cache
from smbench.compile import (DEFAULT_OPTIONS, assemble_ptx, compile_source, first_error_line, local_headers,
                             read_source)
from smbench.errors import SmbenchError
from smbench.paths import builtin_kernel_files

SCHEMA = "smbench.compat/1"

# Threads of one matrix: most of them wait (for a compile slot or for their SASS) at a time.
MAX_THREADS = 256

# Built-in kernels guard each format so that a normal build compiles everywhere;
# the matrix turns the guards off to hear what the compiler says about each one.
PROBE_OPTIONS = ("-DSMBENCH_PROBE_ALL",)

# `__launch_bounds__(...)` may hold one level of nested parentheses and stand before or after `void`.
_BOUNDS = r"(?:__launch_bounds__\s*\((?:[^()]|\([^()]*\))*\)\s*)?"
_KERNEL_DECL = re.compile(r"(?<!\w)__global__\s+" + _BOUNDS + r"void\s+" + _BOUNDS + r"(\w+)\s*\(")


@dataclass
class SourceUnit:
    """One kernel file as the matrix compiles it; `name` is how rows and NVRTC's log call it."""

    path: Path
    text: str
    options: tuple[str, ...]
    builtin: bool
    name: str = ""

    def __post_init__(self) -> None:
        self.name = self.name or self.path.name


@dataclass
class Cell:
    file: str
    kernel: str
    target: str
    # "ok"; "failed" (this target lacks what the kernel uses); "error" (the code does not compile
    # for any target: a mistake in it, not a missing feature); "skipped" (NVRTC lacks the
    # target); "unknown" (could not be assessed)
    status: str
    tensor_instructions: list[str] = field(default_factory=list)
    registers: int | None = None
    local_bytes: int | None = None
    spill_instructions: int | None = None
    shared_bytes: int | None = None
    error: str = ""
    fallback: str = ""  # for failed cells: "yes", "no" or "unknown"; empty where it does not apply
    fallback_detail: str = ""  # the instruction the compute_80 PTX becomes, or why it cannot
    histogram: dict[str, int] = field(default_factory=dict)


@dataclass
class CompatReport:
    files: list[str]
    targets: list[str]
    cells: list[Cell]
    nvrtc_version: tuple[int, int]
    nvjitlink_version: tuple[int, int] | None
    skipped_targets: dict[str, str] = field(default_factory=dict)
    file_options: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    cache_hits: int = 0
    cache_misses: int = 0

    def cell(self, kernel: str, target: str, file: str | None = None) -> Cell:
        for cell in self.cells:
            if cell.kernel == kernel and cell.target == target and (file is None or cell.file == file):
                return cell
        raise KeyError((kernel, target))

    def kernels(self) -> list[tuple[str, str]]:
        """(file, kernel) in first-seen order."""
        seen: dict[tuple[str, str], None] = {}
        for cell in self.cells:
            seen.setdefault((cell.file, cell.kernel), None)
        return list(seen)

    def to_dict(self) -> dict:
        from smbench import provenance

        return {
            "schema": SCHEMA,
            "smbench_version": __version__,
            "provenance": provenance.collect(),
            "compile_options": {"every_file": list(DEFAULT_OPTIONS), **self.file_options},
            "nvrtc_version": ".".join(map(str, self.nvrtc_version)),
            "nvjitlink_version": ".".join(map(str, self.nvjitlink_version)) if self.nvjitlink_version else None,
            "files": self.files,
            "targets": self.targets,
            "skipped_targets": self.skipped_targets,
            "notes": self.notes,
            "cells": [asdict(c) for c in self.cells],
        }


# ---------------------------------------------------------------- reading the source

def _blank_comments_and_directives(source: str) -> str:
    """The source with comments and preprocessor lines blanked, line structure kept
    (line numbers matter): a kernel inside a #define is not a kernel the scan can name."""
    blank = lambda m: re.sub(r"[^\n]", " ", m.group(0))  # noqa: E731
    source = re.sub(r"/\*.*?\*/", blank, source, flags=re.DOTALL)
    source = re.sub(r"//[^\n]*", blank, source)
    return re.sub(r"^[ \t]*#(?:[^\n]*\\\n)*[^\n]*", blank, source, flags=re.MULTILINE)


def declared_kernels(source: str) -> list[str]:
    """Kernel names the source text defines: the last resort, for a file NVRTC turns down
    on every target (templates and macro-made kernels are out of its reach)."""
    return list(kernel_line_spans(source))


def kernel_line_spans(source: str) -> dict[str, tuple[int, int]]:
    """Kernel name -> (first line, last line) of its definition, by brace matching."""
    text = _blank_comments_and_directives(source)
    spans = {}
    for match in _KERNEL_DECL.finditer(text):
        brace = text.find("{", match.end())
        semicolon = text.find(";", match.end())
        if brace < 0 or (0 <= semicolon < brace):
            continue  # a declaration, not a definition
        depth, index = 0, brace
        while index < len(text):
            if text[index] == "{":
                depth += 1
            elif text[index] == "}":
                depth -= 1
                if depth == 0:
                    break
            index += 1
        first = text.count("\n", 0, match.start()) + 1
        last = text.count("\n", 0, index) + 1
        spans.setdefault(match.group(1), (first, last))
    return spans


def _frontend_blame(unit: SourceUnit, log: str) -> dict[str, str]:
    """Kernel -> its first front-end error, where the error line falls inside that kernel."""
    spans = kernel_line_spans(unit.text)
    pattern = re.compile(r"^" + re.escape(unit.name) + r"\((\d+)\):\s*(?:catastrophic\s+)?error.*$", re.MULTILINE)
    blamed: dict[str, str] = {}
    for match in pattern.finditer(log):
        number = int(match.group(1))
        for kernel, (first, last) in spans.items():
            if first <= number <= last:
                blamed.setdefault(kernel, match.group(0).strip())
    return blamed


def _clean_error(message: str) -> str:
    """ptxas/NVRTC error lines without the noise of temporary paths."""
    message = re.sub(r"^ptxas application ptx input, line \d+;\s*(?:error\s*:\s*)?", "ptxas: ", message.strip())
    return re.sub(r"\s{2,}", " ", message)


# ---------------------------------------------------------------- compiling

@dataclass
class _Outcome:
    """One file on one target. `frontend_error` is set when NVRTC turned the whole file
    down before any PTX existed: then the rows come from the other targets."""

    cells: list[Cell]
    frontend_error: str = ""
    blamed: dict[str, str] = field(default_factory=dict)


# The run's SASS batcher, seen by its tasks' threads (None outside run(): read one by one).
_BATCH: contextvars.ContextVar[sass_batch.Batcher | None] = contextvars.ContextVar("compat_batch", default=None)


def _cpu_work():
    """Where a task compiles or assembles: one of the batcher's slots (never held while
    waiting for SASS, or the threads that wait would keep the others from compiling)."""
    batch = _BATCH.get()
    return batch.slot() if batch is not None else contextlib.nullcontext()


def _summaries_or_none(cubin: bytes, cache: Cache) -> tuple[dict[str, sass.KernelSass] | None, str]:
    batch = _BATCH.get()
    try:
        return (batch.summarize(cubin) if batch is not None else sass.summarize(cubin, cache)), ""
    except SmbenchError as exc:
        return None, str(exc)


def _per_kernel_assembly(module_ptx: str, real_arch: str, first_blame: dict[str, str], cache: Cache
                         ) -> tuple[dict[str, sass.KernelSass], dict[str, str], str]:
    """Assemble a module kernel by kernel: (summaries of those that assemble, kernel -> error
    for those that do not, why the rest could not be assessed, "" when they all were)."""
    kernels = ptx_tools.entries(module_ptx)
    failed = dict(first_blame)
    for _ in range(len(kernels) + 1):
        remaining = [k for k in kernels if k not in failed]
        if not remaining:
            return {}, failed, ""
        trimmed = ptx_tools.drop_entries(module_ptx, set(failed))
        with _cpu_work():
            result = assemble_ptx(trimmed, real_arch, cache)
        if result is None:
            return {}, failed, "not assessed: nvJitLink unavailable"
        if result["ok"]:
            summaries, why = _summaries_or_none(result["cubin"], cache)
            if summaries is None:
                return {}, failed, why
            return {k: summaries[k] for k in remaining if k in summaries}, failed, ""
        new = {k: v for k, v in ptx_tools.attribute_errors(trimmed, result["log"]).items() if k not in failed}
        if not new:
            for kernel in remaining:
                failed[kernel] = first_error_line(result["log"])
            return {}, failed, ""
        failed.update(new)
    return {}, failed, ""


def _ok_cell(unit: SourceUnit, kernel: str, target: str, summary: sass.KernelSass) -> Cell:
    return Cell(unit.name, kernel, target, "ok", summary.tensor_instructions, summary.registers,
                summary.local_bytes, summary.spill_instructions, summary.shared_bytes,
                histogram=dict(summary.histogram))


def _compile(unit: SourceUnit, arch: str, cache: Cache):
    with _cpu_work():
        result = compile_source(unit.text, arch, source_name=unit.name, options=unit.options,
                                source_dir=unit.path.parent, cache=cache)
    if result.stage == "options":
        raise SmbenchError(f"NVRTC rejected an option for {unit.name}: {_clean_error(result.first_error)}")
    return result


def variant_providers() -> dict[str, Callable]:
    """Built-in kernel file -> the family's compat_variants(target): how the run builds that file
    for a target (per build: extra options and the kernels it holds), where that is not the
    file's defaults. Found on the families' packages, so that compat names none of them."""
    import importlib

    from smbench.families import registry

    found = {}
    for name in registry():
        package = importlib.import_module(f"smbench.families.{name}")
        provider, kernel_file = getattr(package, "compat_variants", None), getattr(package, "KERNEL_FILE", None)
        if provider is not None and kernel_file:
            found[kernel_file] = provider
    return found


def analyse_as_built(unit: SourceUnit, target: target_table.Target, cache: Cache) -> _Outcome:
    """analyse(), but a built-in file whose family builds it per target (gemm.cu: per tile) is
    analysed as each of those builds, each build's own kernels kept (with their fallbacks)."""
    provider = variant_providers().get(unit.name) if unit.builtin else None
    if provider is None:
        return analyse(unit, target, cache)
    cells: list[Cell] = []
    order: list[str] = []  # the file's kernels as the first build lists them (every build has them all)
    for options, kernels in provider(target):
        built = SourceUnit(unit.path, unit.text, (*unit.options, *options), True, unit.name)
        outcome = analyse(built, target, cache)
        if outcome.frontend_error:
            return outcome
        order = order or [cell.kernel for cell in outcome.cells]
        mine = [cell for cell in outcome.cells if cell.kernel in kernels]
        _add_fallbacks(built, target, mine, cache)
        cells += mine
    rank = {kernel: index for index, kernel in enumerate(order)}
    return _Outcome(sorted(cells, key=lambda cell: rank.get(cell.kernel, len(rank))))


def analyse(unit: SourceUnit, target: target_table.Target, cache: Cache) -> _Outcome:
    """Every kernel of one file on one target."""
    native = _compile(unit, target.name, cache)
    if native.ok:
        summaries, why = _summaries_or_none(native.cubin, cache)
        kernels = ptx_tools.entries(native.ptx)
        if summaries is None:
            return _Outcome([Cell(unit.name, k, target.name, "unknown", error=why) for k in kernels])
        return _Outcome([_ok_cell(unit, k, target.name, summaries[k]) for k in kernels if k in summaries])

    if native.stage == "frontend":
        return _Outcome([], frontend_error="file does not compile: " + _clean_error(native.first_error),
                        blamed={k: _clean_error(v) for k, v in _frontend_blame(unit, native.log).items()})

    blamed = ptx_tools.attribute_errors(native.ptx, native.log)
    if not blamed:
        blamed = {k: native.first_error for k in ptx_tools.entries(native.ptx)}
    summaries, failed, why = _per_kernel_assembly(native.ptx, target.name, blamed, cache)
    cells = []
    for kernel in ptx_tools.entries(native.ptx):
        if kernel in summaries:
            cells.append(_ok_cell(unit, kernel, target.name, summaries[kernel]))
        elif kernel in failed:
            cells.append(Cell(unit.name, kernel, target.name, "failed", error=_clean_error(failed[kernel])))
        else:
            cells.append(Cell(unit.name, kernel, target.name, "unknown", error=why or "no machine code produced"))
    return _Outcome(cells)


def _fallback(unit: SourceUnit, target: target_table.Target, cache: Cache) -> dict[str, tuple[str, str]]:
    """Kernel -> ("yes", instruction) or ("no", why) for the file's compute_80 PTX JIT-compiled
    for this target's GPU."""
    fallback = _compile(unit, "compute_" + target_table.FALLBACK_PTX_TARGET[3:], cache)
    if not fallback.ok:
        return {"*": ("no", "compute_80 PTX does not compile: " + _clean_error(fallback.first_error))}
    summaries, failed, why = _per_kernel_assembly(fallback.ptx, target.portable_real, {}, cache)
    verdicts: dict[str, tuple[str, str]] = {}
    for kernel in ptx_tools.entries(fallback.ptx):
        if kernel in summaries:
            ops = summaries[kernel].tensor_instructions
            verdicts[kernel] = ("yes", ops[0] if ops else "no tensor instruction")
        elif kernel in failed:
            verdicts[kernel] = ("no", _clean_error(failed[kernel]))
        else:
            verdicts[kernel] = ("unknown", why)
    return verdicts


def _add_fallbacks(unit: SourceUnit, target: target_table.Target, cells: list[Cell], cache: Cache) -> None:
    if not any(c.status == "failed" and not c.fallback for c in cells):
        return
    verdicts = _fallback(unit, target, cache)
    for cell in cells:
        if cell.status == "failed" and not cell.fallback:
            cell.fallback, cell.fallback_detail = verdicts.get(
                cell.kernel, verdicts.get("*", ("no", "the compute_80 PTX has no such kernel")))


# ---------------------------------------------------------------- files and the whole matrix

def builtin_units() -> list[SourceUnit]:
    """The built-in files, guards off where they have guards. A file that never reads the guard
    switch (neither it nor a header of its own names it) is built with the run's own options:
    a define nothing reads changes nothing, and its builds are then the run's, one cache entry."""
    return [SourceUnit(p, text, PROBE_OPTIONS if _reads_guard_switch(p, text) else (), True)
            for p in builtin_kernel_files() for text in (read_source(p),)]


def _reads_guard_switch(path: Path, text: str) -> bool:
    switch = PROBE_OPTIONS[0].removeprefix("-D")
    headers = local_headers(text, [path.parent])
    return switch in text or any(switch in read_source(Path(header)) for header in headers)


def _display_names(paths: Sequence[Path]) -> list[str]:
    """File names for rows: the base name, or more of the path where base names collide."""
    names = [p.name for p in paths]
    for depth in range(2, 64):
        clashes = {n for n in names if names.count(n) > 1}
        if not clashes:
            break
        names = [("/".join(p.parts[-depth:]) if n in clashes else n) for p, n in zip(paths, names)]
    return names


def user_units(paths: Sequence[Path], options: Sequence[str]) -> list[SourceUnit]:
    """The user's files, each once, in the order given."""
    unique: dict[Path, None] = {}
    for path in paths:
        read_source(Path(path))  # a missing or unreadable file is bad input, said before any compile
        unique.setdefault(Path(path).resolve(), None)
    resolved = list(unique)
    return [SourceUnit(p, read_source(p), tuple(options), False, name)
            for p, name in zip(resolved, _display_names(resolved))]


def _analyse_all(units: Sequence[SourceUnit], live: Sequence[target_table.Target], cache: Cache,
                 jobs: int | None, on_done: Callable[[], None] | None) -> dict[tuple[int, str], _Outcome]:
    """Every (file, target) analysed, on threads: a thread per task (up to a bound), `jobs`
    of them compiling at a time, so that their cubins' SASS is read in a few batches
    (sass_batch: one nvdisasm per architecture) rather than one cuobjdump each."""
    work = [(index, target) for index in range(len(units)) for target in live]
    workers = max(1, min(len(work), jobs or os.cpu_count() or 1))
    batch = sass_batch.Batcher(cache, workers) if cache.enabled and len(work) > 1 else None
    token = _BATCH.set(batch)
    try:
        context = contextvars.copy_context()
    finally:
        _BATCH.reset(token)

    def task(item):
        index, target = item
        try:
            analysis = lambda: analyse_as_built(units[index], target, cache)  # noqa: E731
            return context.copy().run(batch.task if batch else lambda run: run(), analysis)
        finally:
            if on_done:
                on_done()

    threads = min(len(work), MAX_THREADS) if batch else workers
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        return dict(zip(((i, t.name) for i, t in work), pool.map(task, work)))


def run(units: Sequence[SourceUnit], targets: Sequence[target_table.Target], cache: Cache | None = None,
        jobs: int | None = None, on_done: Callable[[], None] | None = None) -> CompatReport:
    """The matrix for these files and targets. Targets this NVRTC does not know become
    skipped cells with the reason; nothing here raises for code that does not compile."""
    if not units:
        raise SmbenchError("no kernel files to check")
    cache = cache if cache is not None else Cache()
    supported = set(toolchain.nvrtc_supported_archs())
    version = toolchain.nvrtc_version()
    skipped = {t.name: f"NVRTC {version[0]}.{version[1]} does not know {t.name} "
                       f"(needs >= {t.min_nvrtc[0]}.{t.min_nvrtc[1]})"
               for t in targets if supported and t.number not in supported}
    live = [t for t in targets if t.name not in skipped]
    outcomes = _analyse_all(units, live, cache, jobs, on_done)
    cells: list[Cell] = []
    notes: list[str] = []
    for index, unit in enumerate(units):
        mine = {t.name: outcomes[(index, t.name)] for t in live}
        # Rows: kernels from the PTX of the targets that compiled, in first-seen order; the
        # source text names them only when no target got that far.
        kernels = list(dict.fromkeys(c.kernel for o in mine.values() for c in o.cells))
        if not kernels and mine:
            kernels = declared_kernels(unit.text)
        # A file NVRTC's front end turns down on every target has a mistake in it; one it turns
        # down on some (an #error or static_assert on the architecture) meets a missing feature.
        status = "error" if mine and all(o.frontend_error for o in mine.values()) else "failed"
        for target_name, outcome in mine.items():
            if outcome.frontend_error:
                outcome.cells = [Cell(unit.name, k, target_name, status,
                                      error=outcome.blamed.get(k, outcome.frontend_error)) for k in kernels]
                if not kernels:
                    outcome.cells = [Cell(unit.name, "(file)", target_name, status, error=outcome.frontend_error)]
        for target in live:
            _add_fallbacks(unit, target, mine[target.name].cells, cache)
        if mine and not kernels and not any(o.frontend_error for o in mine.values()):
            notes.append(f"{unit.name}: no __global__ kernels found "
                         "(a template kernel appears only once it is explicitly instantiated)")
        found = {(c.kernel, name): c for name, o in mine.items() for c in o.cells}
        rows = list(dict.fromkeys([*kernels, *(k for k, _ in found)]))
        for kernel in rows:
            for target in targets:
                if target.name in skipped:
                    cells.append(Cell(unit.name, kernel, target.name, "skipped", error=skipped[target.name]))
                elif (kernel, target.name) in found:
                    cells.append(found[(kernel, target.name)])
                else:
                    cells.append(Cell(unit.name, kernel, target.name, "failed",
                                      error="not in this target's PTX (left out by the preprocessor?)"))
    if not cells and notes and len(notes) == len(units):
        raise SmbenchError("; ".join(notes))
    providers = variant_providers()
    for unit in units:
        if unit.builtin and unit.name in providers:
            notes.append(f"{unit.name}: built as each target builds it for a run (per tile: the tile's options and "
                         f"only the kernels of the formats that get it), not with the file's defaults")
    return CompatReport([u.name for u in units], [t.name for t in targets], cells, version,
                        toolchain.nvjitlink_version(), skipped, {u.name: list(u.options) for u in units},
                        notes, cache.hits, cache.misses)
