"""The collectives family's part of the summary at the end of `smbench run`: a row per
collective, type and placement (busbw at the largest size against the link, latency at the
smallest), and its headline."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from smbench.families import collectives as co
from smbench.run_view import VERDICT_STYLE, Column, Short, print_fitted, size


def curves(records: list[dict]) -> dict[tuple, list[dict]]:
    """(collective, dtype, placement) -> its ok records by size."""
    groups: dict[tuple, list[dict]] = {}
    for record in records:
        if record["family"] == "collectives" and record["status"] == "ok":
            groups.setdefault((record["benchmark"], record["dtype"], record["placement"]), []).append(record)
    return {key: sorted(members, key=lambda r: r["bytes"]) for key, members in groups.items()}


def judged(record: dict) -> str:
    """'normal 92%', 'low 3%, looks like the 1 GbE management port (0.125 GB/s)', or '-'."""
    if "verdict" not in record:
        return "-"
    percent = record.get("percent_of_link")
    text = record["verdict"] + (f" {percent:.0f}%" if percent is not None else "")
    return text + (f", {record['looks_like']}" if record.get("looks_like") else "")


COLUMNS = [Column("collective", keep=Column.NEVER_DROPPED), Column("type", keep=8),
           Column("placement", "place", keep=7), Column("largest", "size", keep=6, right=True),
           Column("busbw GB/s", "busbw", keep=Column.NEVER_DROPPED, right=True),
           Column("algbw GB/s", "algbw", keep=4, right=True),
           Column("latency us (smallest)", "lat us", keep=5, right=True), Column("verdict", keep=3)]


def view(records: list[dict], console: Console) -> None:
    groups = curves(records)
    if not groups:
        return
    rows = []
    for (name, dtype, placement), members in groups.items():
        largest, smallest = members[-1], members[0]
        rows.append([name, dtype, Short((co.PLACEMENTS[placement], "in" if placement == "in_place" else "out")),
                     size(largest["bytes"]), f"{largest['busbw_gbps']['median']:.4g}",
                     f"{largest['algbw_gbps']['median']:.4g}",
                     f"{smallest['latency_us']['median']:.1f} ({size(smallest['bytes'])})",
                     Text(judged(largest), style=VERDICT_STYLE.get(largest.get("verdict", ""), ""))])
    first = next(iter(groups.values()))[-1]
    link = first.get("link") or {}
    held = (f"{link['name']} ({link['gbps']:g} GB/s)" if link.get("gbps") else
            f"{link['name']} (no fixed figure)" if link.get("key") else f"no link ({link.get('chosen_by', '')})")
    print_fitted(console, f"collectives ({first['engine']}, {first['ranks']} rank{'s' if first['ranks'] > 1 else ''})",
                 COLUMNS, rows,
                 f"nccl-tests' figures: time = the slowest rank's median (nccl-tests -a 3); algbw = size / time; busbw = algbw x "
                 f"2(n-1)/n (all_reduce), (n-1)/n (all_gather, reduce_scatter, alltoall), 1 (broadcast, reduce, "
                 f"sendrecv); size per rank. Held to: {held}.")


def headline(document: dict) -> list[tuple[str, str]]:
    groups = curves(document["records"])
    if not groups:
        return []
    key = next((k for k in groups if k[0] == "all_reduce"), next(iter(groups)))
    largest = groups[key][-1]
    if largest["ranks"] == 1:
        return [("collectives", f"one rank ({largest['engine']}): {key[0]} {key[1]} algbw "
                                f"{largest['algbw_gbps']['median']:.4g} GB/s at {size(largest['bytes'])}, nothing "
                                f"crosses a link; mpiexec -n N smbench run --only collectives measures one")]
    return [("collectives", f"{key[0]} {key[1]} busbw {largest['busbw_gbps']['median']:.4g} GB/s at "
                            f"{size(largest['bytes'])} over {largest['ranks']} ranks ({largest['engine']}); "
                            f"{judged(largest)}")]
