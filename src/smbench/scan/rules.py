"""Will this device code run on that GPU: natively, through the driver's PTX JIT, or not at all.

The rules themselves (which SASS and which PTX a GPU can use) are targets.sass_runs_on and
targets.ptx_jits_on, with their sources; which PTX ISA a driver can JIT is scan.ptx_isa.
This module applies them to what a file holds, picks what the driver would use, and says
why in words. A GPU is a compute capability: named by the GPU present, a device-table key
(gb10, rtx5090, a100), a target of smbench's table (sm_121f means a GPU of compute
capability 12.1; the suffix belongs to code, not to chips), or the compute capability of
a shipping GPU (7.5, 8.6, sm_75).

From modules to a file (judge_file), as libraries load their code: a library holds many
modules (fatbin containers), and dispatches at run time to those built for the GPU it
runs on: cuBLAS carries an sm_75-only module of Turing kernels, NCCL 20 sm_100f-only
modules of FP8 kernels, cuDNN Volta-only modules; none is ever launched on another GPU.
So a file is judged by the modules that can serve the GPU:

  built for the GPU   some module has SASS that runs on it, or carries SASS for other GPUs
                      and PTX the driver can JIT for it (the build targeted it, perhaps
                      through PTX). Then modules with no route to it are "for other GPUs"
                      (counted, never a failure), and the verdict is:
                        native  every serving module has SASS for it (modules that ship
                                only PTX, for every GPU alike, do not change that: cuFFT's);
                        jit     some serving module has SASS for other GPUs only and is
                                JIT-compiled from its PTX here (the sm_80 fallback kind).
  not built for it    no module has SASS for it, nor SASS plus PTX it can JIT:
                        jit     when modules that ship only PTX serve it and every module does;
                        none    otherwise (what is missing is said).
  unknown             device code that could not be read: nothing is claimed.

From files to a package (combine_files): the worst of its files, ranked none < unknown <
jit < native, except files set aside: a file not built for the GPU whose code is narrow
(SASS of one other generation, or arch/family-specific code only: a stub, or one GPU's
tuned kernels) when another file of the package is built for it, and the per-CUDA
alternatives that would not load (scanner chooses the one that does).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from smbench import devices
from smbench import targets as target_table
from smbench.errors import SmbenchError
from smbench.scan import ptx_isa
from smbench.scan.fatbin import PTX, SASS, Code, Module

NATIVE, JIT, NONE, UNKNOWN = "native", "jit", "none", "unknown"
RANK = {NONE: 0, UNKNOWN: 1, JIT: 2, NATIVE: 3}
WORDS = {NATIVE: "native", JIT: "needs JIT", NONE: "will not run", UNKNOWN: "unknown"}


@dataclass(frozen=True)
class Gpu:
    label: str  # what the columns say: "sm_121", or "gb10 (sm_121)"
    major: int
    minor: int
    source: str  # "present: NVIDIA GB10", "--gpu gb10", "no GPU here: default"

    @property
    def cc(self) -> tuple[int, int]:
        return self.major, self.minor

    @property
    def compute_capability(self) -> str:
        return f"{self.major}.{self.minor}"

    @property
    def sm(self) -> str:
        return f"sm_{self.major}{self.minor}"


_ARCH = re.compile(r"^(?:sm_|compute_|sm)?(\d{2,3})([af]?)$")
_CC = re.compile(r"^(\d{1,2})\.(\d)$")


def _real(major: int, minor: int, suffix: str = "") -> bool:
    """A compute capability that names a GPU: a target of smbench's table (with its
    suffix) or the compute capability of a shipping GPU (targets.KNOWN_COMPUTE_CAPABILITIES)."""
    name = f"sm_{major}{minor}{suffix}"
    shipping = not suffix and (major, minor) in target_table.KNOWN_COMPUTE_CAPABILITIES
    return name in target_table.TARGETS or shipping


def _known_names() -> str:
    (low_major, low_minor), (high_major, high_minor) = min(target_table.KNOWN_COMPUTE_CAPABILITIES), \
        max(target_table.KNOWN_COMPUTE_CAPABILITIES)
    return (f"sm_{low_major}{low_minor} ... sm_{high_major}{high_minor}f, "
            f"{low_major}.{low_minor} ... {high_major}.{high_minor}")


def parse_gpu(text: str, source: str | None = None) -> Gpu:
    """--gpu's value: sm_XY[a|f] (or compute_XY, XY, X.Y) naming a real GPU, or a device-table
    key or its prefix when every row it names has the same compute capability (a100 ->
    a100-40, a100-80). Anything else (sm_95, sm_999, voodoo) is an SmbenchError."""
    key = text.strip().lower()
    source = source or f"--gpu {text}"
    match = _ARCH.match(key) or _CC.match(key)
    if match:
        if match.re is _ARCH:
            (major, minor), suffix = divmod(int(match.group(1)), 10), match.group(2)
        else:
            major, minor, suffix = int(match.group(1)), int(match.group(2)), ""
        if not _real(major, minor, suffix):
            raise SmbenchError(f"--gpu {text}: no GPU has compute capability {major}.{minor}{suffix and ' ' + suffix}; "
                               f"known: {_known_names()}, or a device ({device_names()})")
        return Gpu(f"sm_{major}{minor}", major, minor, source)
    capability = device_capability(text, "--gpu")
    if capability is not None:
        major, minor = capability
        return Gpu(f"{key} (sm_{major}{minor})", major, minor, source)
    raise SmbenchError(f"--gpu {text}: not a target ({_known_names()}) nor a device in smbench's table "
                       f"({device_names()})")


def device_capability(text: str, option: str) -> tuple[int, int] | None:
    """The compute capability of a device-table key, or of a prefix when every row it names
    has the same one (a100 -> a100-40, a100-80); None when it names no device; a one-line
    SmbenchError (naming `option`) when its rows differ. scan --gpu and compat --targets read
    device names through this."""
    key = text.strip().lower()
    rows = [d for d in devices.DEVICES if d.compute_capability and (d.key == key or d.key.startswith(key))]
    exact = [d for d in rows if d.key == key]
    rows = exact or rows
    ccs = {d.compute_capability for d in rows}
    if len(ccs) > 1:
        raise SmbenchError(f"{option} {text} names devices of different compute capabilities "
                           f"({', '.join(d.key for d in rows)}); name one")
    if not ccs:
        return None
    major, minor = (int(part) for part in ccs.pop().split("."))
    return major, minor


def device_names() -> str:
    return ", ".join(d.key for d in devices.DEVICES if d.compute_capability)


# With no GPU and no --gpu, the GPU this project exists for.
DEFAULT_GPU = "gb10"


def present_gpus() -> tuple[list[Gpu], str]:
    """The GPUs on this machine, one per compute capability, or ([], why there are none)."""
    from smbench.gpuinfo import list_gpus

    try:
        found, why = list_gpus()
    except Exception as exc:  # noqa: BLE001 - no driver, no bindings: the same answer
        return [], str(exc)
    gpus: dict[tuple[int, int], Gpu] = {}
    for info in found:
        gpus.setdefault((info.major, info.minor),
                        Gpu(f"sm_{info.major}{info.minor}", info.major, info.minor, f"present: {info.name}"))
    return list(gpus.values()), why


def choose_gpus(names: list[str] | None) -> tuple[list[Gpu], str]:
    """(the GPUs to judge for, a note for the user or ''): --gpu values in order, else the GPUs
    present, else the DGX Spark's GB10 with a note saying so."""
    if names:
        chosen: dict[tuple[int, int], Gpu] = {}
        for name in names:
            gpu = parse_gpu(name)
            chosen.setdefault(gpu.cc, gpu)
        return list(chosen.values()), ""
    present, why = present_gpus()
    if present:
        return present, ""
    gpu = parse_gpu(DEFAULT_GPU, "no GPU here: the DGX Spark's")  # the note below says why
    return [gpu], (f"no GPU here ({why}); judging for {gpu.label}, the DGX Spark's GPU. "
                   f"--gpu names another (sm_90, rtx5090, a100 ...)")


