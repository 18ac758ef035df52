"""The CPU reference backend: the host described as a device (its caches, free memory and
its one memory kind, host memory). Each family's NumPy reference lives in its folder
(families/<name>/cpu.py); together they exercise the whole pipeline (sweep, validation,
statistics, result files, reports) on any machine, their figures the host's, labelled so.
"""

from __future__ import annotations

import os
import platform

import numpy as np

NAME = "cpu"


def cache_bytes(level: int, default: int) -> int:
    """The host's cache size at this level (Linux sysfs), or the default."""
    base = "/sys/devices/system/cpu/cpu0/cache"
    try:
        for entry in sorted(os.listdir(base)):
            directory = os.path.join(base, entry)
            with open(os.path.join(directory, "level")) as handle:
                if int(handle.read()) != level:
                    continue
            with open(os.path.join(directory, "type")) as handle:
                if handle.read().strip() == "Instruction":
                    continue
            with open(os.path.join(directory, "size")) as handle:
                text = handle.read().strip().upper()
            multiplier = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1], 1)
            return int(text.rstrip("KMG")) * multiplier
    except (OSError, ValueError):
        pass
    return default


def available_bytes() -> int:
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 4 << 30


def device_info() -> dict:
    return {"backend": NAME, "name": f"CPU reference ({platform.machine()}, {os.cpu_count()} CPUs, NumPy {np.__version__})",
            "l2_bytes": cache_bytes(2, 1 << 20), "l3_bytes": cache_bytes(3, 0), "free_bytes": available_bytes(),
            "unified_memory": True, "memory_kinds": [("host", True, "NumPy arrays in host memory")]}
