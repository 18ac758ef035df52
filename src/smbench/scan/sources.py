"""Where device code is looked for, and which package each file belongs to.

Sources: the running Python environment's site-packages (every shared library in it),
directories and files named on the command line, wheels (read as zip archives, nothing
installed), and Triton's kernel cache (its compiled kernels, with the metadata that says
which architecture each was built for). Each file found is an Item: where it is, how to
read it, its owner (the distribution whose RECORD lists it, with its version) and, when
it could not even be reached (a symlink loop, a broken link, an unreadable directory),
the reason, which becomes a row rather than an error.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import stat
import sys
import sysconfig
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from smbench.errors import SmbenchError

# Files worth opening: shared libraries (libfoo.so, libfoo.so.13, ext.cpython-312-...so),
# cubins, fatbins and PTX. Everything else in an environment is skipped by name alone.
_CANDIDATE = re.compile(r"(\.so(\.\d+)*|\.cubin|\.fatbin|\.ptx)$", re.IGNORECASE)
NO_OWNER = "-"
TRITON_PACKAGE = "Triton kernel cache"


def is_candidate(name: str) -> bool:
    return bool(_CANDIDATE.search(name))


@dataclass
class Item:
    """One file to read: on disk (`path`) or a member of a wheel (`wheel`, `member`)."""

    display: str
    package: str = NO_OWNER
    version: str = ""
    size: int = 0
    path: Path | None = None
    wheel: Path | None = None
    member: str | None = None
    problem: str | None = None  # known before reading: a symlink loop, an unreadable directory
    triton: dict | None = None  # {"name": kernel, "arch": 80} for a Triton cache kernel
    overwritten: list[str] = field(default_factory=list)  # other wheels whose RECORD lists the file


@dataclass
class Source:
    """One table of the report: an environment, a wheel, a Triton cache or the paths named."""

    title: str
    root: str
    items: list[Item] = field(default_factory=list)
    runtime: tuple[int, int] | None = None  # the CUDA runtime of an environment (cuda_runtime)
    runtime_source: str = ""


# ---------------------------------------------------------------- walking directories


def _why(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "symlink loop"
    if exc.errno == errno.ENOENT:
        return "broken symlink (its target does not exist)"
    if exc.errno == errno.EACCES:
        return "permission denied"
    return exc.strerror or str(exc)


def walk(root: Path):
    """(path, size, problem) for every candidate file under root, symlinks followed. A
    directory reached twice (a symlink loop, or a second way in) is read once, and so is a
    file with two names (libfoo.so -> libfoo.so.1)."""
    seen_dirs: set[tuple[int, int]] = set()
    seen_files: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        directory = stack.pop()
        try:
            info = os.stat(directory)
            entries = sorted(os.scandir(directory), key=lambda e: e.name, reverse=True)
        except OSError as exc:
            yield directory, 0, f"unreadable directory: {_why(exc)}"
            continue
        key = (info.st_dev, info.st_ino)
        if key in seen_dirs:
            continue
        seen_dirs.add(key)
        for entry in entries:
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            if is_dir:
                stack.append(Path(entry.path))
                continue
            if not is_candidate(entry.name):
                continue
            try:
                info = entry.stat()
            except OSError as exc:
                yield Path(entry.path), 0, _why(exc)
                continue
            if not stat.S_ISREG(info.st_mode):
                continue
            key = (info.st_dev, info.st_ino)
            if key in seen_files:
                continue
            seen_files.add(key)
            yield Path(entry.path), info.st_size, None


# ---------------------------------------------------------------- owners


def site_packages() -> list[Path]:
    """The running interpreter's site-packages folders (purelib, platlib), existing ones, once each."""
    found: list[Path] = []
    for key in ("platlib", "purelib"):
        path = Path(sysconfig.get_paths()[key])
        if path.is_dir() and all(path.resolve() != p.resolve() for p in found):
            found.append(path)
    return found


@dataclass(frozen=True)
class Claim:
    """One RECORD line for a file: who lists it, and the hash and size it says it has."""

    name: str
    version: str
    digest: str  # "sha256=<urlsafe base64, no padding>" or ""
    size: int | None


