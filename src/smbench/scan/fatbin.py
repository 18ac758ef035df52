"""Reading device code out of files by their headers: ELF sections, fatbin containers, cubins, PTX.

A scan of a multi-gigabyte environment must not dump SASS, nor even read most bytes:
a host library's device code sits in its `.nv_fatbin` section as a run of fatbin
containers, one per translation unit, each a 16-byte header followed by entries, each
entry a header saying what its payload is (SASS or PTX, for which architecture,
compressed or not) and how long it is. Only those headers are read here, through mmap,
so the pages the payloads live on are never touched.

Where device code lives in a host library, and what of it the driver can load:
  .nv_fatbin       the containers the CUDA runtime registers and loads: counted.
  __nv_relfatbin   copies of relocatable device code (-rdc), kept for a later device
                   link (nvcc -dlink, nvJitLink); the driver never loads them: counted
                   apart (`relocatable`), never in a verdict.
  anywhere else    containers a library loads itself (cuModuleLoadData on bytes it
                   carries): cuFFT keeps a stub in .nv_fatbin and its kernels as some
                   24,000 containers in .ldata, which cuobjdump does not list. They are
                   found by their magic in the library's other loadable data sections
                   (allocated, not executable), each checked as a whole container before
                   it counts; one that starts like a container and then does not parse
                   is code that cannot be read (`unreadable`, with where and why).

NVIDIA does not document the container format. The layout below is what public
descriptions of it agree on (the "fatBinaryHeader" of CUDA's old fatbinary.h, and
reverse-engineered notes), checked here against what NVIDIA's own tools write and read:
containers written by nvFatbin 13.5 and by the CUDA toolkit that built CuPy's wheels,
listed by cuobjdump 13.5 (tests/test_scan_fatbin.py repeats that check on every run).

    container header (16 bytes, little-endian)
      0  u32 magic 0xBA55ED50     4  u16 version (1)     6  u16 header size (16)
      8  u64 bytes of entries that follow
    entry header (64 bytes and more; payload right after it)
      0  u16 kind: 1 PTX, 2 ELF (SASS)              2  u16 format version
      4  u32 entry header size                       8  u64 payload size, padded
     16  u32 compressed payload size                24  u16 minor, 26 u16 major: the PTX ISA
     28  u32 architecture (121 for sm_121)              version of a PTX entry
     40  u64 flags: 0x2000 LZ4-compressed, 0x8000 zstd-compressed, 0x100000 arch-specific
         ("a"), 0x200000 family-specific ("f")
    Entry kinds other than PTX and ELF exist: 8 is LTO IR (NVVM), which only nvJitLink
    links; the driver cannot load it, so it is counted (`other_entries`), never judged.

A standalone cubin is an ELF whose machine is EM_CUDA (190): its architecture is in
e_flags (bits 0-7 up to ELF ABI version 7, bits 8-15 from version 8), and "a" either in
e_flags (0x800 before version 8, 0x8 from it) or, as ptxas 13.5 writes it, as attribute
0x09 of the cubin's .nv.compat section. A PTX file says `.version` and `.target`.

Anything that does not fit (a container running past its section, an entry header of
an impossible size, a truncated ELF) raises Corrupt with the offset and what is wrong.
"""

from __future__ import annotations

import mmap
import re
import struct
from dataclasses import dataclass, field

FATBIN_MAGIC = 0xBA55ED50
_MAGIC_BYTES = struct.pack("<I", FATBIN_MAGIC)
ELF_MAGIC = b"\x7fELF"
EM_CUDA = 190

KIND_PTX = 1
KIND_ELF = 2
FLAG_LZ4 = 0x2000
FLAG_ZSTD = 0x8000
FLAG_ARCH_SPECIFIC = 0x100000
FLAG_FAMILY = 0x200000

_ENTRY_MIN = 64
# The largest entry header seen is 144 bytes (nvFatbin 13.5, sm_1xx with compat data and
# a long name); a few kilobytes leaves room for longer names and still rejects garbage.
_ENTRY_MAX = 4096
# ptxas 13.5 writes the arch-specific mark of a cubin as this .nv.compat attribute.
_COMPAT_ARCH_SPECIFIC = 0x09

