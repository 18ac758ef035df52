"""The collectives family's part of the summary at the end of `smbench run`: nccl-tests' own
table for each collective (a row per type and size, out of place and in place side by side,
each with its time, algbw, busbw and #wrong), then a row per collective, type and placement
(busbw at the largest size against the link, latency at the smallest), and its headline."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from smbench.families import collectives as co
from smbench.families.collectives import links
from smbench.families.collectives.measure import decorations
from smbench.noise import NOT_CONVERGED, mark
from smbench.run_view import Column, Short, print_fitted, size, verdict_style


def _key(record: dict) -> tuple:
    """(collective, dtype, placement, op, root): one curve. Files from before ops and roots: sum, 0."""
    reduction = co.COLLECTIVES[record["benchmark"]].reduction if record["benchmark"] in co.COLLECTIVES else False
    rooted = co.COLLECTIVES[record["benchmark"]].rooted if record["benchmark"] in co.COLLECTIVES else False
    return (record["benchmark"], record["dtype"], record["placement"],
            (record.get("op") or "sum") if reduction else None, (record.get("root") or 0) if rooted else None)


def curves(records: list[dict]) -> dict[tuple, list[dict]]:
    """(collective, dtype, placement, op, root) -> its ok records with bytes by size (a size too
    small for one element per rank moved nothing: its row is in the per-size table only)."""
    groups: dict[tuple, list[dict]] = {}
    for record in records:
        if record["family"] == "collectives" and record["status"] == "ok" and record["bytes"] > 0:
            groups.setdefault(_key(record), []).append(record)
    return {key: sorted(members, key=lambda r: r["bytes"]) for key, members in groups.items()}


def name_of(key: tuple) -> str:
    """`all_reduce f32 out of place`, `reduce bf16 max root 1 in place`."""
    name, dtype, placement, op, root = key
    words = decorations({"benchmark": name, "op": op, "root": root})
    return f"{name} {dtype}{' ' + ' '.join(words) if words else ''} {co.PLACEMENTS[placement]}"


def judged(record: dict, short: bool = False) -> str:
    """'normal 92%', 'low 3%, looks like ...' (short: 'low 3%, like mgmt port'), or '-'."""
    if "verdict" not in record:
        return "-"
    percent = record.get("percent_of_link")
    text = record["verdict"] + (f" {percent:.0f}%" if percent is not None else "")
    like = links.lookup(record.get("looks_like_link") or "")
    if short and like is not None:
        return f"{text}, like {like.short}"
    return text + (f", {record['looks_like']}" if record.get("looks_like") else "")


COLUMNS = [Column("collective", keep=Column.NEVER_DROPPED), Column("type", keep=8),
           Column("placement", "place", keep=7), Column("largest", "size", keep=6, right=True),
           Column("busbw GB/s", "busbw", keep=Column.NEVER_DROPPED, right=True),
           Column("algbw GB/s", "algbw", keep=4, right=True),
           Column("latency us (smallest)", "lat us", keep=5, right=True), Column("verdict", keep=8)]


def _held(record: dict) -> str:
    link = record.get("link") or {}
    if link.get("gbps"):
        return f"{link['name']} ({link['gbps']:g} GB/s)"
    return f"{link['name']} (no fixed figure)" if link.get("key") else f"no link ({link.get('chosen_by', '')})"


def view(records: list[dict], console: Console) -> None:
    per_size(records, console)
    groups = curves(records)
    if not groups:
        return
    rows = []
    for key, members in groups.items():
        largest, smallest = members[-1], members[0]
        name, dtype, placement, op, root = key
        words = decorations({"benchmark": name, "op": op, "root": root})
        rows.append([name + (f" {' '.join(words)}" if words else ""), dtype,
                     Short((co.PLACEMENTS[placement], "in" if placement == "in_place" else "out")),
                     size(largest["bytes"]), f"{largest['busbw_gbps']['median']:.4g}{mark(largest)}",
                     f"{largest['algbw_gbps']['median']:.4g}",
                     f"{smallest['latency_us']['median']:.1f} ({size(smallest['bytes'])})",
                     Text(judged(largest, short=True), style=verdict_style(largest.get("verdict", "")))])
    first = next(iter(groups.values()))[-1]
    aggregate = first.get("time_aggregate", "max")
    explained = {}
    for members in groups.values():
        record = members[-1]
        if record.get("looks_like_link"):
            explained.setdefault(record["looks_like_link"], f"{record['looks_like']}" +
                                 (f": {record['advice']}" if record.get("advice") else ""))
    why = " ".join(f"Like {links.lookup(key).short}: {text}." for key, text in explained.items() if links.lookup(key))
    print_fitted(console, f"collectives ({first['engine']}, {first['ranks']} rank{'s' if first['ranks'] > 1 else ''})",
                 COLUMNS, rows,
                 f"nccl-tests' figures: time = the ranks' times by {aggregate} (nccl-tests "
                 f"{first.get('time_aggregate_nccl_tests', '-a 3')}), the median of the samples; algbw = size / time; "
                 f"busbw = algbw x 2(n-1)/n (all_reduce), (n-1)/n (all_gather, reduce_scatter, alltoall, gather, "
                 f"scatter), 1 (broadcast, reduce, sendrecv); size per rank; {NOT_CONVERGED}: sampling did not "
                 f"converge (smbench.noise). Held to: {_held(first)}." +
                 (f" {why}" if why else ""))


# ---------------------------------------------------------------- nccl-tests' own table

def _figures(record: dict | None) -> list[str]:
    """time us, algbw, busbw, #wrong of one placement, as nccl-tests prints them ('-' where it was
    not run; figures of a failed case are not shown, its #wrong is)."""
    if record is None:
        return ["-", "-", "-", "-"]
    wrong = record.get("wrong")
    shown_wrong = str(wrong) if wrong is not None else "-"
    if record["status"] != "ok":
        return ["failed", "-", "-", shown_wrong]
    return [f"{record['time_s']['median'] * 1e6:.2f}", f"{record['algbw_gbps']['median']:.2f}",
            f"{record['busbw_gbps']['median']:.2f}{mark(record)}", shown_wrong]


