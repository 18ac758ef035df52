"""The CUDA tools smbench uses: pip wheels first, then a system CUDA toolkit.

NVRTC, the CUDA headers, nvJitLink, cuobjdump and nvdisasm all come from NVIDIA's
pip wheels on a developer or CI machine, found with cuda.pathfinder. On a machine
with a system CUDA toolkit and only some of the wheels (the GPU machine runs
`PYTHONPATH=src python3 -m smbench` with nothing installed), cuobjdump and nvdisasm
are looked for in $CUDA_HOME/bin, $CUDA_PATH/bin, on PATH, then in /usr/local/cuda/bin,
and the headers in the same toolkit's include folder. Every find records where it
came from (`Located.via`), for doctor and provenance. A missing NVRTC is a
SmbenchError with one line saying which package provides it; a missing cuobjdump or
header set is not an error here: the caller says what it cannot do without it.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from smbench.errors import SmbenchError

# Which pip wheel brings each piece, for the error messages.
PROVIDERS = {
    "nvrtc": "nvidia-cuda-nvrtc",
    "nvJitLink": "nvidia-nvjitlink",
    "cudart": "nvidia-cuda-runtime (and nvidia-cuda-crt)",
    "cccl": "nvidia-cuda-cccl",
    "cuobjdump": "nvidia-cuda-cuobjdump",
    "nvdisasm": "nvidia-cuda-nvdisasm",
}


def _pathfinder():
    try:
        import cuda.pathfinder as pathfinder
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise SmbenchError(f"cuda-pathfinder is not installed ({exc}); pip install cuda-pathfinder") from None
    return pathfinder


def _nvrtc_module():
    try:
        from cuda.bindings import nvrtc
    except ImportError as exc:
        raise SmbenchError(f"cuda-bindings is not installed ({exc}); pip install cuda-bindings") from None
    return nvrtc


@functools.lru_cache(maxsize=None)
def nvrtc():
    """The cuda.bindings.nvrtc module, with libnvrtc loaded (a clear error if it cannot be)."""
    module = _nvrtc_module()
    try:
        _pathfinder().load_nvidia_dynamic_lib("nvrtc")
        err, major, minor = module.nvrtcVersion()
    except Exception as exc:  # noqa: BLE001 - any loader failure means the same thing here
        raise SmbenchError(f"NVRTC could not be loaded ({_one_line(exc)}); pip install {PROVIDERS['nvrtc']}") from None
    if err != module.nvrtcResult.NVRTC_SUCCESS:
        raise SmbenchError(f"NVRTC could not report its version ({err.name})")
    return module


@functools.lru_cache(maxsize=None)
def nvrtc_version() -> tuple[int, int]:
    _, major, minor = nvrtc().nvrtcVersion()
    return int(major), int(minor)


@functools.lru_cache(maxsize=None)
def nvrtc_supported_archs() -> tuple[int, ...]:
    """The sm numbers this NVRTC can compile for (75, 80, ... 121)."""
    module = nvrtc()
    err, archs = module.nvrtcGetSupportedArchs()
    if err != module.nvrtcResult.NVRTC_SUCCESS:
        return ()
    return tuple(int(a) for a in archs)


@functools.lru_cache(maxsize=None)
def nvjitlink():
    """cuda.bindings.nvjitlink with libnvJitLink loaded, or None when it cannot be had."""
    try:
        from cuda.bindings import nvjitlink as module

        _pathfinder().load_nvidia_dynamic_lib("nvJitLink")
        module.version()
    except Exception:  # noqa: BLE001 - absence is a supported state, reported by doctor
        return None
    return module


def nvjitlink_version() -> tuple[int, int] | None:
    module = nvjitlink()
    if module is None:
        return None
    major, minor = module.version()
    return int(major), int(minor)


@dataclass(frozen=True)
class Located:
    """A CUDA tool or header directory, and where it was found (for doctor and provenance)."""

    path: Path
    via: str  # "pip wheel, via cuda.pathfinder", "$CUDA_HOME/bin", "PATH", "/usr/local/cuda/bin", ...

    def __str__(self) -> str:
        return f"{self.path} (from {self.via})"


# Roots of a system CUDA toolkit tried after $CUDA_HOME and $CUDA_PATH (and, for tools,
# PATH): where NVIDIA's installers put it. A module constant, so tests can replace it.
SYSTEM_CUDA_ROOTS: tuple[Path, ...] = (Path("/usr/local/cuda"),)
# Environment variables naming a CUDA toolkit root, in the order they are tried.
CUDA_ROOT_VARIABLES = ("CUDA_HOME", "CUDA_PATH")


def _environment_roots() -> list[Located]:
    roots = []
    for variable in CUDA_ROOT_VARIABLES:
        value = os.environ.get(variable, "").strip()
        if value:
            roots.append(Located(Path(value), f"${variable}"))
    return roots


def toolkit_roots() -> list[Located]:
    """Candidate CUDA toolkit roots, in search order: $CUDA_HOME, $CUDA_PATH, /usr/local/cuda."""
    return _environment_roots() + [Located(root, str(root)) for root in SYSTEM_CUDA_ROOTS]


def _is_under(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except (ValueError, OSError):
        return False
    return True


def _where(path: Path) -> str:
    """Where something cuda.pathfinder returned lives: a pip wheel, conda, or a toolkit root."""
    if {"site-packages", "dist-packages"} & set(path.parts):
        return "pip wheel, via cuda.pathfinder"
    conda = os.environ.get("CONDA_PREFIX")
    if conda and _is_under(path, Path(conda)):
        return "conda, via cuda.pathfinder"
    for root in toolkit_roots():
        if _is_under(path, root.path):
            return f"CUDA toolkit at {root.via}, via cuda.pathfinder"
    return "cuda.pathfinder"


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _variable_text(variable: str, suffix: str) -> str:
    value = os.environ.get(variable, "").strip()
    return f"${variable}/{suffix} ({value}/{suffix})" if value else f"${variable}/{suffix} (unset)"


def binary_search_order() -> str:
    """Where find_binary_utility looks, in words, in its order."""
    return ", ".join(["NVIDIA pip wheels (cuda.pathfinder)",
                      *(_variable_text(v, "bin") for v in CUDA_ROOT_VARIABLES), "PATH",
                      *(f"{root}/bin" for root in SYSTEM_CUDA_ROOTS)])


def find_binary_utility(name: str) -> Located | None:
    """cuobjdump or nvdisasm, or None; never raises. Search order: the pip wheels (through
    cuda.pathfinder), $CUDA_HOME/bin, $CUDA_PATH/bin, PATH, /usr/local/cuda/bin."""
    try:
        found = _pathfinder().find_nvidia_binary_utility(name)
    except Exception:  # noqa: BLE001 - an old cuda-pathfinder without it, or any lookup failure
        found = None
    if found and _executable(Path(found)):
        return Located(Path(found), _where(Path(found)))
    for root in _environment_roots():
        candidate = root.path / "bin" / name
        if _executable(candidate):
            return Located(candidate, f"{root.via}/bin")
    on_path = shutil.which(name)
    if on_path and _executable(Path(on_path)):
        return Located(Path(on_path), "PATH")
    for root in SYSTEM_CUDA_ROOTS:
        candidate = root / "bin" / name
        if _executable(candidate):
            return Located(candidate, f"{root}/bin")
    return None


def missing_binary_message(name: str) -> str:
    return (f"{name} not found (looked in: {binary_search_order()}); pip install {PROVIDERS[name]}, "
            f"or set CUDA_HOME to a CUDA toolkit")


def binary_utility(name: str) -> Path:
    """Path to cuobjdump or nvdisasm; a SmbenchError saying where it was looked for when absent."""
    found = find_binary_utility(name)
    if found is None:
        raise SmbenchError(missing_binary_message(name))
    return found.path


# What a complete CUDA header set holds, by piece: the runtime headers (nvidia-cuda-runtime),
# the compiler's own (crt/, nvidia-cuda-crt: mma.h needs them) and CCCL (cuda/std, nv/target).
HEADER_PIECES = {"cudart": "cuda_runtime.h", "crt": "crt/host_config.h", "cccl": "cuda/std/version"}


@dataclass(frozen=True)
class CudaHeaders:
    """The -I directories for the CUDA headers, each with where it came from, and the pieces
    of a full set that none of them holds."""

    dirs: tuple[Located, ...]
    missing: tuple[str, ...]

    @property
    def paths(self) -> tuple[Path, ...]:
        return tuple(d.path for d in self.dirs)

    def describe(self) -> str:
        if not self.dirs:
            return f"none found (looked in: {header_search_order()})"
        text = ", ".join(map(str, self.dirs))
        if self.missing:
            text += f"; without {', '.join(self.missing)} ({', '.join(HEADER_PIECES[m] for m in self.missing)})"
        return text


def header_search_order() -> str:
    """Where cuda_headers looks, in words, in its order."""
    return ", ".join(["NVIDIA pip wheels (cuda.pathfinder)",
                      *(_variable_text(v, "include") for v in CUDA_ROOT_VARIABLES),
                      *(f"{root}/include" for root in SYSTEM_CUDA_ROOTS)])


def _pathfinder_header_dir(libname: str) -> Located | None:
    try:
        pathfinder = _pathfinder()
        locate = getattr(pathfinder, "locate_nvidia_header_directory", None)
        if locate is not None:
            found = getattr(locate(libname), "abs_path", None)
        else:  # an older cuda-pathfinder: the plain finder only
            found = pathfinder.find_nvidia_header_directory(libname)
    except Exception:  # noqa: BLE001 - any lookup failure means "not from the wheels"
        found = None
    if not found or not Path(found).is_dir():
        return None
    return Located(Path(found), _where(Path(found)))


def _toolkit_header_dirs(root: Located) -> list[Located]:
    """A toolkit's include folder and, from CUDA 13 on, its include/cccl (CCCL moved there)."""
    include = root.path / "include"
    if not (include / HEADER_PIECES["cudart"]).is_file():
        return []
    dirs = [Located(include, f"CUDA toolkit at {root.via}")]
    cccl = include / "cccl"
    if (cccl / HEADER_PIECES["cccl"]).is_file():
        dirs.append(Located(cccl, f"CUDA toolkit at {root.via}"))
    return dirs


