"""`smbench plot`: figures for people, from result files (and compat matrices).

Each figure is written as PNG and SVG: each family's (Family.plots: bandwidth against
working-set size, throughput per precision with the roofline, GEMMs against size...), then
the compat matrix as a heat map (emulated paths and spills marked) and clock and power over a
run (only where a file has telemetry). A CPU-path file is labelled host NumPy in every legend. Units on every axis, log axes where sizes span decades, a legend always.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from smbench import demangle
from smbench.errors import SmbenchError
from smbench.lazy import LazyModule, LazySequence
from smbench.units import size_text


def _headless() -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on CI or a headless GPU box


# Imported at the first figure (smbench.lazy says why).
plt = LazyModule("matplotlib.pyplot", _headless)
ticker = LazyModule("matplotlib.ticker", _headless)

COLOURS = LazySequence(lambda: list(plt.get_cmap("tab20").colors[::2]) + list(plt.get_cmap("tab20").colors[1::2]))


CAPTION_KEY = "Description"  # the PNG text chunk that carries a figure's caption (report.py reads it)


def caption_of(figure) -> str:
    """What the figure shows, in its own words: its overall title, else its panels' titles."""
    title = figure._suptitle.get_text() if getattr(figure, "_suptitle", None) is not None else ""
    panels = [axis.get_title() for axis in figure.axes if axis.get_visible() and axis.get_title()]
    text = title or "; ".join(dict.fromkeys(panels))
    return " ".join(text.split())


def save(figure, out_dir: Path, stem: str, caption: str = "") -> list[Path]:
    """PNG and SVG; the caption (default: the figure's titles) travels inside both files."""
    out_dir.mkdir(parents=True, exist_ok=True)
    caption = caption or caption_of(figure)
    paths = []
    for suffix in ("png", "svg"):
        path = out_dir / f"{stem}.{suffix}"
        figure.savefig(path, dpi=130, bbox_inches="tight",
                       metadata={CAPTION_KEY if suffix == "png" else "Description": caption or stem})
        paths.append(path)
    plt.close(figure)
    return paths


def read_caption(path: Path) -> str:
    """The caption a PNG written by save carries ('' for one without, or one PIL cannot read:
    a caption is what the figure shows, never a reason to lose the report)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return str(getattr(image, "text", {}).get(CAPTION_KEY, ""))
    except (OSError, UnidentifiedImageError):
        return ""


# A plot's mark for a figure whose sampling did not converge (smbench.noise.NOT_CONVERGED in the
# tables): a hollow ring around its point, named once in each axis's legend.
UNCONVERGED_LABEL = "ringed: sampling did not converge (~ in the tables)"


def ring_unconverged(axis, points: list[tuple[float, float]], colour) -> None:
    """A hollow ring around each (x, y) of a figure that did not converge."""
    if not points:
        return
    named = any(c.get_label() == UNCONVERGED_LABEL for c in axis.collections)
    x, y = zip(*points)
    axis.scatter(x, y, s=150, facecolors="none", edgecolors=colour, linewidths=1.6, zorder=5,
                 label="_nolegend_" if named else UNCONVERGED_LABEL)


def display_label(label: str, document: dict) -> str:
    """A file's name in a legend: a CPU-path file says it is host NumPy, wherever it appears."""
    from smbench import origin

    what = origin.not_hardware(document)
    return f"{label} ({what})" if what and what not in label else label


def size_label(nbytes: float) -> str:
    """An axis tick's size: as smbench.units writes sizes, to six figures."""
    return size_text(nbytes, digits=6)


STATUS_VALUE = {"ok-tensor": 4, "emulated": 3, "ok": 2, "failed": 0, "error": 0, "skipped": 1, "unknown": 1}
# Rejected, skipped, compiled without a tensor instruction, emulated, native tensor instruction.
STATUS_COLOURS = ("#d9534f", "#cccccc", "#a8d5a2", "#e0a526", "#2e8b57")
_NATIVE_ONLY = ("QMMA", "OMMA")  # classes a kernel cannot be emulated with: seeing them elsewhere marks HMMA/IMMA


def kernel_features() -> dict[str, str]:
    """Built-in kernel -> the target-table feature it needs, from every family's formats (those
    that declare kernel and feature)."""
    import importlib

    from smbench.families import registry

    found = {}
    for name in registry():
        for fmt in getattr(importlib.import_module(f"smbench.families.{name}"), "FORMATS", ()):
            if getattr(fmt, "kernel", None) and getattr(fmt, "feature", None):
                found[fmt.kernel] = fmt.feature
    return found


def emulated(cell: dict, row: list[dict], features: dict[str, str]) -> bool:
    """Does this compiled cell run its format through another class's instructions (FP8 as HMMA
    on sm_90, INT4 as IMMA.S8)? The target table says so for the built-in kernels; for others, a
    HMMA/IMMA cell in a row whose other targets get QMMA/OMMA is."""
    from smbench import targets as target_table

    feature = features.get(cell["kernel"])
    if feature is not None:
        try:
            return target_table.get(cell["target"]).support(feature) == target_table.EMULATED
        except (KeyError, SmbenchError):  # a target or feature this smbench does not know
            return False
    heads = {i.split(".")[0] for other in row for i in other.get("tensor_instructions") or []}
    own = {i.split(".")[0] for i in cell["tensor_instructions"]}
    return bool(heads & set(_NATIVE_ONLY)) and not own & set(_NATIVE_ONLY)


