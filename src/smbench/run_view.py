"""The summary a person reads at the end of `smbench run`: per kernel, the DRAM figure
with its verdict and the best cache figure; copies; launch latency; what failed."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from smbench.families import gemm

VERDICT_STYLE = {"normal": "green", "low": "red", "suspicious-high": "magenta", "cache": "dim",
                 "no expectation": "dim", "half rate": "yellow", "twice expected": "magenta", "emulated": "yellow",
                 "below the wgmma rate": "yellow"}
GROUP_ORDER = ("FP4", "FP6", "FP8", "INT4", "INT8", "FP16", "BF16", "TF32", "FP32", "FP64", "INT32")


def _size(nbytes: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if nbytes >= scale:
            return f"{nbytes / scale:.4g} {unit}"
    return f"{nbytes} B"


def stream_rows(records: list[dict]) -> list[dict]:
    """One row per (kernel, memory): the largest working set's figure, and the best over all sizes."""
    groups: dict[tuple, list[dict]] = {}
    for record in records:
        if record["family"] == "stream" and record["status"] == "ok":
            groups.setdefault((record["kernel"], record["memory"]), []).append(record)
    rows = []
    for (kernel, memory), members in groups.items():
        largest = max(members, key=lambda r: r["working_set_bytes"])
        best = max(members, key=lambda r: r["gbps"]["median"])
        rows.append({"kernel": kernel, "memory": memory, "size": largest["working_set_bytes"],
                     "gbps": largest["gbps"]["median"], "percent": largest.get("percent_of_expected"),
                     "verdict": largest.get("verdict", ""), "best_gbps": best["gbps"]["median"],
                     "best_size": best["working_set_bytes"]})
    return rows


def _percent(value) -> str:
    return f"{value:.0f}%" if value is not None else "-"


def _fallback_cell(record: dict) -> str:
    fallback = record.get("fallback") or {}
    if fallback.get("status") == "ok":
        return f"{fallback['native_over_fallback']:.2f}x"
    return {"absent": "not in sm_80", "failed": "failed", "not run": "-"}.get(fallback.get("status", ""), "-")


def _family_table(records: list[dict], family: str, title: str, columns: tuple[str, ...],
                  wrapped: tuple[str, ...] = (), right: tuple[str, ...] = ()) -> tuple[list[dict], Table | None]:
    """A family's ok records and an empty table with its columns (None when there are none):
    `wrapped` columns may wrap, `right` ones are right-aligned (figures)."""
    rows = [r for r in records if r["family"] == family and r["status"] == "ok"]
    if not rows:
        return rows, None
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, no_wrap=column not in wrapped, justify="right" if column in right else "left")
    return rows, table


def peak_table(records: list[dict]) -> Table | None:
    """Per precision: the loop's instruction, throughput, % of spec and of the clock-based
    peak, the verdict, and how much faster the native build is than the compute_80 one."""
    rows, table = _family_table(records, "peak", "compute peaks (dense)",
                                ("precision", "loop", "instruction", "support", "T(FL)OP/s", "% spec", "% clock peak",
                                 "clock", "verdict", "native / sm_80 PTX"), wrapped=("loop",),
                                right=("T(FL)OP/s", "% spec", "% clock peak", "clock"))
    if table is None:
        return None
    order = {key: i for i, key in enumerate(GROUP_ORDER)}
    rows.sort(key=lambda r: (order.get(r["group"], len(order)), r["unit"] != "tensor"))
    for r in rows:
        clock = r.get("expected", {}).get("clock_mhz")
        table.add_row(r["group"], r["label"], r.get("instruction", ""), r.get("support", ""),
                      f"{r['tflops']['median']:.4g} {'TOPS' if r['ops_unit'] == 'TOPS' else ''}".strip(),
                      _percent(r.get("percent_of_spec")), _percent(r.get("percent_of_clock_peak")),
                      f"{clock:.0f} MHz" if clock else "-",
                      Text(r.get("verdict", ""), style=VERDICT_STYLE.get(r.get("verdict", ""), "")),
                      _fallback_cell(r))
    return table


def _parameter(found: dict, show=str) -> str:
    """A fitted parameter: its value, or the values the probes left open."""
    if found is None:
        return "-"
    if found["determined"]:
        return show(found["value"])
    values = found["consistent"]
    if not values:
        return "none fits"
    numbers = [v for v in values if isinstance(v, int) and not isinstance(v, bool)]
    if len(numbers) == len(values) and len(values) > 2:
        return f"{min(numbers)}..{max(numbers)}"
    return " or ".join(show(v) for v in values)


