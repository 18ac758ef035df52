"""A scan: every file of every source read by its headers, judged for each GPU, summed up
per package; and the JSON document it becomes (schema smbench.scan/1).

A file that cannot be read (corrupt, truncated, unreadable, a symlink loop) is a row with
the reason and no verdict; the scan goes on. Files without device code are counted, not
listed.
"""

from __future__ import annotations

import time
import zipfile
from dataclasses import dataclass, field
from typing import Callable

from smbench.scan import fatbin, rules, sources
from smbench.scan.rules import Gpu, Overall

SCHEMA = "smbench.scan/1"


@dataclass
class Row:
    """One file with device code (or one that could not be read)."""

    file: str
    package: str
    version: str
    size: int
    form: str = ""  # fatbin | cubin | ptx
    sass: list[str] = field(default_factory=list)
    ptx: list[str] = field(default_factory=list)
    modules: int = 0
    compressed: int = 0  # entries with compressed payloads
    verdicts: dict[str, Overall] = field(default_factory=dict)  # GPU label -> verdict
    problem: str | None = None
    triton_arch: int | None = None
    kernels: list[dict] | None = None  # with --detail

    def to_dict(self, gpus: list[Gpu]) -> dict:
        first = self.verdicts.get(gpus[0].label) if gpus else None
        row = {"file": self.file, "package": self.package, "version": self.version, "sass": self.sass,
               "ptx": self.ptx, "verdict": first.verdict if first else None,
               "via": first.via if first else None, "note": first.note if first else None,
               "fallback": first.fallback if first else False,
               "by_gpu": {g.label: self.verdicts[g.label].to_dict() for g in gpus if g.label in self.verdicts},
               "form": self.form, "modules": self.modules, "compressed_entries": self.compressed,
               "bytes": self.size, "problem": self.problem}
        if self.triton_arch is not None:
            row["triton_arch"] = self.triton_arch
        if self.kernels is not None:
            row["kernels"] = self.kernels
        return row


@dataclass
class Package:
    name: str
    version: str
    files: int
    sass: list[str]
    ptx: list[str]
    verdicts: dict[str, Overall]

    def to_dict(self, gpus: list[Gpu]) -> dict:
        first = self.verdicts[gpus[0].label]
        return {"package": self.name, "version": self.version, "files": self.files, "sass": self.sass,
                "ptx": self.ptx, "verdict": first.verdict, "via": first.via, "note": first.note,
                "fallback": first.fallback,
                "by_gpu": {g.label: self.verdicts[g.label].to_dict() for g in gpus}}


@dataclass
class SourceResult:
    title: str
    root: str
    rows: list[Row]
    files_scanned: int
    bytes_scanned: int
    seconds: float

    @property
    def code_rows(self) -> list[Row]:
        return [r for r in self.rows if r.problem is None]

    @property
    def problems(self) -> list[Row]:
        return [r for r in self.rows if r.problem is not None]

    def packages(self, gpus: list[Gpu]) -> list[Package]:
        groups: dict[tuple[str, str], list[Row]] = {}
        for row in self.code_rows:
            groups.setdefault((row.package, row.version), []).append(row)
        packages = []
        for (name, version), rows in sorted(groups.items(), key=lambda kv: kv[0][0].lower()):
            # A file holding only arch-specific code (sm_90a kernels) is set aside on other GPUs.
            portable = [any(not name.endswith("a") for name in r.sass + r.ptx) for r in rows]
            verdicts = {gpu.label: _package_verdict([r.verdicts[gpu.label] for r in rows], portable)
                        for gpu in gpus}
            packages.append(Package(name, version, len(rows), _union(r.sass for r in rows),
                                    _union(r.ptx for r in rows), verdicts))
        return packages


def _package_verdict(files: list[Overall], portable: list[bool]) -> Overall:
    """A package's verdict: the worst of its files', with how many files each verdict has."""
    as_verdicts = [rules.Verdict(o.verdict, o.via, o.code, o.fallback, o.note) for o in files]
    return rules.combine(as_verdicts, portable, unit="file")


def _union(lists) -> list[str]:
    names = {name for names in lists for name in names}
    return sorted(names, key=_name_order)


def _name_order(name: str) -> tuple:
    head, _, rest = name.partition("_")
    digits = "".join(ch for ch in rest if ch.isdigit())
    return head, int(digits or 0), rest


def read_item(item: sources.Item, gpus: list[Gpu], detail: bool = False) -> Row | None:
    """The row for one item, or None when it holds no device code."""
    row = Row(item.display, item.package, item.version, item.size, problem=item.problem)
    if item.problem is not None:
        return row
    try:
        with sources.local_file(item) as path:
            found = fatbin.read_path(path)
            if detail and found.codes:
                from smbench.scan import detail as detail_module

                row.kernels = detail_module.kernels(path)
    except fatbin.NotDeviceCode as exc:
        return _row_for_not_device(row, item, exc)
    except fatbin.Corrupt as exc:
        row.problem = f"corrupt or truncated: {exc}"
        return row
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        row.problem = f"unreadable: {getattr(exc, 'strerror', None) or exc}"
        return row
    if not found.codes:
        return None
    row.form = found.form
    row.modules = sum(1 for m in found.modules if m.codes)
    row.sass = rules.sort_names(c for c in found.codes if c.kind == fatbin.SASS)
    row.ptx = rules.sort_names(c for c in found.codes if c.kind == fatbin.PTX)
    row.compressed = sum(1 for c in found.codes if c.compressed)
    if item.triton is not None:
        row.triton_arch = item.triton.get("arch")
    for gpu in gpus:
        judged = rules.judge_modules(found.modules, gpu)
        if item.triton is not None and judged is not None:
            judged = _triton_note(judged, item.triton, gpu)
        row.verdicts[gpu.label] = judged
    return row


