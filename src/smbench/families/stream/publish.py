"""The stream family in comparisons, plots and reports: the DRAM figure of a run, the
bandwidth sweep, a verdict line per kernel, and what a local-LLM user reads from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


from smbench import origin
from smbench.cases import HOME_MEMORY
from smbench.lazy import LazyModule
from smbench.noise import mark, said
from smbench.compare import BASIS, BASIS_WORDS, Entry, basis_rank, expanded, gather, gbps_samples, published_entry
from smbench.families.stream.expected import figure_fields
from smbench.plots import COLOURS, plt, ring_unconverged, save, size_label, ticker
from smbench.reference import LARGEST, Describes, published_records

pd = LazyModule("pandas")  # at the first table (smbench.lazy says why)

KERNEL_FOR_SWEEP = "triad"


# Model sizes for the decode bound: parameters, and bytes per parameter at common precisions.
LLM_MODELS = ((8e9, "8B"), (70e9, "70B"), (120e9, "120B"))
LLM_BYTES = ((2.0, "BF16"), (1.0, "FP8"), (0.5, "4-bit"))


def largest_records(document: dict) -> dict[str, dict]:
    """Benchmark -> the measured stream record with the largest working set in device (or, on
    the CPU path, host) memory: the figure closest to DRAM the run has."""
    largest: dict[str, dict] = {}
    for record in document["records"]:
        if record["family"] == "stream" and record["status"] == "ok" and record.get("memory") in HOME_MEMORY \
                and "working_set_bytes" in record:
            best = largest.get(record["benchmark"])
            if best is None or record["working_set_bytes"] > best["working_set_bytes"]:
                largest[record["benchmark"]] = record
    return largest


# The report's bandwidth table: its columns in this order; a published figure whose kernel
# its source does not state gets a column saying so.
_DRAM_ORDER = ("spec", "triad", "copy", "read", "scale", "add", "dot", "write")
_UNSTATED = "kernel not stated"


def dram_bandwidth(document: dict) -> dict[str, Entry]:
    """Benchmark -> its DRAM figure: the largest working set in device (or host) memory for a
    measured file, the published figures for a published one."""
    entries = _dram_entries(document)
    for key, entry in entries.items():
        entry.order = _DRAM_ORDER.index(key) if key in _DRAM_ORDER else len(_DRAM_ORDER)
        entry.column = ""
    return entries


def published_key(record: dict) -> str:
    """The row of a published bandwidth: the operation it names (smbench.reference), 'spec' for
    the vendor's figure, 'kernel not stated' where the source does not say."""
    return record.get("op") or ("spec" if record["benchmark"] == "spec" else _UNSTATED)


def _dram_entries(document: dict) -> dict[str, Entry]:
    entries: dict[str, Entry] = {}
    if document["kind"] == "published":
        for record in document["records"]:
            if record["family"] == "stream" and record["status"] == "ok":
                gather(entries, published_key(record), published_entry(record, record["gbps"]["median"]))
        return entries
    for benchmark, record in largest_records(document).items():
        entries[benchmark] = Entry(record["gbps"]["median"], gbps_samples(record),
                                   f"{record['working_set_bytes'] / 2**20:.0f} MiB, {record.get('verdict', '')}",
                                   timing=record.get("time_s"))
    expected = document.get("expected_bandwidth")
    if expected and "spec" not in entries:
        entries["spec"] = Entry(expected["gbps"], None, f"{expected['kind']}: {expected['source']}", expected["kind"])
    return entries


def per_size(document: dict) -> dict[tuple, Entry]:
    entries = {}
    for record in document["records"]:
        if record["family"] == "stream" and record["status"] == "ok" and "working_set_bytes" in record \
                and document["kind"] == "measured":
            key = (record["kernel"], record["memory"], record["working_set_bytes"])
            entries[key] = Entry(record["gbps"]["median"], gbps_samples(record), timing=record.get("time_s"))
    return entries


COMPARE = (("Bandwidth at the largest working set (DRAM where the verdict says so; published: their figures), GB/s",
            dram_bandwidth, "kernel"),
           ("Bandwidth per kernel and size, GB/s", per_size, "kernel / memory / size"))


