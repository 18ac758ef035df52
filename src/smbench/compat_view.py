"""How a compatibility matrix is shown: a terminal table, Markdown, CSV or JSON."""

from __future__ import annotations

import csv
import io
import json
import re
from collections import defaultdict

from rich.console import Console
from rich.text import Text

from smbench import demangle, screen
from smbench.compat import Cell, CompatReport
from smbench.run_view import Column, Short, print_fitted
from smbench.sass import is_tensor

FORMATS = ("table", "json", "csv", "md")

LEGEND = ("cell: tensor-core instruction class and registers per thread (e.g. QMMA 30r); "
          "'ok' = compiled, no tensor instruction; 'spill' = local-memory traffic; "
          "✗ = ptxas/NVRTC rejects it, with '→80:X' when the compute_80 PTX would be JIT-compiled there "
          "to X instead (the sm_80 fallback), '→80:ok' when it would with no tensor instruction, and "
          "'→80:no' when not; error = the code does not compile for any target (a mistake in it, not a "
          "missing feature); skip = this NVRTC lacks the target; ? = could not be assessed.")


def short_label(cell: Cell) -> str:
    if cell.status == "ok":
        head = cell.tensor_instructions[0].split(".")[0] if cell.tensor_instructions else "ok"
        label = f"{head} {cell.registers}r"
        if (cell.local_bytes or 0) > 0 or (cell.spill_instructions or 0) > 0:
            label += " spill"
        return label
    if cell.status == "failed":
        if cell.fallback == "yes":
            if not is_tensor(cell.fallback_detail):
                return "✗ →80:ok"  # it would run, with no tensor instruction to name
            return "✗ →80:" + cell.fallback_detail.split(".")[0]
        if cell.fallback == "no":
            return "✗ →80:no"
        return "✗"
    if cell.status == "error":
        return "error"
    if cell.status == "skipped":
        return "skip"
    return "?"


def fallback_summary(cells: list[Cell]) -> str:
    """The sm_80-fallback column: over the targets where the kernel fails natively, would
    its compute_80 PTX be JIT-compiled there instead? '-' where it never fails."""
    verdicts = {(c.fallback, c.fallback_detail if c.fallback == "yes" else "") for c in cells if c.fallback}
    if not verdicts:
        return "-"
    if len(verdicts) > 1:
        return "mixed (see below)"
    verdict, detail = verdicts.pop()
    if verdict == "yes":
        return "yes: " + (detail.split(".")[0] if is_tensor(detail) else "no tensor instr.")
    return verdict


def _style(cell: Cell) -> str:
    return {"ok": "green", "failed": "red", "error": "bold red", "skipped": "dim",
            "unknown": "yellow"}.get(cell.status, "")


def _group_targets(pairs: list[tuple[str, str]]) -> list[tuple[str, list[str]]]:
    """[(value, target)] -> [(value, [targets])] keeping first-seen order."""
    grouped: dict[str, list[str]] = defaultdict(list)
    for value, target in pairs:
        grouped[value].append(target)
    return list(grouped.items())


def _generic(message: str, target: str) -> str:
    """The same message for every target it names, so that targets group on one line."""
    return re.sub(r"(?:\.target\s+)?'(sm_\d+[af]?)'",
                  lambda m: "this target" if m.group(1) in (target, _portable(target)) else m.group(0), message)


def _portable(target: str) -> str:
    return re.sub(r"[af]$", "", target)


def kernel_name(symbol: str) -> str:
    """A kernel as its source names it: C++ kernels demangled (smbench.demangle), extern "C" as they are."""
    return demangle.demangle(symbol)


def details(report: CompatReport) -> list[str]:
    """One line per kernel and distinct outcome: instructions produced, errors, fallbacks."""
    lines = []
    for file, kernel in report.kernels():
        cells = [c for c in report.cells if c.file == file and c.kernel == kernel]
        name = kernel_name(kernel)
        lines.append(f"{file}:{name}" + (f" [{kernel}]" if name != kernel else ""))  # the symbol, to search for
        ok = [(", ".join(c.tensor_instructions) or "no tensor instruction", c.target)
              for c in cells if c.status == "ok"]
        for value, targets in _group_targets(ok):
            lines.append(f"  ok    {', '.join(targets)}: {value}")
        failed = [(_generic(c.error, c.target), c.target) for c in cells if c.status in ("failed", "unknown")]
        for value, targets in _group_targets(failed):
            lines.append(f"  ✗     {', '.join(targets)}: {value}")
        errors = [(c.error, c.target) for c in cells if c.status == "error"]
        for value, targets in _group_targets(errors):
            lines.append(f"  error {', '.join(targets)}: {value}")
        # Not made generic: a fallback message speaks of the sm_80 PTX, not of the column's target.
        fallback = [(f"{c.fallback} ({c.fallback_detail})" if c.fallback_detail else c.fallback, c.target)
                    for c in cells if c.fallback]
        for value, targets in _group_targets(fallback):
            lines.append(f"  →80   {', '.join(targets)}: sm_80 PTX fallback {value}")
    for target, why in report.skipped_targets.items():
        lines.append(f"skipped {target}: {why}")
    lines.extend(f"note: {note}" for note in report.notes)
    if any(k.startswith("_Z") for _, k in report.kernels()) and demangle.unavailable():
        lines.append(f"note: {demangle.unavailable()}")
    return lines