SASS = "sass"
PTX = "ptx"


class Corrupt(Exception):
    """The file claims device code that its bytes do not hold (the reason is the message)."""


class NotDeviceCode(Exception):
    """The file is not something device code is read from (not ELF, not a fatbin, not PTX)."""


@dataclass(frozen=True)
class Code:
    """One piece of device code: SASS or PTX for one architecture."""

    kind: str  # SASS or PTX
    major: int
    minor: int
    suffix: str = ""  # "", "a" (arch-specific) or "f" (family-specific)
    ptx_isa: str | None = None  # "9.2": the PTX ISA version, for PTX
    compressed: str | None = None  # "zstd", "lz4" or None

    @property
    def number(self) -> int:
        return self.major * 10 + self.minor

    @property
    def name(self) -> str:
        """sm_120f for SASS, compute_80 for PTX: the names nvcc and cuobjdump use."""
        return f"{'sm' if self.kind == SASS else 'compute'}_{self.number}{self.suffix}"

    @property
    def triple(self) -> tuple[int, int, str]:
        return self.major, self.minor, self.suffix


@dataclass
class Module:
    """One fatbin container (one translation unit's device code), or a whole cubin or PTX file."""

    offset: int
    codes: list[Code] = field(default_factory=list)
    other_entries: int = 0  # entries of other kinds (LTO IR...): not loadable by the driver
    section: str = ""  # the ELF section it was found in ("" for a cubin, PTX or .fatbin file)


def split_arch(number: int) -> tuple[int, int]:
    """121 -> (12, 1); 75 -> (7, 5)."""
    return number // 10, number % 10


def _flags_suffix(flags: int) -> str:
    if flags & FLAG_ARCH_SPECIFIC:
        return "a"
    if flags & FLAG_FAMILY:
        return "f"
    return ""


def _compression(flags: int) -> str | None:
    if flags & FLAG_ZSTD:
        return "zstd"
    if flags & FLAG_LZ4:
        return "lz4"
    return None


def read_containers(buf, start: int, end: int, section: str = "") -> list[Module]:
    """Every fatbin container between start and end (a section, or a whole .fatbin file).
    Containers follow one another, with zero padding between them."""
    modules = []
    pos = start
    while pos + 16 <= end:
        if buf[pos:pos + 4] != _MAGIC_BYTES:
            found = buf.find(_MAGIC_BYTES, pos + 1, end)
            if found < 0:
                break
            pos = found
            continue
        _, version, header_size, body = struct.unpack_from("<IHHQ", buf, pos)
        if header_size < 16 or header_size > 256:
            raise Corrupt(f"fatbin container at offset {pos:#x}: header size {header_size}")
        stop = pos + header_size + body
        if stop > end:
            raise Corrupt(f"fatbin container at offset {pos:#x} claims {body} bytes; only "
                          f"{max(0, end - pos - header_size)} follow (truncated)")
        modules.append(_read_entries(buf, pos, pos + header_size, stop, section))
        pos = stop
    return modules


# A container found by its magic in data that is not a fatbin section must look like one
# whole before it counts: the version and header size every NVIDIA tool writes, and room
# for at least one entry header inside the section. Four bytes of magic alone turn up by
# chance in hundreds of megabytes of data; these twelve more do not.
_FOUND_VERSION = 1
_FOUND_HEADER = 16


def find_containers(buf, start: int, end: int, section: str) -> tuple[list[Module], list[str]]:
    """Fatbin containers anywhere between start and end (a data section that is not a
    fatbin section): (the modules, what could not be read, with where). A container's
    payloads are skipped, not searched."""
    modules: list[Module] = []
    unreadable: list[str] = []
    pos = start
    while True:
        found = buf.find(_MAGIC_BYTES, pos, end)
        if found < 0 or found + 16 > end:
            return modules, unreadable
        _, version, header_size, body = struct.unpack_from("<IHHQ", buf, found)
        stop = found + header_size + body
        if version != _FOUND_VERSION or header_size != _FOUND_HEADER or body < _ENTRY_MIN or stop > end:
            pos = found + 1  # chance bytes, not a container
            continue
        try:
            modules.append(_read_entries(buf, found, found + header_size, stop, section))
        except Corrupt as exc:
            unreadable.append(f"{section}: {exc}")
            pos = found + 1
            continue
        pos = stop