# ---------------------------------------------------------------- the driver


@dataclass(frozen=True)
class Driver:
    """The CUDA driver whose PTX JIT is judged: the one present (its CUDA version), or
    none known (no driver here): then a JIT verdict says which driver it needs."""

    cuda: tuple[int, int] | None
    source: str

    @property
    def label(self) -> str:
        return f"CUDA {self.cuda[0]}.{self.cuda[1]} driver" if self.cuda else "no driver here"


def present_driver() -> Driver:
    from smbench.gpuinfo import driver_version

    try:
        version, why = driver_version()
    except Exception as exc:  # noqa: BLE001 - no bindings: the same answer as no driver
        return Driver(None, str(exc))
    if version is None:
        return Driver(None, why)
    return Driver(tuple(version), "present")


# ---------------------------------------------------------------- one module


@dataclass(frozen=True)
class Verdict:
    verdict: str  # native | jit | none
    via: str  # what runs, in words
    code: str | None = None  # sm_120f or compute_80: what the driver would use
    fallback: bool = False  # JIT from PTX of an older major version than the GPU's
    note: str = ""
    ptx_isa: str | None = None  # the PTX ISA version of the PTX JIT-compiled
    needs_cuda: str | None = None  # the CUDA release whose driver first JITs it ("13.0")


