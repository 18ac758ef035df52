"""The collectives family in comparisons, reports and plots: busbw by collective, type,
placement and size (the noise test on each sample's busbw), a report line per collective
at its largest size against the link, and busbw against size beside the link and the
published figures for it."""

from __future__ import annotations

from pathlib import Path

from smbench.compare import Entry, samples_of
from smbench.noise import mark, said
from smbench.families import collectives as co
from smbench.families.collectives import links
from smbench.families.collectives.measure import decorations
from smbench.families.collectives.view import curves, judged, name_of
from smbench.plots import COLOURS, display_label, plt, save, size_label, ticker
from smbench.run_view import size


def _figure_samples(record: dict) -> list[float] | None:
    """The samples of the record's figure: busbw, or algbw at one rank (figure_bytes)."""
    return samples_of(record, "figure_bytes", 1e9)


def largest(document: dict) -> dict[str, Entry]:
    return {name_of(key): Entry(members[-1]["figure_gbps"]["median"], _figure_samples(members[-1]),
                              f"{size(members[-1]['bytes'])}, {members[-1]['ranks']} ranks, {judged(members[-1])}",
                              timing=members[-1].get("time_s"))
            for key, members in curves(document["records"]).items()}


def per_size(document: dict) -> dict[str, Entry]:
    return {f"{name_of(key)} {size(r['bytes'])}": Entry(r["figure_gbps"]["median"], _figure_samples(r),
                                                                timing=r.get("time_s"))
            for key, members in curves(document["records"]).items() for r in members}


def latency(document: dict) -> dict[str, Entry]:
    entries = {}
    for key, members in curves(document["records"]).items():
        r = members[0]
        samples = (r.get("time_s") or {}).get("samples")
        entries[f"{name_of(key)} {size(r['bytes'])}"] = Entry(r["latency_us"]["median"],
                                                            [t * 1e6 for t in samples] if samples else None,
                                                            better="lower", timing=r.get("time_s"))
    return entries


COMPARE = (("Collectives: busbw at the largest size (algbw for a one-rank file), GB/s", largest,
            "collective / type / placement"),
           ("Collectives: busbw per size (algbw for a one-rank file), GB/s", per_size,
            "collective / type / placement / size"),
           ("Collectives: latency at the smallest size, us", latency, "collective / type / placement / size"))


def report_lines(label: str, document: dict) -> list[str]:
    """A line per collective, type and placement at its largest size, then the published
    figures for the link the file was held to."""
    lines, held = [], set()
    for key, members in curves(document["records"]).items():
        r = members[-1]
        link = r.get("link") or {}
        against = f"{link['name']}, {link['gbps']:g} GB/s" if link.get("gbps") else link.get("chosen_by", "no link")
        held.add(link.get("key"))
        verdict = judged(r) if "verdict" in r else ("no verdict: one rank" if r["ranks"] == 1 else
                                                    "no verdict below collectives.verdict_min_mib")
        lines.append(f"{label}: {name_of(key)} busbw {r['busbw_gbps']['median']:.4g}{mark(r)} GB/s{said(r)} at "
                     f"{size(r['bytes'])} over "
                     f"{r['ranks']} rank{'s' if r['ranks'] > 1 else ''} ({r['engine']}; {against}): {verdict}; "
                     f"latency {members[0]['latency_us']['median']:.1f} us at {size(members[0]['bytes'])}")
    held = {links.lookup(key).key for key in held if key and links.lookup(key)}
    for where, what, gbps, kind, source in links.PUBLISHED:
        if where in held:
            lines.append(f"{label}: published beside it, {what}: {gbps:.4g} GB/s ({kind}, {source})")
    return lines


def _series(key: tuple) -> str:
    name, dtype, _, op, root = key
    return " ".join([dtype, *decorations({"benchmark": name, "op": op, "root": root})])