def _block_cell(p: dict) -> str:
    """Products per fused sum; with the products dealt to the sums in runs, and c added only
    after them (the sm_89-form FP8 mma that ptxas builds from HMMAs on sm_90), said too."""
    text = _parameter(p.get("block"), lambda v: "all K" if v is None else str(v))
    interleave, c_entry = p.get("interleave") or {}, p.get("c_entry") or {}
    if interleave.get("determined") and interleave.get("value"):
        text += f" in runs of {interleave['value']}"
    if c_entry.get("determined") and c_entry.get("value") == "after":
        text += ", c added after"
    return text


def precision_table(records: list[dict]) -> Table | None:
    rows, table = _family_table(records, "precision",
                                "tensor-core numerics (fitted model; a range where the format cannot tell)",
                                ("format", "K", "products", "subnormals in/out", "fraction bits", "alignment",
                                 "to acc", "block", "inf x 0 / overflow", "GEMM rel. error (K)", "emulator = device"),
                                wrapped=("format",))
    if table is None:
        return None
    for r in rows:
        p = r["fit"]["parameters"]
        width = 24 if r["accumulator"] == "f32" else 11
        fraction = _parameter(p.get("fraction_bits"))
        if p.get("fraction_bits", {}).get("determined"):
            fraction += f" ({p['fraction_bits']['value'] - width + 1:+d})"
        specials = {s["probe"]: s["device"] for s in r["fit"]["specials"]}
        inf_zero = specials.get("inf x 0", "-")
        overflow = next((v for k, v in specials.items() if "overflow" in k), "-")
        largest = max(r["gemm"], key=lambda row: row["k"]) if r.get("gemm") else None
        error = (f"{largest['device_median_rel_error']:.2g} ({largest['k']})" if largest else "-")
        agree = f"{100 * largest['bit_identical']:.0f}%" if largest else "-"
        products = _parameter(p.get("product_bits"), lambda v: "exact" if v is None else f"{v} bits")
        subnormals = (_parameter(p.get("subnormal_inputs"), lambda v: "kept" if v else "flushed") + " / " +
                      _parameter(p.get("subnormal_outputs"), lambda v: "kept" if v else "flushed"))
        table.add_row(r["label"], str(r["k"]), products, subnormals, fraction, _parameter(p.get("align_rounding")),
                      _parameter(p.get("output_rounding")),
                      _block_cell(p),
                      f"{inf_zero} / {overflow}", error, agree)
    return table


def _ratio(value) -> str:
    return f"{value:.2f}x" if value is not None else "-"


def gemm_table(records: list[dict]) -> Table | None:
    """Per format and shape: throughput, against the format's mma.sync loop and spec peak,
    against cuBLAS and the compute_80 build; bandwidth where M is small."""
    rows, table = _family_table(records, "gemm",
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
                      _percent(r.get("percent_of_mma_peak")), _percent(r.get("percent_of_spec")),
                      f"{r['gbps']['median']:.4g}" + (f" ({_percent(r.get('percent_of_bandwidth'))})"
                                                      if small and r.get("percent_of_bandwidth") else "")
                      if small else "-",
                      f"{cublas['tflops']:.4g}" if cublas.get("status") == "ok" else "-",
                      _ratio(cublas.get("ours_over_cublas")), _fallback_cell(r), valid)
    return table


def render(document: dict, console: Console) -> None:
    records = document["records"]
    expected = document.get("expected_bandwidth")
    title = f"{document['device'].get('name', '?')} — suite {document['suite']}, backend {document['backend']}"
    if expected:
        title += f"; expected DRAM bandwidth {expected['gbps']:g} GB/s ({expected['kind']}: {expected['source']})"
    console.print(Text(title, style="bold"), soft_wrap=True)
    _render_memory(records, console)
    _print_table(console, peak_table(records), "T(FL)OP/s = operations counted per instruction (2 m n k per mma, 2 per FMA lane) "
                 "/ median time; % clock peak = against rate per SM per clock x SMs x the SM clock seen; the verdict "
                 "uses it where the device table has a rate.")
    numerics = precision_table(records)
    _print_table(console, numerics, "fraction bits: bits kept below the leading bit of a fused sum's largest term "
                 "(in brackets: beyond the accumulator's significand); alignment: how the bits past them go; to acc: "
                 "the rounding of each fused sum to the accumulator; block: products per fused sum. Median relative "
                 "error of a random 16 x K x 8 GEMM against float64, and how often the fitted emulator gives the "
                 "device's bits exactly.")
    if numerics is not None:
        recovered = [r for r in records if r["family"] == "precision" and r.get("recovered")]
        wrong = [r["benchmark"] for r in recovered if "WRONG" in r["recovered"].values()]
        if recovered:
            console.print(f"CPU path: the probes recovered the emulated model's parameters for "
                          f"{len(recovered) - len(wrong)} of {len(recovered)} formats"
                          + (f"; WRONG for {', '.join(wrong)}" if wrong else ""), highlight=False)
    _print_table(console, gemm_table(records), "T(FL)OP/s = 2 M N K / median time; % mma loop = against the same "
                 "format's mma.sync throughput loop in this run; GB/s = (A + B + C bytes) / time, with % of the "
                 "expected DRAM bandwidth, for M <= 16 (the skinny tile); validation: -1/0/1 inputs equal the exact "
                 "product, and random inputs stay within the elementwise error bound and the normwise tolerance "
                 "against float64.")
    _render_outcomes(document, console)