def _matrix_rows(report: CompatReport, file: str) -> list[tuple[str, list[Cell]]]:
    rows = []
    for f, kernel in report.kernels():
        if f == file:
            by_target = {c.target: c for c in report.cells if c.file == f and c.kernel == kernel}
            rows.append((kernel, [by_target[t] for t in report.targets]))
    return rows


def render_table_text(report: CompatReport, width: int | None, colour: bool) -> str:
    """The terminal table as text: at a terminal (`width` given) fitted to it, the targets in
    further tables with the kernels repeated where they do not fit; for a file or a pipe
    (None) wide enough for the whole matrix, plain, the detail lines unwrapped."""
    console = Console(file=io.StringIO(), width=width or table_width(report), force_terminal=colour,
                      color_system="auto" if colour else None, highlight=False)
    render_table(report, console, wrap=width is not None)
    return console.file.getvalue()


DETAIL_INDENT = 8  # under the text after "  ok    " / "  ✗     "


def render_table(report: CompatReport, console: Console, wrap: bool = True) -> None:
    """Per file a title line and the kernels x targets table (run_view.print_fitted: every
    cell whole at the console's width), the legend, and a line per kernel and outcome."""
    for file in report.files:
        # The title is its own line, never wrapped inside the file's name.
        console.print(Text(f"{file}: kernels x targets (NVRTC {'.'.join(map(str, report.nvrtc_version))})",
                           style="bold"), soft_wrap=True)
        columns = [Column("kernel", keep=Column.NEVER_DROPPED), *(Column(target) for target in report.targets),
                   Column("sm_80 fallback", "→80")]
        rows = [[Short((Text(kernel_name(kernel)), Text(demangle.kernel(kernel)))),
                 *(Text(short_label(c), style=_style(c)) for c in cells),
                 Short((Text(fallback_summary(cells), style="dim"), Text(_short_fallback(cells), style="dim")))]
                for kernel, cells in _matrix_rows(report, file)]
        print_fitted(console, "", columns, rows, stack=True)
    console.print(Text(LEGEND, style="dim"))
    console.print()
    for line in details(report):
        if not wrap:  # a file or a pipe: a detail line is copied into issues and searched for, whole
            console.print(line, highlight=False, markup=False, soft_wrap=True)
            continue
        for part in screen.wrap(line, console.width, indent=DETAIL_INDENT if line.startswith("  ") else 2):
            console.print(part, highlight=False, markup=False, soft_wrap=True)


def _short_fallback(cells: list[Cell]) -> str:
    return {"mixed (see below)": "mixed", "-": "-"}.get(fallback_summary(cells), fallback_summary(cells)
                                                     .replace("no tensor instr.", "no MMA"))


def render_markdown(report: CompatReport) -> str:
    from smbench import provenance

    made = provenance.collect()
    sha = made["git_sha"]
    commit = f", git {sha[:12]}{'-dirty' if sha.endswith('-dirty') else ''}" if sha else ""
    out = [f"_smbench {made['smbench_version']}{commit}; NVRTC {made['nvrtc_version']}, "
           f"nvJitLink {made['nvjitlink_version'] or 'absent'}; {made['host']['system']} "
           f"{made['host']['machine']}; {made['created_utc']}_\n"]
    for file in report.files:
        out.append(f"### {file} (NVRTC {'.'.join(map(str, report.nvrtc_version))})\n")
        out.append("| kernel | " + " | ".join(report.targets) + " | sm_80 fallback |")
        out.append("|---|" + "---|" * (len(report.targets) + 1))
        for kernel, cells in _matrix_rows(report, file):
            out.append(f"| `{kernel_name(kernel)}` | " + " | ".join(short_label(c) for c in cells)
                       + f" | {fallback_summary(cells)} |")
        out.append("")
    out.append(LEGEND + "\n")
    out.append("```text")
    out.extend(details(report))
    out.append("```")
    return "\n".join(out) + "\n"


CSV_FIELDS = ("file", "kernel", "target", "status", "tensor_instructions", "registers", "local_bytes",
              "spill_instructions", "shared_bytes", "error", "fallback", "fallback_detail")


def render_csv(report: CompatReport) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for cell in report.cells:
        row = {name: getattr(cell, name) for name in CSV_FIELDS}
        row["tensor_instructions"] = " ".join(cell.tensor_instructions)
        writer.writerow(row)
    return buffer.getvalue()


def render_json(report: CompatReport) -> str:
    return json.dumps(report.to_dict(), indent=2) + "\n"


def table_width(report: CompatReport) -> int:
    """Columns the matrix needs, so that piped output is not squeezed to 80."""
    kernel = max((len(k) for _, k in report.kernels()), default=10)
    cells = [max(len(t), max((len(short_label(c)) for c in report.cells if c.target == t), default=4))
             for t in report.targets]
    # At least 100 columns: the title and the legend must not wrap word by word.
    return max(100, kernel + sum(w + 3 for w in cells) + len("mixed (see below)") + 7)