def _holds(dirs: list[Located], candidate: Located) -> bool:
    """Whether the same folder (symlinks resolved: /usr/local/cuda -> cuda-13.0) is listed."""
    try:
        target = candidate.path.resolve()
        return any(d.path.resolve() == target for d in dirs)
    except OSError:
        return any(d.path == candidate.path for d in dirs)


def _missing_pieces(dirs: list[Located]) -> list[str]:
    return [piece for piece, marker in HEADER_PIECES.items() if not any((d.path / marker).is_file() for d in dirs)]


@functools.lru_cache(maxsize=None)
def cuda_headers() -> CudaHeaders:
    """The CUDA header set, never raising: the wheels' include folders (cudart, then CCCL)
    first; without them, the first toolkit's ($CUDA_HOME, $CUDA_PATH, /usr/local/cuda)
    include and include/cccl. When the wheels miss a piece (no nvidia-cuda-crt wheel, say)
    and a toolkit has it, the toolkit's folders follow the wheels' to supply it: a header
    is taken from the wheels wherever they have it. Empty when there are none at all."""
    dirs: list[Located] = []
    for libname in ("cudart", "cccl"):
        found = _pathfinder_header_dir(libname)
        if found is not None and not _holds(dirs, found):
            dirs.append(found)
    if not dirs or _missing_pieces(dirs):
        for root in toolkit_roots():
            extra = [d for d in _toolkit_header_dirs(root) if not _holds(dirs, d)]
            if not extra:
                continue
            if dirs and not set(_missing_pieces(dirs)) - set(_missing_pieces(dirs + extra)):
                continue  # this toolkit has none of what is missing either
            dirs.extend(extra)
            break
    return CudaHeaders(tuple(dirs), tuple(_missing_pieces(dirs)) if dirs else tuple(HEADER_PIECES))


