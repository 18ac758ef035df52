"""`smbench report`: one self-contained HTML page (and Markdown) a person can publish.

One page per device set: the measured files, and the published devices they are set beside
(`--against`; default the DGX Spark, RTX 5090, A100, the Macs and whatever GPU was measured).
The files it was built from first; verdicts on the measured GPUs; the CPU reference path (host
NumPy) apart, never as hardware; what a local-LLM user reads from the bandwidth (every device on
one basis); the environment; the device tables (one row per figure, one column per device,
ratios only against the measured GPUs); the measured-only tables; the plots, each with its
caption. Every table is a table, every measured figure carries its noise (smbench.noise) and the
mark of a non-converged one, and the page fits a 1280-pixel window (long cells wrap).

The page is a list of Section objects rendered twice (Markdown, HTML). A report never replaces
another one in the same directory unless told to (replace=True, `--replace`).
"""

from __future__ import annotations

import base64
import html
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from smbench import compare, devices, frames, noise, origin, plots
from smbench.errors import SmbenchError

# The published devices a report sets the measured files beside, unless told (--against).
DEFAULT_AGAINST = ("gb10", "rtx5090", "a100-80", "m4max", "m3ultra")
CPU_NOTE = ("figures timed on a host CPU (the CPU reference path's NumPy, or MLX's CPU device), not a GPU. They "
            "show that the pipeline runs and validates; they say nothing about any GPU, so they get no verdict and "
            "no ratio.")
RATIO_NOTE = ("A value like 0.5x is this figure divided by the same figure of the measured GPU named "
              "(like with like: the same row). V = vendor specification, M = measured by others, "
              "D = derived; the sources are in the result files; * = the figure's conditions differ from the "
              "measured one's (listed under the table). Unmarked values were measured by smbench: "
              + noise.DEFINITION + ".")
NOISE_NOTE = ("Ratios are to the first file. Verdict: two-sided Mann-Whitney U on the raw samples at p < 0.01: "
              "'within noise' where the test cannot tell the runs apart, else 'differs' with the ratio of medians "
              "and its 99% interval. " + noise.DEFINITION + ".")


@dataclass
class Section:
    """One part of the page: a title, an introduction, a table (or what to say without one),
    lines under it, and notes in small print."""

    title: str
    intro: str = ""
    table: pd.DataFrame | None = None
    lines: list[str] = field(default_factory=list)
    empty: str = ""
    notes: list[str] = field(default_factory=list)


def on_host_cpu(document: dict) -> bool:
    """A file whose figures are the host's, not hardware's: the CPU reference path (NumPy), or
    MLX's CPU device (mlx-cpu, not Apple hardware). smbench.origin says which."""
    return bool(origin.not_hardware(document))


def measured_gpu(document: dict) -> bool:
    return document["kind"] == "measured" and not on_host_cpu(document)


# ---------------------------------------------------------------- the device set

def _matching_key(document: dict) -> str | None:
    device = document["device"]
    spec = devices.match(str(device.get("name", "")), device.get("compute_capability"))
    return spec.key if spec is not None else None


def select(named: list[tuple[str, dict]], against: list[str] | None = None) -> tuple[list[tuple[str, dict]],
                                                                                        list[str]]:
    """The device set: measured GPUs first, then the CPU path (labelled as host NumPy), then the
    published devices asked for (files given are used; a device without one comes from the
    device table). Returns it and a note on the published files left out."""
    from smbench import reference

    gpus = [(label, d) for label, d in named if measured_gpu(d)]
    cpus = [(label if origin.not_hardware(d) in label else f"{label} ({origin.not_hardware(d)})", d)
            for label, d in named if on_host_cpu(d)]
    given = {d["device"].get("key") or label: (label, d) for label, d in named if d["kind"] == "published"}
    if against is None:
        keys = list(DEFAULT_AGAINST) + [k for _, d in gpus if (k := _matching_key(d)) and k not in DEFAULT_AGAINST]
    else:
        keys = list(dict.fromkeys(against))
        known = {spec.key for spec in devices.DEVICES} | set(given)
        unknown = [k for k in keys if k not in known]
        if unknown:
            raise SmbenchError(f"--against: no published figures for {', '.join(unknown)} "
                               f"(known: {', '.join(sorted(known))})")
    chosen = []
    for key in keys:
        if key in given:
            chosen.append(given[key])
        elif any(spec.key == key for spec in devices.DEVICES):
            chosen.append((key, reference.document(devices.by_key(key))))
    dropped = [label for key, (label, _) in given.items() if key not in keys]
    note = [f"Published files given but not in the device set (--against): {', '.join(dropped)}"] if dropped else []
    return gpus + cpus + chosen, note


