"""The gemm family's part of the summary at the end of `smbench run`."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from smbench.run_view import fallback_cell, family_table, percent, print_table, ratio

from smbench.families import gemm


def gemm_table(records: list[dict]) -> Table | None:
    """Per format and shape: throughput, against the format's mma.sync loop and spec peak,
    against cuBLAS and the compute_80 build; bandwidth where M is small."""
    rows, table = family_table(records, "gemm",
                                "GEMM (GPU: mma.sync with a cp.async + ldmatrix pipeline; CPU path: NumPy)",
                                ("format", "M x N x K", "tile / split K", "T(FL)OP/s", "% mma loop", "% spec", "GB/s",
                                 "cuBLAS", "ours / cuBLAS", "native / sm_80 PTX", "validation"),
                                wrapped=("format", "validation"),
                                right=("T(FL)OP/s", "% mma loop", "% spec", "GB/s", "cuBLAS", "ours / cuBLAS"))
    if table is None:
        return None
    for r in rows:
        tile = r.get("tile")
        tile_cell = f"{tile['bm']}x{tile['bn']}x{tile['stages']}" if tile else "numpy"
        if r.get("splits", 1) > 1:
            tile_cell += f" / {r['splits']}"
        cublas = r.get("cublas") or {}
        small = r.get("m", 0) <= gemm.SKINNY_MAX_M
        checks = r.get("validation", {})
        valid = "exact + bound" if checks.get("exact", {}).get("ok") and checks.get("random", {}).get("ok") else "?"
        table.add_row(r["label"], r["shape"], tile_cell, f"{r['tflops']['median']:.4g}",
                      percent(r.get("percent_of_mma_peak")), percent(r.get("percent_of_spec")),
                      f"{r['gbps']['median']:.4g}" + (f" ({percent(r.get('percent_of_bandwidth'))})"
                                                      if small and r.get("percent_of_bandwidth") else "")
                      if small else "-",
                      f"{cublas['tflops']:.4g}" if cublas.get("status") == "ok" else "-",
                      ratio(cublas.get("ours_over_cublas")), fallback_cell(r), valid)
    return table


def view(records: list[dict], console: Console) -> None:
    print_table(console, gemm_table(records), "T(FL)OP/s = 2 M N K / median time; % mma loop = against the same "
                "format's mma.sync throughput loop in this run; GB/s = (A + B + C bytes) / time, with % of the "
                "expected DRAM bandwidth, for M <= 16 (the skinny tile); validation: -1/0/1 inputs equal the exact "
                "product, and random inputs stay within the elementwise error bound and the normwise tolerance "
                "against float64.")