def _print_table(console: Console, table: Table | None, caption: str) -> None:
    """A family's table with the line that says how to read it; nothing when it has no rows."""
    if table is not None:
        console.print(table)
        console.print(Text(caption, style="dim"), soft_wrap=True)


def _render_memory(records: list[dict], console: Console) -> None:
    if not any(r["family"] in ("stream", "transfer", "launch") and r["status"] == "ok" for r in records):
        return

    table = Table(show_lines=False)
    for column in ("kernel", "memory", "size", "GB/s", "% of expected", "verdict", "best GB/s (size)"):
        table.add_column(column, no_wrap=True, justify="right" if column in ("size", "GB/s", "% of expected") else "left")
    for row in stream_rows(records):
        percent = f"{row['percent']:.0f}%" if row["percent"] is not None else "-"
        table.add_row(row["kernel"], row["memory"], _size(row["size"]), f"{row['gbps']:.1f}", percent,
                      Text(row["verdict"], style=VERDICT_STYLE.get(row["verdict"], "")),
                      f"{row['best_gbps']:.1f} ({_size(row['best_size'])})")
    for record in records:
        if record["family"] == "transfer" and record["status"] == "ok":
            table.add_row(f"cudaMemcpy {record['benchmark']}", record["host"], _size(record["bytes"]),
                          f"{record['gbps']['median']:.1f}", "-", "", "")
        if record["family"] == "launch" and record["status"] == "ok":
            table.add_row("empty kernel", "queued", "-", f"{record['queued_us']['median']:.2f} us", "-", "", "")
            table.add_row("empty kernel", "launch+sync", "-", f"{record['launch_sync_us']['median']:.2f} us", "-",
                          "", "")
    console.print(table)
    console.print(Text("GB/s = bytes moved (BabelStream's count) / median time; 'size' is the largest working "
                       "set, where the verdict applies when it is DRAM-resident (>= 4x the last-level cache).",
                       style="dim"), soft_wrap=True)
    d2d = [r for r in records if r["family"] == "transfer" and r["benchmark"] == "d2d" and r["status"] == "ok"]
    if d2d:
        reference = max(d2d, key=lambda r: r["bytes"])
        for row in stream_rows(records):
            if row["memory"] == "device" and row["kernel"].split("_")[1] in ("copy", "triad"):
                ratio = row["gbps"] / reference["gbps"]["median"]
                console.print(f"{row['kernel']} at {_size(row['size'])}: {ratio:.2f}x cudaMemcpy device-to-device "
                              f"({reference['gbps']['median']:.1f} GB/s at {_size(reference['bytes'])})",
                              highlight=False, soft_wrap=True)


def _render_outcomes(document: dict, console: Console) -> None:
    records = document["records"]
    failed = [r for r in records if r["status"] == "failed"]
    skipped = [r for r in records if r["status"] == "skipped"]
    reasons: dict[str, list[str]] = {}
    for record in skipped:
        reasons.setdefault(record["reason"], []).append(record.get("kernel") or record["benchmark"])
    for reason, names in reasons.items():
        console.print(f"skipped {len(names)}: {reason}", soft_wrap=True, highlight=False, markup=False)
    for record in failed:
        console.print(Text(f"FAILED {record.get('kernel') or record['benchmark']} "
                           f"{record.get('memory', '')}: {record['reason']}", style="red"), soft_wrap=True)
    ok = sum(r["status"] == "ok" for r in records)
    console.print(f"{ok} ok, {len(failed)} failed, {len(skipped)} skipped; status {document['status']}",
                  highlight=False)
