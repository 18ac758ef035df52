"""What a published figure needs to be reproduced: when, where, with which software.

Every result document smbench writes carries this block, so that a reader can tell
which NVRTC, which smbench commit and which machine produced it.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import subprocess
import sys
from pathlib import Path

from smbench import __version__

# Versions worth recording when present (absent ones are left out, not guessed).
PACKAGES = ("cuda-bindings", "cuda-pathfinder", "nvidia-cuda-nvrtc", "nvidia-cuda-runtime", "nvidia-cuda-crt",
            "nvidia-cuda-cccl", "nvidia-nvjitlink", "nvidia-cuda-cuobjdump", "nvidia-cuda-nvdisasm",
            "cupy-cuda13x", "nvidia-ml-py", "numpy", "pandas")


def git_sha() -> str | None:
    """smbench's own commit (with '-dirty' for local changes) when it runs from a checkout;
    None for an installed wheel, even one installed inside some other repository."""
    directory = Path(__file__).resolve().parent
    try:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=directory, capture_output=True,
                             text=True, timeout=10)
        if top.returncode != 0 or Path(top.stdout.strip()).resolve() / "src" / "smbench" != directory:
            return None
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True, text=True,
                             timeout=10)
        if sha.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=directory,
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return sha.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def collect() -> dict:
    from smbench import toolchain

    try:
        nvrtc = ".".join(map(str, toolchain.nvrtc_version()))
    except Exception:  # noqa: BLE001 - provenance records what it can
        nvrtc = None
    nvjitlink = toolchain.nvjitlink_version()
    return {
        "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "smbench_version": __version__,
        "git_sha": git_sha(),
        "host": {"system": platform.system(), "machine": platform.machine(), "cpus": os.cpu_count(),
                 "python": platform.python_version(), "executable": sys.executable},
        "nvrtc_version": nvrtc,
        "nvjitlink_version": ".".join(map(str, nvjitlink)) if nvjitlink else None,
        "packages": package_versions(),
        "tools": _tools(toolchain),
    }


def _tools(toolchain) -> dict | None:
    """Where cuobjdump, nvdisasm and the CUDA headers came from (wheel, CUDA_HOME, PATH...)."""
    try:
        return toolchain.tool_provenance()
    except Exception:  # noqa: BLE001 - provenance records what it can
        return None
