"""The compatibility matrix: which kernels compile for which targets, to which instructions.

For each kernel file and target, NVRTC compiles the whole file once. When ptxas
rejects part of it, the PTX NVRTC still produced tells which kernel each error
belongs to; those kernels are dropped and the rest assembled again with nvJitLink,
so one bad kernel never hides what its neighbours compile to. For a kernel that
fails natively, the file's compute_80 PTX is assembled for the target as the driver
would JIT it: the "sm_80 fallback" column.
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from smbench import __version__, ptx as ptx_tools, sass, toolchain
from smbench import targets as target_table
from smbench.cache import Cache
from smbench.compile import DEFAULT_OPTIONS, assemble_ptx, compile_source, read_source
from smbench.errors import SmbenchError
from smbench.paths import builtin_kernel_files

SCHEMA = "smbench.compat/1"

# Built-in kernels guard each format so that a normal build compiles everywhere;
# the matrix turns the guards off to hear what the compiler says about each one.
PROBE_OPTIONS = ("-DSMBENCH_PROBE_ALL",)

_KERNEL_DECL = re.compile(r'__global__\s+(?:__launch_bounds__\s*\([^)]*\)\s*)?void\s+(\w+)\s*\(')
_FRONTEND_LINE = re.compile(r"^(?P<file>[^\s(]+)\((?P<line>\d+)\):\s*(?:catastrophic\s+)?error", re.MULTILINE)


@dataclass
class SourceUnit:
    """One kernel file as the matrix compiles it."""

    path: Path
    text: str
    options: tuple[str, ...]
    builtin: bool

    @property
    def name(self) -> str:
        return self.path.name


@dataclass
class Cell:
    file: str
    kernel: str
    target: str
    status: str  # "ok", "failed", "skipped" (NVRTC lacks the target), "unknown" (could not be isolated)
    tensor_instructions: list[str] = field(default_factory=list)
    registers: int | None = None
    local_bytes: int | None = None
    spill_instructions: int | None = None
    shared_bytes: int | None = None
    error: str = ""
    fallback: str = ""  # for failed cells: "yes" or "no"; empty where it does not apply
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
            "cells": [asdict(c) for c in self.cells],
        }


def declared_kernels(source: str) -> list[str]:
    """Kernel names declared in the source text (for files whose PTX could not be made)."""
    return list(dict.fromkeys(_KERNEL_DECL.findall(_strip_comments(source))))


def _strip_comments(source: str) -> str:
    # Keep line structure (line numbers matter) while blanking comments.
    source = re.sub(r"/\*.*?\*/", lambda m: re.sub(r"[^\n]", " ", m.group(0)), source, flags=re.DOTALL)
    return re.sub(r"//[^\n]*", "", source)


def kernel_line_spans(source: str) -> dict[str, tuple[int, int]]:
    """Kernel name -> (first line, last line) of its definition, by brace matching."""
    text = _strip_comments(source)
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
        spans[match.group(1)] = (first, last)
    return spans


def _frontend_blame(unit: SourceUnit, log: str) -> dict[str, str]:
    """Kernel -> its first front-end error, where the error line falls inside that kernel."""
    spans = kernel_line_spans(unit.text)
    blamed: dict[str, str] = {}
    lines = log.splitlines()
    for match in _FRONTEND_LINE.finditer(log):
        if Path(match.group("file")).name != unit.name:
            continue
        number = int(match.group("line"))
        message = next((line.strip() for line in lines if line.startswith(match.group(0))), match.group(0))
        for kernel, (first, last) in spans.items():
            if first <= number <= last:
                blamed.setdefault(kernel, message)
    return blamed


def _per_kernel_assembly(module_ptx: str, real_arch: str, first_blame: dict[str, str],
                         cache: Cache) -> tuple[dict[str, sass.KernelSass], dict[str, str], bool]:
    """Assemble a module kernel by kernel: returns (summaries of those that assemble,
    kernel -> error for those that do not, whether isolation was possible)."""
    kernels = ptx_tools.entries(module_ptx)
    failed = dict(first_blame)
    for _ in range(len(kernels) + 1):
        remaining = [k for k in kernels if k not in failed]
        if not remaining:
            return {}, failed, True
        trimmed = ptx_tools.drop_entries(module_ptx, set(failed))
        result = assemble_ptx(trimmed, real_arch, cache)
        if result is None:
            return {}, failed, False
        if result["ok"]:
            summaries = sass.summarize(result["cubin"], cache)
            return {k: summaries[k] for k in remaining if k in summaries}, failed, True
        new = {k: v for k, v in ptx_tools.attribute_errors(trimmed, result["log"]).items() if k not in failed}
        if not new:
            first = next((line for line in result["log"].splitlines() if "error" in line.lower()), result["log"])
            for kernel in remaining:
                failed[kernel] = first.strip()
            return {}, failed, True
        failed.update(new)
    return {}, failed, True


def _clean_error(message: str) -> str:
    """ptxas/NVRTC error lines without the noise of temporary paths."""
    message = re.sub(r"^ptxas application ptx input, line \d+;\s*(?:error\s*:\s*)?", "ptxas: ", message.strip())
    return re.sub(r"\s{2,}", " ", message)


def _ok_cell(unit: SourceUnit, kernel: str, target: str, summary: sass.KernelSass) -> Cell:
    return Cell(unit.name, kernel, target, "ok", summary.tensor_instructions, summary.registers,
                summary.local_bytes, summary.spill_instructions, summary.shared_bytes,
                histogram=dict(summary.histogram))


def analyse(unit: SourceUnit, target: target_table.Target, cache: Cache) -> list[Cell]:
    """Every kernel of one file on one target."""
    native = compile_source(unit.text, target.name, source_name=unit.name, options=unit.options,
                            source_dir=unit.path.parent, cache=cache)
    if native.ok:
        summaries = sass.summarize(native.cubin, cache)
        kernels = ptx_tools.entries(native.ptx) or list(summaries)
        return [_ok_cell(unit, k, target.name, summaries[k]) for k in kernels if k in summaries]

    if native.stage != "ptxas":
        blamed = _frontend_blame(unit, native.log)
        file_error = "file does not compile: " + _clean_error(native.first_error)
        cells = [Cell(unit.name, k, target.name, "failed", error=_clean_error(blamed.get(k, file_error)))
                 for k in declared_kernels(unit.text)]
        if not cells:
            cells = [Cell(unit.name, "(file)", target.name, "failed", error=file_error)]
        return cells

    blamed = ptx_tools.attribute_errors(native.ptx, native.log)
    if not blamed:
        blamed = {k: native.first_error for k in ptx_tools.entries(native.ptx)}
    summaries, failed, isolated = _per_kernel_assembly(native.ptx, target.name, blamed, cache)
    cells = []
    for kernel in ptx_tools.entries(native.ptx):
        if kernel in summaries:
            cells.append(_ok_cell(unit, kernel, target.name, summaries[kernel]))
        elif kernel in failed:
            cells.append(Cell(unit.name, kernel, target.name, "failed", error=_clean_error(failed[kernel])))
        else:
            why = "not assessed: nvJitLink unavailable" if not isolated else "no machine code produced"
            cells.append(Cell(unit.name, kernel, target.name, "unknown", error=why))
    return cells


def _fallback(unit: SourceUnit, target: target_table.Target, cache: Cache) -> dict[str, tuple[str, str]]:
    """Kernel -> ("yes", instruction) or ("no", why) for the file's compute_80 PTX JIT-compiled
    for this target's GPU."""
    fallback = compile_source(unit.text, "compute_" + target_table.FALLBACK_PTX_TARGET[3:],
                              source_name=unit.name, options=unit.options, source_dir=unit.path.parent,
                              cache=cache)
    if not fallback.ok:
        why = "compute_80 PTX does not compile: " + _clean_error(fallback.first_error)
        return {k: ("no", why) for k in declared_kernels(unit.text)}
    summaries, failed, isolated = _per_kernel_assembly(fallback.ptx, target.portable_real, {}, cache)
    verdicts: dict[str, tuple[str, str]] = {}
    for kernel in ptx_tools.entries(fallback.ptx):
        if kernel in summaries:
            ops = summaries[kernel].tensor_instructions
            verdicts[kernel] = ("yes", ops[0] if ops else "no tensor instruction")
        elif kernel in failed:
            verdicts[kernel] = ("no", _clean_error(failed[kernel]))
        else:
            verdicts[kernel] = ("unknown", "nvJitLink unavailable" if not isolated else "")
    return verdicts