# ---------------------------------------------------------------- sections

def verdict_rows(named: list[tuple[str, dict]]) -> list[dict]:
    """Per measured GPU file: each family's verdict lines (Family.report_lines), then whether the
    run is complete and what failed, as rows (file, family, verdict). The CPU path is not
    hardware: see cpu_rows."""
    return [row for label, document in named if measured_gpu(document) for row in _file_rows(label, document)]


def cpu_rows(named: list[tuple[str, dict]]) -> list[dict]:
    return [row for label, document in named if on_host_cpu(document) for row in _file_rows(label, document)]


def verdict_lines(named: list[tuple[str, dict]]) -> list[str]:
    return [f"{row['file']}: {row['says']}" for row in verdict_rows(named)]


def cpu_lines(named: list[tuple[str, dict]]) -> list[str]:
    return [f"{row['file']}: {row['says']}" for row in cpu_rows(named)]


def _file_rows(label: str, document: dict) -> list[dict]:
    from smbench.families import registry

    rows = []
    prefix = f"{label}: "
    for family in registry().values():
        if family.report_lines is not None:
            rows += [{"file": label, "family": family.name, "says": line[len(prefix):] if line.startswith(prefix)
                      else line} for line in family.report_lines(label, document)]
    if document["status"] != "complete":
        rows.append({"file": label, "family": "run", "says": f"the run is INCOMPLETE (status {document['status']}): "
                                                             f"{len(document['records'])} cases were kept"})
    failed = [r for r in document["records"] if r["status"] == "failed"]
    if failed:
        rows.append({"file": label, "family": "run",
                     "says": f"{len(failed)} cases FAILED validation or did not run (see the result file)"})
    return rows


def environment(named: list[tuple[str, dict]]) -> pd.DataFrame:
    """One row per device: what it is, how it was measured (or that its figures are published)."""
    rows = []
    for label, document in named:
        device = document["device"]
        provenance = document.get("provenance", {})
        if document["kind"] == "published":
            rows.append({"device": label, "what": f"{device.get('name', label)}: published figures, not measured by "
                                                  "smbench (each figure's source is in the reference file)"})
            continue
        what = device.get("name")
        if on_host_cpu(document):
            what = (f"{origin.HOST_NUMPY} on the CPU reference path, not a GPU" if document["backend"] == "cpu" else
                    "MLX on the host's CPU, not a GPU")
        host = provenance.get("host", {})
        rows.append({"device": label, "what": what, "backend": document["backend"], "suite": document["suite"],
                     "status": document["status"], "smbench": provenance.get("smbench_version"),
                     "git": str(provenance.get("git_sha"))[:12], "NVRTC": provenance.get("nvrtc_version"),
                     "host": f"{host.get('system', '')} {host.get('machine', '')}".strip(),
                     "date (UTC)": provenance.get("created_utc", "")})
    # object dtype first: a column of numbers with a gap takes the "-" too (pandas 4 refuses a str in float64)
    return pd.DataFrame(rows, dtype=object).fillna("-") if rows else pd.DataFrame()


def _kind_of(document: dict) -> str:
    if on_host_cpu(document):
        return f"{origin.not_hardware(document)}, not a GPU"
    return "measured by smbench" if document["kind"] == "measured" else "published"