@dataclass(frozen=True)
class Owner:
    name: str
    version: str
    overwritten: tuple[str, ...] = ()  # "nvidia-nccl-cu13 2.30.7": wheels that list it too


def _claims(site_dir: Path) -> dict[str, list[Claim]]:
    """Normalised file path -> every RECORD line listing it, from the folder's dist-infos,
    for the files worth opening."""
    table: dict[str, list[Claim]] = {}
    for dist in importlib.metadata.distributions(path=[str(site_dir)]):
        try:
            files = dist.files or []
            name, version = dist.metadata["Name"] or NO_OWNER, dist.version or ""
        except Exception:  # noqa: BLE001 - a broken dist-info: its files stay unowned
            continue
        for entry in files:
            if is_candidate(entry.name):
                digest = f"{entry.hash.mode}={entry.hash.value}" if entry.hash else ""
                table.setdefault(os.path.normpath(os.path.join(site_dir, str(entry))), []).append(
                    Claim(name, version, digest, entry.size))
    return table


def record_digest(path: str, mode: str) -> str:
    """The file's hash as a RECORD writes it (PEP 376/427: urlsafe base64 without padding)."""
    digest = hashlib.new(mode)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return f"{mode}={base64.urlsafe_b64encode(digest.digest()).rstrip(b'=').decode()}"


def _owner(path: str, claims: list[Claim]) -> Owner:
    """Who owns a file two wheels list (nvidia-nccl-cu12 and -cu13 both ship
    nvidia/nccl/lib/libnccl.so.2; the one installed last wrote it): the claim whose RECORD
    size and hash match the bytes on disk. Sizes first (free), hashes only between claims
    of the right size. Where none matches, the last installed is not knowable: the first
    claim is named and the others are shown as listing it too."""
    if len(claims) == 1:
        return Owner(claims[0].name, claims[0].version)
    try:
        size = os.path.getsize(path)
    except OSError:
        size = None
    fits = [c for c in claims if c.size is None or c.size == size] or list(claims)
    if len(fits) > 1:
        digests: dict[str, str] = {}
        matching = []
        for claim in fits:
            mode = claim.digest.partition("=")[0]
            if not mode or mode not in hashlib.algorithms_available:
                continue
            try:
                digests.setdefault(mode, record_digest(path, mode))
            except OSError:
                break
            if digests[mode] == claim.digest:
                matching.append(claim)
        fits = matching or fits
    chosen = fits[0]
    others = tuple(f"{c.name} {c.version}".strip() for c in claims if c is not chosen)
    return Owner(chosen.name, chosen.version, others)


def owners(site_dir: Path) -> dict[str, Owner]:
    """Normalised file path -> its owner (the distribution whose RECORD lists it and, when
    several do, whose hash matches), for the files worth opening."""
    return {path: _owner(path, claims) for path, claims in _claims(site_dir).items()}


_TORCH_CUDA = re.compile(r"""^cuda\s*(?::[^=]*)?=\s*['"](\d+)\.(\d+)""", re.MULTILINE)
_RUNTIME_WHEEL = re.compile(r"^nvidia[-_]cuda[-_]runtime(?:[-_]cu(\d+))?$", re.IGNORECASE)


