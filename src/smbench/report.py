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

def verdict_lines(named: list[tuple[str, dict]]) -> list[str]:
    """Per measured file: each family's verdict lines (Family.report_lines), then whether the
    run is complete and what failed."""
    from smbench.families import registry

    lines = []
    for label, document in named:
        if document["kind"] != "measured":
            continue
        for family in registry().values():
            if family.report_lines is not None:
                lines += family.report_lines(label, document)
        if document["status"] != "complete":
            lines.append(f"{label}: the run is INCOMPLETE (status {document['status']}): "
                         f"{len(document['records'])} cases were kept")
        failed = [r for r in document["records"] if r["status"] == "failed"]
        if failed:
            lines.append(f"{label}: {len(failed)} cases FAILED validation or did not run (see the result file)")
    return lines


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


def readiness(matrices: list[dict]) -> tuple[list[dict], list[str], list[pd.DataFrame]]:
    """Scan documents (smbench scan --format json) split from the compat matrices: (the matrices,
    the 'software readiness' lines, one package table per scanned source)."""
    scans = [m for m in matrices if str(m.get("schema", "")).startswith("smbench.scan/")]
    lines, tables = [], []
    for document in scans:
        provenance = document.get("provenance", {})
        host = provenance.get("host", {})
        lines.append(f"scanned {provenance.get('created_utc', '?')} on {host.get('system', '')} "
                     f"{host.get('machine', '')} (smbench {provenance.get('smbench_version', '?')}): "
                     f"{document.get('files_scanned', 0)} files, for "
                     + ", ".join(g.get("label", "?") for g in document.get("gpus", [])))
        lines += list(document.get("summary", []))
        for source in document.get("sources", []):
            rows = [{"source": source.get("title", ""), "package": p["package"], "version": p["version"],
                     "SASS": " ".join(p["sass"]), "PTX": " ".join(p["ptx"]),
                     **{label: f"{v['verdict']}: {v['via']}" + (" (fallback)" if v.get("fallback") else "")
                        for label, v in p.get("by_gpu", {}).items()}}
                    for p in source.get("packages", [])]
            if rows:
                tables.append(pd.DataFrame(rows))
    return [m for m in matrices if m not in scans], lines, tables


def build(named: list[tuple[str, dict]], matrices: list[dict], out_dir: Path) -> tuple[Path, Path]:
    out_dir = Path(out_dir)
    matrices, ready_lines, ready_tables = readiness(matrices)
    images = [p for p in plots.plot_all(named, matrices, out_dir / "plots") if p.suffix == ".png"]
    tables = compare.build(named)
    verdicts, env = verdict_lines(named), environment(named)
    from smbench.families import registry

    sections = [family.report_section(named) for family in registry().values() if family.report_section is not None]

    md = ["# smbench report", "", "## Verdicts", ""] + [f"- {line}" for line in verdicts or ["no measured files"]]
    if ready_lines:
        md += ["", "## Software readiness", ""] + [f"- {line}" for line in ready_lines]
        md += [part for table in ready_tables for part in ("", frames.to_markdown(table))]
    for section in sections:
        md += ["", f"## {section.title}", "", section.intro, ""]
        md += [frames.to_markdown(section.table) if len(section.table) else section.empty]
        md += [f"- {line}" for line in section.lines]
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

    body = [section("Verdicts", verdicts or ["no measured files"])]
    if ready_lines:
        body.append(section("Software readiness", ready_lines)
                    + "".join(table.to_html(index=False) for table in ready_tables))
    for part in sections:
        body.append(f"<h2>{html.escape(part.title)}</h2><p>{html.escape(part.intro)}</p>"
                    + (part.table.to_html(index=False, na_rep="-") if len(part.table)
                       else f"<p>{html.escape(part.empty)}</p>")
                    + "<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in part.lines) + "</ul>")
    body.append(section("Environment", env))
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