def _analyse_with_fallback(unit: SourceUnit, target: target_table.Target, cache: Cache) -> list[Cell]:
    cells = analyse(unit, target, cache)
    if any(c.status == "failed" for c in cells):
        verdicts = _fallback(unit, target, cache)
        for cell in cells:
            if cell.status == "failed":
                cell.fallback, cell.fallback_detail = verdicts.get(cell.kernel, ("no", "not in the compute_80 PTX"))
    return cells


def builtin_units() -> list[SourceUnit]:
    return [SourceUnit(p, read_source(p), PROBE_OPTIONS, True) for p in builtin_kernel_files()]


def user_units(paths: Sequence[Path], options: Sequence[str]) -> list[SourceUnit]:
    units = []
    for path in paths:
        path = Path(path)
        units.append(SourceUnit(path.resolve(), read_source(path), tuple(options), False))
    return units


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
    work = [(u, t) for u in units for t in targets if t.name not in skipped]
    jobs = jobs or min(len(work), os.cpu_count() or 1) or 1

    def task(item):
        try:
            return _analyse_with_fallback(item[0], item[1], cache)
        finally:
            if on_done:
                on_done()

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        results = list(pool.map(task, work))
    by_pair = dict(zip(((u.name, t.name) for u, t in work), results))

    cells: list[Cell] = []
    for unit in units:
        # Rows in the order kernels first appear across targets; columns in the order asked.
        found = {(c.kernel, t.name): c for t in targets for c in by_pair.get((unit.name, t.name), [])}
        kernels = list(dict.fromkeys(kernel for kernel, _ in found))
        for kernel in kernels:
            for target in targets:
                if target.name in skipped:
                    cells.append(Cell(unit.name, kernel, target.name, "skipped", error=skipped[target.name]))
                elif (kernel, target.name) in found:
                    cells.append(found[(kernel, target.name)])
                else:
                    cells.append(Cell(unit.name, kernel, target.name, "failed",
                                      error="not in this target's PTX (removed by the preprocessor?)"))
    return CompatReport([u.name for u in units], [t.name for t in targets], cells, version,
                        toolchain.nvjitlink_version(), skipped, {u.name: list(u.options) for u in units},
                        cache.hits, cache.misses)

