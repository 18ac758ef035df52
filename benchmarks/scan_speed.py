"""How fast `smbench scan` reads an environment (printed, not asserted).

    python benchmarks/scan_speed.py [PATH ...]     # default: this Python environment

Each run is a fresh `python -m smbench scan --format json` process pinned to two CPUs
(where the OS allows it), as a user would run it, judged for gb10, sm_90 and sm_80. Two
figures, each the median of three runs:

* cold: before each run, every candidate file under the paths (shared libraries, cubins,
  fatbins, PTX) is dropped from the page cache (posix_fadvise DONTNEED), so the scan reads
  from the disk as on a first run after a reboot;
* warm: the files already in memory, as on a second run.

The aim: a 7 GB environment (PyTorch, NVIDIA's math libraries, NCCL, cuDNN) in under
15 s cold on 2 cores. The scan reads headers, not payloads: container and entry headers
in .nv_fatbin, and a search for the container magic in the other loadable data sections
(where cuFFT and cuBLASLt keep code of their own); its time follows the size of those
sections and the number of fatbin entries more than the bytes of the files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "src"))
from compat_speed import _two_cpus  # noqa: E402 - the same two-CPU pinning as the compat benchmark

from smbench.scan import sources  # noqa: E402 - which files the scan opens

GPUS = ("gb10", "sm_90", "sm_80")


def candidates(paths: list[str]) -> list[Path]:
    roots = [Path(p) for p in paths] or [Path(sysconfig.get_paths()["platlib"])]
    found = []
    for root in roots:
        if root.is_file():
            found.append(root)
            continue
        found += [path for path, _, problem in sources.walk(root) if problem is None]
    return found


def drop_from_cache(files: list[Path]) -> bool:
    """Ask the kernel to forget the files' pages; False where the OS cannot."""
    if not hasattr(os, "posix_fadvise"):
        return False
    for path in files:
        try:
            descriptor = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(descriptor)
    return True


def run_once(paths: list[str]) -> tuple[float, dict]:
    env = dict(os.environ)
    env.setdefault("PYTHONPATH", str(ROOT / "src"))
    cpus = _two_cpus()
    gpus = [arg for gpu in GPUS for arg in ("--gpu", gpu)]
    with tempfile.TemporaryDirectory(prefix="smbench-scan-bench-") as tmp:
        out = Path(tmp) / "scan.json"
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "smbench", "scan", *gpus, "--format", "json", "--output", str(out),
                        *paths], env=env, check=True, stderr=subprocess.DEVNULL,
                       preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)
        wall = time.perf_counter() - start
        return wall, json.loads(out.read_text())


def median_of_three(paths: list[str], files: list[Path] | None) -> tuple[float, dict]:
    runs = []
    for _ in range(3):
        if files is not None:
            drop_from_cache(files)
        runs.append(run_once(paths))
    runs.sort(key=lambda r: r[0])
    return runs[1]


def main() -> None:
    paths = sys.argv[1:]
    files = candidates(paths)
    cold_wall, document = median_of_three(paths, files if hasattr(os, "posix_fadvise") else None)
    warm_wall, warm = median_of_three(paths, None)
    gigabytes = document["bytes_scanned"] / 1e9
    packages = sum(len(s["packages"]) for s in document["sources"])
    pinned = f"pinned to CPUs {sorted(_two_cpus())}" if _two_cpus() else "not pinned"
    print(f"smbench scan {' '.join(paths) or '(this environment)'} --gpu {' --gpu '.join(GPUS)}, {pinned}, "
          f"median of 3:")
    print(f"  {document['files_scanned']} candidate files, {gigabytes:.2f} GB; {packages} packages with device code")
    cold = "cold (files dropped from the page cache first)" if hasattr(os, "posix_fadvise") else \
        "cold not measurable here (no posix_fadvise): first run"
    print(f"  {cold}: whole command {cold_wall:.2f} s, reading {document['seconds']:.2f} s, "
          f"{gigabytes / cold_wall:.2f} GB/s")
    print(f"  warm: whole command {warm_wall:.2f} s, reading {warm['seconds']:.2f} s, {gigabytes / warm_wall:.2f} GB/s")
    print(f"  aim: a 7 GB environment in under 15 s cold on 2 cores; here {gigabytes:.1f} GB took "
          f"{cold_wall:.1f} s cold")
    for line in document["summary"]:
        print(f"  {line}")


if __name__ == "__main__":
    main()
