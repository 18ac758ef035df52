"""`smbench scan`: will the software installed here run natively on this GPU?

Reads the device code inside installed packages (or the paths, wheels and Triton caches
named) by its headers: fatbin containers in shared libraries, cubins, PTX, and says per
file and per package whether a GPU runs it natively (which SASS), only through the
driver's PTX JIT (from which PTX; the sm_80 fallback called by its name), or not at all
(what is missing). Pieces: fatbin (reading), rules (judging), sources (finding files and
their packages), scanner (the scan and its JSON), view (tables), detail (cuobjdump).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from smbench.scan import rules, scanner, sources


def run(paths: list[Path], gpu_names: list[str] | None, detail: bool = False,
        on_total: Callable[[int], None] | None = None,
        on_file: Callable[[str], None] | None = None) -> scanner.ScanResult:
    """Scan the paths named (or the running environment and Triton's cache) for the GPUs named
    (or those present, or the DGX Spark's). Bad input (an unknown --gpu, a missing path) raises
    SmbenchError before anything is read."""
    gpus, note = rules.choose_gpus(gpu_names)
    driver = rules.present_driver()
    start = time.perf_counter()
    source_list = sources.path_sources(paths) if paths else sources.environment_sources()
    if on_total is not None:
        on_total(sum(len(s.items) for s in source_list))
    results = scanner.scan(source_list, gpus, detail, on_file, driver)
    return scanner.ScanResult(gpus, results, time.perf_counter() - start, note, _provenance(gpus), driver)


def _provenance(gpus: list[rules.Gpu]) -> dict:
    from smbench import provenance

    block = provenance.collect()
    block["targets"] = [f"{g.label} (compute capability {g.compute_capability}; {g.source})" for g in gpus]
    return block
