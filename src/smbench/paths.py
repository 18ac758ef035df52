"""Where the kernel sources and benchmark suites are, installed or in a checkout.

In a wheel they sit inside the package (smbench/_data/...); in a checkout, or with
PYTHONPATH=src on the GPU machine, they are the repository's top-level folders.
"""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def _data_dir(name: str) -> Path:
    installed = _PACKAGE_DIR / "_data" / name
    if installed.is_dir():
        return installed
    return _PACKAGE_DIR.parent.parent / name


def kernels_dir() -> Path:
    return _data_dir("kernels")


def benchmarks_dir() -> Path:
    return _data_dir("benchmarks")


def builtin_kernel_files() -> list[Path]:
    """Every kernel file smbench ships, in a stable order."""
    return sorted(kernels_dir().glob("*.cu"))


def cache_dir() -> Path:
    """The on-disk compile cache: $SMBENCH_CACHE_DIR, else the user's cache directory."""
    explicit = os.environ.get("SMBENCH_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "smbench"
