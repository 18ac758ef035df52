"""`smbench plot`: figures for people, from result files (and compat matrices).

Each figure is written as PNG and SVG: bandwidth against working-set size, throughput per
precision, a roofline from the ceilings, the compat matrix as a heat map, clock and power
over a run. Units on every axis, log axes where sizes span decades, a legend always.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on CI or a headless GPU box
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from smbench.compare import dram_bandwidth  # noqa: E402

KERNEL_FOR_SWEEP = "triad"
COLOURS = list(plt.get_cmap("tab20").colors[::2]) + list(plt.get_cmap("tab20").colors[1::2])  # 20, paired


def _save(figure, out_dir: Path, stem: str) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for suffix in ("png", "svg"):
        path = out_dir / f"{stem}.{suffix}"
        figure.savefig(path, dpi=130, bbox_inches="tight")
        paths.append(path)
    plt.close(figure)
    return paths


def _size_label(nbytes: float) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if nbytes >= scale:
            return f"{nbytes / scale:g} {unit}"
    return f"{nbytes:g} B"


def bandwidth_vs_size(named: list[tuple[str, dict]], out_dir: Path) -> list[Path]:
    figure, axis = plt.subplots(figsize=(12, 5.5))
    drew = False
    for number, (label, document) in enumerate(named):
        colour = COLOURS[number % len(COLOURS)]
        expected = document.get("expected_bandwidth")
        if document["kind"] == "measured":
            points = sorted((r["working_set_bytes"], r["gbps"]["median"]) for r in document["records"]
                            if r["family"] == "stream" and r["status"] == "ok" and r["benchmark"] == KERNEL_FOR_SWEEP
                            and r.get("memory") in ("device", "host"))
            if points:
                x, y = zip(*points)
                axis.plot(x, y, marker="o", color=colour, label=f"{label}: {KERNEL_FOR_SWEEP} (measured)")
                drew = True
            l2 = document["device"].get("l2_bytes")
            if l2:
                axis.axvline(l2, color=colour, linestyle=":", linewidth=1)
                axis.text(l2, axis.get_ylim()[0] if drew else 1, f" L2 {_size_label(l2)}", color=colour,
                          rotation=90, va="bottom", fontsize=8)
        if expected:
            axis.axhline(expected["gbps"], color=colour, linestyle="--", linewidth=1.2,
                         label=f"{label}: spec {expected['gbps']:g} GB/s ({expected['kind']})")
            drew = True
        if document["kind"] == "published":
            for record in document["records"]:
                if record["family"] == "stream" and record["benchmark"] != "spec" and record["status"] == "ok":
                    axis.axhline(record["gbps"]["median"], color=colour, linestyle=":", linewidth=1.5,
                                 label=f"{label}: {record['benchmark']} {record['gbps']['median']:g} GB/s "
                                       f"(published, {record.get('figure_kind', '')})")
    measured_any = any(d["kind"] == "measured" for _, d in named)
    if not measured_any:
        axis.set_xlim(32 << 10, 4 << 30)  # the sweep's usual span, for files with no sweep of their own
    axis.set_xscale("log", base=2)
    axis.set_yscale("log")
    axis.set_xlabel("working set (bytes of all arrays of the kernel)")
    axis.set_ylabel("bandwidth (GB/s, BabelStream byte count)")
    axis.set_title(f"Memory bandwidth against working-set size ({KERNEL_FOR_SWEEP} measured; dashed: spec, "
                   "dotted: published measurements; vertical: L2)", fontsize=10)
    axis.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: _size_label(v)))
    axis.grid(True, which="both", alpha=0.3)
    if drew:
        axis.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the plot, off the data
    return _save(figure, out_dir, "bandwidth_vs_size")


# Precision groups, in the order the bars stand; a published figure's key or a measured
# loop's format maps to one of them.
PRECISION_GROUPS = ("FP4", "FP6", "FP8", "INT4", "INT8", "FP16", "BF16", "TF32", "FP32", "FP64", "INT32")
# Longest first where one prefix starts another (fp64 before fp6).
_GROUP_PREFIXES = (("fp64", "FP64"), ("nvfp4", "FP4"), ("fp4", "FP4"), ("mxf4", "FP4"), ("fp6", "FP6"), ("fp8", "FP8"),
                   ("mxfp8", "FP8"), ("int8", "INT8"), ("s8", "INT8"), ("int4", "INT4"), ("s4", "INT4"),
                   ("bf16", "BF16"), ("f16", "FP16"), ("fp16", "FP16"), ("tf32", "TF32"), ("fp32", "FP32"),
                   ("f64", "FP64"), ("int32", "INT32"))
# One colour per group: matplotlib's ten qualitative colours and a navy for the eleventh.
_GROUP_COLOURS = tuple(plt.get_cmap("tab10").colors) + ((0.11, 0.16, 0.42),)


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
            group = precision_group(r) if r["family"] == "peak" and r["status"] == "ok" else None
            if group is None:
                continue
            kind = "smbench" if document["kind"] == "measured" else r.get("figure_kind", "?")
            value = r["tflops"]["median"]
            if group not in best or value > best[group][2]:
                best[group] = (r["benchmark"], kind, value)
        bars = [(group, *best[group]) for group in PRECISION_GROUPS if group in best]
        if bars:
            groups.append((label, bars))
    figure, axis = plt.subplots(figsize=(13, 6))
    if not groups:
        axis.text(0.5, 0.5, "no throughput figures in these files", ha="center", va="center")
        axis.set_axis_off()
        return _save(figure, out_dir, "throughput_by_precision")
    position, ticks, labelled = 0.0, [], set()
    for label, bars in groups:
        start = position
        for group, name, kind, value in bars:
            colour = _GROUP_COLOURS[PRECISION_GROUPS.index(group)]
            hatch = {"M": "//", "D": ".."}.get(kind, "")
            axis.bar(position, value, 0.8, color=colour, hatch=hatch,
                     edgecolor="black" if kind == "smbench" else "white",
                     label=group if group not in labelled else None)
            axis.text(position, value * 1.15, name, rotation=90, ha="center", va="bottom", fontsize=6)
            labelled.add(group)
            position += 1
        ticks.append(((start + position - 1) / 2, label))
        position += 1.5  # a gap between devices
    axis.set_xticks([t for t, _ in ticks], [name for _, name in ticks], rotation=30, ha="right")
    axis.set_yscale("log")
    top = max(v for _, bars in groups for *_, v in bars)
    axis.set_ylim(top=top * 30)  # room for the names above the bars
    axis.set_ylabel("dense throughput (TFLOP/s; TOPS for integers)")
    axis.set_title("Best figure per precision, grouped by device (name above each bar): plain = vendor spec (V), "
                   "hatched = measured by others (M), dotted = derived (D), black edge = measured by smbench",
                   fontsize=9)
    axis.grid(True, axis="y", which="both", alpha=0.3)
    axis.legend(fontsize=8, ncol=1, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="precision")
    return _save(figure, out_dir, "throughput_by_precision")


def _ceilings(document: dict) -> tuple[float | None, float | None, str]:
    dram = dram_bandwidth(document)
    bandwidth = None
    for key in ("triad", "copy", "read", "spec"):
        if key in dram:
            bandwidth = dram[key].value
            break
    compute = [r["tflops"]["median"] for r in document["records"] if r["family"] == "peak" and r["status"] == "ok"
               and r["benchmark"] in ("bf16", "f16", "bf16_f32acc", "f16_f32acc", "fp32", "fp16")]
    return bandwidth, max(compute) if compute else None, key


def roofline(named: list[tuple[str, dict]], out_dir: Path) -> list[Path]:
    figure, axis = plt.subplots(figsize=(9, 5.5))
    intensity = np.logspace(-2, 4, 200)
    drew = False
    for number, (label, document) in enumerate(named):
        bandwidth, compute, which = _ceilings(document)
        if not bandwidth or not compute:
            continue
        attainable = np.minimum(compute * 1e12, bandwidth * 1e9 * intensity) / 1e12
        colour = COLOURS[number % len(COLOURS)]
        axis.plot(intensity, attainable, color=colour,
                  label=f"{label}: {bandwidth:.4g} GB/s ({which}), {compute:.4g} TFLOP/s (16-bit/FP32 peak), "
                        f"ridge {compute * 1e3 / bandwidth:.3g} FLOP/B")
        axis.plot([compute * 1e3 / bandwidth], [compute], marker="o", color=colour)  # the ridge point
        drew = True
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel("arithmetic intensity (FLOP per byte of DRAM traffic)")
    axis.set_ylabel("attainable throughput (TFLOP/s)")
    axis.set_title("Roofline from the measured (else published) bandwidth and 16-bit/FP32 peak")
    axis.grid(True, which="both", alpha=0.3)
    if drew:
        axis.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the plot, off the lines
    else:
        axis.text(0.5, 0.5, "no file has both a bandwidth and a throughput figure", transform=axis.transAxes,
                  ha="center")
    return _save(figure, out_dir, "roofline")


STATUS_VALUE = {"ok-tensor": 3, "ok": 2, "failed": 0, "skipped": 1, "unknown": 1}


def compat_heatmap(matrix: dict, out_dir: Path) -> list[Path]:
    from matplotlib.colors import ListedColormap

    cells = matrix["cells"]
    every = list(dict.fromkeys(f"{c['file']}:{c['kernel']}" for c in cells))
    # Kernels that compile everywhere to no tensor instruction say nothing a colour can: left out, counted.
    telling = {f"{c['file']}:{c['kernel']}" for c in cells if c["status"] != "ok" or c["tensor_instructions"]}
    kernels = [k for k in every if k in telling] or every
    hidden = len(every) - len(kernels)
    targets = matrix["targets"]
    grid = np.full((len(kernels), len(targets)), np.nan)
    labels = [["" for _ in targets] for _ in kernels]
    for cell in cells:
        name = f"{cell['file']}:{cell['kernel']}"
        if name not in kernels:
            continue
        row, column = kernels.index(name), targets.index(cell["target"])
        status = cell["status"]
        if status == "ok" and cell["tensor_instructions"]:
            status = "ok-tensor"
            labels[row][column] = cell["tensor_instructions"][0].split(".")[0]
        elif status == "failed" and cell.get("fallback") == "yes":
            labels[row][column] = "JIT"
        grid[row, column] = STATUS_VALUE.get(status, 1)
    height = max(4, 0.32 * len(kernels) + 1.5)
    figure, axis = plt.subplots(figsize=(max(8, 0.75 * len(targets) + 3), height))
    colours = ListedColormap(["#d9534f", "#cccccc", "#a8d5a2", "#2e8b57"])
    axis.imshow(grid, cmap=colours, vmin=-0.5, vmax=3.5, aspect="auto")
    for row in range(len(kernels)):
        for column in range(len(targets)):
            if labels[row][column]:
                axis.text(column, row, labels[row][column], ha="center", va="center", fontsize=7, color="white")
    axis.set_xticks(range(len(targets)), targets, rotation=45, ha="right")
    axis.set_yticks(range(len(kernels)), [k.split(":", 1)[1] for k in kernels], fontsize=7)
    axis.set_title(f"Which kernel compiles for which target (NVRTC {matrix['nvrtc_version']})\n"
                   "dark green: tensor instruction (named); light: compiled; red: rejected (JIT: its sm_80 PTX "
                   "would run); grey: skipped" + (f"\n{hidden} kernels that compile everywhere with no tensor "
                                                  "instruction are not shown" if hidden else ""), fontsize=9)
    return _save(figure, out_dir, "compat_matrix")


def telemetry_over_run(named: list[tuple[str, dict]], out_dir: Path) -> list[Path]:
    figure, (clock_axis, power_axis) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    drew = False
    for number, (label, document) in enumerate(named):
        offset, times, clocks, powers = 0.0, [], [], []
        for record in document["records"]:
            telemetry = record.get("telemetry") or {}
            samples = telemetry.get("samples") or []
            for sample in samples:
                times.append(offset + sample["t"])
                clocks.append(sample.get("sm_clock_mhz"))
                powers.append(sample.get("power_w"))
            if samples:
                offset += samples[-1]["t"]
        if times:
            colour = COLOURS[number % len(COLOURS)]
            clock_axis.plot(times, [c if c is not None else np.nan for c in clocks], color=colour, label=label)
            power_axis.plot(times, [p if p is not None else np.nan for p in powers], color=colour, label=label)
            drew = True
    clock_axis.set_ylabel("SM clock (MHz)")
    power_axis.set_ylabel("board power (W)")
    power_axis.set_xlabel("time within the benchmarks (s, cases laid end to end)")
    clock_axis.set_title("Clock and power over the run (NVML samples)")
    for axis in (clock_axis, power_axis):
        axis.grid(True, alpha=0.3)
    if drew:
        clock_axis.legend(fontsize=8)
    else:
        clock_axis.text(0.5, 0.5, "no GPU telemetry in these files (CPU backend, published figures, or no NVML)",
                        transform=clock_axis.transAxes, ha="center", va="center")
    return _save(figure, out_dir, "clock_and_power")


def gemm_vs_size(named: list[tuple[str, dict]], out_dir: Path) -> list[Path]:
    """Square GEMMs: T(FL)OP/s against the size, one colour per format and file, cuBLAS on the
    same inputs dashed, each format's mma.sync loop rate dotted. Nothing when no file has any."""
    series = []
    for label, document in named:
        by_format: dict[str, list[dict]] = {}
        for r in document["records"]:
            if r["family"] == "gemm" and r["status"] == "ok" and r.get("shape_kind") == "square":
                by_format.setdefault(r["label"], []).append(r)
        series += [(label, name, sorted(rows, key=lambda r: r["m"])) for name, rows in by_format.items()]
    if not series:
        return []
    figure, axis = plt.subplots(figsize=(11, 6))
    colours = plt.get_cmap("tab10")
    for index, (label, name, rows) in enumerate(series):
        colour = colours(index % 10)
        sizes = [r["m"] for r in rows]
        axis.plot(sizes, [r["tflops"]["median"] for r in rows], marker="o", color=colour,
                  label=f"{label}: {name}" if len(named) > 1 else name)
        library = [(r["m"], r["cublas"]["tflops"]) for r in rows if (r.get("cublas") or {}).get("status") == "ok"]
        if library:
            axis.plot(*zip(*library), linestyle="--", marker="x", color=colour, label=f"{name}: cuBLAS")
        loop = next((r["mma_peak"]["tflops"] for r in rows if (r.get("mma_peak") or {}).get("tflops")), None)
        if loop:
            axis.axhline(loop, linestyle=":", color=colour, linewidth=1)
    axis.set_xscale("log", base=2)
    sizes = sorted({r["m"] for _, _, rows in series for r in rows})
    axis.set_xticks(sizes, [str(size) for size in sizes])
    axis.minorticks_off()
    axis.set_yscale("log")
    axis.set_xlabel("M = N = K")
    axis.set_ylabel("T(FL)OP/s (TOPS for INT8)")
    axis.set_title("Square GEMMs: smbench's mma.sync GEMM (solid), cuBLAS on the same inputs (dashed), "
                   "the format's mma.sync loop (dotted)", fontsize=9)
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _save(figure, out_dir, "gemm_vs_size")


def plot_all(named: list[tuple[str, dict]], matrices: list[dict], out_dir: Path) -> list[Path]:
    paths = []
    paths += bandwidth_vs_size(named, out_dir)
    paths += throughput_bars(named, out_dir)
    paths += gemm_vs_size(named, out_dir)
    paths += roofline(named, out_dir)
    for matrix in matrices[:1]:
        paths += compat_heatmap(matrix, out_dir)
    paths += telemetry_over_run(named, out_dir)
    return paths
