"""Reference result files: the public specs and measurements of the device table, written in
the result schema so that compare, plot and report treat them like any run.

They are marked kind = "published": no figure in them was measured by smbench, and each
record names its source. `smbench reference --out results/` writes them; the test suite
checks that the files in results/ are exactly what the device table produces.

One vocabulary for measured and published figures: a published record names the measured
figure it describes by the fields its family's declared axes fill (smbench.axes: family,
format, operation, memory, shape), so it lands on that figure's row in compare and the report.
What a source does not state stays out (None); a size it describes only as the largest or
DRAM-resident is LARGEST. Where its conditions differ from the measured figure's, the record
says how (`condition`); where smbench has no such measurement (the axes table lacks the
value), it says so (`counterpart`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from smbench import __version__, devices
from smbench.fsutil import atomic_write_json
from smbench.results import SCHEMA

PUBLISHED = ("gb10", "rtx5090", "rtx-pro-6000", "a100-40", "a100-80", "h100-sxm", "h100-pcie", "h200", "b200", "m4max",
             "m3ultra")
KIND_WORDS = {"V": "vendor specification", "M": "measured by others", "D": "derived"}
LARGEST = "largest"  # a size the source does not state beyond "the largest" / DRAM-resident
NO_COUNTERPART = "no measured counterpart in smbench yet"
UNSTATED_ACC = "accumulation not stated"


@dataclass(frozen=True)
class Describes:
    """The measured figure a published one describes: its family, the identity fields the
    source states (a field absent is not stated), how its conditions differ, and how it was
    had where that is not the family's own way ('mma.sync loop', 'GEMM'). Each family keeps its
    own in Family.vocabulary (devices.Figure.what -> Describes): the harness names none."""

    family: str
    fields: dict = field(default_factory=dict)
    condition: str = ""
    how: str = ""
    label: str = "{what} ({kind})"  # the record's kernel: its words for the figure


def describes(figure: devices.Figure) -> Describes:
    """The measured figure a device table figure describes, from the family whose vocabulary
    has it; a figure no family describes is refused (tests: every reference device's figures)."""
    from smbench.families import registry  # here: the families import this module

    what = figure.what or "spec"
    found = next((family.vocabulary[what] for family in registry().values() if what in family.vocabulary), None)
    if found is None:
        raise ValueError(f"published figure {figure.what!r} names no measured figure: add it to its family's "
                         f"VOCABULARY (Family.vocabulary)")
    if figure.shape:
        found = Describes(found.family, {**found.fields, "shape": figure.shape}, found.condition, found.how,
                          found.label)
    return found


def counterpart(describing: Describes) -> str:
    """'' when smbench measures such a figure; NO_COUNTERPART (and why) when a stated value is not
    one its family's axes offer (a GEMM format with no kernel yet)."""
    from smbench.families import registry

    axes = registry()[describing.family].axes
    for entry in axes.entries:
        choices = getattr(entry, "choices", None)
        for name in entry.fields:
            value = describing.fields.get(name)
            if choices is not None and value is not None and value != LARGEST and value not in choices:
                # Said as the user reads it: which kernel is missing, not which axis lacks a value.
                return f"{NO_COUNTERPART} (the {describing.family} family has no {value} kernel yet)"
    return ""


def published_record(family: str, benchmark: str, label: str, figure: devices.Figure, value_key: str,
                     fields: dict | None = None) -> dict:
    """One public figure as an ok record of `family`, its value under `value_key`, its source
    named; `fields`: the identity fields of the measured figure it describes."""
    return {"family": family, "benchmark": benchmark, "kernel": label, **(fields or {}), "status": "ok",
            "published": True, "figure_kind": figure.kind, "source": figure.source,
            value_key: {"median": figure.value},
            "validation": {"ok": True, "checked": 0,
                           "detail": f"published figure ({KIND_WORDS[figure.kind]}), not measured by smbench"}}


def record_of(figure: devices.Figure) -> dict:
    """A device table figure as a record of the family that describes it, with the identity fields
    of the measured figure it describes (so it lands on that row), how its conditions differ and
    whether smbench measures such a figure at all."""
    from smbench.families import registry

    describing = describes(figure)
    family = registry()[describing.family]
    label = describing.label.format(what=figure.what or "spec", kind=figure.kind)
    record = published_record(describing.family, figure.what or "spec", label, figure, family.figure.field,
                              {name: value for name, value in describing.fields.items() if value is not None})
    for name, value in (("condition", describing.condition), ("how", describing.how),
                        ("counterpart", counterpart(describing))):
        if value:
            record[name] = value
    return record


def published_records(spec: devices.DeviceSpec, family: str) -> list[dict]:
    """The device table row's figures that describe `family`'s figures, as records (a family's
    Family.published gives these): the DRAM spec, others' measurements, then the peaks."""
    return [record_of(f) for f in (spec.memory_bandwidth, *spec.measured_bandwidth, *spec.peaks)
            if describes(f).family == family]


def document(spec: devices.DeviceSpec) -> dict:
    """The device table's row as a published result file: each family that has public figures
    for it (Family.published) gives its records and what it adds to the header."""
    from smbench.families import registry  # here: the families import this module

    for figure in (spec.memory_bandwidth, *spec.measured_bandwidth, *spec.peaks):
        describes(figure)  # a figure no family describes is refused, not left out
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