def cuda_runtime(site_dir: Path) -> tuple[tuple[int, int] | None, str]:
    """The CUDA runtime an environment's libraries load with, and how it is known: the
    version PyTorch was built for (torch/version.py's `cuda`, what bitsandbytes reads to pick
    its library), else the version of NVIDIA's CUDA runtime wheel; (None, why) otherwise."""
    version_file = site_dir / "torch" / "version.py"
    try:
        match = _TORCH_CUDA.search(version_file.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        match = None
    if match:
        return (int(match.group(1)), int(match.group(2))), "PyTorch is built for it"
    for dist in importlib.metadata.distributions(path=[str(site_dir)]):
        try:
            name, version = dist.metadata["Name"] or "", dist.version or ""
        except Exception:  # noqa: BLE001 - a broken dist-info says nothing
            continue
        parts = version.split(".")
        if _RUNTIME_WHEEL.match(name) and len(parts) >= 2 and parts[0].isdigit() and parts[1].isdigit():
            return (int(parts[0]), int(parts[1])), f"{name} {version} is installed"
    return None, "no PyTorch and no CUDA runtime wheel here"


def site_root(path: Path) -> Path | None:
    """The site-packages (or dist-packages) folder a path lies in, if any."""
    for candidate in (path, *path.parents):
        if candidate.name in ("site-packages", "dist-packages"):
            return candidate
    return None


# ---------------------------------------------------------------- Triton


def triton_cache_dir() -> Path:
    return Path(os.environ.get("TRITON_CACHE_DIR") or Path.home() / ".triton" / "cache")


def triton_metadata(path: Path) -> dict | None:
    """{"name", "arch"} when a cubin or PTX file is a Triton cache kernel (its sibling
    <stem>.json holds a "target"), else None."""
    sidecar = path.with_suffix(".json")
    try:
        if not sidecar.is_file() or sidecar.stat().st_size > 1_000_000:
            return None
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(meta, dict) or not isinstance(meta.get("target"), dict):
        return None
    target = meta["target"]
    arch = target.get("arch")
    if isinstance(arch, str):
        digits = re.search(r"\d+", arch)
        arch = int(digits.group()) if digits else None
    return {"name": meta.get("name") or path.stem, "arch": arch if isinstance(arch, int) else None,
            "backend": target.get("backend")}


# ---------------------------------------------------------------- building sources


def _items_under(root: Path, display_root: Path, owner_table: dict | None, default_owner: str = NO_OWNER
                 ) -> tuple[list[Item], list[Item]]:
    """(ordinary items, Triton kernel items) under a directory."""
    ordinary, triton = [], []
    for path, size, problem in walk(root):
        try:
            display = str(path.relative_to(display_root))
        except ValueError:
            display = str(path)
        if problem is None and path.suffix.lower() in (".cubin", ".ptx"):
            meta = triton_metadata(path)
            if meta is not None:
                # Triton loads the cubin; the PTX beside it is not a route to the GPU.
                if path.suffix.lower() == ".cubin":
                    triton.append(Item(display, TRITON_PACKAGE, "", size, path=path, triton=meta))
                continue
        owner = (owner_table or {}).get(os.path.normpath(str(path))) or Owner(default_owner, "")
        package = owner.name
        if package == NO_OWNER and owner_table is not None:
            package = _top_folder(path, root)
        ordinary.append(Item(display, package, owner.version, size, path=path, problem=problem,
                             overwritten=list(owner.overwritten)))
    return ordinary, triton


def _top_folder(path: Path, root: Path) -> str:
    """For a file no RECORD lists: its top folder under site-packages, marked as unowned."""
    try:
        first = path.relative_to(root).parts[0]
    except (ValueError, IndexError):
        return NO_OWNER
    return f"{first} (no dist-info)"


def environment_source(site_dir: Path, prefix: Path) -> Source:
    """A site-packages folder as an environment: packages named from its RECORDs, the CUDA
    runtime its per-CUDA alternatives load with."""
    items, triton = _items_under(site_dir, site_dir, owners(site_dir))
    runtime, why = cuda_runtime(site_dir)
    label = f"CUDA {runtime[0]}.{runtime[1]}: {why}" if runtime else why
    return Source(f"Python environment {prefix}", str(site_dir), items + triton, runtime, label)


def environment_sources() -> list[Source]:
    """The running environment's site-packages, and Triton's cache when there is one."""
    sources = [environment_source(site_dir, Path(sys.prefix)) for site_dir in site_packages()]
    cache = triton_cache_dir()
    if cache.is_dir():
        _, triton = _items_under(cache, cache, None)
        sources.append(Source(TRITON_PACKAGE, str(cache), triton))
    return sources


_WHEEL_NAME = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)(-\d[^-]*)?-[^-]+-[^-]+-[^-]+\.whl$")