def _read_entries(buf, container: int, pos: int, stop: int, section: str = "") -> Module:
    module = Module(container, section=section)
    while pos < stop:
        if pos + _ENTRY_MIN > stop:
            raise Corrupt(f"fatbin entry at offset {pos:#x}: {stop - pos} bytes left, "
                          f"an entry header needs {_ENTRY_MIN}")
        kind, _, header_size, payload = struct.unpack_from("<HHIQ", buf, pos)
        if not _ENTRY_MIN <= header_size <= _ENTRY_MAX:
            raise Corrupt(f"fatbin entry at offset {pos:#x}: header size {header_size}")
        if pos + header_size + payload > stop:
            raise Corrupt(f"fatbin entry at offset {pos:#x}: payload of {payload} bytes runs past its "
                          f"container (truncated or corrupt)")
        minor, major, arch = struct.unpack_from("<HHI", buf, pos + 24)
        (flags,) = struct.unpack_from("<Q", buf, pos + 40)
        if kind in (KIND_PTX, KIND_ELF):
            if not 10 <= arch <= 999:
                raise Corrupt(f"fatbin entry at offset {pos:#x}: architecture {arch}")
            code_major, code_minor = split_arch(arch)
            module.codes.append(Code(SASS if kind == KIND_ELF else PTX, code_major, code_minor,
                                     _flags_suffix(flags), f"{major}.{minor}" if kind == KIND_PTX else None,
                                     _compression(flags)))
        else:
            module.other_entries += 1
        pos += header_size + payload
    return module


# ---------------------------------------------------------------- ELF


@dataclass(frozen=True)
class Section:
    name: str
    type: int
    offset: int
    size: int
    flags: int = 0


def _elf_layout(buf, size: int) -> tuple[bool, int]:
    """(is 64-bit, e_flags), or NotDeviceCode / Corrupt."""
    if buf[:4] != ELF_MAGIC:
        raise NotDeviceCode("not an ELF file")
    if size < 52:
        raise Corrupt("ELF header truncated")
    elf_class, data = buf[4], buf[5]
    if elf_class not in (1, 2):
        raise Corrupt(f"ELF class {elf_class} is neither 32- nor 64-bit")
    if data != 1:
        raise NotDeviceCode("big-endian ELF: no CUDA platform is")
    is64 = elf_class == 2
    if is64 and size < 64:
        raise Corrupt("ELF header truncated")
    (flags,) = struct.unpack_from("<I", buf, 0x30 if is64 else 0x24)
    return is64, flags


def elf_sections(buf, size: int) -> list[Section]:
    """The section table of a little-endian ELF file (names resolved)."""
    is64, _ = _elf_layout(buf, size)
    if is64:
        (shoff,) = struct.unpack_from("<Q", buf, 0x28)
        entsize, count, strndx = struct.unpack_from("<HHH", buf, 0x3A)
        layout, name_at = "<IIQQQQIIQQ", (0, 1, 4, 5, 6, 2)
    else:
        (shoff,) = struct.unpack_from("<I", buf, 0x20)
        entsize, count, strndx = struct.unpack_from("<HHH", buf, 0x2E)
        layout, name_at = "<IIIIIIIIII", (0, 1, 4, 5, 6, 2)
    if shoff == 0:
        raise Corrupt("ELF without a section table (stripped of it): its device code cannot be located")
    need = struct.calcsize(layout)
    if entsize < need or shoff + entsize > size:
        raise Corrupt(f"ELF section table at {shoff:#x} lies past the end of the file ({size} bytes): truncated")

    def header(index: int) -> tuple:
        at = shoff + index * entsize
        if at + need > size:
            raise Corrupt(f"ELF section header {index} lies past the end of the file: truncated")
        return struct.unpack_from(layout, buf, at)

    first = header(0)
    if count == 0:
        count = first[name_at[3]]  # extended numbering: the real count is section 0's size
    if strndx == 0xFFFF:
        strndx = first[name_at[4]]  # ... and the string table's index its link
    if count > 1_000_000 or shoff + count * entsize > size:
        raise Corrupt(f"ELF section table ({count} sections at {shoff:#x}) runs past the end of the file: "
                      f"truncated")
    raw = [header(i) for i in range(count)]
    names_offset, names_size = (raw[strndx][name_at[2]], raw[strndx][name_at[3]]) if strndx < count else (0, 0)
    if names_offset + names_size > size:
        raise Corrupt("ELF section names lie past the end of the file: truncated")
    sections = []
    for entry in raw:
        name_offset = names_offset + entry[name_at[0]]
        end = buf.find(b"\0", name_offset, names_offset + names_size) if names_size else -1
        name = bytes(buf[name_offset:end]).decode("latin-1") if end >= 0 else ""
        sections.append(Section(name, entry[name_at[1]], entry[name_at[2]], entry[name_at[3]], entry[name_at[5]]))
    return sections