def device_table(named: list[tuple[str, dict]], extract) -> tuple[pd.DataFrame | None, list[str]]:
    """One row per figure (Entry.column, else the key), one column per device: a published cell
    lists its figures with their kind; every other device's figure also as a ratio to each
    measured GPU's figure in the same row. Transposed from one row per device so that the page
    keeps its width whatever the number of figures. None when no device has a figure; with it,
    the conditions that differ ('* device, figure: condition')."""
    per_device = [(label, document, extract(document)) for label, document in named]
    per_device = [(label, document, entries) for label, document, entries in per_device if entries]
    if not per_device:
        return None, []
    compare.land_largest([entries for _, _, entries in per_device])
    columns: dict[str, tuple[int, int]] = {}
    for _, _, entries in per_device:
        for key, entry in compare.expanded(entries):
            column = entry.column or compare.key_label(key)
            columns.setdefault(column, (entry.order, len(columns)))
    order = sorted(columns, key=lambda c: columns[c])
    cells = {label: _cells(entries) for label, _, entries in per_device}
    bases = [label for label, document, _ in per_device if measured_gpu(document)]
    rows, conditions = [], []
    missing = {column: entry.counterpart for _, _, entries in per_device for key, entry in compare.expanded(entries)
               if entry.counterpart for column in [entry.column or compare.key_label(key)]}
    for column in order:
        row = {"figure": f"{column} ({compare.NO_COUNTERPART})" if column in missing else column}
        for label, document, _ in per_device:
            shown = []
            for entry in cells[label].get(column, []):
                ratios = [f"{entry.value / base[0].value:.3g}x" + (f" {name}" if len(bases) > 1 else "")
                          for name in bases if name != label and (base := cells[name].get(column))
                          and base[0].value and not on_host_cpu(document)]
                shown.append(entry.shown() + (f" ({', '.join(ratios)})" if ratios else ""))
                if entry.condition:
                    conditions.append(f"* {label}, {column}: {entry.condition}")
            row[label] = " / ".join(shown) if shown else "-"
        rows.append(row)
    kinds = {"figure": "(figures)", **{label: _kind_of(document) for label, document, _ in per_device}}
    return pd.DataFrame([kinds, *rows], columns=["figure", *[label for label, _, _ in per_device]]), conditions


def _cells(entries: dict) -> dict[str, list[compare.Entry]]:
    """Column -> the entries to show: a measured column its best figure (the format named where
    several share it), a published one each distinct figure."""
    grouped: dict[str, list] = {}
    for key, entry in compare.expanded(entries):
        grouped.setdefault(entry.column or compare.key_label(key), []).append((key, entry))
    shown = {}
    for column, pairs in grouped.items():
        if all(not entry.mark for _, entry in pairs):  # measured: the best, named when it is one of several
            key, best = max(pairs, key=lambda pair: pair[1].value)
            if len(pairs) > 1 or (best.column and best.column != compare.key_label(key)):
                best = compare.Entry(best.value, best.samples, best.note, best.mark, best.better, best.column,
                                     best.order, compare.key_label(key), best.timing)
            shown[column] = [best]
        else:
            seen, kept = set(), []
            for _, entry in pairs:
                if (entry.value, entry.mark, entry.qualifier) not in seen:
                    seen.add((entry.value, entry.mark, entry.qualifier))
                    kept.append(compare.Entry(entry.value, None, entry.note, entry.mark, entry.better, entry.column,
                                              entry.order, entry.qualifier, condition=entry.condition))
            shown[column] = kept
    return shown


def _table_frame(table: compare.Table) -> pd.DataFrame:
    """A measured-only table: its rows as text, each value with its noise (and the mark)."""
    from smbench.compare import _cells as text_cells

    frame = pd.DataFrame([text_cells(table, row, entries) for row, entries in zip(table.rows, table.entries)],
                         columns=table.columns)
    return frame.replace({"None": "-", "": "-"})