def _order(code: Code) -> tuple:
    # The newest first; at equal numbers, arch-specific code before family before portable.
    return code.number, {"a": 2, "f": 1, "": 0}[code.suffix]


def sort_names(codes) -> list[str]:
    return [c.name for c in sorted(set(codes), key=_order)]


def _missing_features(old: Code, gpu: Gpu) -> list[str]:
    """Features of the GPU's best target that code built for `old` cannot use, from the target
    table (empty for GPUs or code outside it)."""
    try:
        newest = target_table.best_native(*gpu.cc)
    except SmbenchError:
        return []
    base = next((t for t in target_table.all_targets() if (t.major, t.minor) == (old.major, old.minor)
                 and t.suffix == ""), None)
    if base is None:
        return []
    return [key for key in target_table.FEATURES if newest.has(key) and not base.has(key)]


def fallback_note(ptx: Code, gpu: Gpu) -> str:
    missing = _missing_features(ptx, gpu)
    fallback_number = int(target_table.FALLBACK_PTX_TARGET[3:])
    what = "the sm_80 fallback: " if ptx.number == fallback_number else ""
    text = (f"{what}{ptx.name} PTX, compiled by the driver at first load; code written for "
            f"{ptx.major}.{ptx.minor}, without {gpu.sm}'s newer instructions")
    if ptx.major == 8:
        text += " (Ampere-style mma.sync only)"
    if missing:
        text += f": no {', '.join(missing)}"
    return text


def _isa(code: Code) -> tuple[int, int] | None:
    return ptx_isa.parse(code.ptx_isa)


def _needs(code: Code) -> str | None:
    isa = _isa(code)
    needed = ptx_isa.cuda_needed(isa) if isa else None
    return f"{needed[0]}.{needed[1]}" if needed else None


def judge(codes: list[Code], gpu: Gpu, driver: Driver | None = None) -> Verdict:
    """What a GPU would run from one module's codes, as the driver chooses: matching SASS
    first (the newest that runs), else the newest PTX it can JIT-compile: one the
    architecture rules allow and whose ISA version the driver knows."""
    sass = sorted((c for c in codes if c.kind == SASS and target_table.sass_runs_on(c.triple, gpu.cc)),
                  key=_order, reverse=True)
    if sass:
        return Verdict(NATIVE, f"{sass[0].name} SASS", sass[0].name)
    allowed = sorted((c for c in codes if c.kind == PTX and target_table.ptx_jits_on(c.triple, gpu.cc)),
                     key=_order, reverse=True)
    known = [c for c in allowed if driver is None or driver.cuda is None or _isa(c) is None
             or ptx_isa.driver_jits(_isa(c), driver.cuda)]
    if known:
        chosen = known[0]
        fallback = chosen.major < gpu.major
        isa = f"PTX ISA {chosen.ptx_isa}" if chosen.ptx_isa else "PTX"
        needs = _needs(chosen)
        if driver is not None and driver.cuda is not None:
            jit_by = f"the {driver.label} here JITs {isa}"
        else:
            jit_by = f"{isa} needs a CUDA {needs} driver or newer" if needs else isa
        note = fallback_note(chosen, gpu) if fallback else \
            f"{chosen.name} PTX, compiled by the driver at first load (cached after)"
        return Verdict(JIT, f"JIT from {chosen.name} PTX", chosen.name, fallback, f"{note}; {jit_by}",
                       chosen.ptx_isa, needs)
    if allowed:
        newest = allowed[0]
        return Verdict(NONE, f"the {driver.label} cannot JIT {newest.name} PTX of PTX ISA {newest.ptx_isa} "
                             f"(needs CUDA {_needs(newest) or 'newer'})", ptx_isa=newest.ptx_isa,
                       needs_cuda=_needs(newest))
    return Verdict(NONE, why_not(codes, gpu))


