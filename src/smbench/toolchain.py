"""The CUDA tools smbench uses, found through cuda.pathfinder (pip wheels first).

NVRTC, the CUDA headers, nvJitLink, cuobjdump and nvdisasm all come from NVIDIA's
pip wheels on a developer or CI machine; on a machine with a CUDA toolkit and no
wheels, cuda.pathfinder finds the toolkit's copies instead. A missing piece is a
SmbenchError with one line saying which package provides it.
"""

from __future__ import annotations

import functools
import hashlib
import os
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


@functools.lru_cache(maxsize=None)
def cuda_include_dirs() -> tuple[Path, ...]:
    """-I directories for the CUDA headers: the runtime headers, then CCCL (cuda/std/...)."""
    pathfinder = _pathfinder()
    try:
        cudart = pathfinder.find_nvidia_header_directory("cudart")
    except Exception:  # noqa: BLE001
        cudart = None
    if not cudart:
        raise SmbenchError(f"CUDA headers (cuda_runtime.h) not found; pip install {PROVIDERS['cudart']}")
    dirs = [Path(cudart)]
    try:
        cccl = pathfinder.find_nvidia_header_directory("cccl")
    except Exception:  # noqa: BLE001
        cccl = None
    if cccl and Path(cccl) != Path(cudart):
        dirs.append(Path(cccl))
    return tuple(dirs)


def headers_fingerprint() -> str:
    """Identifies the CUDA header set, for cache keys: paths plus size and mtime of key headers."""
    digest = hashlib.sha256()
    for directory in cuda_include_dirs():
        digest.update(str(directory).encode())
        for name in ("cuda_runtime.h", "crt/host_config.h", "cuda_fp8.h", "mma.h", "cuda/std/version"):
            path = directory / name
            if path.is_file():
                stat = path.stat()
                digest.update(f"{name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def binary_utility(name: str) -> Path:
    """Path to cuobjdump or nvdisasm; a clear error naming the wheel when absent."""
    try:
        found = _pathfinder().find_nvidia_binary_utility(name)
    except Exception:  # noqa: BLE001
        found = None
    if not found or not os.access(found, os.X_OK):
        raise SmbenchError(f"{name} not found; pip install {PROVIDERS[name]}")
    return Path(found)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