def table_sections(named: list[tuple[str, dict]]) -> list[Section]:
    """Every family's compare table: as a device table where published devices have figures in
    it, else (figures only a run has) as the measured files side by side."""
    from smbench.families import registry

    sections = []
    measured = [(label, d) for label, d in named if d["kind"] == "measured"]
    for title, extract, _ in [table for family in registry().values() for table in family.compare]:
        if any(d["kind"] == "published" and extract(d) for _, d in named):
            frame, conditions = device_table(named, extract)
            if frame is not None:
                sections.append(Section(title, table=frame, notes=[*conditions, RATIO_NOTE]))
    for table in compare.build(measured):
        if any(table.title == section.title for section in sections):
            continue
        notes = [NOISE_NOTE] if len(table.labels) > 1 else [noise.DEFINITION + "."]
        if table.absent:
            notes.append(f"Not in this table (no such figures): {', '.join(table.absent)}")
        sections.append(Section(table.title, table=_table_frame(table), notes=notes))
    return sections


def sources_section(named: list[tuple[str, dict]], given: list[tuple[str, dict, Path]], others: list[Path]) -> Section:
    """The files the page was built from, each by the name given (`given`: label, document, file;
    `others`: the matrices), the published devices taken from smbench's own device table (the same
    figures as results/reference-<device>.json), and files given but left out of the device set."""
    rows = [{"device": "-", "file": str(path), "what": "compile matrix or scan (smbench compat / scan)"}
            for path in others]
    paths = {id(document): path for _, document, path in given}
    chosen = {id(document) for _, document in named}
    for label, document, path in given:
        if id(document) not in chosen:
            rows.append({"device": label, "file": str(path), "what": "published figures, not in the device set "
                                                                     "(--against): not shown"})
    for label, document in named:
        path = paths.get(id(document))
        provenance = document.get("provenance", {})
        made = provenance.get("created_utc") or ""
        what = (f"measured by smbench {provenance.get('smbench_version', '?')}, {document['backend']} backend, suite "
                f"{document['suite']}{f', {made}' if made else ''}" if document["kind"] == "measured" else
                "published figures with their sources")
        rows.append({"device": label, "file": str(path) if path else
                     f"smbench's device table (as results/reference-{document['device'].get('key', label)}.json)",
                     "what": what})
    return Section("Built from", "The files this page was made from (and the published devices taken from smbench's "
                                 "own device table):", table=pd.DataFrame(rows, columns=["device", "file", "what"]))


def _is_result_file(path: Path) -> bool:
    try:
        head = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(head, dict) and str(head.get("schema", "")).startswith("smbench.result/")


def sections(named: list[tuple[str, dict]], notes: list[str]) -> list[Section]:
    from smbench.families import registry

    verdicts = verdict_rows(named)
    page = [Section("Verdicts", table=pd.DataFrame(verdicts, columns=["file", "family", "says"]) if verdicts else None,
                    empty="no GPU was measured in these files", notes=notes)]
    host = cpu_rows(named)
    if host:
        page.append(Section("Host CPU files (not hardware)", CPU_NOTE,
                            table=pd.DataFrame(host, columns=["file", "family", "says"]),
                            notes=[noise.DEFINITION + "."]))
    for family in registry().values():
        if family.report_section is not None:
            part = family.report_section(named)
            page.append(Section(part.title, part.intro, part.table, list(part.lines), part.empty))
    page.append(Section("Environment", table=environment(named)))
    return page + table_sections(named)


# ---------------------------------------------------------------- rendering

def _markdown(section: Section) -> list[str]:
    out = ["", f"## {section.title}", ""]
    if section.intro:
        out += [section.intro, ""]
    if section.table is not None:
        out += [frames.to_markdown(section.table) if len(section.table) else section.empty]
    elif section.empty and not section.lines:
        out += [section.empty]
    out += [f"- {line}" for line in section.lines]
    out += [f"\n_{note}_" for note in section.notes]
    return out


