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
_UNSTATED_ACC = "accumulation not stated"


@dataclass(frozen=True)
class Describes:
    """The measured figure a published one describes: its family, the identity fields the
    source states (a field absent is not stated), how its conditions differ, and how it was
    had where that is not the family's own way ('mma.sync loop', 'GEMM')."""

    family: str
    fields: dict = field(default_factory=dict)
    condition: str = ""
    how: str = ""


def _dram(op: str | None, condition: str = "") -> Describes:
    return Describes("stream", {"op": op, "memory": "device", "working_set": LARGEST}, condition)


def _peak(fmt: str, condition: str = "", how: str = "") -> Describes:
    return Describes("peak", {"format": fmt}, condition, how)


# devices.Figure.what -> the measured figure it describes. A figure whose `what` is not here is
# refused when its reference file is built (tests: every reference device's figures).
VOCABULARY: dict[str, Describes] = {
    # Memory bandwidth: at the largest working set in device memory, the DRAM figure of a run.
    "spec": Describes("stream", {"memory": "device"}),
    "read": _dram("read", "element type and access width not stated"),
    "triad": _dram("triad", "element type and access width not stated"),
    "copy": _dram("copy", "a PyTorch (MPS) copy: its byte count not stated"),
    "measured": _dram(None),  # its row says so: 'kernel not stated'

    # Tensor cores: the mma.sync loop of the format; the datasheets' figures mostly do not say
    # how they accumulate, nor which FP8 or FP4 kind.
    "fp4": _peak("nvfp4", "FP4 kind not stated (NVFP4 and MXFP4 run at one rate on Blackwell)"),
    "f16": _peak("f16_f32acc", _UNSTATED_ACC),
    "bf16": _peak("bf16_f32acc", _UNSTATED_ACC),
    "fp8": _peak("e4m3_f32acc", "accumulation and FP8 kind not stated"),
    "fp8_f16acc": _peak("e4m3_f16acc", "FP8 kind not stated"),
    "fp8_f32acc": _peak("e4m3_f32acc", "FP8 kind not stated"),
    "f16_f16acc": _peak("f16_f16acc"),
    "f16_f32acc": _peak("f16_f32acc"),
    "bf16_f32acc": _peak("bf16_f32acc"),
    "tf32": _peak("tf32"),
    "int8": _peak("s8"),
    "fp64_tensor": _peak("f64"),
    "f16_f32acc_mma_loop": _peak("f16_f32acc", how="mma.sync loop"),
    "fp8_mma_loop": _peak("e4m3_f32acc", _UNSTATED_ACC, "mma.sync loop"),
    "nvfp4_mma_loop": _peak("nvfp4", "scale kind not stated (mxf4nvf4)", "mma.sync loop"),
    # CUDA cores (Apple's through MPS matrix multiplies: the source says so).
    "fp32": _peak("fp32"),
    "fp64": _peak("fp64"),
    "fp16": _peak("fp16x2", "through MPS, not an FMA loop"),
    # GEMMs: the format and the shape the source states (devices.Figure.shape), else the largest.
    "nvfp4_gemm": Describes("gemm", {"format": "nvfp4"}, "", "GEMM"),
    "fp8_gemm": Describes("gemm", {"format": "e4m3_f32acc", "shape": LARGEST},
                          "accumulation and shape not stated ('peak, large GEMM')", "GEMM"),
}
VALUE_FIELD = {"stream": "gbps", "peak": "tflops", "gemm": "tflops"}


def describes(figure: devices.Figure) -> Describes:
    try:
        found = VOCABULARY[figure.what or "spec"]
    except KeyError:
        raise ValueError(f"published figure {figure.what!r} names no measured figure: add it to "
                         f"smbench.reference.VOCABULARY") from None
    if figure.shape:
        found = Describes(found.family, {**found.fields, "shape": figure.shape}, found.condition, found.how)
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


def _record(figure: devices.Figure) -> dict:
    describing = describes(figure)
    label = f"published {figure.what}" if describing.family == "stream" else f"{figure.what} ({figure.kind})"
    record = {"family": describing.family, "benchmark": figure.what or "spec",
              "kernel": "DRAM bandwidth (spec)" if not figure.what else label,
              **{name: value for name, value in describing.fields.items() if value is not None},
              "status": "ok", "published": True, "figure_kind": figure.kind, "source": figure.source,
              VALUE_FIELD[describing.family]: {"median": figure.value},
              "validation": {"ok": True, "checked": 0,
                             "detail": f"published figure ({KIND_WORDS[figure.kind]}), not measured by smbench"}}
    for name, value in (("condition", describing.condition), ("how", describing.how),
                        ("counterpart", counterpart(describing))):
        if value:
            record[name] = value
    return record


def document(spec: devices.DeviceSpec) -> dict:
    records = [_record(f) for f in (spec.memory_bandwidth, *spec.measured_bandwidth, *spec.peaks)]
    return {
        "schema": SCHEMA, "kind": "published", "suite": "published", "backend": "published", "status": "complete",
        "provenance": {"source": "public figures from smbench's device table (smbench.devices); each record "
                                 "names its own public source",
                       "smbench_version": __version__},
        "device": {"name": spec.name, "key": spec.key, "compute_capability": spec.compute_capability,
                   "sm_count": spec.sm_count, "l2_bytes": spec.l2_bytes, "unified_memory": spec.unified_memory,
                   "notes": spec.notes},
        "expected_bandwidth": {"gbps": spec.memory_bandwidth.value, "kind": spec.memory_bandwidth.kind,
                               "source": spec.memory_bandwidth.source},
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
