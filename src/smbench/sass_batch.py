"""Reading the SASS of many cubins at once, for the compile matrix.

cuobjdump hands each cubin to nvdisasm, and nvdisasm spends about half a second setting up
its decoder before it reads a single instruction: for the ~120 cubins of the compile matrix
that set-up is most of the reading. Here the code of every cubin of one architecture is laid
end to end as a raw instruction stream and decoded in one nvdisasm call (`--binary SMxy`),
then split back by each function's offset; the resources (registers, shared, local and stack
bytes) still come from `cuobjdump -res-usage`, which needs no decoder and costs milliseconds.

The result is the same KernelSass that sass.summarize gets from `cuobjdump -sass`, put in the
same cache entry, so this module only makes cache entries sooner: a group whose raw reading
does not account for every instruction slot (an nvdisasm that does not know the
architecture, say) is left out, and its cubins are read one by one by sass.summarize later.
tests/test_sass_batch.py checks that both readings agree.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, TypeVar

from smbench import sass, toolchain
from smbench.cache import Cache
from smbench.errors import SmbenchError
from smbench.scan import fatbin

T = TypeVar("T")

# Every SASS instruction of sm_70 on is 16 bytes: a function's code is a whole number of them.
INSTRUCTION_BYTES = 16
# A branch or call target in nvdisasm's raw listing (sass._BRANCH_TARGET, the operands' last
# address) is an address in the whole stream.
_ADDRESSED = ("BRA", "CALL", "JMP", "BSSY", "BREAK", "SSY", "PBK", "PCNT")


@dataclass
class _Function:
    cubin: int  # index into the group's cubins
    name: str
    start: int  # offset in the stream
    size: int


def decoder_name(cubin: bytes) -> str | None:
    """nvdisasm's --binary name for the cubin's architecture: the arch-specific decoder from
    sm_90 on (it reads the base and family instructions too), None for what it cannot name."""
    try:
        code = fatbin.cubin_code(cubin, len(cubin))
    except (fatbin.Corrupt, fatbin.NotDeviceCode):
        return None
    if code.number < 75:
        return None
    return f"SM{code.number}{'a' if code.number >= 90 else ''}"


def _functions(cubin: bytes) -> list[tuple[str, int, int]]:
    """(name, file offset, size) of each function's code section."""
    return [(s.name.removeprefix(".text."), s.offset, s.size)
            for s in fatbin.elf_sections(cubin, len(cubin)) if s.name.startswith(".text.") and s.size]


def _stream(cubins: list[bytes]) -> tuple[bytes, list[_Function]]:
    parts, functions, at = [], [], 0
    for index, cubin in enumerate(cubins):
        for name, offset, size in _functions(cubin):
            if size % INSTRUCTION_BYTES:
                raise SmbenchError(f"{name}: code of {size} bytes is not whole instructions")
            parts.append(cubin[offset:offset + size])
            functions.append(_Function(index, name, at, size))
            at += size
    return b"".join(parts), functions


def _decode(stream: bytes, decoder: str, nvdisasm: Path) -> list[tuple[int, str, str]] | None:
    """(address, opcode class, operands) of every instruction of the stream; None when
    nvdisasm fails or does not decode every slot."""
    with tempfile.TemporaryDirectory(prefix="smbench-") as tmp:
        path = Path(tmp) / "code.bin"
        path.write_bytes(stream)
        try:
            done = subprocess.run([str(nvdisasm), "--binary", decoder, str(path)], capture_output=True,
                                  text=True, timeout=sass.CUOBJDUMP_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired):
            return None
    if done.returncode != 0 or "error" in done.stderr.lower():
        return None
    listing = []
    for line in done.stdout.splitlines():
        match = sass._INSTRUCTION.match(line)
        if match:
            listing.append((int(match.group(1), 16), sass.instruction_class(match.group(2)),
                            match.group(3).strip()))
    return listing if len(listing) * INSTRUCTION_BYTES == len(stream) else None


def _relative(function: _Function, listing: list[tuple[int, str, str]]) -> list[tuple[int, str, str]]:
    """The function's instructions with addresses (and branch targets) from its own start, as
    cuobjdump prints them."""
    out = []
    for address, opcode, operands in listing:
        if opcode.split(".")[0] in _ADDRESSED:
            operands = sass._BRANCH_TARGET.sub(lambda m: f"{int(m.group(1), 16) - function.start:#x}", operands)
        out.append((address - function.start, opcode, operands))
    return out


def _resources(cubin: bytes) -> dict[str, sass.KernelSass]:
    """Registers, stack, shared and local bytes per function (cuobjdump -res-usage)."""
    return sass.parse_cuobjdump(sass.run_cuobjdump(cubin, "-res-usage"))


