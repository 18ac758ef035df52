"""`smbench report`: one self-contained HTML page (and Markdown) a person can publish.

Verdicts first, then the environment, the comparison tables, the plots, and what a
local-LLM user reads from the bandwidth: the decode bound in tokens/s, arithmetic shown.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

import pandas as pd

from smbench import compare, frames, plots
from smbench.families import gemm

# Model sizes for the decode bound: parameters, and bytes per parameter at common precisions.
LLM_MODELS = ((8e9, "8B"), (70e9, "70B"), (120e9, "120B"))
LLM_BYTES = ((2.0, "BF16"), (1.0, "FP8"), (0.5, "4-bit"))


def verdict_lines(named: list[tuple[str, dict]]) -> list[str]:
    lines = []
    for label, document in named:
        if document["kind"] != "measured":
            continue
        expected = document.get("expected_bandwidth")
        largest = compare.largest_records(document)
        for benchmark in ("triad", "copy", "read"):
            record = largest.get(benchmark)
            if record is None:
                continue
            if expected and record.get("percent_of_expected") is not None:
                lines.append(f"{label}: {benchmark} bandwidth {record['gbps']['median']:.0f} GB/s = "
                             f"{record['percent_of_expected']:.0f}% of spec ({expected['gbps']:g} GB/s): "
                             f"{record.get('verdict', '')}")
            else:
                lines.append(f"{label}: {benchmark} bandwidth {record['gbps']['median']:.1f} GB/s at "
                             f"{record['working_set_bytes'] / 2**20:.0f} MiB ({record.get('verdict', '')}; "
                             f"no expected figure for this device)")
        lines += peak_verdict_lines(label, document)
        lines += gemm_lines(label, document)
        if document["status"] != "complete":
            lines.append(f"{label}: the run is INCOMPLETE (status {document['status']}): "
                         f"{len(document['records'])} cases were kept")
        failed = [r for r in document["records"] if r["status"] == "failed"]
        if failed:
            lines.append(f"{label}: {len(failed)} cases FAILED validation or did not run (see the result file)")
    return lines


def peak_verdict_lines(label: str, document: dict) -> list[str]:
    """One line per compute-peak loop with an expectation; one line for those without."""
    lines, unjudged = [], 0
    for record in document["records"]:
        if record["family"] != "peak" or record["status"] != "ok":
            continue
        expected = record.get("expected") or {}
        if record.get("percent_of_clock_peak") is None and record.get("percent_of_spec") is None:
            unjudged += 1
            continue
        parts = []
        if record.get("percent_of_clock_peak") is not None:
            parts.append(f"{record['percent_of_clock_peak']:.0f}% of the clock-based peak "
                         f"({expected['clock_peak']:.4g} at {expected['clock_mhz']:.0f} MHz)")
        if record.get("percent_of_spec") is not None:
            parts.append(f"{record['percent_of_spec']:.0f}% of the vendor's {expected['spec']['value']:g}")
        lines.append(f"{label}: {record['label']}: {record['tflops']['median']:.4g} {record['ops_unit']} = "
                     f"{'; '.join(parts)}: {record['verdict']}")
    if unjudged:
        lines.append(f"{label}: {unjudged} compute-peak loops validated, with no expected figure for this device")
    return lines


def gemm_lines(label: str, document: dict) -> list[str]:
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
        parts = [f"{record['tflops']['median']:.4g} {record['ops_unit']}"]
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


def decode_bound(named: list[tuple[str, dict]]) -> tuple[pd.DataFrame, list[str]]:
    """Tokens/s upper bound for decoding: every weight is read once per token, so
    tokens/s <= bandwidth / (parameters x bytes per parameter). Returns the table and the
    arithmetic of one cell per device."""
    rows, worked = [], []
    for label, document in named:
        entries = compare.dram_bandwidth(document)
        source = next((k for k in ("triad", "copy", "read", "spec") if k in entries), None)
        if source is None:
            continue
        bandwidth = entries[source].value
        cached = document["kind"] == "measured" and "cache" in entries[source].note
        row = {"device": label, "GB/s (from)": f"{bandwidth:.1f} ({source}{', cache-resident' if cached else ''})"}
        for parameters, name in LLM_MODELS:
            for width, precision in LLM_BYTES:
                row[f"{name} {precision}"] = round(bandwidth / (parameters * width / 1e9), 1)
        rows.append(row)
        worked.append(f"{label}: 8B parameters x 0.5 byte (4-bit) = 4 GB per token; "
                      f"{bandwidth:.1f} GB/s / 4 GB = {bandwidth / 4:.1f} tokens/s at most"
                      + (" (a cache-resident figure: not a DRAM bound)" if cached else ""))
    return pd.DataFrame(rows), worked


def environment(named: list[tuple[str, dict]]) -> list[str]:
    lines = []
    for label, document in named:
        device = document["device"]
        provenance = document.get("provenance", {})
        if document["kind"] == "published":
            lines.append(f"{label}: published figures ({provenance.get('source', '')}), not measured by smbench")
            continue
        lines.append(f"{label}: {device.get('name')} (backend {document['backend']}, suite {document['suite']}, "
                     f"status {document['status']}); smbench {provenance.get('smbench_version')} "
                     f"git {str(provenance.get('git_sha'))[:12]}; NVRTC {provenance.get('nvrtc_version')}; "
                     f"{provenance.get('host', {}).get('system', '')} {provenance.get('host', {}).get('machine', '')}; "
                     f"{provenance.get('created_utc', '')}")
    return lines


def _table_frame(table: compare.Table) -> pd.DataFrame:
    frame = pd.DataFrame(table.rows, columns=table.columns)
    return frame.astype(object).where(frame.notna(), "-")  # an absent figure reads "-", not "None"


def build(named: list[tuple[str, dict]], matrices: list[dict], out_dir: Path) -> tuple[Path, Path]:
    out_dir = Path(out_dir)
    images = [p for p in plots.plot_all(named, matrices, out_dir / "plots") if p.suffix == ".png"]
    tables = compare.build(named)
    verdicts, env = verdict_lines(named), environment(named)
    llm_table, llm_worked = decode_bound(named)

    md = ["# smbench report", "", "## Verdicts", ""] + [f"- {line}" for line in verdicts or ["no measured files"]]
    md += ["", "## What a local-LLM user reads from it", "",
           "Decoding one token reads every weight once, so tokens/s <= memory bandwidth / model bytes "
           "(an upper bound: KV-cache reads and compute come on top). Tokens/s at most:", ""]
    md += [frames.to_markdown(llm_table) if len(llm_table) else "no bandwidth figures"]
    md += [f"- {line}" for line in llm_worked]
    md += ["", "## Environment", ""] + [f"- {line}" for line in env]
    for table in tables:
        md += ["", f"## {table.title}", "", frames.to_markdown(_table_frame(table))]
        if table.absent:
            md += [f"Not in this table (no such figures): {', '.join(table.absent)}"]
    md += ["", "Ratios are to the first file; 'differs' = two-sided Mann-Whitney U on the raw samples, p < 0.01, "
           "and medians further apart than the larger IQR.", "", "## Plots", ""]
    md += [f"![{p.stem}](plots/{p.name})" for p in images]
    markdown_path = out_dir / "report.md"
    markdown_path.write_text("\n".join(md) + "\n", encoding="utf-8")

    def section(title: str, items: list[str]) -> str:
        return f"<h2>{html.escape(title)}</h2><ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in items) + "</ul>"

    body = [section("Verdicts", verdicts or ["no measured files"]),
            "<h2>What a local-LLM user reads from it</h2><p>Decoding one token reads every weight once, so "
            "tokens/s &lt;= memory bandwidth / model bytes (an upper bound). Tokens/s at most:</p>"
            + (llm_table.to_html(index=False, na_rep="-") if len(llm_table) else "<p>no bandwidth figures</p>")
            + "<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in llm_worked) + "</ul>",
            section("Environment", env)]
    for table in tables:
        body.append(f"<h2>{html.escape(table.title)}</h2>"
                    + _table_frame(table).to_html(index=False, na_rep="-", float_format=lambda v: f"{v:.4g}"))
    body.append("<p class='note'>Ratios are to the first file; 'differs' = two-sided Mann-Whitney U on the raw "
                "samples, p &lt; 0.01, and medians further apart than the larger IQR.</p><h2>Plots</h2>")
    for image in images:
        encoded = base64.b64encode(image.read_bytes()).decode("ascii")
        body.append(f"<figure><img alt='{image.stem}' src='data:image/png;base64,{encoded}'>"
                    f"<figcaption>{image.stem}</figcaption></figure>")
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>smbench report</title><style>"
            "body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}"
            "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:2px 6px;"
            "text-align:right}img{max-width:100%}.note{color:#666;font-size:13px}</style></head><body>"
            "<h1>smbench report</h1>" + "".join(body) + "</body></html>")
    html_path = out_dir / "report.html"
    html_path.write_text(page, encoding="utf-8")
    return html_path, markdown_path