def report_lines(label: str, document: dict) -> list[str]:
    """Triad, copy and read at the largest working set, against the device's expected bandwidth."""
    lines = []
    expected = document.get("expected_bandwidth")
    largest = largest_records(document)
    for benchmark in ("triad", "copy", "read"):
        record = largest.get(benchmark)
        if record is None:
            continue
        if expected and record.get("percent_of_expected") is not None:
            lines.append(f"{label}: {benchmark} bandwidth {record['gbps']['median']:.0f}{mark(record)} GB/s{said(record)} = "
                         f"{record['percent_of_expected']:.0f}% of spec ({expected['gbps']:g} GB/s): "
                         f"{record.get('verdict', '')}")
        else:
            lines.append(f"{label}: {benchmark} bandwidth {record['gbps']['median']:.1f}{mark(record)} GB/s{said(record)} at "
                         f"{record['working_set_bytes'] / 2**20:.0f} MiB ({record.get('verdict', '')}; "
                         f"no expected figure for this device)")
    return lines


@dataclass
class ReportSection:
    title: str
    intro: str
    table: pd.DataFrame
    lines: list[str] = field(default_factory=list)
    empty: str = "no figures"


# Which kernel a device's bandwidth is read by, within one basis: the read kernel first (decoding
# reads weights; most published measurements are of a read), then the others.
_KERNEL_ORDER = ("read", "triad", "copy", "scale", "add", "dot", "write", _UNSTATED, "spec")


def dram_basis(document: dict) -> tuple[Entry, str, str] | None:
    """(the figure, its kernel, its basis in words) a device's DRAM bandwidth is read by, the same
    rule for every device: measured by smbench where it measured, else measured by others, the
    vendor's spec only where nothing was measured (compare.BASIS); None without any figure."""
    candidates = [(key, entry) for key, entry in expanded(dram_bandwidth(document))
                  if not (key == "spec" and not entry.mark)]  # a measured file's spec is its expectation
    if not candidates:
        return None
    best = min(basis_rank(entry) if key != "spec" else len(BASIS) for key, entry in candidates)
    level = [(key, entry) for key, entry in candidates if (basis_rank(entry) if key != "spec" else len(BASIS)) == best]
    key, entry = min(level, key=lambda pair: _KERNEL_ORDER.index(pair[0]) if pair[0] in _KERNEL_ORDER
                     else len(_KERNEL_ORDER))
    return entry, key, "vendor spec" if key == "spec" else BASIS_WORDS.get(entry.mark, entry.mark)


def decode_bound(named: list[tuple[str, dict]]) -> tuple[pd.DataFrame, list[str]]:
    """Tokens/s upper bound for decoding: every weight is read once per token, so
    tokens/s <= bandwidth / (parameters x bytes per parameter), the bandwidth on one basis for
    every device (dram_basis). Returns the table and the arithmetic of one cell per device."""
    rows, worked = [], []
    for label, document in named:
        found = dram_basis(document)
        if found is None:
            continue
        entry, source, basis = found
        bandwidth = entry.value
        cached = document["kind"] == "measured" and "cache" in entry.note
        row = {"device": label, "GB/s": f"{bandwidth:.1f}{f' {entry.spread.text()}' if entry.spread else ''}",
               "from": f"{source}, {basis}{', cache-resident' if cached else ''}"}
        for parameters, name in LLM_MODELS:
            for width, precision in LLM_BYTES:
                row[f"{name} {precision}"] = round(bandwidth / (parameters * width / 1e9), 1)
        rows.append(row)
        worked.append(f"{label}: 8B parameters x 0.5 byte (4-bit) = 4 GB per token; "
                      f"{bandwidth:.1f} GB/s / 4 GB = {bandwidth / 4:.1f} tokens/s at most"
                      + (" (a cache-resident figure: not a DRAM bound)" if cached else ""))
    return pd.DataFrame(rows), worked


def llm_section(named: list[tuple[str, dict]]) -> ReportSection:
    table, worked = decode_bound(named)
    return ReportSection("What a local-LLM user reads from it",
                         "Decoding one token reads every weight once, so tokens/s <= memory bandwidth / model bytes "
                         "(an upper bound: KV-cache reads and compute come on top). Every device's bandwidth on one "
                         "basis: measured by smbench where it measured, else measured by others, the vendor's spec "
                         "only where nothing was measured ('from' says which; the read kernel first). Tokens/s at most:",
                         table, worked, "no bandwidth figures")


