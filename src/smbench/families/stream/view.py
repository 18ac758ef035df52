"""The stream family's part of the summary at the end of `smbench run`."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from smbench.cases import HOME_MEMORY
from smbench import noise
from smbench.noise import NOT_CONVERGED, mark
from smbench.run_view import Column, print_fitted, size, verdict_style


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
                     "best_size": best["working_set_bytes"], "mark": mark(largest), "best_mark": mark(best),
                     "noise": noise.cell(largest)})
    return rows


def kernel_label(kernel: str) -> str:
    """stream_triad_f32_v16 -> 'triad f32 16B' (the access width in bytes); metal_triad_f32_v16 ->
    'triad f32 16B metal'; mlx_triad_f32 (an MLX operation) -> 'triad f32 mlx'."""
    parts = kernel.split("_")
    if parts[0] == "mlx":
        return f"{parts[1]} {parts[2]} mlx"
    _, op, dtype, width = parts
    return f"{op} {dtype} {width[1:]}B" + (" metal" if parts[0] == "metal" else "")


COLUMNS = [Column("kernel", keep=Column.NEVER_DROPPED), Column("memory", "mem", keep=8),
           Column("size", keep=6, right=True), Column("GB/s", keep=Column.NEVER_DROPPED, right=True),
           Column("noise", keep=5, right=True),
           Column("% of expected", "%exp", keep=7, right=True), Column("verdict", keep=7),
           Column("best GB/s (size)", "best (size)", keep=2)]


def view(records: list[dict], console: Console) -> None:
    """The memory summary: a row per stream kernel and memory kind, with the copies (the
    transfer family's records) and the empty launch (the launch family's) beside them in
    the same table, and copy and triad as a ratio of the device-to-device cudaMemcpy."""
    if not any(r["family"] in ("stream", "transfer", "launch") and r["status"] == "ok" for r in records):
        return
    rows = []
    for row in stream_rows(records):
        percent = f"{row['percent']:.0f}%" if row["percent"] is not None else "-"
        rows.append([kernel_label(row["kernel"]), row["memory"], size(row["size"]), f"{row['gbps']:.1f}{row['mark']}",
                     row["noise"], percent, Text(row["verdict"], style=verdict_style(row["verdict"])),
                     f"{row['best_gbps']:.1f}{row['best_mark']} ({size(row['best_size'])})"])
    for record in records:
        if record["family"] == "transfer" and record["status"] == "ok":
            rows.append([f"cudaMemcpy {record['benchmark']} (copied)", record["host"], size(record["bytes"]),
                         f"{record['gbps']['median']:.1f}{mark(record)}", noise.cell(record), "-", "", ""])
        if record["family"] == "launch" and record["status"] == "ok":
            what = "smallest MLX op" if record.get("operation") else "empty kernel"
            rows.append([what, "queued", "-", f"{record['queued_us']['median']:.2f} us", "-", "-", "", ""])
            rows.append([what, "launch+sync", "-", f"{record['launch_sync_us']['median']:.2f} us", "-", "-", "", ""])
    print_fitted(console, "memory bandwidth", COLUMNS, rows,
                 "GB/s = bytes moved (BabelStream's count) / median time; cudaMemcpy rows: bytes copied, once "
                 "(nvbandwidth's count); 'size' is the largest working set, where the verdict applies when it is "
                 f"DRAM-resident (>= 4x the last-level cache); noise: interquartile range / median of the timed samples; "
                 f"{NOT_CONVERGED}: sampling did not converge (smbench.noise).")
    d2d = [r for r in records if r["family"] == "transfer" and r["benchmark"] == "d2d" and r["status"] == "ok"]
    if d2d:
        reference = max(d2d, key=lambda r: r["bytes"])
        # Both counted as BabelStream counts (read + written): the copy engine's 2N beside them
        # (a file from before `counting` was recorded counted 2N in gbps itself).
        both = (reference.get("gbps_read_write") or {}).get("median") or \
            reference["gbps"]["median"] * (2 if "counting" in reference else 1)
        for row in stream_rows(records):
            if row["memory"] == "device" and row["kernel"].split("_")[1] in ("copy", "triad"):
                console.print(f"{kernel_label(row['kernel'])} at {size(row['size'])}: {row['gbps'] / both:.2f}x "
                              f"cudaMemcpy device-to-device ({both:.1f} GB/s read + written at "
                              f"{size(reference['bytes'])})", highlight=False)


def headline(document: dict) -> list[tuple[str, str]]:
    """Triad and copy at the largest working set against the expected DRAM bandwidth; the
    other memory kinds' triad beside it."""
    from smbench.families.stream.publish import largest_records

    largest = largest_records(document)
    if not largest:
        return []
    first = largest.get("triad") or next(iter(largest.values()))
    figures = ", ".join(f"{name} {largest[name]['gbps']['median']:.4g}{mark(largest[name])} GB/s"
                        for name in ("triad", "copy") if name in largest) or \
        f"{first['benchmark']} {first['gbps']['median']:.4g}{mark(first)} GB/s"
    where = f"at {size(first['working_set_bytes'])}" + ("" if first.get("dram_resident") else
                                                         " (still in cache: not a DRAM figure)")
    expected = document.get("expected_bandwidth")
    if expected and first.get("percent_of_expected") is not None:
        judged = f": {first['percent_of_expected']:.0f}% of the expected {expected['gbps']:g} GB/s, {first['verdict']}"
    else:
        judged = "; no expected figure for this device"
    lines = [("memory", f"{figures} {where}{judged}")]
    kinds = {}
    for record in document["records"]:
        if record["family"] == "stream" and record["status"] == "ok" and record.get("memory") not in HOME_MEMORY:
            kinds[record["memory"]] = record
    if kinds:
        lines.append(("", ", ".join(f"{r['benchmark']} in {kind} memory {r['gbps']['median']:.4g}{mark(r)} GB/s"
                                    for kind, r in kinds.items())))
    return lines
