"""`smbench plot`: figures for people, from result files (and compat matrices).

Each figure is written as PNG and SVG: each family's (Family.plots: bandwidth against
working-set size, throughput per precision with the roofline, GEMMs against size...), then
the compat matrix as a heat map and clock and power over a run. Units on every axis, log axes where sizes span decades, a legend always.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on CI or a headless GPU box
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

COLOURS = list(plt.get_cmap("tab20").colors[::2]) + list(plt.get_cmap("tab20").colors[1::2])  # 20, paired


def save(figure, out_dir: Path, stem: str) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for suffix in ("png", "svg"):
        path = out_dir / f"{stem}.{suffix}"
        figure.savefig(path, dpi=130, bbox_inches="tight")
        paths.append(path)
    plt.close(figure)
    return paths


def size_label(nbytes: float) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if nbytes >= scale:
            return f"{nbytes / scale:g} {unit}"
    return f"{nbytes:g} B"


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
    return save(figure, out_dir, "compat_matrix")


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
    return save(figure, out_dir, "clock_and_power")


def plot_all(named: list[tuple[str, dict]], matrices: list[dict], out_dir: Path) -> list[Path]:
    from smbench.families import registry

    paths = []
    for family in registry().values():
        if family.plots is not None:
            paths += family.plots(named, out_dir)
    for matrix in [m for m in matrices if str(m.get("schema", "")).startswith("smbench.compat/")][:1]:
        paths += compat_heatmap(matrix, out_dir)
    paths += telemetry_over_run(named, out_dir)
    return paths
