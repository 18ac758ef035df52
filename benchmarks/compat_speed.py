"""How long the full built-in compatibility matrix takes, cold and warm (printed, not asserted).

Cold: an empty compile cache, so every NVRTC compile, nvJitLink assembly and
cuobjdump runs. Warm: the same command again on the filled cache. Each is a fresh
`python -m smbench compat` process, as a user would run it. Aims: cold under 60 s,
warm under 3 s on 2 cores: the child runs with --jobs 2 and, where the OS allows it,
is pinned to two CPUs, whatever this machine has.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


CORES = 2


def _two_cpus() -> set[int] | None:
    if not hasattr(os, "sched_getaffinity"):
        return None
    return set(sorted(os.sched_getaffinity(0))[:CORES])


def run_once(cache: str) -> float:
    env = dict(os.environ, SMBENCH_CACHE_DIR=cache)
    env.setdefault("PYTHONPATH", str(ROOT / "src"))
    cpus = _two_cpus()
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "smbench", "compat", "--format", "json", "--jobs", str(CORES)],
                   env=env, check=True, stdout=subprocess.DEVNULL,
                   preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)
    return time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="smbench-bench-cache-") as cache:
        cold = run_once(cache)
        warm = [run_once(cache) for _ in range(3)]
    warm.sort()
    pinned = f"pinned to CPUs {sorted(_two_cpus())}" if _two_cpus() else "not pinned"
    print(f"compat matrix, all kernels x all targets, {CORES} jobs, {pinned} (machine: {os.cpu_count()} CPUs):")
    print(f"  cold (empty cache): {cold:6.2f} s   aim < 60 s")
    print(f"  warm (cached):      {warm[1]:6.2f} s   aim <  3 s  (median of 3; min {warm[0]:.2f}, max {warm[2]:.2f})")


if __name__ == "__main__":
    main()
