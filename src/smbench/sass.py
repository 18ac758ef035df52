"""Reading machine code: registers, local memory, shared memory and an instruction histogram.

cuobjdump (the nvidia-cuda-cuobjdump wheel's, else a system CUDA toolkit's: see
toolchain.find_binary_utility) prints both the resource usage and the SASS of every
kernel in a cubin; the parsing below turns that into one KernelSass per kernel. The
summary of a cubin is cached by the cubin's hash, so a warm `smbench compat` runs no
cuobjdump at all.

Without a SASS reader (no cuobjdump anywhere, or one that cannot read this cubin) the
SASS is "unchecked", with the reason: `read()` returns a SassReading that says so and
never raises; `summarize()` raises SassUnavailable (a SmbenchError), and indexing its
result with a kernel it does not hold raises the same, never a KeyError.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from smbench import __version__, toolchain
from smbench.cache import Cache, key_of
from smbench.errors import SmbenchError

# Instruction classes that run on the tensor cores, by SASS mnemonic.
TENSOR_CLASSES = ("HMMA", "IMMA", "QMMA", "OMMA", "DMMA", "BMMA", "HGMMA", "IGMMA", "QGMMA", "BGMMA")
TENSOR_PREFIXES = ("UTC",)  # tcgen05: UTCHMMA, UTCQMMA, UTCOMMA, ...

# Memory instructions whose access width tells whether loads were vectorised.
_WIDTH_CLASSES = {"LDG", "STG", "LDS", "STS", "LD", "ST", "LDL", "STL", "LDC", "LDGSTS", "ATOMG", "RED"}
# Matrix loads/stores keep their whole shape (LDSM.16.M88.4: four 8x8 b16 matrices).
_FULL_CLASSES = {"LDSM", "STSM"}
_WIDTHS = {"8", "U8", "S8", "16", "U16", "S16", "64", "128", "256"}

# Bumped whenever the parsing changes, so that cached summaries are made again.
PARSER_VERSION = 3

_FUNCTION = re.compile(r"^\s*Function\s*:\s*(\S+)")
_RESOURCE_FUNCTION = re.compile(r"^\s*Function\s+([^\s:]+)\s*:\s*$")
_RESOURCE_FIELDS = re.compile(r"([A-Z_]+(?:\[\d+\])?):(\d+)")
_INSTRUCTION = re.compile(r"^\s*/\*([0-9a-f]{4,})\*/\s+(?:@!?U?P[T0-9]+\s+)?([A-Z][A-Za-z0-9_.]*)([^;]*)")
_BRANCH_TARGET = re.compile(r"\b0x([0-9a-f]+)\s*$")


def instruction_class(opcode: str) -> str:
    """The histogram bucket of one SASS opcode.

    Tensor-core opcodes keep their full shape and types (HMMA.16816.F32.BF16), since
    that is what tells formats apart; memory opcodes keep their width (LDG.E.128); all
    others collapse to the mnemonic (FFMA, IMAD, ...).
    """
    parts = opcode.split(".")
    head = parts[0]
    if is_tensor(head) or head in _FULL_CLASSES:
        return opcode
    if head in _WIDTH_CLASSES:
        kept = [head]
        if "E" in parts[1:]:
            kept.append("E")
        kept.extend(p for p in parts[1:] if p in _WIDTHS)
        return ".".join(kept)
    return head


def is_tensor(opcode: str) -> bool:
    head = opcode.split(".")[0]
    return head in TENSOR_CLASSES or (head.startswith(TENSOR_PREFIXES) and head.endswith("MMA"))


@dataclass
class KernelSass:
    name: str
    registers: int = 0
    stack_bytes: int = 0
    shared_bytes: int = 0
    local_bytes: int = 0
    histogram: Counter = field(default_factory=Counter)
    # Every loop: a backward branch and the instructions from its target to it.
    loops: list = field(default_factory=list)

    def main_loop(self) -> Counter:
        """The loop holding the most tensor-core instructions (the innermost one among equals):
        the body a GEMM or a throughput loop spends its time in. Empty without one."""
        best: tuple | None = None
        for loop in self.loops:
            histogram = Counter(loop["histogram"])
            tensor = sum(n for op, n in histogram.items() if is_tensor(op))
            key = (tensor, -(loop["end"] - loop["start"]))
            if tensor and (best is None or key > best[0]):
                best = (key, histogram)
        return best[1] if best else Counter()

    @property
    def tensor_instructions(self) -> list[str]:
        """Distinct tensor-core opcodes, most frequent first."""
        found = [(count, op) for op, count in self.histogram.items() if is_tensor(op)]
        return [op for _, op in sorted(found, key=lambda item: (-item[0], item[1]))]

    @property
    def spill_instructions(self) -> int:
        """Local-memory loads and stores: register spills (or local arrays) in the code."""
        return sum(count for op, count in self.histogram.items() if op.split(".")[0] in ("LDL", "STL"))

    def count(self, prefix: str) -> int:
        """Instructions whose class starts with prefix (count("HMMA"), count("LDG.E.128"))."""
        return sum(n for op, n in self.histogram.items() if op == prefix or op.startswith(prefix + "."))

    def to_dict(self) -> dict:
        return {"name": self.name, "registers": self.registers, "stack_bytes": self.stack_bytes,
                "shared_bytes": self.shared_bytes, "local_bytes": self.local_bytes,
                "histogram": dict(self.histogram), "loops": self.loops}

    @classmethod
    def from_dict(cls, data: dict) -> "KernelSass":
        return cls(data["name"], data["registers"], data["stack_bytes"], data["shared_bytes"],
                   data["local_bytes"], Counter(data["histogram"]), list(data.get("loops", [])))


def parse_cuobjdump(text: str) -> dict[str, KernelSass]:
    """Parse `cuobjdump -sass -res-usage` output into one KernelSass per kernel."""
    kernels: dict[str, KernelSass] = {}
    listings: dict[str, list[tuple[int, str, str]]] = {}  # kernel -> (address, class, operands)
    resource_of: str | None = None
    current: KernelSass | None = None
    for line in text.splitlines():
        match = _RESOURCE_FUNCTION.match(line)
        if match:
            resource_of = match.group(1)
            continue
        if resource_of is not None:
            fields = dict((k, int(v)) for k, v in _RESOURCE_FIELDS.findall(line))
            if "REG" in fields:
                kernel = kernels.setdefault(resource_of, KernelSass(resource_of))
                kernel.registers = fields.get("REG", 0)
                kernel.stack_bytes = fields.get("STACK", 0)
                kernel.shared_bytes = fields.get("SHARED", 0)
                kernel.local_bytes = fields.get("LOCAL", 0)
                resource_of = None
                continue
        match = _FUNCTION.match(line)
        if match:
            current = kernels.setdefault(match.group(1), KernelSass(match.group(1)))
            continue
        if current is not None:
            match = _INSTRUCTION.match(line)
            if match:
                opcode = instruction_class(match.group(2))
                current.histogram[opcode] += 1
                listings.setdefault(current.name, []).append((int(match.group(1), 16), opcode, match.group(3)))
    for name, listing in listings.items():
        kernels[name].loops = loops_of(listing)
    return fold_routines(kernels)


def kernel_listing(text: str, kernel: str) -> list[tuple[int, str, str]]:
    """(address, opcode, operands) of each instruction of one kernel in a `cuobjdump -sass`
    listing, for checks that need the operands (which registers feed which load)."""
    out, inside = [], False
    for line in text.splitlines():
        match = _FUNCTION.match(line)
        if match:
            inside = match.group(1) == kernel
            continue
        if inside:
            match = _INSTRUCTION.match(line)
            if match:
                out.append((int(match.group(1), 16), match.group(2), match.group(3).strip()))
    return out


def backward_branches(listing: list[tuple[int, str, str]]) -> list[tuple[int, int]]:
    """(start, end) address of each loop: a backward branch (BRA to a lower address) closes
    one. A branch to itself (the trap at a kernel's end) is no loop."""
    spans = []
    for address, opcode, operands in listing:
        if opcode.split(".")[0] != "BRA":
            continue
        target = _BRANCH_TARGET.search(operands.strip())
        if target is not None and int(target.group(1), 16) < address:
            spans.append((int(target.group(1), 16), address))
    return spans


def loops_of(listing: list[tuple[int, str, str]]) -> list[dict]:
    """Each loop's span and the histogram of the instructions in it."""
    return [{"start": start, "end": end,
             "histogram": dict(Counter(op for at, op, _ in listing if start <= at <= end))}
            for start, end in backward_branches(listing)]


# ptxas emulates some instructions with a routine it calls instead of inlining (s4 mma on
# sm_90 and later: __cuda_sm_9x_mma_sub_byte_internal_m16n8k64_s4_s4, two s8 IMMA). In a
# whole-module build the routine sits inside the kernel's listing; assembled alone, it is
# a function of its own. Either way its instructions belong to the kernels that call it.
EMULATION_ROUTINE_PREFIX = "__cuda_"


def fold_routines(kernels: dict[str, KernelSass]) -> dict[str, KernelSass]:
    routines = {n: k for n, k in kernels.items() if n.startswith(EMULATION_ROUTINE_PREFIX)}
    if not routines:
        return kernels
    rest = {n: k for n, k in kernels.items() if n not in routines}
    for kernel in rest.values():
        if any(op.split(".")[0] == "CALL" for op in kernel.histogram):
            for routine in routines.values():
                kernel.histogram.update(routine.histogram)
    return rest


UNCHECKED = "unchecked"
CHECKED = "checked"
# How long one cuobjdump may take before its reading counts as unchecked.
CUOBJDUMP_TIMEOUT_S = 300


class SassUnavailable(SmbenchError):
    """The SASS could not be read here: no cuobjdump, one that failed or printed nothing,
    or a kernel the cubin's listing does not hold. What a caller reports as 'unchecked'."""


class Summaries(dict):
    """kernel name -> KernelSass. A name it does not hold raises SassUnavailable (a
    SmbenchError, which every caller already turns into 'unchecked'), not a KeyError."""

    def __missing__(self, name):
        held = ", ".join(sorted(self)[:6]) + (", ..." if len(self) > 6 else "")
        raise SassUnavailable(f"no SASS for kernel {name} in this cubin (it holds: {held or 'no kernel'})")


@dataclass
class SassReading:
    """A cubin's SASS, read or not: `checked` with every kernel's summary, or unchecked
    with the reason (`reason`) and no kernels."""

    kernels: dict[str, KernelSass]
    reason: str = ""

    @property
    def checked(self) -> bool:
        return not self.reason

    @property
    def status(self) -> str:
        return CHECKED if self.checked else UNCHECKED

    def kernel(self, name: str) -> KernelSass | None:
        """The kernel's summary, or None where it cannot be had (see why_not)."""
        return self.kernels.get(name)

    def why_not(self, name: str) -> str:
        """Why kernel(name) is None ('' when it is not)."""
        if not self.checked:
            return self.reason
        if name in self.kernels:
            return ""
        return f"no SASS for kernel {name} in this cubin"

    def to_dict(self) -> dict:
        """{"status": "checked"} or {"status": "unchecked", "reason": ...}, for a record."""
        return {"status": self.status, **({"reason": self.reason} if self.reason else {})}


def reader() -> toolchain.Located | None:
    """The cuobjdump SASS is read with, and where it came from; None when there is none."""
    return toolchain.find_binary_utility("cuobjdump")


def reader_missing() -> str:
    """Why SASS cannot be read on this machine ('' when it can): for tests to skip with, and
    for messages."""
    return "" if reader() is not None else toolchain.missing_binary_message("cuobjdump")


def run_cuobjdump(cubin: bytes, *what: str) -> str:
    """cuobjdump's listing of the cubin: `what` its options, by default the SASS and the
    resource usage of every function."""
    found = reader()
    if found is None:
        raise SassUnavailable(toolchain.missing_binary_message("cuobjdump"))
    with tempfile.TemporaryDirectory(prefix="smbench-") as tmp:
        path = Path(tmp) / "kernel.cubin"
        path.write_bytes(cubin)
        try:
            done = subprocess.run([str(found.path), *(what or ("-sass", "-res-usage")), str(path)], capture_output=True,
                                  text=True, timeout=CUOBJDUMP_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SassUnavailable(f"cuobjdump ({found}) could not run: {exc}") from None
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        raise SassUnavailable(f"cuobjdump failed: {lines[0] if lines else f'exit status {done.returncode}'}")
    return done.stdout


def _has_code(cubin: bytes) -> bool:
    """Whether the ELF holds any function's code (a .text.<name> section)."""
    return b".text." in cubin


def _summaries_of(cubin: bytes) -> dict:
    text = run_cuobjdump(cubin)
    kernels = parse_cuobjdump(text)
    if not kernels and _has_code(cubin):
        # A cuobjdump older than the target prints nothing (or a notice) for its code: that is
        # not "no kernels". Raised, so that nothing is cached and a newer one reads it later.
        first = next((line.strip() for line in text.splitlines() if line.strip()), "no output")
        raise SassUnavailable(f"cuobjdump ({reader()}) printed no SASS for this cubin ({first}); "
                              f"it may be older than the target")
    return {name: k.to_dict() for name, k in kernels.items()}


def summary_key(cubin: bytes) -> str:
    """The cache key of a cubin's summary (sass_batch makes the same entries)."""
    return key_of("sass", PARSER_VERSION, __version__, cubin)


def summarize(cubin: bytes, cache: Cache | None = None) -> Summaries:
    """Per-kernel summary of a cubin, cached by the cubin's content. Raises SassUnavailable
    (a SmbenchError) when it cannot be read; see read() for a result that never raises."""
    cache = cache if cache is not None else Cache()
    value, _ = cache.get_or_compute("sass", summary_key(cubin), lambda: _summaries_of(cubin))
    return Summaries({name: KernelSass.from_dict(data) for name, data in value.items()})


def read(cubin: bytes | None, cache: Cache | None = None) -> SassReading:
    """A cubin's SASS, or 'unchecked' with the reason; never raises for a missing or failing
    cuobjdump (nor for no cubin at all)."""
    if not cubin:
        return SassReading({}, "no cubin to read (PTX only, or the build failed)")
    try:
        return SassReading(summarize(cubin, cache))
    except SmbenchError as exc:
        return SassReading({}, str(exc))


def kernel_summary(cubin: bytes | None, name: str, cache: Cache | None = None) -> tuple[KernelSass | None, str]:
    """(summary, "") for one kernel, or (None, why it is unchecked)."""
    reading = read(cubin, cache)
    return reading.kernel(name), reading.why_not(name)
