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

from smbench import screen
from smbench.scan import rules
from smbench.scan.scanner import Package, ScanResult

FORMATS = ("table", "md", "csv", "json")
_STYLE = {rules.NATIVE: "green", rules.JIT: "yellow", rules.NONE: "red bold", rules.UNKNOWN: "magenta"}
_WORD = {rules.NATIVE: "native", rules.JIT: "JIT", rules.NONE: "NO", rules.UNKNOWN: "unknown"}

LEGEND = ("SASS and PTX: the sm_ and compute_ numbers in the files (relocatable code, never loaded, "
          "left out). native = SASS for this GPU in every module that serves it (modules built only "
          "for other GPUs are dispatched there, not here); JIT = some code only as PTX the driver "
          "compiles at first load; NO = nothing for this GPU; unknown = code that could not be read; "
          "! = JIT from an older generation's PTX. Rules and sources: docs/scan.md.")


def _short(names: list[str]) -> str:
    """sm_75 sm_80 sm_120f -> '75 80 120f' (the column header says which prefix)."""
    return " ".join(name.split("_", 1)[1] for name in names) or "-"


def _cell(verdict: rules.Overall) -> Text:
    code = verdict.code or ""
    word = _WORD[verdict.verdict]
    text = Text(word, style=_STYLE[verdict.verdict])
    if code:
        text.append(f" {code}")
    if verdict.fallback:
        text.append(" !", style="yellow bold")
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
    """A line for every package and GPU that is not plainly native (what runs, which file
    and what it lacks), and for every package judged by one per-CUDA variant."""
    lines = []
    for package in packages:
        for gpu in gpus:
            verdict = package.verdicts[gpu.label]
            if verdict.verdict == rules.NATIVE:
                continue
            lines.append(f"{package.name} on {gpu.label}: {rules.WORDS[verdict.verdict]}: "
                         f"{verdict.note or verdict.via}")
        if package.variants:
            lines.append(f"{package.name}: {package.variants}")
    return lines


def owner_lines(source) -> list[str]:
    """Files two wheels list: who owns each (its RECORD hash matches the file), who was overwritten."""
    seen: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for row in source.rows:
        if row.overwritten:
            seen.setdefault((f"{row.package} {row.version}".strip(), tuple(row.overwritten)), []).append(row.file)
    lines = []
    for (owner, others), files in seen.items():
        listed = files[0] + (f" and {len(files) - 1} more" if len(files) > 1 else "")
        lines.append(f"{listed}: from {owner} (its RECORD's hash matches the file); "
                     f"also listed by {', '.join(others)}, overwritten")
    return lines


def render_text(result: ScanResult, width: int | None = None, colour: bool = False) -> str:
    console = Console(file=io.StringIO(), width=width or 120, force_terminal=colour, color_system="standard"
                      if colour else None, highlight=False)
    for line in _gpu_lines(result):
        console.print(Text(line, style="dim"), soft_wrap=False)
    for source in result.sources:
        packages = source.packages(result.gpus)
        head = (f"{_where(source)}: {source.files_scanned} files, {_size(source.bytes_scanned)} "
                f"read by their headers in {source.seconds:.2f} s")
        # The head on lines of its own (a table title wraps at the table's width, inside a path).
        screen.say(console, head if packages else head + ": no device code", "bold", indent=2)
        for table in package_tables(None, packages, result.gpus, console) if packages else []:
            console.print(table)
        for line in notes(packages, result.gpus) + owner_lines(source):
            screen.say(console, "  " + line)
        for row in source.problems:
            screen.say(console, f"  could not read {row.file}: {row.problem}", "red")
        if source.skipped:
            screen.say(console, f"  skipped {len(source.skipped)} file{'s' if len(source.skipped) > 1 else ''} "
                          f"named like libraries that are not ELF (linker scripts): "
                          f"{', '.join(source.skipped[:3])}{' ...' if len(source.skipped) > 3 else ''}", "dim")
        for row in source.code_rows:
            for kernel in row.kernels or []:
                screen.say(console, "  " + _kernel_line(row.file, kernel), "dim")
    console.print()
    for line in result.summary_lines():
        console.print(Text(line, style="bold"))
    console.print(Text(LEGEND, style="dim"))
    return console.file.getvalue()


def _where(source) -> str:
    """The header of a source's table: what was scanned, by its path (an environment's
    title names its folder already; its site-packages is in the JSON)."""
    if source.title.startswith("Python environment") or not source.root:
        return source.title
    return f"{source.title} ({source.root})"


def _kernel_line(file: str, kernel: dict) -> str:
    if "error" in kernel:
        return f"{file}: detail unavailable: {kernel['error']}"
    return (f"{file} {kernel['arch']}: {kernel['name']} {kernel['registers']} registers, "
            f"{kernel['shared']} B shared, {kernel['local']} B local")


def _gpu_lines(result: ScanResult) -> list[str]:
    lines = [f"judged for {g.label}, compute capability {g.compute_capability} ({g.source})" for g in result.gpus]
    driver = result.driver
    lines.append(f"PTX JIT judged for the CUDA {driver.cuda[0]}.{driver.cuda[1]} driver here" if driver.cuda
                 else "no CUDA driver here: a JIT verdict says which driver it needs")
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
        lines += [""] + [f"- {line}" for line in notes(packages, result.gpus) + owner_lines(source)]
        lines += [f"- could not read `{row.file}`: {row.problem}" for row in source.problems]
        lines.append("")
    lines += [f"**{line}**  " for line in result.summary_lines()] + ["", LEGEND, ""]
    return "\n".join(lines)


def render_json(result: ScanResult) -> str:
    return json.dumps(result.to_json(), indent=2) + "\n"