def why_not(codes: list[Code], gpu: Gpu) -> str:
    """What is missing, in words: 'no SASS for 12.x at or below 12.1 (has sm_75 ... sm_90); no PTX'."""
    sass = sort_names(c for c in codes if c.kind == SASS)
    ptx = sort_names(c for c in codes if c.kind == PTX)
    parts = [f"no SASS for {gpu.major}.x at or below {gpu.compute_capability}"
             + (f" (has {', '.join(sass)})" if sass else "")]
    if ptx:
        parts.append(f"no PTX it can JIT (has {', '.join(ptx)}: newer, or arch/family-specific)")
    else:
        parts.append("no PTX")
    return "; ".join(parts)


# ---------------------------------------------------------------- many modules: a file


@dataclass
class Overall:
    """A verdict over a file's modules or a package's files, with the tally."""

    verdict: str
    via: str
    fallback: bool
    note: str
    code: str | None = None  # what the driver would use, from the unit that decided the verdict
    counts: dict[str, int] = field(default_factory=dict)  # native / jit / none among the units counted
    set_aside: int = 0  # units for other GPUs (or alternatives not loaded): never a failure
    built_for: bool = True  # the file (or some file) carries code built for this GPU
    ptx_isa: str | None = None
    needs_cuda: str | None = None
    missing: str = ""  # what a file that will not run lacks, in words (for the notes)

    def to_dict(self) -> dict:
        return {"verdict": self.verdict, "via": self.via, "code": self.code, "fallback": self.fallback,
                "note": self.note, "counts": self.counts, "for_other_gpus": self.set_aside,
                "built_for": self.built_for, "ptx_isa": self.ptx_isa, "needs_cuda": self.needs_cuda,
                "missing": self.missing}


def _tally(counts: Counter) -> str:
    return ", ".join(f"{counts[v]} {v}" for v in (NATIVE, JIT, NONE) if counts[v])


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def judge_file(modules: list[Module], gpu: Gpu, driver: Driver | None = None,
               unreadable: list[str] | None = None) -> Overall | None:
    """A file's verdict over its modules (None for a file without device code); the rule
    is in this module's docstring."""
    with_code = [m for m in modules if m.codes]
    if not with_code and not unreadable:
        return None
    # Libraries repeat a few shapes thousands of times (cuFFT: 24,000 modules, 20 shapes):
    # each shape is judged once.
    shapes = Counter(tuple(m.codes) for m in with_code)
    judged = [(codes, count, judge(list(codes), gpu, driver)) for codes, count in shapes.items()]
    has_sass = {codes: any(c.kind == SASS for c in codes) for codes in shapes}
    native = [(c, n, v) for c, n, v in judged if v.verdict == NATIVE]
    ptx_only = [(c, n, v) for c, n, v in judged if v.verdict == JIT and not has_sass[c]]
    fallback = [(c, n, v) for c, n, v in judged if v.verdict == JIT and has_sass[c]]
    without = [(c, n, v) for c, n, v in judged if v.verdict == NONE]
    total = {name: sum(n for _, n, _ in group) for name, group in
             (("native", native), ("ptx_only", ptx_only), ("fallback", fallback), ("without", without))}
    built = bool(native or fallback)
    counts = Counter({NATIVE: total["native"], JIT: total["ptx_only"] + total["fallback"], NONE: total["without"]})
    notes = []
    if unreadable:
        first = unreadable[0]
        more = f" (and {len(unreadable) - 1} more)" if len(unreadable) > 1 else ""
        return Overall(UNKNOWN, "device code that could not be read", False, f"unreadable: {first}{more}",
                       counts=+counts, built_for=built)
    if not built and (not ptx_only or without):
        codes = [c for shape in shapes for c in shape]
        driver_refusals = [v.via for _, _, v in without if v.via.startswith("the ")]
        missing = driver_refusals[0] if driver_refusals and not ptx_only else why_not(codes, gpu)
        if ptx_only:
            notes.append(f"{_plural(total['ptx_only'], 'module')} of PTX only would JIT; "
                         f"{_plural(total['without'], 'module')} have no code for it")
        return Overall(NONE, missing, False, "; ".join(notes), counts=+counts, built_for=False, missing=missing)
    if fallback:
        notes.append(f"{_tally(counts - Counter({NONE: counts[NONE]}))} of "
                     f"{_plural(total['native'] + total['ptx_only'] + total['fallback'], 'module')} that serve it")
        # The oldest PTX any of them falls back to: the worst of what runs.
        decider = min(fallback, key=lambda cnv: _order(next(c for c in cnv[0] if c.name == cnv[2].code)))[2]
        verdict = JIT
    elif native:
        common = Counter()
        for _, n, v in native:
            common[v.code] += n
        decider = next(v for _, _, v in native if v.code == common.most_common(1)[0][0])
        verdict = NATIVE
    else:  # only modules of PTX alone serve it, and every module does
        decider = ptx_only[0][2]
        verdict = JIT
    if native and ptx_only:
        notes.append(f"{_plural(total['ptx_only'], 'module')} ship only PTX, JIT-compiled on any GPU")
    if without:
        by_shape = Counter()
        for shape, n, _ in without:
            by_shape[" ".join(sort_names(shape))] += n
        listed = ", ".join(f"{shape} only: {count}" for shape, count in by_shape.most_common(3))
        more = f", {len(by_shape) - 3} other sets" if len(by_shape) > 3 else ""
        notes.append(f"{_plural(total['without'], 'module')} for other GPUs ({listed}{more})")
    missing = ""
    if verdict == JIT:
        served = total["native"] + total["ptx_only"] + total["fallback"]
        if fallback:
            verb = "has" if total["fallback"] == 1 else "have"
            missing = (f"{total['fallback']} of {_plural(served, 'module')} {verb} no SASS for {gpu.major}.x: "
                       f"JIT from {decider.code} PTX")
        else:
            missing = f"only PTX: JIT from {decider.code}"
        missing += _jit_words(decider, driver)
        if decider.note:
            notes.append(decider.note)
    return Overall(verdict, decider.via, verdict == JIT and decider.fallback, "; ".join(notes), decider.code,
                   +counts, total["without"], True, decider.ptx_isa, decider.needs_cuda, missing)


