"""How a scan is shown: a terminal table per source (readable at 80 and 120 columns),
Markdown, CSV (one row per file) and JSON (scanner.ScanResult.to_json)."""

from __future__ import annotations

import csv
import io
import json

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from smbench.scan import rules
from smbench.scan.scanner import Package, ScanResult

FORMATS = ("table", "md", "csv", "json")
_STYLE = {rules.NATIVE: "green", rules.JIT: "yellow", rules.NONE: "red bold"}

LEGEND = ("SASS and PTX: the sm_ and compute_ numbers in the files. "
          "native = SASS for this GPU is in the file; JIT = only PTX the driver compiles at first load; "
          "NO = neither; ! = JIT from an older generation's PTX (the sm_80 fallback when compute_80). "
          "Rules and sources: docs/scan.md.")


def _short(names: list[str]) -> str:
    """sm_75 sm_80 sm_120f -> '75 80 120f' (the column header says which prefix)."""
    return " ".join(name.split("_", 1)[1] for name in names) or "-"


def _cell(verdict: rules.Overall) -> Text:
    code = verdict.code or ""
    word = {rules.NATIVE: "native", rules.JIT: "JIT", rules.NONE: "NO"}[verdict.verdict]
    text = Text(word, style=_STYLE[verdict.verdict])
    if code:
        text.append(f" {code}")
    if verdict.fallback:
        text.append(" !", style="yellow bold")
    if verdict.counts and len(verdict.counts) > 1:
        text.append(f" ({verdict.counts.get(verdict.verdict, 0)}/{sum(verdict.counts.values())})", style="dim")
    return text