SIZE_COLUMNS = [Column("size", keep=Column.NEVER_DROPPED, right=True),
                Column("count", keep=2, right=True), Column("type", keep=Column.NEVER_DROPPED),
                Column("out-of-place time us", "o us", keep=5, right=True),
                Column("out-of-place algbw GB/s", "o algbw", keep=3, right=True),
                Column("out-of-place busbw GB/s", "o busbw", keep=Column.NEVER_DROPPED, right=True),
                Column("out-of-place #wrong", "o #wrong", keep=8, right=True),
                Column("in-place time us", "i us", keep=4, right=True),
                Column("in-place algbw GB/s", "i algbw", keep=3, right=True),
                Column("in-place busbw GB/s", "i busbw", keep=7, right=True),
                Column("in-place #wrong", "i #wrong", keep=8, right=True)]


def per_size(records: list[dict], console: Console) -> None:
    """A table per collective (and op and root), as nccl-tests prints it: a row per type and size."""
    tables: dict[tuple, dict[tuple, dict]] = {}
    for record in records:
        if record["family"] != "collectives" or "validation" not in record or record["benchmark"] not in co.COLLECTIVES:
            continue  # skipped rows, and steps that failed before any check, have nothing to show here
        name, dtype, placement, op, root = _key(record)
        row = (dtype, record.get("size_requested", record["bytes"]))
        tables.setdefault((name, op, root), {}).setdefault(row, {})[placement] = record
    for number, ((name, op, root), rows) in enumerate(tables.items()):
        body, sections, previous = [], [], None
        for (dtype, _), placed in sorted(rows.items(), key=lambda item: (list(co.DTYPES).index(item[0][0]), item[0][1])):
            any_record = next(iter(placed.values()))
            if previous is not None and dtype != previous:
                sections.append(len(body))
            previous = dtype
            body.append([str(any_record["bytes"]), str(any_record.get("param_count", any_record.get("count", ""))),
                         dtype, *_figures(placed.get("out_of_place")), *_figures(placed.get("in_place"))])
        first = next(iter(next(iter(rows.values())).values()))
        words = decorations({"benchmark": name, "op": op, "root": root})
        title = (f"{name}{' ' + ' '.join(words) if words else ''} ({first['engine']}, {first['ranks']} "
                 f"rank{'s' if first['ranks'] > 1 else ''}): nccl-tests' table")
        said = [f"redop {op}" if op else "", f"root {root}" if root is not None else ""]
        last = number == len(tables) - 1  # how to read them, once, under the last of them
        print_fitted(console, title, SIZE_COLUMNS, body,
                     "; ".join(w for w in said if w) + (". " if any(said) else "") +
                     (f"Size: bytes of the largest buffer per rank (chunks rounded down to 16 bytes, as "
                      f"nccl-tests); count: nccl-tests' count column; time: the ranks' times by "
                      f"{first.get('time_aggregate', 'max')}; #wrong: the wrong elements of every rank, checked after "
                      f"the timing; {NOT_CONVERGED} after a busbw: sampling did not converge." if last else ""),
                     sections=tuple(sections))


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