RELOCATABLE_SECTION = "__nv_relfatbin"
# The runtime's wrapper records (magic 0x466243B1) that point at the containers: no code.
_WRAPPER_SECTION = ".nvFatBinSegment"


def _is_fatbin_section(name: str) -> bool:
    # .nv_fatbin (and any other *fatbin section a toolchain names so) holds the loadable
    # containers; __nv_relfatbin the relocatable copies, .nvFatBinSegment the wrappers.
    return name.endswith("fatbin") and name not in (RELOCATABLE_SECTION, _WRAPPER_SECTION)


_SHT_PROGBITS = 1
_SHT_NOBITS = 8
_SHF_ALLOC = 0x2
_SHF_EXECINSTR = 0x4


def _is_data_section(section: Section) -> bool:
    """A section a library could keep device code in for itself: loaded into memory with
    the library (allocated), holding bytes from the file, not machine code, and none of
    the fatbin sections read on their own."""
    return (section.type == _SHT_PROGBITS and section.flags & _SHF_ALLOC and not section.flags & _SHF_EXECINSTR
            and not section.name.endswith("fatbin") and section.name != _WRAPPER_SECTION)


@dataclass
class HostCode:
    """What a host library holds: the modules the driver can load, the relocatable
    containers it cannot (counted only), and code found but unreadable (where and why)."""

    modules: list[Module] = field(default_factory=list)
    relocatable: int = 0
    unreadable: list[str] = field(default_factory=list)


def host_elf_code(buf, size: int) -> HostCode:
    """The fatbin containers of a host ELF: in its fatbin sections and in its other data."""
    found = HostCode()
    for section in elf_sections(buf, size):
        if section.type == _SHT_NOBITS or section.size == 0:
            continue
        fatbin_section = section.name.endswith("fatbin") and section.name != _WRAPPER_SECTION
        if not fatbin_section and not _is_data_section(section):
            continue
        if section.offset + section.size > size:
            raise Corrupt(f"section {section.name} ({section.size} bytes at {section.offset:#x}) runs past "
                          f"the end of the file ({size} bytes): truncated")
        end = section.offset + section.size
        if section.name == RELOCATABLE_SECTION:
            try:
                found.relocatable += len(read_containers(buf, section.offset, end, section.name))
            except Corrupt:
                pass  # never loaded, never judged: a damaged copy changes no verdict
        elif fatbin_section:
            found.modules += read_containers(buf, section.offset, end, section.name)
        else:
            modules, unreadable = find_containers(buf, section.offset, end, section.name)
            found.modules += modules
            found.unreadable += unreadable
    return found


def host_elf_modules(buf, size: int) -> list[Module]:
    """The loadable fatbin containers of a host ELF (see host_elf_code)."""
    return host_elf_code(buf, size).modules


def is_cubin(buf, size: int) -> bool:
    return size >= 20 and buf[:4] == ELF_MAGIC and struct.unpack_from("<H", buf, 18)[0] == EM_CUDA


def cubin_code(buf, size: int) -> Code:
    """A standalone cubin's architecture, from its ELF header and .nv.compat section."""
    _, flags = _elf_layout(buf, size)
    new_abi = buf[8] >= 8  # EI_ABIVERSION: 8 from CUDA 12.8's Blackwell-era layout on
    number = (flags >> 8) & 0xFF if new_abi else flags & 0xFF
    if not 10 <= number <= 255:
        raise Corrupt(f"cubin e_flags {flags:#x} name no architecture")
    specific = bool(flags & (0x8 if new_abi else 0x800)) or _compat_arch_specific(buf, size)
    major, minor = split_arch(number)
    return Code(SASS, major, minor, "a" if specific else "")