def bandwidth_vs_size(named: list[tuple[str, dict]], out_dir: Path) -> list[Path]:
    figure, axis = plt.subplots(figsize=(12, 5.5))
    drew = False
    for number, (label, document) in enumerate(named):
        colour = COLOURS[number % len(COLOURS)]
        expected = document.get("expected_bandwidth")
        if document["kind"] == "measured":
            swept = sorted(((r["working_set_bytes"], r["gbps"]["median"]), mark(r)) for r in document["records"]
                           if r["family"] == "stream" and r["status"] == "ok" and r["benchmark"] == KERNEL_FOR_SWEEP
                           and r.get("memory") in HOME_MEMORY)
            if swept:
                x, y = zip(*(point for point, _ in swept))
                what = origin.not_hardware(document)
                how = ("not a GPU" if what in label else f"{what}, not a GPU") if what else "measured"
                axis.plot(x, y, marker="o", color=colour, label=f"{label}: {KERNEL_FOR_SWEEP} ({how})")
                ring_unconverged(axis, [point for point, unsettled in swept if unsettled], colour)
                drew = True
            l2 = document["device"].get("l2_bytes")
            if l2:
                axis.axvline(l2, color=colour, linestyle=":", linewidth=1)
                axis.text(l2, axis.get_ylim()[0] if drew else 1, f" L2 {size_label(l2)}", color=colour,
                          rotation=90, va="bottom", fontsize=8)
        if expected:
            axis.axhline(expected["gbps"], color=colour, linestyle="--", linewidth=1.2,
                         label=f"{label}: spec {expected['gbps']:g} GB/s ({expected['kind']})")
            drew = True
        if document["kind"] == "published":
            for record in document["records"]:
                if record["family"] == "stream" and record["benchmark"] != "spec" and record["status"] == "ok":
                    axis.axhline(record["gbps"]["median"], color=colour, linestyle=":", linewidth=1.5,
                                 label=f"{label}: {record['benchmark']} {record['gbps']['median']:g} GB/s "
                                       f"(published, {record.get('figure_kind', '')})")
    measured_any = any(d["kind"] == "measured" for _, d in named)
    if not measured_any:
        axis.set_xlim(32 << 10, 4 << 30)  # the sweep's usual span, for files with no sweep of their own
    axis.set_xscale("log", base=2)
    axis.set_yscale("log")
    axis.set_xlabel("working set (bytes of all arrays of the kernel)")
    axis.set_ylabel("bandwidth (GB/s, BabelStream byte count)")
    axis.set_title(f"Memory bandwidth against working-set size ({KERNEL_FOR_SWEEP} measured; dashed: spec, "
                   "dotted: published measurements; vertical: L2)", fontsize=10)
    axis.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: size_label(v)))
    axis.grid(True, which="both", alpha=0.3)
    if drew:
        axis.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the plot, off the data
    return save(figure, out_dir, "bandwidth_vs_size")


def _dram(op: str | None, condition: str = "") -> Describes:
    return Describes("stream", {"op": op, "memory": "device", "working_set": LARGEST}, condition,
                     label="published {what}")


# The device table's bandwidth figures (devices.Figure.what) -> the measured figure each describes:
# at the largest working set in device memory, the DRAM figure of a run (smbench.reference).
VOCABULARY = {
    "spec": Describes("stream", {"memory": "device"}, label="DRAM bandwidth (spec)"),
    "read": _dram("read", "element type and access width not stated"),
    "triad": _dram("triad", "element type and access width not stated"),
    "copy": _dram("copy", "a PyTorch (MPS) copy: its byte count not stated"),
    "measured": _dram(None),  # its row says so: 'kernel not stated'
}


def published(spec) -> tuple[list[dict], dict]:
    """A device table row's DRAM figures as records (the spec, then what others measured) and
    the expected bandwidth for the file's header, as a run writes it."""
    return published_records(spec, "stream"), {"expected_bandwidth": figure_fields(spec.memory_bandwidth)}