def cuda_include_dirs() -> tuple[Path, ...]:
    """-I directories for the CUDA headers; a SmbenchError when there are none at all.
    compile.py asks only for sources that include a header it cannot find locally."""
    headers = cuda_headers()
    if not headers.dirs:
        raise SmbenchError(f"CUDA headers (cuda_runtime.h) not found (looked in: {header_search_order()}); "
                           f"pip install {PROVIDERS['cudart']}, or set CUDA_HOME to a CUDA toolkit")
    return headers.paths


def headers_fingerprint() -> str:
    """Identifies the CUDA header set, for cache keys: paths plus size and mtime of key headers
    ("none" when there is no set)."""
    headers = cuda_headers()
    if not headers.dirs:
        return "none"
    digest = hashlib.sha256()
    for directory in headers.paths:
        digest.update(str(directory).encode())
        for name in ("cuda_runtime.h", "crt/host_config.h", "cuda_fp8.h", "mma.h", "cuda/std/version"):
            path = directory / name
            if path.is_file():
                stat = path.stat()
                digest.update(f"{name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def clear_lookups() -> None:
    """Forget the header lookup (tests that change CUDA_HOME or the search roots call it)."""
    cuda_headers.cache_clear()


def tool_provenance() -> dict:
    """Where each CUDA tool and the headers came from, for a result's provenance block:
    {"cuobjdump": "path (from PATH)" or None, "nvdisasm": ..., "cuda_headers": [...]}."""
    tools: dict = {}
    for name in ("cuobjdump", "nvdisasm"):
        found = find_binary_utility(name)
        tools[name] = str(found) if found else None
    tools["cuda_headers"] = [str(d) for d in cuda_headers().dirs]
    return tools


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
