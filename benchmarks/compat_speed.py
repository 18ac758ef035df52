"""How long the full built-in compatibility matrix takes, cold and warm (printed, not asserted).

Cold: an empty compile cache, so every NVRTC compile, nvJitLink assembly and
cuobjdump runs. Warm: the same command again on the filled cache. Each is a fresh
`python -m smbench compat` process, as a user would run it. Aims: cold under 60 s,
warm under 3 s on a 2-core machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_once(cache: str) -> float:
    env = dict(os.environ, SMBENCH_CACHE_DIR=cache)
    env.setdefault("PYTHONPATH", str(ROOT / "src"))
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "smbench", "compat", "--format", "json"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="smbench-bench-cache-") as cache:
        cold = run_once(cache)
        warm = [run_once(cache) for _ in range(3)]
    warm.sort()
    print(f"compat matrix, all kernels x all targets, {os.cpu_count()} CPUs:")
    print(f"  cold (empty cache): {cold:6.2f} s   aim < 60 s")
    print(f"  warm (cached):      {warm[1]:6.2f} s   aim <  3 s  (median of 3; min {warm[0]:.2f}, max {warm[2]:.2f})")


if __name__ == "__main__":
    main()
