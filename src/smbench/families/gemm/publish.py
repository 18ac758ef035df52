"""The GEMM family in comparisons, plots and reports: T(FL)OP/s per format and shape, square
GEMMs against size, a line per format's largest square, LLM and decode shapes."""

from __future__ import annotations

from pathlib import Path

from smbench import origin
from smbench.compare import Entry, gather, published_entry, tflops_samples
from smbench.families import gemm
from smbench.noise import mark, said
from smbench.plots import plt, ring_unconverged, save
from smbench.reference import LARGEST, Describes, published_records


# The shapes a published GEMM figure whose shape is not stated ("a large GEMM", reference.LARGEST)
# is set beside: the largest square or LLM shape measured, never a decode or tail shape.
_SIZED = ("square", "llm")


def gemms(document: dict) -> dict[tuple, Entry]:
    """(format, M x N x K) -> the GEMM's T(FL)OP/s, with its samples for the noise test; a
    published figure under the format and shape it names (its identity's fields)."""
    entries: dict[tuple, Entry] = {}
    for record in document["records"]:
        if record["family"] != "gemm" or record["status"] != "ok":
            continue
        if record.get("published"):
            gather(entries, (record["format"], record["shape"]), published_entry(record, record["tflops"]["median"]))
            continue
        cublas = record.get("cublas") or {}
        note = f"cuBLAS {cublas['tflops']:.4g}" if cublas.get("status") == "ok" else ""
        size = record["m"] * record["n"] * record["k"] if record.get("shape_kind") in _SIZED else None
        entries[(record.get("format") or record["benchmark"], record["shape"])] = Entry(
            record["tflops"]["median"], tflops_samples(record), note, timing=record.get("time_s"), size=size)
    return entries


COMPARE = (("GEMM, TFLOP/s (TOPS for INT8)", gemms, "format / M x N x K"),)


def report_lines(label: str, document: dict) -> list[str]:
    """Per GEMM format: the largest square, each LLM shape and the largest decode shape, with
    what the figure is held to (the mma.sync loop, the spec, cuBLAS, the compute_80 build)."""
    chosen: dict[tuple[str, str], dict] = {}
    for record in document["records"]:
        if record["family"] != "gemm" or record["status"] != "ok":
            continue
        kind = record.get("shape_kind", "")
        key = (record["benchmark"], record["shape"] if kind == "llm" else kind)
        size = record["m"] * record["n"] * record["k"] if kind != "decode" else (record["n"] * record["k"], record["m"])
        if kind in ("square", "llm", "decode") and (key not in chosen or size > chosen[key][0]):
            chosen[key] = (size, record)
    lines = []
    for _, record in chosen.values():
        parts = [f"{record['tflops']['median']:.4g}{mark(record)} {record['ops_unit']}{said(record)}"]
        if record.get("percent_of_mma_peak") is not None:
            parts.append(f"{record['percent_of_mma_peak']:.0f}% of its mma.sync loop "
                         f"({record['mma_peak']['tflops']:.4g})")
        if record.get("percent_of_spec") is not None:
            parts.append(f"{record['percent_of_spec']:.0f}% of the vendor's {record['spec_peak']['value']:g}")
        if record["m"] <= gemm.SKINNY_MAX_M and record.get("percent_of_bandwidth") is not None:
            parts.append(f"{record['gbps']['median']:.4g} GB/s = {record['percent_of_bandwidth']:.0f}% of the "
                         f"expected bandwidth")
        cublas = record.get("cublas") or {}
        if cublas.get("status") == "ok":
            parts.append(f"cuBLAS {cublas['tflops']:.4g} (ours / cuBLAS {cublas['ours_over_cublas']:.2f})")
        fallback = record.get("fallback") or {}
        if fallback.get("status") == "ok":
            parts.append(f"native / compute_80 build {fallback['native_over_fallback']:.2f}x")
        lines.append(f"{label}: GEMM {record['label']} {record['shape']}: {'; '.join(parts)}")
    return lines


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
                  label=f"{label}: {name}" if len(named) > 1 or "NumPy" in label else name)
        ring_unconverged(axis, [(r["m"], r["tflops"]["median"]) for r in rows if mark(r)], colour)
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
    from smbench.report import on_host_cpu

    drawn = [document for label, document in named if label in {label for label, _, _ in series}]
    hosts = sorted({origin.not_hardware(document) for document in drawn if on_host_cpu(document)})
    backends = {document.get("backend") for document in drawn}
    if drawn and all(on_host_cpu(d) for d in drawn):
        # Only host-CPU files: NumPy's or MLX's GEMM, never the mma.sync kernel or cuBLAS.
        title = f"Square GEMMs on a host CPU ({', '.join(hosts)}; not a GPU), the same shapes and checks as the GPU's"
    elif backends == {"mlx"}:
        title = "Square GEMMs through MLX's mx.matmul on the Apple GPU"
    else:
        title = ("Square GEMMs: smbench's mma.sync GEMM (solid), cuBLAS on the same inputs (dashed), the "
                 "format's mma.sync loop (dotted); host-CPU files: host NumPy or mlx-cpu; MLX files: mx.matmul")
    axis.set_title(title, fontsize=9)
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return save(figure, out_dir, "gemm_vs_size")


# The device table's GEMM figures (devices.Figure.what) -> the GEMM each describes: the format and
# the shape the source states (devices.Figure.shape), else the largest (smbench.reference).
VOCABULARY = {
    "nvfp4_gemm": Describes("gemm", {"format": "nvfp4"}, "", "GEMM"),
    "fp8_gemm": Describes("gemm", {"format": "e4m3_f32acc", "shape": LARGEST},
                          "accumulation and shape not stated ('peak, large GEMM')", "GEMM"),
}


def published(spec) -> tuple[list[dict], dict]:
    """A device table row's GEMM figures (the Spark's NVFP4 and FP8 GEMMs) as records on the
    GEMM rows they describe (VOCABULARY)."""
    return published_records(spec, "gemm"), {}