def spills(cell: dict) -> bool:
    return (cell.get("local_bytes") or 0) > 0 or (cell.get("spill_instructions") or 0) > 0


def compat_heatmap(matrix: dict, out_dir: Path) -> list[Path]:
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch, Rectangle

    cells = matrix["cells"]
    every = list(dict.fromkeys(f"{c['file']}:{c['kernel']}" for c in cells))
    # Kernels that compile everywhere to no tensor instruction and never spill say nothing a colour
    # can: left out, counted.
    telling = {f"{c['file']}:{c['kernel']}" for c in cells
               if c["status"] != "ok" or c["tensor_instructions"] or spills(c)}
    kernels = [k for k in every if k in telling] or every
    hidden = len(every) - len(kernels)
    targets = matrix["targets"]
    features = kernel_features()
    rows: dict[str, list[dict]] = {}
    for cell in cells:
        rows.setdefault(f"{cell['file']}:{cell['kernel']}", []).append(cell)
    grid = np.full((len(kernels), len(targets)), np.nan)
    labels = [["" for _ in targets] for _ in kernels]
    spilled = []
    for cell in cells:
        name = f"{cell['file']}:{cell['kernel']}"
        if name not in kernels:
            continue
        row, column = kernels.index(name), targets.index(cell["target"])
        status = cell["status"]
        if status == "ok" and cell["tensor_instructions"]:
            status = "emulated" if emulated(cell, rows[name], features) else "ok-tensor"
            labels[row][column] = cell["tensor_instructions"][0].split(".")[0]
        elif status == "failed" and cell.get("fallback") == "yes":
            labels[row][column] = "JIT"
        if status in ("ok", "ok-tensor", "emulated") and spills(cell):
            labels[row][column] = (labels[row][column] + " spill").strip()
            spilled.append((row, column))
        grid[row, column] = STATUS_VALUE.get(status, 1)
    height = max(4, 0.32 * len(kernels) + 2)
    figure, axis = plt.subplots(figsize=(max(8, 0.75 * len(targets) + 3), height))
    axis.imshow(grid, cmap=ListedColormap(STATUS_COLOURS), vmin=-0.5, vmax=4.5, aspect="auto")
    for row in range(len(kernels)):
        for column in range(len(targets)):
            if labels[row][column]:
                axis.text(column, row, labels[row][column], ha="center", va="center", fontsize=6.5,
                          color="black" if grid[row, column] in (2, 3) else "white")
    for row, column in spilled:  # a thick outline: the kernel spills registers to local memory there
        axis.add_patch(Rectangle((column - 0.46, row - 0.42), 0.92, 0.84, fill=False, edgecolor="#6a0dad",
                                 linewidth=2))
    axis.set_xticks(range(len(targets)), targets, rotation=45, ha="right")
    # C++ kernels by their names, as compat shows them (the matrix keeps the symbols).
    axis.set_yticks(range(len(kernels)), [demangle.kernel(k.split(":", 1)[1]) for k in kernels], fontsize=7)
    legend = [Patch(color=STATUS_COLOURS[4], label="native tensor instruction (named)"),
              Patch(color=STATUS_COLOURS[3], label="emulated: another class's instructions (named), slower"),
              Patch(color=STATUS_COLOURS[2], label="compiled, no tensor instruction"),
              Patch(color=STATUS_COLOURS[0], label="rejected (JIT: its sm_80 PTX would run)"),
              Patch(color=STATUS_COLOURS[1], label="skipped by this NVRTC"),
              Patch(facecolor="white", edgecolor="#6a0dad", linewidth=2, label="spills registers to local memory")]
    axis.legend(handles=legend, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    axis.set_title(f"Which kernel compiles for which target (NVRTC {matrix['nvrtc_version']})"
                   + (f"\n{hidden} kernels that compile everywhere with no tensor instruction and no spill are "
                      "not shown" if hidden else ""), fontsize=9)
    return save(figure, out_dir, "compat_matrix")


def telemetry_over_run(named: list[tuple[str, dict]], out_dir: Path) -> list[Path]:
    """Clock and power over the run, from the NVML samples; nothing when no file has any."""
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
    if not drew:  # no telemetry in these files (CPU path, published figures, no NVML): no empty figure
        plt.close(figure)
        return []
    clock_axis.set_ylabel("SM clock (MHz)")
    power_axis.set_ylabel("board power (W)")
    power_axis.set_xlabel("time within the benchmarks (s, cases laid end to end)")
    clock_axis.set_title("Clock and power over the run (NVML samples)")
    for axis in (clock_axis, power_axis):
        axis.grid(True, alpha=0.3)
    clock_axis.legend(fontsize=8)
    return save(figure, out_dir, "clock_and_power")


def plot_all(named: list[tuple[str, dict]], matrices: list[dict], out_dir: Path) -> list[Path]:
    from smbench.families import registry

    named = [(display_label(label, document), document) for label, document in named]
    measured = {r["family"] for _, document in named for r in document["records"] if r["status"] == "ok"}
    paths = []
    for family in registry().values():
        # Only the families these files have figures of: a compat matrix alone once gave a blank
        # bandwidth figure and a placeholder for every family.
        if family.plots is not None and family.name in measured:
            paths += family.plots(named, out_dir)
    compat = [m for m in matrices if str(m.get("schema", "")).startswith("smbench.compat/")]
    for matrix in compat[:1]:
        paths += compat_heatmap(matrix, out_dir)
    paths += telemetry_over_run(named, out_dir)
    return paths
