"""A scan: every file of every source read by its headers, judged for each GPU, summed up
per package; and the JSON document it becomes (schema smbench.scan/2).

A file that cannot be read (corrupt, truncated, unreadable, a symlink loop) is a row with
the reason and no verdict, and makes its package's verdict "unknown"; the scan goes on.
Files without device code are counted, not listed; files named like libraries that are
not ELF (linker scripts such as libmpi.so) are counted as skipped.

Per-CUDA alternatives (bitsandbytes' libbitsandbytes_cuda118.so ... _cuda132.so, one of
which loads) are judged by the one that would load: the loader's rule is bitsandbytes'
own (cextension.get_cuda_bnb_library_path): the variant of the CUDA runtime PyTorch was
built for, else the newest of the same major below it, else the oldest of the same major
above it, else none. The CUDA runtime is the environment's (sources.cuda_runtime); where
none is known, the package is judged by its best variant, named.
"""

from __future__ import annotations

import re
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Callable

from smbench.scan import fatbin, rules, sources
from smbench.scan.rules import Gpu, Overall

SCHEMA = "smbench.scan/2"


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
    relocatable: int = 0  # __nv_relfatbin containers: never loaded, never counted
    unreadable: list[str] = field(default_factory=list)  # device code found but not readable
    other_entries: int = 0  # LTO IR and other entries the driver does not load
    overwritten: list[str] = field(default_factory=list)  # other wheels whose RECORD lists this file

    @property
    def narrow(self) -> bool:
        return rules.is_narrow(self.sass + self.ptx)

    def to_dict(self, gpus: list[Gpu]) -> dict:
        first = self.verdicts.get(gpus[0].label) if gpus else None
        row = {"file": self.file, "package": self.package, "version": self.version, "sass": self.sass,
               "ptx": self.ptx, "verdict": first.verdict if first else None,
               "via": first.via if first else None, "note": first.note if first else None,
               "fallback": first.fallback if first else False,
               "by_gpu": {g.label: self.verdicts[g.label].to_dict() for g in gpus if g.label in self.verdicts},
               "form": self.form, "modules": self.modules, "compressed_entries": self.compressed,
               "relocatable_containers": self.relocatable, "other_entries": self.other_entries,
               "unreadable": self.unreadable, "overwritten": self.overwritten,
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
    variants: str = ""  # which per-CUDA alternative is judged, and why

    def to_dict(self, gpus: list[Gpu]) -> dict:
        first = self.verdicts[gpus[0].label]
        return {"package": self.name, "version": self.version, "files": self.files, "sass": self.sass,
                "ptx": self.ptx, "verdict": first.verdict, "via": first.via, "note": first.note,
                "fallback": first.fallback, "variants": self.variants,
                "by_gpu": {g.label: self.verdicts[g.label].to_dict() for g in gpus}}


# libbitsandbytes_cuda132.so: a stem, "cuda" or "cu", the CUDA version as major digits and
# one minor digit, then the rest of the name.
_VARIANT = re.compile(r"^(?P<stem>.*?)(?P<tag>cuda|cu)(?P<major>\d{1,2})(?P<minor>\d)(?P<rest>(?:[._-].*)?)$")


def variant_key(file: str) -> tuple[tuple[str, str, str], tuple[int, int]] | None:
    """(the group a per-CUDA library belongs to, its CUDA version), or None."""
    path = PurePath(file)
    match = _VARIANT.match(path.name)
    if not match:
        return None
    key = (str(path.parent), match.group("stem") + match.group("tag"), match.group("rest"))
    return key, (int(match.group("major")), int(match.group("minor")))


def choose_variant(versions: list[tuple[int, int]], runtime: tuple[int, int]) -> tuple[int, int] | None:
    """The variant a loader takes for a CUDA runtime (bitsandbytes' rule): the same version,
    else the newest of the same major below it, else the oldest of the same major above it."""
    if runtime in versions:
        return runtime
    lower = [v for v in versions if v[0] == runtime[0] and v < runtime]
    higher = [v for v in versions if v[0] == runtime[0] and v > runtime]
    return max(lower) if lower else (min(higher) if higher else None)


def _cuda(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


@dataclass
class SourceResult:
    title: str
    root: str
    rows: list[Row]
    files_scanned: int
    bytes_scanned: int
    seconds: float
    runtime: tuple[int, int] | None = None  # the CUDA runtime that picks per-CUDA alternatives
    runtime_source: str = ""
    skipped: list[str] = field(default_factory=list)  # named like libraries, not ELF (linker scripts)

    @property
    def code_rows(self) -> list[Row]:
        return [r for r in self.rows if r.problem is None]

    @property
    def problems(self) -> list[Row]:
        return [r for r in self.rows if r.problem is not None]

    def packages(self, gpus: list[Gpu]) -> list[Package]:
        groups: dict[tuple[str, str], list[Row]] = {}
        for row in self.rows:
            groups.setdefault((row.package, row.version), []).append(row)
        packages = []
        for (name, version), rows in sorted(groups.items(), key=lambda kv: kv[0][0].lower()):
            readable = [r for r in rows if r.problem is None]
            verdicts, variants = {}, ""
            for gpu in gpus:
                verdicts[gpu.label], variants = self._package_verdict(rows, gpu)
            packages.append(Package(name, version, len(rows), _union(r.sass for r in readable),
                                    _union(r.ptx for r in readable), verdicts, variants))
        return packages

    def _package_verdict(self, rows: list[Row], gpu: Gpu) -> tuple[Overall, str]:
        """(a package's verdict for one GPU, which per-CUDA alternative was judged)."""
        entries: list[tuple[str, Overall, bool]] = []
        groups: dict[tuple, list[tuple[tuple[int, int], Row]]] = {}
        for row in rows:
            if row.problem is not None:
                entries.append((row.file, Overall(rules.UNKNOWN, "a file that could not be read", False,
                                                  row.problem, missing=f"could not be read: {row.problem}"), False))
                continue
            found = variant_key(row.file)
            if found is not None:
                groups.setdefault(found[0], []).append((found[1], row))
                continue
            entries.append((_name(row.file), row.verdicts[gpu.label], row.narrow))
        said = []
        for members in groups.values():
            if len(members) == 1:
                (_, row), = members
                entries.append((_name(row.file), row.verdicts[gpu.label], row.narrow))
                continue
            entry, words = self._variant_entry(members, gpu)
            entries.append(entry)
            said.append(words)
        return rules.combine_files(entries, gpu), "; ".join(said)

    def _variant_entry(self, members: list[tuple[tuple[int, int], Row]], gpu: Gpu
                       ) -> tuple[tuple[str, Overall, bool], str]:
        versions = sorted(v for v, _ in members)
        listing = f"{_cuda(versions[0])} ... {_cuda(versions[-1])}"
        by_version = {v: row for v, row in members}
        if self.runtime is not None:
            chosen = choose_variant(versions, self.runtime)
            if chosen is None:
                name = _name(members[0][1].file)
                missing = (f"no variant loads with CUDA {_cuda(self.runtime)} ({self.runtime_source}); "
                           f"the package has CUDA {listing}")
                return (name, Overall(rules.NONE, missing, False, "", built_for=False, missing=missing), False), missing
            row = by_version[chosen]
            words = (f"{_name(row.file)} judged: the variant that loads with CUDA {_cuda(self.runtime)} "
                     f"({self.runtime_source}); {len(members) - 1} other variants (CUDA {listing}) not loaded")
            return (_name(row.file), row.verdicts[gpu.label], row.narrow), words
        # No runtime known: the best variant, named, as what the package can do.
        best = max(members, key=lambda vr: (rules.RANK[vr[1].verdicts[gpu.label].verdict], vr[0]))[1]
        judged = best.verdicts[gpu.label]
        words = (f"no CUDA runtime found to pick among CUDA {listing}: judged by the best, {_name(best.file)}")
        named = Overall(judged.verdict, f"{judged.via} with the {_tag(best.file)} variant", judged.fallback,
                        judged.note, judged.code, judged.counts, judged.set_aside, judged.built_for, judged.ptx_isa,
                        judged.needs_cuda, judged.missing)
        return (_name(best.file), named, best.narrow), words


def _name(file: str) -> str:
    return PurePath(file).name


def _tag(file: str) -> str:
    match = _VARIANT.match(_name(file))
    return f"{match.group('tag')}{match.group('major')}{match.group('minor')}" if match else _name(file)


def _union(lists) -> list[str]:
    names = {name for names in lists for name in names}
    return sorted(names, key=_name_order)


def _name_order(name: str) -> tuple:
    head, _, rest = name.partition("_")
    digits = "".join(ch for ch in rest if ch.isdigit())
    return head, int(digits or 0), rest


def read_item(item: sources.Item, gpus: list[Gpu], detail: bool = False, driver: rules.Driver | None = None,
              skipped: list[str] | None = None) -> Row | None:
    """The row for one item, or None when it holds no device code (a library that is not
    ELF is added to `skipped`)."""
    row = Row(item.display, item.package, item.version, item.size, problem=item.problem,
              overwritten=list(item.overwritten))
    if item.problem is not None:
        return row
    try:
        with sources.local_file(item) as path:
            found = fatbin.read_path(path)
            if detail and found.codes:
                from smbench.scan import detail as detail_module

                row.kernels = detail_module.kernels(path)
    except fatbin.NotDeviceCode as exc:
        return _row_for_not_device(row, item, exc, skipped)
    except fatbin.Corrupt as exc:
        row.problem = f"corrupt or truncated: {exc}"
        return row
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        row.problem = f"unreadable: {getattr(exc, 'strerror', None) or exc}"
        return row
    if not found.codes and not found.unreadable:
        return None
    row.form = found.form
    row.relocatable = found.relocatable
    row.unreadable = found.unreadable
    row.other_entries = sum(m.other_entries for m in found.modules)
    row.modules = sum(1 for m in found.modules if m.codes)
    row.sass = rules.sort_names(c for c in found.codes if c.kind == fatbin.SASS)
    row.ptx = rules.sort_names(c for c in found.codes if c.kind == fatbin.PTX)
    row.compressed = sum(1 for c in found.codes if c.compressed)
    if item.triton is not None:
        row.triton_arch = item.triton.get("arch")
    for gpu in gpus:
        judged = rules.judge_file(found.modules, gpu, driver, found.unreadable)
        if item.triton is not None and judged is not None:
            judged = _triton_note(judged, item.triton, gpu)
        row.verdicts[gpu.label] = judged
    return row


def _row_for_not_device(row: Row, item: sources.Item, exc: Exception, skipped: list[str] | None) -> Row | None:
    """Files named as device code (.cubin, .fatbin, .ptx) that are not are rows with the
    reason; a file named like a shared library that is not ELF (a linker script such as
    libmpi.so, an empty file) is skipped and counted; an ELF library without device code is
    neither."""
    name = item.display.lower()
    if name.endswith((".cubin", ".fatbin", ".ptx")):
        row.problem = str(exc)
        return row
    if "not an ELF" in str(exc) or "empty" in str(exc):
        if skipped is not None:
            skipped.append(item.display)
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
    driver: rules.Driver = field(default_factory=lambda: rules.Driver(None, "not looked for"))

    @property
    def files_scanned(self) -> int:
        return sum(s.files_scanned for s in self.sources)

    @property
    def bytes_scanned(self) -> int:
        return sum(s.bytes_scanned for s in self.sources)

    def summary_lines(self) -> list[str]:
        """Per source and GPU: '12 packages with device code: 9 native, 2 needs JIT, 1 will not run on sm_121'."""
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
        bad = {rules.NONE} if fail_on == "none" else {rules.NONE, rules.JIT, rules.UNKNOWN}
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
            "driver": {"cuda": _cuda(self.driver.cuda) if self.driver.cuda else None, "source": self.driver.source},
            "seconds": round(self.seconds, 3),
            "files_scanned": self.files_scanned,
            "bytes_scanned": self.bytes_scanned,
            "summary": self.summary_lines(),
            "sources": [{"title": s.title, "root": s.root, "files_scanned": s.files_scanned,
                         "bytes_scanned": s.bytes_scanned, "seconds": round(s.seconds, 3),
                         "cuda_runtime": _cuda(s.runtime) if s.runtime else None,
                         "cuda_runtime_source": s.runtime_source, "skipped_not_elf": s.skipped,
                         "packages": [p.to_dict(self.gpus) for p in s.packages(self.gpus)],
                         "rows": [r.to_dict(self.gpus) for r in s.rows]} for s in self.sources],
        }


def summary(packages: list[Package], gpu: Gpu) -> str:
    counts = {v: sum(1 for p in packages if p.verdicts[gpu.label].verdict == v) for v in rules.WORDS}
    parts = [f"{counts[v]} {rules.WORDS[v]}" for v in (rules.NATIVE, rules.JIT, rules.UNKNOWN, rules.NONE)
             if counts[v]]
    noun = "package" if len(packages) == 1 else "packages"
    return f"{len(packages)} {noun} with device code: {', '.join(parts) or 'none'} on {gpu.label}"


def scan(source_list: list[sources.Source], gpus: list[Gpu], detail: bool = False,
         on_file: Callable[[str], None] | None = None, driver: rules.Driver | None = None) -> list[SourceResult]:
    results = []
    for source in source_list:
        start = time.perf_counter()
        rows, skipped = [], []
        for item in source.items:
            row = read_item(item, gpus, detail, driver, skipped)
            if row is not None:
                rows.append(row)
            if on_file is not None:
                on_file(item.display)
        rows.sort(key=lambda r: (r.package.lower(), r.file))
        results.append(SourceResult(source.title, source.root, rows, len(source.items),
                                    sum(i.size for i in source.items), time.perf_counter() - start,
                                    source.runtime, source.runtime_source, sorted(skipped)))
    return results