def wheel_source(path: Path) -> Source:
    """A wheel read as a zip archive: its shared libraries and device-code files, owned by the
    wheel's own distribution."""
    match = _WHEEL_NAME.match(path.name)
    name, version = (match.group("name"), match.group("version")) if match else (path.stem, "")
    source = Source(f"wheel {path.name}", str(path))
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if info.is_dir() or not is_candidate(info.filename):
                    continue
                source.items.append(Item(info.filename, name, version, info.file_size, wheel=path,
                                         member=info.filename))
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        source.items.append(Item(str(path), name, version, problem=f"not a readable wheel (zip): {exc}"))
    return source


def named_environment(path: Path) -> list[Path]:
    """The site-packages folders a named directory stands for: itself when it holds
    dist-infos (a site-packages folder), those under lib*/python*/ for a virtual environment
    or any Python prefix; [] for any other directory."""
    if not path.is_dir():
        return []
    if any(path.glob("*.dist-info")):
        return [path]
    found = []
    for pattern in ("lib/python*/site-packages", "lib64/python*/site-packages", "Lib/site-packages",
                    "lib/python*/dist-packages"):
        found += [p for p in sorted(path.glob(pattern)) if p.is_dir()]
    unique: list[Path] = []
    for folder in found:
        if all(folder.resolve() != seen.resolve() for seen in unique):
            unique.append(folder)
    return unique


def path_sources(paths: list[Path]) -> list[Source]:
    """Sources for the paths named: each wheel its own, each Python environment (a venv, a
    prefix, a site-packages folder) its own; other directories and files together; the
    Triton kernels found among them in a table of their own."""
    named = Source("paths named", "")
    triton_all = Source(TRITON_PACKAGE, "")
    sources = []
    for path in paths:
        if not os.path.lexists(path):
            raise SmbenchError(f"no such file or directory: {path}")
        if path.suffix.lower() == ".whl" and path.is_file():
            sources.append(wheel_source(path))
            continue
        environment = named_environment(path) if os.path.isdir(path) else []
        if environment:
            sources += [environment_source(site_dir, path) for site_dir in environment]
            continue
        named.root = ", ".join(part for part in (named.root, str(path)) if part)
        try:
            os.stat(path)
        except OSError as exc:
            named.items.append(Item(str(path), problem=_why(exc)))
            continue
        site = site_root(path.resolve())
        table = owners(site) if site is not None else None
        if path.is_dir():
            # Under a site-packages folder, walk the resolved path: RECORD names files under the
            # resolved folder, and a venv's lib64 is commonly a link to lib.
            walked = path if site is None else path.resolve()
            items, triton = _items_under(walked, path.parent if site is None else site, table)
            named.items += items
            triton_all.items += triton
            triton_all.root = triton_all.root or str(path)
            continue
        owner = (table or {}).get(os.path.normpath(str(path.resolve()))) or Owner(NO_OWNER, "")
        meta = triton_metadata(path) if path.suffix.lower() in (".cubin", ".ptx") else None
        if meta is not None:
            triton_all.items.append(Item(str(path), TRITON_PACKAGE, "", path.stat().st_size, path=path, triton=meta))
            continue
        named.items.append(Item(str(path), owner.name, owner.version, path.stat().st_size, path=path,
                                overwritten=list(owner.overwritten)))
    return [s for s in (named, triton_all) if s.items] + sources


@contextlib.contextmanager
def local_file(item: Item):
    """A path to the item's bytes: the file itself, or a wheel member copied to a temporary
    file (a zip member is compressed; mmap needs the plain bytes)."""
    if item.path is not None:
        yield item.path
        return
    with zipfile.ZipFile(item.wheel) as archive, tempfile.TemporaryDirectory(prefix="smbench-scan-") as tmp:
        target = Path(tmp) / Path(item.member).name
        with archive.open(item.member) as member, open(target, "wb") as out:
            shutil.copyfileobj(member, out, 1 << 20)
        yield target