def _size(value: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if value >= scale:
            return f"{value / scale:.1f} {unit}"
    return f"{value} B"


def package_table(title: str | None, packages: list[Package], gpus: list[rules.Gpu], codes: bool = True) -> Table:
    """Packages with what they carry (codes) and a verdict column per GPU (gpus)."""
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    # Names, versions and counts never wrap or shrink; the code lists and verdicts wrap
    # between words ("JIT compute_80 !" may take two lines), never inside one.
    table.add_column("package", no_wrap=True)
    if codes:
        table.add_column("version", no_wrap=True)
        table.add_column("files", justify="right", no_wrap=True)
        table.add_column("SASS", min_width=10)
        table.add_column("PTX", min_width=6)
    for gpu in gpus:
        table.add_column(gpu.label, min_width=14)
    for package in packages:
        cells = [package.version or "-", str(package.files), _short(package.sass), _short(package.ptx)] if codes else []
        table.add_row(package.name, *cells, *(_cell(package.verdicts[g.label]) for g in gpus))
    return table


def package_tables(title: str, packages: list[Package], gpus: list[rules.Gpu], console: Console) -> list[Table]:
    """One table where it fits the console; where it does not (several GPUs at 80 columns),
    the codes in one and the verdicts in a second, so that nothing is cut."""
    whole = package_table(title, packages, gpus)
    # Measured on a console wide enough not to clamp it: the narrowest it can be uncut.
    if Console(width=10_000).measure(whole).minimum <= console.width:
        return [whole]
    return [package_table(title, packages, [], codes=True), package_table(None, packages, gpus, codes=False)]


def notes(packages: list[Package], gpus: list[rules.Gpu]) -> list[str]:
    """A line for every package that is not plainly native everywhere: what runs, what is missing."""
    lines = []
    for package in packages:
        for gpu in gpus:
            verdict = package.verdicts[gpu.label]
            if verdict.verdict == rules.NATIVE and not verdict.note:
                continue
            text = f"{package.name} on {gpu.label}: {rules.WORDS[verdict.verdict]}, {verdict.via}"
            if verdict.note:
                text += f" ({verdict.note})"
            lines.append(text)
    return lines


def render_text(result: ScanResult, width: int | None = None, colour: bool = False) -> str:
    console = Console(file=io.StringIO(), width=width or 120, force_terminal=colour, color_system="standard"
                      if colour else None, highlight=False)
    for line in _gpu_lines(result):
        console.print(Text(line, style="dim"), soft_wrap=False)
    for source in result.sources:
        packages = source.packages(result.gpus)
        head = (f"{source.title} ({source.root}): {source.files_scanned} files, {_size(source.bytes_scanned)} "
                f"read by their headers in {source.seconds:.2f} s")
        if packages:
            for table in package_tables(head, packages, result.gpus, console):
                console.print(table)
        else:
            console.print(Text(head + ": no device code", style="bold"))
        for line in notes(packages, result.gpus):
            console.print(Text("  " + line))
        for row in source.problems:
            console.print(Text(f"  could not read {row.file}: {row.problem}", style="red"))
        for row in source.code_rows:
            for kernel in row.kernels or []:
                console.print(Text("  " + _kernel_line(row.file, kernel), style="dim"))
    console.print()
    for line in result.summary_lines():
        console.print(Text(line, style="bold"))
    console.print(Text(LEGEND, style="dim"))
    return console.file.getvalue()


def _kernel_line(file: str, kernel: dict) -> str:
    if "error" in kernel:
        return f"{file}: detail unavailable: {kernel['error']}"
    return (f"{file} {kernel['arch']}: {kernel['name']} {kernel['registers']} registers, "
            f"{kernel['shared']} B shared, {kernel['local']} B local")


def _gpu_lines(result: ScanResult) -> list[str]:
    lines = [f"judged for {g.label}, compute capability {g.compute_capability} ({g.source})" for g in result.gpus]
    return lines + ([result.gpu_note] if result.gpu_note else [])


def file_rows(result: ScanResult) -> list[dict]:
    """One flat row per file, for CSV and Markdown."""
    rows = []
    for source in result.sources:
        for row in source.rows:
            flat = {"source": source.title, "file": row.file, "package": row.package, "version": row.version,
                    "sass": " ".join(row.sass), "ptx": " ".join(row.ptx), "problem": row.problem or ""}
            for gpu in result.gpus:
                verdict = row.verdicts.get(gpu.label)
                flat[f"{gpu.label} verdict"] = verdict.verdict if verdict else ""
                flat[f"{gpu.label} via"] = verdict.via if verdict else ""
                flat[f"{gpu.label} note"] = verdict.note if verdict else ""
            rows.append(flat)
    return rows


def render_csv(result: ScanResult) -> str:
    rows = file_rows(result)
    out = io.StringIO()
    columns = ["source", "file", "package", "version", "sass", "ptx", "problem",
               *(f"{g.label} {part}" for g in result.gpus for part in ("verdict", "via", "note"))]
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _md_cell(value: str) -> str:
    return str(value).replace("|", "\\|") or "-"


def render_markdown(result: ScanResult) -> str:
    lines = ["# smbench scan: will this software run natively on the GPU?", ""]
    lines += [f"- {line}" for line in _gpu_lines(result)] + [""]
    for source in result.sources:
        packages = source.packages(result.gpus)
        lines += [f"## {source.title}", "", f"`{source.root}`: {source.files_scanned} files, "
                  f"{_size(source.bytes_scanned)}, {source.seconds:.2f} s", ""]
        if packages:
            header = ["package", "version", "files", "SASS", "PTX", *(g.label for g in result.gpus)]
            lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            for package in packages:
                cells = [package.name, package.version, str(package.files), " ".join(package.sass),
                         " ".join(package.ptx)]
                cells += [f"{rules.WORDS[package.verdicts[g.label].verdict]}: {package.verdicts[g.label].via}"
                          for g in result.gpus]
                lines.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
        else:
            lines.append("No device code.")
        lines += [""] + [f"- {line}" for line in notes(packages, result.gpus)]
        lines += [f"- could not read `{row.file}`: {row.problem}" for row in source.problems]
        lines.append("")
    lines += [f"**{line}**  " for line in result.summary_lines()] + ["", LEGEND, ""]
    return "\n".join(lines)


def render_json(result: ScanResult) -> str:
    return json.dumps(result.to_json(), indent=2) + "\n"


def table_width(result: ScanResult) -> int:
    """The width at which every table fits unwrapped, for a terminal wider than 120 columns."""
    widest = 80
    for source in result.sources:
        for package in source.packages(result.gpus):
            widest = max(widest, len(package.name) + len(package.version) + len(_short(package.sass))
                         + len(_short(package.ptx)) + 24 * len(result.gpus) + 20)
    return min(widest, 200)
