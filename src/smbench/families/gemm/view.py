"""The gemm family's part of the summary at the end of `smbench run`."""

from __future__ import annotations

from rich.console import Console

from smbench import noise
from smbench.noise import NOT_CONVERGED, mark
from smbench.run_view import Column, Short, fallback_cell, percent, print_fitted, ratio

from smbench.families import gemm


COLUMNS = [Column("format", keep=Column.NEVER_DROPPED), Column("M x N x K", "shape", keep=Column.NEVER_DROPPED),
           Column("tile / split K", "tile", keep=2), Column("T(FL)OP/s", keep=Column.NEVER_DROPPED, right=True),
           Column("noise", keep=5, right=True),
           Column("% mma loop", "%loop", keep=8, right=True), Column("% spec", "%spec", keep=7, right=True),
           Column("GB/s", keep=4, right=True), Column("cuBLAS", keep=6, right=True),
           Column("ours / cuBLAS", "/cuBLAS", keep=7, right=True), Column("native / sm_80 PTX", "vs sm_80", keep=3),
           Column("validation", "valid", keep=1)]


def gemm_rows(records: list[dict]) -> list[list]:
    """Per format and shape: throughput, against the format's mma.sync loop and spec peak,
    against cuBLAS and the compute_80 build; bandwidth where M is small."""
    table = []
    for r in (r for r in records if r["family"] == "gemm" and r["status"] == "ok"):
        tile = r.get("tile")
        tile_cell = f"{tile['bm']}x{tile['bn']}x{tile['stages']}" if tile else r.get("instruction") or "numpy"
        if r.get("splits", 1) > 1:
            tile_cell += f" / {r['splits']}"
        cublas = r.get("cublas") or {}
        small = r.get("m", 0) <= gemm.SKINNY_MAX_M
        checks = r.get("validation", {})
        valid = "exact + bound" if checks.get("exact", {}).get("ok") and checks.get("random", {}).get("ok") else "?"
        bandwidth = "-"
        if small:
            bandwidth = f"{r['gbps']['median']:.4g}" + (f" ({percent(r.get('percent_of_bandwidth'))})"
                                                        if r.get("percent_of_bandwidth") else "")
        table.append([Short((r["label"], r["benchmark"])), r["shape"], tile_cell, f"{r['tflops']['median']:.4g}{mark(r)}", noise.cell(r),
                      percent(r.get("percent_of_mma_peak")), percent(r.get("percent_of_spec")), bandwidth,
                      f"{cublas['tflops']:.4g}" if cublas.get("status") == "ok" else "-",
                      ratio(cublas.get("ours_over_cublas")), fallback_cell(r), valid])
    return table


def _engines(records: list[dict]) -> str:
    """What ran these GEMMs, from the records' instruction: the mma.sync kernel, NumPy, MLX."""
    seen = {r.get("instruction") for r in records if r.get("family") == "gemm" and r.get("status") == "ok"}
    names = [("GPU: mma.sync with a cp.async + ldmatrix pipeline", bool(seen - {"numpy", "mx.matmul", None})),
             ("CPU path: NumPy", "numpy" in seen), ("MLX: mx.matmul", "mx.matmul" in seen)]
    return "; ".join(name for name, present in names if present) or "GPU: mma.sync; CPU path: NumPy"


def view(records: list[dict], console: Console) -> None:
    print_fitted(console, f"GEMM ({_engines(records)})", COLUMNS,
                 gemm_rows(records),
                 "T(FL)OP/s = 2 M N K / median time; % mma loop = against the same format's mma.sync throughput "
                 "loop in this run; GB/s = (A + B + C bytes) / time, with % of the expected DRAM bandwidth, for "
                 "M <= 16 (the skinny tile); validation: -1/0/1 inputs equal the exact product, and random inputs "
                 "stay within the elementwise error bound and the normwise tolerance against float64; "
                 f"noise: interquartile range / median of the timed samples; {NOT_CONVERGED}: sampling did not converge "
                 "(smbench.noise).")


def headline(document: dict) -> list[tuple[str, str]]:
    """Each format's largest GEMM: its rate, against its own mma.sync loop and cuBLAS."""
    largest: dict[str, dict] = {}
    for r in document["records"]:
        if r["family"] == "gemm" and r["status"] == "ok":
            if r["benchmark"] not in largest or r["ops"] > largest[r["benchmark"]]["ops"]:
                largest[r["benchmark"]] = r
    parts = []
    for key, r in largest.items():
        notes = [f"{percent(r.get('percent_of_mma_peak'))} of its loop"] if r.get("percent_of_mma_peak") else []
        cublas = (r.get("cublas") or {}).get("ours_over_cublas")
        if cublas:
            notes.append(f"{cublas:.2f}x cuBLAS")
        parts.append(f"{key} {r['shape']} {r['tflops']['median']:.4g}{mark(r)}" + (f" ({', '.join(notes)})" if notes else ""))
    return [("GEMM", "T(FL)OP/s, each format's largest: " + "; ".join(parts))] if parts else []
