"""Will this device code run on that GPU: natively, through the driver's PTX JIT, or not at all.

The rules themselves (which SASS and which PTX a GPU can use) are targets.sass_runs_on and
targets.ptx_jits_on, with their sources; this module applies them to what a file holds,
picks what the driver would use, and says why in words. A GPU is a compute capability:
named by the GPU present, a device-table key (gb10, rtx5090, a100), or a target (sm_121f
means a GPU of compute capability 12.1; the suffix belongs to code, not to chips).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from smbench import devices
from smbench import targets as target_table
from smbench.errors import SmbenchError
from smbench.scan.fatbin import PTX, SASS, Code, Module

NATIVE, JIT, NONE = "native", "jit", "none"
RANK = {NONE: 0, JIT: 1, NATIVE: 2}
WORDS = {NATIVE: "native", JIT: "JIT only", NONE: "will not run"}


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


def parse_gpu(text: str, source: str | None = None) -> Gpu:
    """--gpu's value: sm_XY[a|f] (or compute_XY, XY, X.Y) or a device-table key or its prefix
    when every row it names has the same compute capability (a100 -> a100-40, a100-80)."""
    key = text.strip().lower()
    source = source or f"--gpu {text}"
    match = _ARCH.match(key)
    if match:
        major, minor = divmod(int(match.group(1)), 10)
        return Gpu(f"sm_{major}{minor}", major, minor, source)
    match = _CC.match(key)
    if match:
        major, minor = int(match.group(1)), int(match.group(2))
        return Gpu(f"sm_{major}{minor}", major, minor, source)
    rows = [d for d in devices.DEVICES if d.compute_capability and (d.key == key or d.key.startswith(key))]
    exact = [d for d in rows if d.key == key]
    rows = exact or rows
    ccs = {d.compute_capability for d in rows}
    if len(ccs) == 1:
        major, minor = (int(part) for part in ccs.pop().split("."))
        return Gpu(f"{key} (sm_{major}{minor})", major, minor, source)
    names = ", ".join(d.key for d in devices.DEVICES if d.compute_capability)
    if len(ccs) > 1:
        raise SmbenchError(f"--gpu {text} names devices of different compute capabilities "
                           f"({', '.join(d.key for d in rows)}); name one")
    raise SmbenchError(f"--gpu {text}: not a target (sm_80 ... sm_121f) nor a device in smbench's table "
                       f"({names})")


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


# ---------------------------------------------------------------- one module


@dataclass(frozen=True)
class Verdict:
    verdict: str  # native | jit | none
    via: str  # what runs, in words
    code: str | None = None  # sm_120f or compute_80: what the driver would use
    fallback: bool = False  # JIT from PTX of an older major version than the GPU's
    note: str = ""


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


def judge(codes: list[Code], gpu: Gpu) -> Verdict:
    """What a GPU would run from one module's codes, as the driver chooses: matching SASS
    first (the newest that runs), else the newest PTX it can JIT-compile."""
    sass = sorted((c for c in codes if c.kind == SASS and target_table.sass_runs_on(c.triple, gpu.cc)),
                  key=_order, reverse=True)
    if sass:
        return Verdict(NATIVE, f"{sass[0].name} SASS", sass[0].name)
    ptx = sorted((c for c in codes if c.kind == PTX and target_table.ptx_jits_on(c.triple, gpu.cc)),
                 key=_order, reverse=True)
    if ptx:
        chosen = ptx[0]
        fallback = chosen.major < gpu.major
        note = fallback_note(chosen, gpu) if fallback else \
            f"{chosen.name} PTX, compiled by the driver at first load (cached after)"
        return Verdict(JIT, f"JIT from {chosen.name} PTX", chosen.name, fallback, note)
    return Verdict(NONE, why_not(codes, gpu))


def why_not(codes: list[Code], gpu: Gpu) -> str:
    """What is missing, in words: 'no SASS for 12.x (has sm_75 ... sm_90); no PTX at or below 12.1'."""
    sass = sort_names(c for c in codes if c.kind == SASS)
    ptx = sort_names(c for c in codes if c.kind == PTX)
    parts = [f"no SASS for {gpu.major}.x at or below {gpu.compute_capability}"
             + (f" (has {', '.join(sass)})" if sass else "")]
    if ptx:
        parts.append(f"no PTX it can JIT (has {', '.join(ptx)}: newer, or arch/family-specific)")
    else:
        parts.append("no PTX")
    return "; ".join(parts)


# ---------------------------------------------------------------- many modules (a file, a package)


@dataclass
class Overall:
    """A verdict over several modules or files: the worst of those that count, with the tally."""

    verdict: str
    via: str
    fallback: bool
    note: str
    code: str | None = None  # what the driver would use, from the unit that decided the verdict
    counts: dict[str, int] = field(default_factory=dict)
    set_aside: int = 0  # arch-specific-only modules for other GPUs, not counted

    def to_dict(self) -> dict:
        return {"verdict": self.verdict, "via": self.via, "code": self.code, "fallback": self.fallback,
                "note": self.note, "counts": self.counts, "set_aside": self.set_aside}


def _tally(counts: Counter) -> str:
    return ", ".join(f"{counts[v]} {v}" for v in (NATIVE, JIT, NONE) if counts[v])


def combine(verdicts: list[Verdict], portable: list[bool], unit: str = "module") -> Overall:
    """The worst verdict among the units that count. A unit holding only arch-specific ("a")
    code for other GPUs is set aside when others hold portable code: a library dispatches
    such kernels (sm_90a wgmma kernels, say) only on the GPU they were built for."""
    # An arch-specific unit that does run here (sm_90a kernels on 9.0) is not set aside.
    counted = [v for v, p in zip(verdicts, portable) if p or v.verdict != NONE] if any(portable) \
        else list(verdicts)
    set_aside = len(verdicts) - len(counted)
    worst = min(counted, key=lambda v: (RANK[v.verdict], not v.fallback))
    counts = Counter(v.verdict for v in counted)
    notes = []
    if len(counted) > 1 and len(counts) > 1:
        notes.append(f"{_tally(counts)} of {len(counted)} {unit}s")
    if set_aside:
        notes.append(f"{set_aside} arch-specific {unit}{'s' if set_aside > 1 else ''} for other GPUs not counted")
    if worst.note:
        notes.append(worst.note)
    fallback = any(v.fallback for v in counted if v.verdict == worst.verdict)
    return Overall(worst.verdict, worst.via, fallback, "; ".join(notes), worst.code, dict(counts), set_aside)


def judge_modules(modules: list[Module], gpu: Gpu) -> Overall | None:
    """A file's verdict over its modules (None for a file without device code)."""
    with_code = [m for m in modules if m.codes]
    if not with_code:
        return None
    verdicts = [judge(m.codes, gpu) for m in with_code]
    portable = [any(c.suffix != "a" for c in m.codes) for m in with_code]
    return combine(verdicts, portable)
