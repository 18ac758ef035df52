"""The peak family in comparisons, plots and reports: throughput per precision (bars), the
roofline from a run's bandwidth and 16-bit/FP32 peak, a verdict line per loop."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from smbench.compare import Entry, by_basis, expanded, gather, published_entry, tflops_samples
from smbench.families.stream.publish import dram_basis
from smbench.noise import mark, said
from smbench.lazy import LazySequence
from smbench.plots import COLOURS, display_label, plt, save
from smbench.reference import UNSTATED_ACC, Describes, published_records


# The report's throughput table: one column per kind of figure that compares like with like
# (the same precision, accumulator and unit), tensor cores first. A measured loop comes in by
# its format's rate key, a published figure by its own key; an M figure from an mma.sync loop
# sits beside the spec it is measured against, a published GEMM (CUTLASS) beside the spec too,
# named in its note.
COLUMNS = (
    ("FP4 tensor", ("fp4", "fp4_block_scaled", "nvfp4_mma_loop")),
    ("FP6 tensor", ("fp6",)),
    ("FP8 tensor, FP16 acc", ("fp8_f16acc",)),
    ("FP8 tensor, FP32 acc", ("fp8_f32acc", "f8f6f4_f32acc", "mxf8f6f4", "mxfp8")),
    ("FP8 tensor, acc not stated", ("fp8", "fp8_mma_loop")),
    ("FP16 tensor, FP16 acc", ("f16_f16acc",)),
    ("FP16/BF16 tensor, FP32 acc", ("f16_f32acc", "bf16_f32acc", "f16_f32acc_mma_loop")),
    ("FP16/BF16 tensor, acc not stated", ("f16", "bf16")),
    ("TF32 tensor", ("tf32",)),
    ("INT8 tensor", ("int8",)),
    ("INT4 tensor", ("int4",)),
    ("FP64 tensor", ("fp64_tensor",)),
    ("FP32 CUDA cores", ("fp32",)),
    ("FP16 CUDA cores (no tensor cores)", ("fp16x2", "bf16x2", "fp16")),
    ("FP64 CUDA cores", ("fp64",)),
    ("INT32 CUDA cores", ("int32",)),
)
_COLUMN_OF = {key: column for column, keys in COLUMNS for key in keys}


def column_of(record: dict) -> str:
    """The report's throughput column of a peak record: a measured loop by its format's rate
    key, a published figure by its key; its own key where neither is known."""
    from smbench.families import peak

    fmt = peak.BY_KEY.get(record["benchmark"]) if not record.get("published") else None
    return _COLUMN_OF.get(fmt.rate_key if fmt else record["benchmark"], record["benchmark"])


def peaks(document: dict) -> dict[str, Entry]:
    """Format -> its T(FL)OP/s: a measured loop with its samples (the noise test), a published
    figure under the format it describes (smbench.reference), with its kind (V, M, D) beside the
    value and its source in the note."""
    entries: dict[str, Entry] = {}
    for record in document["records"]:
        if record["family"] == "peak" and record["status"] == "ok":
            value = record["tflops"]["median"]
            entry = (published_entry(record, value) if record.get("published") else
                     Entry(value, tflops_samples(record), record.get("label", ""), timing=record.get("time_s")))
            entry.column = column_of(record)
            entry.order = next((n for n, (name, _) in enumerate(COLUMNS) if name == entry.column), len(COLUMNS))
            gather(entries, record.get("format") or record["benchmark"], entry)
    return dict(sorted(entries.items(), key=lambda item: item[1].order))


COMPARE = (("Throughput per precision, TFLOP/s", peaks, "precision"),)


def report_lines(label: str, document: dict) -> list[str]:
    """One line per compute-peak loop with an expectation; one line for those without."""
    lines, unjudged = [], 0
    for record in document["records"]:
        if record["family"] != "peak" or record["status"] != "ok":
            continue
        expected = record.get("expected") or {}
        if record.get("percent_of_clock_peak") is None and record.get("percent_of_spec") is None:
            unjudged += 1
            continue
        parts = []
        if record.get("percent_of_clock_peak") is not None:
            parts.append(f"{record['percent_of_clock_peak']:.0f}% of the clock-based peak "
                         f"({expected['clock_peak']:.4g} at {expected['clock_mhz']:.0f} MHz)")
        if record.get("percent_of_spec") is not None:
            parts.append(f"{record['percent_of_spec']:.0f}% of the vendor's {expected['spec']['value']:g}")
        lines.append(f"{label}: {record['label']}: {record['tflops']['median']:.4g}{mark(record)} {record['ops_unit']}"
                     f"{said(record)} = "
                     f"{'; '.join(parts)}: {record['verdict']}")
    if unjudged:
        lines.append(f"{label}: {unjudged} compute-peak loops validated, with no expected figure for this device")
    return lines


# Precision groups, in the order the bars stand; a published figure's key or a measured
# loop's format maps to one of them.
PRECISION_GROUPS = ("FP4", "FP6", "FP8", "INT4", "INT8", "FP16", "BF16", "TF32", "FP32", "FP64", "INT32")
# Longest first where one prefix starts another (fp64 before fp6).
_GROUP_PREFIXES = (("fp64", "FP64"), ("nvfp4", "FP4"), ("fp4", "FP4"), ("mxf4", "FP4"), ("fp6", "FP6"), ("fp8", "FP8"),
                   ("mxfp8", "FP8"), ("int8", "INT8"), ("s8", "INT8"), ("int4", "INT4"), ("s4", "INT4"),
                   ("bf16", "BF16"), ("f16", "FP16"), ("fp16", "FP16"), ("tf32", "TF32"), ("fp32", "FP32"),
                   ("f64", "FP64"), ("int32", "INT32"))
# One colour per group: matplotlib's ten qualitative colours and a navy for the eleventh.
_GROUP_COLOURS = LazySequence(lambda: list(plt.get_cmap("tab10").colors) + [(0.11, 0.16, 0.42)])

def precision_group(record: dict) -> str | None:
    """FP8, BF16, ...: a measured record says so itself; a published one is named by its key."""
    if record.get("group"):
        return record["group"]
    key = record["benchmark"].lower()
    for prefix, group in _GROUP_PREFIXES:
        if key.startswith(prefix):
            return group
    return None


def throughput_bars(named: list[tuple[str, dict]], out_dir: Path) -> list[Path]:
    """Grouped by device: per precision group, the best figure the file has (its name on the
    bar), one colour per group; hatched where the figure is someone's measurement, dotted where
    derived, a black edge where smbench measured it."""
    groups: list[tuple[str, list[tuple[str, str, str, float]]]] = []
    for label, document in named:
        best: dict[str, tuple[str, str, float]] = {}
        for r in document["records"]:
            # a published GEMM figure (the Spark's NVFP4 and FP8 GEMMs) stands with its precision too
            shown = r["family"] == "peak" or (r["family"] == "gemm" and r.get("published"))
            group = precision_group(r) if shown and r["status"] == "ok" else None
            if group is None:
                continue
            kind = (("numpy" if document["backend"] == "cpu" else "smbench") if document["kind"] == "measured"
                    else r.get("figure_kind", "?"))
            value = r["tflops"]["median"]
            if group not in best or value > best[group][2]:
                best[group] = (r["benchmark"] + mark(r), kind, value)  # '~': it did not converge
        bars = [(group, *best[group]) for group in PRECISION_GROUPS if group in best]
        if bars:
            groups.append((display_label(label, document), bars))
    slots = sum(max(len(bars), 4) + 1.5 for _, bars in groups)
    figure, axis = plt.subplots(figsize=(max(13.0, 0.19 * slots + 3), 6))  # wide enough for every name
    if not groups:
        axis.text(0.5, 0.5, "no throughput figures in these files", ha="center", va="center")
        axis.set_axis_off()
        return save(figure, out_dir, "throughput_by_precision")
    position, ticks, used = 0.0, [], []
    for label, bars in groups:
        width = max(len(bars), 4)  # a lone bar gets the room of four: device names must not collide
        start, position = position, position + (width - len(bars)) / 2
        for group, name, kind, value in bars:
            colour = _GROUP_COLOURS[PRECISION_GROUPS.index(group)]
            hatch = {"M": "//", "D": "..", "numpy": "xx"}.get(kind, "")
            axis.bar(position, value, 0.8, color=colour, hatch=hatch, alpha=0.45 if kind == "numpy" else 1.0,
                     edgecolor={"smbench": "black", "numpy": "grey"}.get(kind, "white"))
            axis.text(position, value * 1.15, name, rotation=90, ha="center", va="bottom", fontsize=6)
            used += [group] if group not in used else []
            position += 1
        ticks.append((start + (width - 1) / 2, label))
        position = start + width + 1.5  # a gap between devices
    # Level and centred under each group (a group is at least four bars wide): names never collide.
    axis.set_xticks([t for t, _ in ticks], [name.replace(" (", "\n(") for _, name in ticks], fontsize=9)
    axis.set_yscale("log")
    top = max(v for _, bars in groups for *_, v in bars)
    axis.set_ylim(top=top * 30)  # room for the names above the bars
    axis.set_ylabel("dense throughput (TFLOP/s; TOPS for integers)")
    axis.set_title("Best figure per precision, grouped by device (name above each bar): plain = vendor spec (V), "
                   "hatched = measured by others (M), dotted = derived (D), black edge = measured by smbench on a "
                   "GPU,\npale cross-hatched = host NumPy on the CPU path (not a GPU); ~ after a name = its sampling "
                   "did not converge",
                   fontsize=9)
    axis.grid(True, axis="y", which="both", alpha=0.3)
    from matplotlib.patches import Patch

    axis.legend(handles=[Patch(color=_GROUP_COLOURS[PRECISION_GROUPS.index(group)], label=group)
                         for group in PRECISION_GROUPS if group in used],
                fontsize=8, ncol=1, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="precision")
    return save(figure, out_dir, "throughput_by_precision")


# The roofline's two roofs, each like with like across devices: the 16-bit tensor-core figure
# with FP32 accumulate (else one whose accumulation the source does not state), and FP32 on the
# CUDA cores. A device without such a figure (no tensor cores, no published one) has no line there.
ROOFS = (("Tensor cores: FP16/BF16 in, FP32 accumulate (or not stated)",
          ("FP16/BF16 tensor, FP32 acc", "FP16/BF16 tensor, acc not stated")),
         ("CUDA cores: FP32", ("FP32 CUDA cores",)))


def _bandwidth(document: dict) -> tuple[float | None, str]:
    """The device's DRAM bandwidth on the report's one basis (stream.publish.dram_basis)."""
    found = dram_basis(document)
    if found is None:
        return None, ""
    entry, kernel, basis = found
    return entry.value, f"{kernel}, {basis}"


def _roof(document: dict, columns: tuple[str, ...]) -> tuple[float | None, str]:
    """The figure of the first of `columns` the file has, on the same basis for every device
    (compare.by_basis: measured by smbench, else by others, else the spec), and what it is."""
    figures = expanded(peaks(document))
    for column in columns:
        best = by_basis(entry for _, entry in figures if entry.column == column)
        if best is not None:
            key = next(k for k, e in figures if e is best)
            how = f", {best.qualifier}" if best.qualifier and best.mark else ""
            return best.value, f"{key}{f' {best.mark}' if best.mark else ''}{how}"
    return None, ""


def roofline(named: list[tuple[str, dict]], out_dir: Path) -> list[Path]:
    figure, axes = plt.subplots(1, 2, figsize=(15, 6), sharey=True)
    intensity = np.logspace(-2, 4, 200)
    for axis, (title, columns) in zip(axes, ROOFS):
        drew = False
        for number, (label, document) in enumerate(named):
            bandwidth, which = _bandwidth(document)
            compute, what = _roof(document, columns)
            if not bandwidth or not compute:
                continue
            attainable = np.minimum(compute * 1e12, bandwidth * 1e9 * intensity) / 1e12
            colour = COLOURS[number % len(COLOURS)]
            style = ":" if document["kind"] == "measured" and document["backend"] == "cpu" else "-"
            axis.plot(intensity, attainable, style, color=colour,
                      label=f"{display_label(label, document)}: {bandwidth:.4g} GB/s ({which}), {compute:.4g} "
                            f"TFLOP/s ({what})")
            axis.plot([compute * 1e3 / bandwidth], [compute], marker="o", color=colour)  # the ridge point
            drew = True
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("arithmetic intensity (FLOP per byte of DRAM traffic)")
        axis.set_title(title, fontsize=10)
        axis.grid(True, which="both", alpha=0.3)
        if drew:
            axis.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=1)
        else:
            axis.text(0.5, 0.5, "no file has both a bandwidth and this figure", transform=axis.transAxes,
                      ha="center")
    axes[0].set_ylabel("attainable throughput (TFLOP/s)")
    figure.suptitle("Roofline, one basis for every device: measured by smbench, else by others, the spec only where "
                    "nothing was measured (V vendor, M measured by others, D derived; dotted: host NumPy, not a GPU)",
                    fontsize=10)
    return save(figure, out_dir, "roofline")


def plots(named: list[tuple[str, dict]], out_dir: Path) -> list[Path]:
    return throughput_bars(named, out_dir) + roofline(named, out_dir)


def _peak(fmt: str, condition: str = "", how: str = "") -> Describes:
    return Describes("peak", {"format": fmt}, condition, how)


# The device table's throughput figures (devices.Figure.what) -> the loop each describes: the
# mma.sync loop of the format; the datasheets' figures mostly do not say how they accumulate,
# nor which FP8 or FP4 kind (smbench.reference).
VOCABULARY = {
    "fp4": _peak("nvfp4", "FP4 kind not stated (NVFP4 and MXFP4 run at one rate on Blackwell)"),
    "f16": _peak("f16_f32acc", UNSTATED_ACC),
    "bf16": _peak("bf16_f32acc", UNSTATED_ACC),
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
    "fp8_mma_loop": _peak("e4m3_f32acc", UNSTATED_ACC, "mma.sync loop"),
    "nvfp4_mma_loop": _peak("nvfp4", "scale kind not stated (mxf4nvf4)", "mma.sync loop"),
    # CUDA cores (Apple's through MPS matrix multiplies: the source says so).
    "fp32": _peak("fp32"),
    "fp64": _peak("fp64"),
    "fp16": _peak("fp16x2", "through MPS, not an FMA loop"),
}


def published(spec) -> tuple[list[dict], dict]:
    """A device table row's throughput figures (vendor peaks, others' measurements) as records."""
    return published_records(spec, "peak"), {}