def _row_for_not_device(row: Row, item: sources.Item, exc: Exception) -> Row | None:
    """Files named as device code (.cubin, .fatbin, .ptx) that are not, and shared libraries
    that are not ELF, are rows with the reason; an ELF library without device code is not."""
    name = item.display.lower()
    if name.endswith((".cubin", ".fatbin", ".ptx")) or "not an ELF" in str(exc) or "empty" in str(exc):
        row.problem = str(exc)
        return row
    return None


def _triton_note(judged: Overall, meta: dict, gpu: Gpu) -> Overall:
    """Triton loads a kernel's cubin as it is: say which architecture Triton built it for, and
    call an sm_80 build on a newer GPU what it is."""
    arch = meta.get("arch")
    if arch is None:
        return judged
    note = f"Triton built it for arch {arch}"
    if arch == 80 and gpu.major > 8:
        note += " (the sm_80 fallback: Ampere-style code)"
    judged.note = "; ".join(n for n in (note, judged.note) if n)
    judged.fallback = judged.fallback or (arch == 80 and gpu.major > 8)
    return judged


@dataclass
class ScanResult:
    gpus: list[Gpu]
    sources: list[SourceResult]
    seconds: float
    gpu_note: str = ""
    provenance: dict = field(default_factory=dict)

    @property
    def files_scanned(self) -> int:
        return sum(s.files_scanned for s in self.sources)

    @property
    def bytes_scanned(self) -> int:
        return sum(s.bytes_scanned for s in self.sources)

    def summary_lines(self) -> list[str]:
        """Per source and GPU: '12 packages with device code: 9 native, 2 JIT only, 1 will not run on sm_121'."""
        lines = []
        for source in self.sources:
            packages = source.packages(self.gpus)
            for gpu in self.gpus:
                lines.append(f"{source.title}: {summary(packages, gpu)}")
            if source.problems:
                lines.append(f"{source.title}: {len(source.problems)} file"
                             f"{'s' if len(source.problems) > 1 else ''} could not be read (listed above)")
        return lines

    def exit_code(self, fail_on: str) -> int:
        """1 when --fail-on's threshold is met by any package for any GPU, else 0."""
        if fail_on == "never":
            return 0
        bad = {rules.NONE} if fail_on == "none" else {rules.NONE, rules.JIT}
        for source in self.sources:
            for package in source.packages(self.gpus):
                if any(v.verdict in bad for v in package.verdicts.values()):
                    return 1
        return 0

    def to_json(self) -> dict:
        return {
            "schema": SCHEMA,
            "provenance": self.provenance,
            "gpus": [{"label": g.label, "compute_capability": g.compute_capability, "sm": g.sm,
                      "source": g.source} for g in self.gpus],
            "gpu_note": self.gpu_note,
            "seconds": round(self.seconds, 3),
            "files_scanned": self.files_scanned,
            "bytes_scanned": self.bytes_scanned,
            "summary": self.summary_lines(),
            "sources": [{"title": s.title, "root": s.root, "files_scanned": s.files_scanned,
                         "bytes_scanned": s.bytes_scanned, "seconds": round(s.seconds, 3),
                         "packages": [p.to_dict(self.gpus) for p in s.packages(self.gpus)],
                         "rows": [r.to_dict(self.gpus) for r in s.rows]} for s in self.sources],
        }


def summary(packages: list[Package], gpu: Gpu) -> str:
    counts = {v: sum(1 for p in packages if p.verdicts[gpu.label].verdict == v) for v in rules.WORDS}
    parts = [f"{counts[v]} {rules.WORDS[v]}" for v in (rules.NATIVE, rules.JIT, rules.NONE) if counts[v]]
    noun = "package" if len(packages) == 1 else "packages"
    return f"{len(packages)} {noun} with device code: {', '.join(parts) or 'none'} on {gpu.label}"


def scan(source_list: list[sources.Source], gpus: list[Gpu], detail: bool = False,
         on_file: Callable[[str], None] | None = None) -> list[SourceResult]:
    results = []
    for source in source_list:
        start = time.perf_counter()
        rows = []
        for item in source.items:
            row = read_item(item, gpus, detail)
            if row is not None:
                rows.append(row)
            if on_file is not None:
                on_file(item.display)
        rows.sort(key=lambda r: (r.package.lower(), r.file))
        results.append(SourceResult(source.title, source.root, rows, len(source.items),
                                    sum(i.size for i in source.items), time.perf_counter() - start))
    return results