def _summaries(cubins: list[bytes], decoder: str, nvdisasm: Path) -> list[dict] | None:
    stream, functions = _stream(cubins)
    listing = _decode(stream, decoder, nvdisasm) if stream else []
    if listing is None:
        return None
    by_start = {address: index for index, (address, _, _) in enumerate(listing)}
    found: list[dict[str, sass.KernelSass]] = [_resources(cubin) for cubin in cubins]
    for function in functions:
        first = by_start[function.start]
        mine = _relative(function, listing[first:first + function.size // INSTRUCTION_BYTES])
        kernel = found[function.cubin].setdefault(function.name, sass.KernelSass(function.name))
        kernel.histogram = Counter(opcode for _, opcode, _ in mine)
        kernel.loops = sass.loops_of(mine)
    return [{name: kernel.to_dict() for name, kernel in sass.fold_routines(kernels).items()}
            for kernels in found]


def summarize_many(cubins: Iterable[bytes], cache: Cache | None = None, jobs: int | None = None
                   ) -> dict[str, dict]:
    """Read the SASS summary of every cubin not yet in the cache and put it there, one nvdisasm
    call per architecture (the groups in parallel, `jobs` at a time). Returns what was read,
    by cache key; what was not (no nvdisasm, a group it cannot decode) is left to
    sass.summarize, which reads a cubin alone and says why it cannot."""
    cache = cache if cache is not None else Cache()
    missing = {key: cubin for cubin in cubins for key in (sass.summary_key(cubin),)
               if cache.get("sass", key) is None}
    return _read_groups(missing, cache, jobs)


def _read_groups(cubins: dict[str, bytes], cache: Cache, jobs: int | None) -> dict[str, dict]:
    """summarize_many for cubins known not to be in the cache, by key."""
    nvdisasm = toolchain.find_binary_utility("nvdisasm")
    if nvdisasm is None or sass.reader() is None:
        return {}
    groups: dict[str, dict[str, bytes]] = {}
    for key, cubin in cubins.items():
        decoder = decoder_name(cubin)
        if decoder:
            groups.setdefault(decoder, {})[key] = cubin

    def read(decoder: str) -> dict[str, dict]:
        members = groups[decoder]
        try:
            summaries = _summaries(list(members.values()), decoder, nvdisasm.path)
        except SmbenchError:
            return {}
        found = dict(zip(members, summaries or []))
        for key, summary in found.items():
            cache.put("sass", key, summary)
        return found

    read_now: dict[str, dict] = {}
    if groups:
        biggest_first = sorted(groups, key=lambda d: -sum(map(len, groups[d].values())))
        with ThreadPoolExecutor(max_workers=max(1, min(len(groups), jobs or os.cpu_count() or 1))) as pool:
            for found in pool.map(read, biggest_first):
                read_now.update(found)
    return read_now


class Batcher:
    """SASS summaries for many threads at once (the compile matrix's): a thread that needs a
    cubin read asks and waits; when every thread still at work is waiting, everything asked
    for is read in one go (summarize_many), and they all go on. Threads run their CPU work
    (NVRTC, nvJitLink) inside `slot()`, `jobs` at a time, so that there can be a thread per
    task without more compiles at once than cores."""

    def __init__(self, cache: Cache, jobs: int):
        self.cache = cache
        self.jobs = jobs
        self._slots = threading.Semaphore(jobs)
        self._lock = threading.Condition()
        self._working = 0
        self._waiting = 0
        self._reading = False
        self._pending: dict[str, bytes] = {}
        self._in_flight: set[str] = set()  # the keys being read now
        self._read: dict[str, dict] = {}  # key -> summary, read by a batch

    def slot(self) -> threading.Semaphore:
        return self._slots

    def task(self, work: Callable[[], T]) -> T:
        """Run one task's work, counted as at work until it returns."""
        with self._lock:
            self._working += 1
        try:
            return work()
        finally:
            with self._lock:
                self._working -= 1
                self._lock.notify_all()

    def summarize(self, cubin: bytes) -> sass.Summaries:
        """sass.summarize(cubin), read together with what the other threads ask for."""
        key = sass.summary_key(cubin)
        cached = self.cache.get("sass", key)
        if cached is None and decoder_name(cubin):
            with self._lock:
                self._pending[key] = cubin
                self._waiting += 1
                try:
                    while key in self._pending or key in self._in_flight:
                        # >=: a caller outside task() waits too, and must not wait for itself.
                        if not self._reading and self._waiting >= self._working:
                            self._read_pending()
                        else:
                            self._lock.wait()
                finally:
                    self._waiting -= 1
                cached = self._read.get(key)
        if cached is None:  # a cubin the batch could not decode: read alone, as sass does
            return sass.summarize(cubin, self.cache)
        return sass.Summaries({name: sass.KernelSass.from_dict(data) for name, data in cached.items()})

    def _read_pending(self) -> None:
        """Called holding the lock, by the last thread to start waiting."""
        batch, self._pending, self._reading = self._pending, {}, True
        self._in_flight = set(batch)
        read: dict[str, dict] = {}
        self._lock.release()
        try:
            read = _read_groups(batch, self.cache, self.jobs)
        finally:
            self._lock.acquire()
            self._read.update(read)
            self._in_flight = set()
            self._reading = False
            self._lock.notify_all()
