"""How fast `smbench scan` reads this Python environment (printed, not asserted).

Each run is a fresh `python -m smbench scan --format json` process pinned to two CPUs
(where the OS allows it), as a user would run it; the figures are its wall time and the
files and bytes of candidate files (shared libraries, cubins, fatbins, PTX) it covered
per second. The aim: an environment with PyTorch (about 5 GB of shared libraries) in
under 30 s on 2 cores; the scan reads headers, not whole files, so its time follows the
number of fatbin entries more than the bytes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from compat_speed import _two_cpus  # noqa: E402 - the same two-CPU pinning as the compat benchmark


def run_once(extra: list[str]) -> tuple[float, dict]:
    env = dict(os.environ)
    env.setdefault("PYTHONPATH", str(ROOT / "src"))
    cpus = _two_cpus()
    with tempfile.TemporaryDirectory(prefix="smbench-scan-bench-") as tmp:
        out = Path(tmp) / "scan.json"
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "smbench", "scan", "--gpu", "gb10", "--gpu", "sm_90", "--format",
                        "json", "--output", str(out), *extra], env=env, check=True, stderr=subprocess.DEVNULL,
                       preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)
        wall = time.perf_counter() - start
        return wall, json.loads(out.read_text())


def main() -> None:
    runs = [run_once(sys.argv[1:]) for _ in range(3)]
    runs.sort(key=lambda r: r[0])
    wall, document = runs[1]
    packages = sum(len(s["packages"]) for s in document["sources"])
    rows = sum(len(s["rows"]) for s in document["sources"])
    pinned = f"pinned to CPUs {sorted(_two_cpus())}" if _two_cpus() else "not pinned"
    print(f"smbench scan {' '.join(sys.argv[1:]) or '(this environment)'}, {pinned}, median of 3:")
    print(f"  {document['files_scanned']} files, {document['bytes_scanned'] / 1e9:.2f} GB; "
          f"{rows} with device code or a problem, {packages} packages with device code")
    print(f"  whole command {wall:.2f} s (Python start, provenance, reading); reading alone {document['seconds']:.2f} s")
    print(f"  {document['files_scanned'] / wall:.0f} files/s, {document['bytes_scanned'] / wall / 1e9:.2f} GB/s "
          f"(whole command)   aim: 5 GB in < 30 s")
    for line in document["summary"]:
        print(f"  {line}")


if __name__ == "__main__":
    main()
