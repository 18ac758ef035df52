"""Reference result files: the public specs and measurements of the device table, written in
the result schema so that compare, plot and report treat them like any run.

They are marked kind = "published": no figure in them was measured by smbench, and each
record names its source. `smbench reference --out results/` writes them; the test suite
checks that the files in results/ are exactly what the device table produces.
"""

from __future__ import annotations

from pathlib import Path

from smbench import __version__, devices
from smbench.fsutil import atomic_write_json
from smbench.results import SCHEMA

PUBLISHED = ("gb10", "rtx5090", "rtx-pro-6000", "a100-40", "a100-80", "h100-sxm", "h100-pcie", "h200", "b200", "m4max",
             "m3ultra")
KIND_WORDS = {"V": "vendor specification", "M": "measured by others", "D": "derived"}


def published_record(family: str, benchmark: str, label: str, figure: devices.Figure, value_key: str) -> dict:
    """One public figure as an ok record of `family`, its value under `value_key`, its source named."""
    return {"family": family, "benchmark": benchmark, "kernel": label, "memory": "device", "status": "ok",
            "published": True, "figure_kind": figure.kind, "source": figure.source,
            value_key: {"median": figure.value},
            "validation": {"ok": True, "checked": 0,
                           "detail": f"published figure ({KIND_WORDS[figure.kind]}), not measured by smbench"}}


def document(spec: devices.DeviceSpec) -> dict:
    """The device table's row as a published result file: each family that has public figures
    for it (Family.published) gives its records and what it adds to the header."""
    from smbench.families import registry  # here: the families import this module

    records, header = [], {}
    for family in registry().values():
        if family.published is not None:
            more, fields = family.published(spec)
            records += more
            header.update(fields)
    return {
        "schema": SCHEMA, "kind": "published", "suite": "published", "backend": "published", "status": "complete",
        "provenance": {"source": "public figures from smbench's device table (smbench.devices); each record "
                                 "names its own public source",
                       "smbench_version": __version__},
        "device": {"name": spec.name, "key": spec.key, "compute_capability": spec.compute_capability,
                   "sm_count": spec.sm_count, "l2_bytes": spec.l2_bytes, "unified_memory": spec.unified_memory,
                   "notes": spec.notes},
        **header,
        "records": records,
    }


def file_name(key: str) -> str:
    return f"reference-{key}.json"


def write_all(out_dir: Path) -> list[Path]:
    paths = []
    for key in PUBLISHED:
        path = Path(out_dir) / file_name(key)
        atomic_write_json(path, document(devices.by_key(key)), indent=1)
        paths.append(path)
    return paths
