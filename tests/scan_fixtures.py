"""Small device-code binaries for the scan tests, built here once per session.

Cubins and PTX come from NVRTC (smbench's compile module, its cache shared by the
session); fatbin containers are laid out as NVIDIA's tools write them (see
smbench.scan.fatbin); host libraries are real ELF shared objects that gcc links with the
containers placed in the sections a CUDA build (or a library like cuFFT) puts them in.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from smbench import compile as compiler
from smbench.scan import fatbin

KERNEL = 'extern "C" __global__ void scale(float* x) { x[threadIdx.x] *= 2.0f; }'

# The codes the fixtures draw on: (kind, NVRTC target).
CODES = ("sm_80", "sm_90", "sm_90a", "sm_100f", "sm_120f", "compute_80", "compute_120")


def entry(kind: int, arch: int, payload: bytes, flags: int = 0x11, isa: tuple[int, int] = (0, 0)) -> bytes:
    """One fatbin entry as NVIDIA's tools lay it out (see smbench.scan.fatbin's docstring)."""
    padded = payload + b"\0" * (-len(payload) % 8)
    # A PTX entry carries a block after the 64 bytes (its offset at byte 20): where its JIT
    # options string starts and how long it is (none here). cuobjdump refuses a PTX entry without.
    extra = struct.pack("<IIII", 72, 0, 0, 0) if kind == fatbin.KIND_PTX else b""
    header = struct.pack("<HHIQIIHHIIIQQQ", kind, 0x0101, 64 + len(extra), len(padded), 0, 64 if extra else 0,
                         isa[1], isa[0], arch, 0, 0, flags, 0, len(payload))
    return header + extra + padded


def container(*entries: bytes) -> bytes:
    body = b"".join(entries)
    return struct.pack("<IHHQ", fatbin.FATBIN_MAGIC, 1, 16, len(body)) + body


class Codes:
    """NVRTC's output for each code in CODES, and containers made of them by name:
    codes.module("sm_80", "sm_90", "compute_120") is one container with those entries."""

    def __init__(self, out: Path):
        self.out = out
        self.cubin: dict[str, bytes] = {}
        self.ptx: dict[str, bytes] = {}
        self.isa: dict[str, tuple[int, int]] = {}
        for code in CODES:
            result = compiler.compile_source(KERNEL, code)
            assert result.ok, result.log
            if code.startswith("compute_"):
                self.ptx[code] = result.ptx.encode() + b"\0"
                version = result.ptx.split(".version", 1)[1].split()[0]
                self.isa[code] = tuple(int(p) for p in version.split("."))
            else:
                self.cubin[code] = result.cubin

    def entry(self, name: str, arch: int | None = None, isa: tuple[int, int] | None = None) -> bytes:
        """The entry for sm_90a / sm_120f / compute_80 ...; arch overrides the architecture the
        header names (an sm_75 entry from an sm_80 cubin, say: the header is what is read)."""
        number = int("".join(ch for ch in name.split("_")[1] if ch.isdigit()))
        suffix = name[-1] if name[-1] in "af" else ""
        flags = 0x11 | {"a": fatbin.FLAG_ARCH_SPECIFIC, "f": fatbin.FLAG_FAMILY, "": 0}[suffix]
        if name.startswith("compute_"):
            return entry(fatbin.KIND_PTX, arch or number, self.ptx[name], flags, isa or self.isa[name])
        return entry(fatbin.KIND_ELF, arch or number, self.cubin[name], flags)

    def module(self, *names: str) -> bytes:
        return container(*(self.entry(name) for name in names))


def host_library(path: Path, sections: dict[str, bytes], work: Path) -> Path:
    """A real ELF shared object, linked by gcc, with each blob placed in the named section
    (".nv_fatbin", "__nv_relfatbin", ".ldata" ...), allocated as a CUDA build allocates it."""
    work.mkdir(parents=True, exist_ok=True)
    lines = ["int smbench_fixture_symbol(void) { return 1; }"]
    for index, (section, blob) in enumerate(sections.items()):
        blob_path = work / f"{path.stem}.{index}.bin"
        blob_path.write_bytes(blob)
        flags = "aw" if section.startswith((".data", ".ldata")) else "a"
        lines.append(f'__asm__(".section {section},\\"{flags}\\"\\n.balign 8\\n.incbin \\"{blob_path}\\"\\n'
                     f'.previous");')
    source = work / f"{path.stem}.c"
    source.write_text("\n".join(lines) + "\n")
    subprocess.run([gcc(), "-shared", "-fPIC", "-o", str(path), str(source)], check=True, capture_output=True)
    return path


def gcc() -> str:
    found = shutil.which("gcc") or shutil.which("cc")
    if found is None:
        pytest.skip("no C compiler to link fixture libraries")
    return found


def dist_info(site: Path, name: str, version: str, files: dict[str, bytes | None]) -> None:
    """A dist-info whose RECORD lists the files with the hash and size of the bytes given
    (None: the file as it is on disk now)."""
    import base64
    import hashlib

    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    rows = []
    for relative, data in files.items():
        data = (site / relative).read_bytes() if data is None else data
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        rows.append(f"{relative},sha256={digest},{len(data)}")
    rows.append(f"{info.name}/RECORD,,")
    (info / "RECORD").write_text("\n".join(rows) + "\n")