def _compat_arch_specific(buf, size: int) -> bool:
    """Whether the cubin's .nv.compat attributes mark it arch-specific ("a")."""
    for section in elf_sections(buf, size):
        if section.name != ".nv.compat":
            continue
        pos, end = section.offset, min(section.offset + section.size, size)
        while pos + 2 <= end:
            fmt, attribute = buf[pos], buf[pos + 1]
            if fmt == 4:  # a sized value: u16 length, then the bytes
                (length,) = struct.unpack_from("<H", buf, pos + 2)
                pos += 4 + length
                continue
            if fmt in (2, 3):  # a byte or a half-word value
                if attribute == _COMPAT_ARCH_SPECIFIC:
                    return (buf[pos + 2] if fmt == 2 else struct.unpack_from("<H", buf, pos + 2)[0]) != 0
                pos += 4
                continue
            if fmt == 1:  # no value
                pos += 2
                continue
            break  # an attribute format this reader does not know: stop rather than guess
    return False


# ---------------------------------------------------------------- PTX text

_PTX_VERSION = re.compile(rb"^\s*\.version\s+(\d+)\.(\d+)", re.MULTILINE)
_PTX_TARGET = re.compile(rb"^\s*\.target\s+sm_(\d+)([af]?)\b", re.MULTILINE)
# The directives come first in a PTX file, after a comment header; this much always holds them.
_PTX_HEAD = 16384


def ptx_code(buf, size: int) -> Code:
    head = bytes(buf[:min(size, _PTX_HEAD)])
    version, target = _PTX_VERSION.search(head), _PTX_TARGET.search(head)
    if target is None:
        raise NotDeviceCode("no PTX .target directive")
    number = int(target.group(1))
    if not 10 <= number <= 999:
        raise Corrupt(f"PTX .target sm_{number}")
    major, minor = split_arch(number)
    isa = f"{int(version.group(1))}.{int(version.group(2))}" if version else None
    return Code(PTX, major, minor, target.group(2).decode(), isa)


# ---------------------------------------------------------------- one file


@dataclass
class FileCode:
    """What one file holds: 'fatbin' (a host library's or a .fatbin's containers), 'cubin' or 'ptx'."""

    form: str
    modules: list[Module]
    relocatable: int = 0  # __nv_relfatbin containers: never loaded, never judged
    unreadable: list[str] = field(default_factory=list)  # device code found but not readable

    @property
    def codes(self) -> list[Code]:
        return [code for module in self.modules for code in module.codes]


def read_buffer(buf, size: int) -> FileCode:
    """The device code in a file's bytes (a mmap or bytes). Raises NotDeviceCode or Corrupt."""
    if size == 0:
        raise NotDeviceCode("empty file")
    if buf[:4] == _MAGIC_BYTES:
        modules = read_containers(buf, 0, size)
        return FileCode("fatbin", modules)
    if buf[:4] == ELF_MAGIC:
        if is_cubin(buf, size):
            return FileCode("cubin", [Module(0, [cubin_code(buf, size)])])
        host = host_elf_code(buf, size)
        return FileCode("fatbin", host.modules, host.relocatable, host.unreadable)
    head = bytes(buf[:min(size, _PTX_HEAD)])
    if b".target" in head and b".version" in head:
        return FileCode("ptx", [Module(0, [ptx_code(buf, size)])])
    raise NotDeviceCode("not an ELF file, a fatbin or PTX")


def read_path(path) -> FileCode:
    """The device code in a file, read through mmap. OSError passes up (unreadable files)."""
    with open(path, "rb") as handle:
        size = handle.seek(0, 2)
        if size == 0:
            raise NotDeviceCode("empty file")
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            try:
                return read_buffer(mapped, size)
            except (struct.error, IndexError) as exc:
                # A field read past the end that the checks above did not foresee.
                raise Corrupt(f"truncated or corrupt ({exc})") from None