def plots(named: list[tuple[str, dict]], out_dir: Path) -> list[Path]:
    """busbw against size, one panel per collective; a line per file and type (out of place,
    else in place); dashed: the link each file is held to; dotted: published figures for it."""
    panels: dict[str, list] = {}
    for number, (label, document) in enumerate(named):
        if document["kind"] != "measured":
            continue
        groups = curves(document["records"])
        placements = {k[2] for k in groups}
        shown = "out_of_place" if "out_of_place" in placements else "in_place"
        for key, members in groups.items():
            if key[2] == shown or key[0] not in [k[0] for k in groups if k[2] == shown]:
                panels.setdefault(key[0], []).append((number, display_label(label, document), key, members))
    if not panels:
        return []
    names = [n for n in co.COLLECTIVES if n in panels]
    columns = min(3, len(names))
    rows = -(-len(names) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(5.2 * columns, 3.8 * rows), squeeze=False)
    for axis in axes.flat[len(names):]:
        axis.set_visible(False)
    # A line per type and op (and root): 'f32', 'bf16 max', 'f32 root 1'.
    series = sorted({_series(key) for lines in panels.values() for _, _, key, _ in lines})
    markers = dict(zip(series, "os^vD<>ph*"))
    for axis, name in zip(axes.flat, names):
        held, alone_any = {}, False
        for number, label, key, members in panels[name]:
            alone = members[-1]["ranks"] == 1  # busbw is 0 for most collectives: algbw says what moved
            alone_any = alone_any or alone
            axis.plot([r["bytes"] for r in members],
                      [r["algbw_gbps" if alone else "busbw_gbps"]["median"] for r in members],
                      marker=markers.get(_series(key), "o"), markersize=3,
                      color=COLOURS[(number * len(series) + series.index(_series(key))) % len(COLOURS)],
                      label=f"{label}: {_series(key)} ({members[-1]['engine']}, "
                            + ("1 rank: algbw)" if alone else f"{members[-1]['ranks']} ranks)"))
            link = members[-1].get("link") or {}
            if link.get("gbps"):
                held[link["key"]] = (number, link)
        for key, (number, link) in held.items():
            # The figure the file was held to, from its own record: an older file keeps its older figure.
            axis.axhline(link["gbps"], color=COLOURS[number % len(COLOURS)], linestyle="--", linewidth=1,
                         label=f"{link['name']}: {link['gbps']:g} GB/s ({link.get('kind', '')})")
            known = links.lookup(key)
            for where, what, gbps, kind, _ in links.PUBLISHED:
                if known is not None and where == known.key:
                    axis.axhline(gbps, color="grey", linestyle=":", linewidth=1.2, label=f"{what}: {gbps:.4g} GB/s ({kind})")
        axis.set_xscale("log", base=2)
        axis.set_yscale("log")
        # Out of place where a file timed it, else in place (MPI has no out-of-place broadcast):
        # the legend's series run through every panel, so the placement is the panel's to say.
        placed = sorted({co.PLACEMENTS[key[2]] for _, _, key, _ in panels[name]})
        axis.set_title(f"{name} (busbw = algbw x {co.COLLECTIVES[name].factor_text}; {', '.join(placed)})",
                       fontsize=9)
        axis.set_xlabel("size per rank", fontsize=8)
        axis.set_ylabel("busbw (GB/s)" + ("; one rank: algbw" if alone_any else ""), fontsize=8)
        axis.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: size_label(v)))
        axis.tick_params(labelsize=7)
        axis.grid(True, which="both", alpha=0.3)
        bottom, top = axis.get_ylim()
        axis.set_ylim(bottom, top * 3)  # headroom: the link's line is not the frame
    # One legend for every panel, below them: the same series run through each.
    seen: dict = {}
    for axis in axes.flat[:len(names)]:
        for handle, text in zip(*axis.get_legend_handles_labels()):
            seen.setdefault(text, handle)
    figure.suptitle("Collectives: bus bandwidth against size (nccl-tests' busbw; time = the ranks' times as its -a; "
                    "dashed: the link, dotted: published)", fontsize=10)
    figure.tight_layout(rect=(0, 0.06 + 0.02 * len(seen) / 2, 1, 1))
    figure.legend(list(seen.values()), list(seen), loc="lower center", ncol=2, fontsize=8, frameon=False)
    return save(figure, out_dir, "collectives_busbw_vs_size")
