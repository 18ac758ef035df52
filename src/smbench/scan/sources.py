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

import contextlib
import errno
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


@dataclass
class Source:
    """One table of the report: an environment, a wheel, a Triton cache or the paths named."""

    title: str
    root: str
    items: list[Item] = field(default_factory=list)


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


def owners(site_dir: Path) -> dict[str, tuple[str, str]]:
    """Normalised file path -> (distribution name, version), from every dist-info RECORD in
    the folder, for the files worth opening."""
    table: dict[str, tuple[str, str]] = {}
    for dist in importlib.metadata.distributions(path=[str(site_dir)]):
        try:
            files = dist.files or []
            name, version = dist.metadata["Name"] or NO_OWNER, dist.version or ""
        except Exception:  # noqa: BLE001 - a broken dist-info: its files stay unowned
            continue
        for entry in files:
            if is_candidate(entry.name):
                table[os.path.normpath(os.path.join(site_dir, str(entry)))] = (name, version)
    return table


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
        package, version = (owner_table or {}).get(os.path.normpath(str(path)), (default_owner, ""))
        if package == NO_OWNER and owner_table is not None:
            package = _top_folder(path, root)
        ordinary.append(Item(display, package, version, size, path=path, problem=problem))
    return ordinary, triton


def _top_folder(path: Path, root: Path) -> str:
    """For a file no RECORD lists: its top folder under site-packages, marked as unowned."""
    try:
        first = path.relative_to(root).parts[0]
    except (ValueError, IndexError):
        return NO_OWNER
    return f"{first} (no dist-info)"


def environment_sources() -> list[Source]:
    """The running environment's site-packages, and Triton's cache when there is one."""
    sources = []
    for site_dir in site_packages():
        items, triton = _items_under(site_dir, site_dir, owners(site_dir))
        sources.append(Source(f"Python environment {Path(sys.prefix)}", str(site_dir), items + triton))
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


def path_sources(paths: list[Path]) -> list[Source]:
    """Sources for the paths named: each wheel its own; directories and files together; the
    Triton kernels found among them in a table of their own."""
    named = Source("paths named", os.getcwd())
    triton_all = Source(TRITON_PACKAGE, "")
    sources = []
    for path in paths:
        if not os.path.lexists(path):
            raise SmbenchError(f"no such file or directory: {path}")
        if path.suffix.lower() == ".whl" and path.is_file():
            sources.append(wheel_source(path))
            continue
        try:
            os.stat(path)
        except OSError as exc:
            named.items.append(Item(str(path), problem=_why(exc)))
            continue
        site = site_root(path.resolve())
        table = owners(site) if site is not None else None
        if path.is_dir():
            items, triton = _items_under(path, path.parent if site is None else site, table)
            named.items += items
            triton_all.items += triton
            triton_all.root = triton_all.root or str(path)
            continue
        package, version = (table or {}).get(os.path.normpath(str(path.resolve())), (NO_OWNER, ""))
        meta = triton_metadata(path) if path.suffix.lower() in (".cubin", ".ptx") else None
        if meta is not None:
            triton_all.items.append(Item(str(path), TRITON_PACKAGE, "", path.stat().st_size, path=path, triton=meta))
            continue
        named.items.append(Item(str(path), package, version, path.stat().st_size, path=path))
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