def _jit_words(verdict: Verdict, driver: Driver | None) -> str:
    """', PTX ISA 8.7, needs a CUDA 12.8 driver or newer' (or what the driver here does)."""
    if not verdict.ptx_isa:
        return ""
    if driver is not None and driver.cuda is not None:
        return f", PTX ISA {verdict.ptx_isa}, which the {driver.label} here JITs"
    needs = f", needs a CUDA {verdict.needs_cuda} driver or newer" if verdict.needs_cuda else ""
    return f", PTX ISA {verdict.ptx_isa}{needs}"


def judge_modules(modules: list[Module], gpu: Gpu, driver: Driver | None = None) -> Overall | None:
    """A list of modules judged as one file (judge_file, nothing unreadable)."""
    return judge_file(modules, gpu, driver)


def is_narrow(codes: list[str]) -> bool:
    """Whether a file's code is narrow: no PTX, and SASS of one generation only or
    arch/family-specific only (a stub, or one GPU's tuned kernels)."""
    if not codes or any(name.startswith("compute_") for name in codes):
        return False
    majors = {int(re.sub(r"\D", "", name)) // 10 for name in codes}
    return len(majors) == 1 or all(name[-1] in "af" for name in codes)


# ---------------------------------------------------------------- many files: a package


def combine_files(files: list[tuple[str, Overall, bool]], gpu: Gpu) -> Overall:
    """A package's verdict over its files [(name, verdict, narrow)]: the worst of those that
    count; a narrow file not built for the GPU is set aside when another file is built for it."""
    any_built = any(o.built_for and o.verdict != UNKNOWN for _, o, _ in files)
    counted = [(n, o) for n, o, narrow in files
               if not (any_built and narrow and not o.built_for and o.verdict == NONE)]
    set_aside = len(files) - len(counted)
    worst_name, worst = min(counted, key=lambda no: (RANK[no[1].verdict], not no[1].fallback))
    counts = Counter(o.verdict for _, o in counted)
    notes = []
    if len(counted) > 1 and len(counts) > 1:
        notes.append(f"{', '.join(f'{counts[v]} {v}' for v in (NATIVE, JIT, UNKNOWN, NONE) if counts[v])} "
                     f"of {_plural(len(counted), 'file')}")
    if set_aside:
        notes.append(f"{_plural(set_aside, 'file')} only for other GPUs not counted")
    if worst.verdict != NATIVE:
        notes.append(f"{worst_name}: {worst.missing or worst.note or worst.via}")
    fallback = any(o.fallback for _, o in counted if o.verdict == worst.verdict)
    return Overall(worst.verdict, worst.via, fallback, "; ".join(n for n in notes if n), worst.code,
                   dict(counts), set_aside, any_built, worst.ptx_isa, worst.needs_cuda, worst.missing)