def _html(section: Section) -> str:
    parts = [f"<h2>{html.escape(section.title)}</h2>"]
    if section.intro:
        parts.append(f"<p>{html.escape(section.intro)}</p>")
    if section.table is not None:
        parts.append(section.table.to_html(index=False, na_rep="-", float_format=lambda v: f"{v:.4g}")
                     if len(section.table) else f"<p>{html.escape(section.empty)}</p>")
    elif section.empty and not section.lines:
        parts.append(f"<p>{html.escape(section.empty)}</p>")
    if section.lines:
        parts.append("<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in section.lines) + "</ul>")
    parts += [f"<p class='note'>{html.escape(note)}</p>" for note in section.notes]
    return "".join(parts)


def readiness(matrices: list[dict]) -> tuple[list[dict], list[Section]]:
    """Scan documents (smbench scan --format json) split from the compat matrices: (the
    matrices, the 'Software readiness' sections: the scan's lines, a package table per
    scanned source)."""
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
    found = [Section("Software readiness", lines=lines, table=tables[0] if tables else None)] if scans else []
    found += [Section("Software readiness (continued)", table=table) for table in tables[1:]]
    return [m for m in matrices if m not in scans], found


# The page's style: 1280 pixels wide at most; a long cell wraps rather than widening its table.
STYLE = ("body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}"
         "table{border-collapse:collapse;font-size:13px;max-width:100%}"
         "td,th{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top;overflow-wrap:anywhere;"
         "min-width:5.5em}img{max-width:100%}figure{margin:1em 0}"
         "figcaption{font-size:13px;color:#333}.note{color:#666;font-size:13px}")
PAGES = ("report.html", "report.md")


def refuse_to_replace(out_dir: Path) -> None:
    """A report already in out_dir is another report's: a one-line error naming it."""
    for name in PAGES:
        existing = Path(out_dir) / name
        if existing.exists():
            made = time.strftime("%Y-%m-%d %H:%M", time.localtime(existing.stat().st_mtime))
            raise SmbenchError(f"{existing} exists (a report made {made}): give another --out, or --replace to "
                               f"replace it")


def build(named: list[tuple[str, dict]], matrices: list[dict], out_dir: Path,
          against: list[str] | None = None, files: list[Path] = (), replace: bool = False) -> tuple[Path, Path]:
    """The page in out_dir (report.html, report.md, plots/). `files`: the paths it was built from,
    as given (result files in the order of `named`, matrices among them). Refuses a directory
    holding a report already unless `replace`."""
    out_dir = Path(out_dir)
    if not replace:
        refuse_to_replace(out_dir)
    result_files = [Path(f) for f in files if _is_result_file(Path(f))]
    given = [(label, document, path) for (label, document), path in zip(named, result_files)]
    others = [Path(f) for f in files if Path(f) not in result_files]
    named, notes = select(named, against)
    matrices, software = readiness(matrices)
    images = [p for p in plots.plot_all(named, matrices, out_dir / "plots") if p.suffix == ".png"]
    page = [sources_section(named, given, others)] + sections(named, notes)
    page[2:2] = software  # after the verdicts: will the user's software run here at all
    devices_line = "Devices: " + ", ".join(label for label, _ in named)
    captions = [(image, plots.read_caption(image) or image.stem) for image in images]

    md = ["# smbench report", "", devices_line]
    for section in page:
        md += _markdown(section)
    md += ["", "## Plots", ""]
    for image, caption in captions:
        md += [f"![{image.stem}](plots/{image.name})", "", f"_Figure: {caption}_", ""]
    markdown_path = out_dir / "report.md"
    markdown_path.write_text("\n".join(md) + "\n", encoding="utf-8")

    body = [f"<p>{html.escape(devices_line)}</p>"] + [_html(section) for section in page] + ["<h2>Plots</h2>"]
    for image, caption in captions:
        encoded = base64.b64encode(image.read_bytes()).decode("ascii")
        body.append(f"<figure><img alt='{html.escape(caption, quote=True)}' src='data:image/png;base64,{encoded}'>"
                    f"<figcaption>{html.escape(caption)} ({html.escape(image.name)})</figcaption></figure>")
    page_html = ("<!doctype html><html><head><meta charset='utf-8'><title>smbench report</title><style>" + STYLE
                 + "</style></head><body><h1>smbench report</h1>" + "".join(body) + "</body></html>")
    html_path = out_dir / "report.html"
    html_path.write_text(page_html, encoding="utf-8")
    return html_path, markdown_path
