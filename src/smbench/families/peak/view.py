"""The peak family's part of the summary at the end of `smbench run`."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from smbench.run_view import GROUP_ORDER, VERDICT_STYLE, fallback_cell, family_table, percent, print_table


def peak_table(records: list[dict]) -> Table | None:
    """Per precision: the loop's instruction, throughput, % of spec and of the clock-based
    peak, the verdict, and how much faster the native build is than the compute_80 one."""
    rows, table = family_table(records, "peak", "compute peaks (dense)",
                                ("precision", "loop", "instruction", "support", "T(FL)OP/s", "% spec", "% clock peak",
                                 "clock", "verdict", "native / sm_80 PTX"), wrapped=("loop",),
                                right=("T(FL)OP/s", "% spec", "% clock peak", "clock"))
    if table is None:
        return None
    order = {key: i for i, key in enumerate(GROUP_ORDER)}
    rows.sort(key=lambda r: (order.get(r["group"], len(order)), r["unit"] != "tensor"))
    for r in rows:
        clock = r.get("expected", {}).get("clock_mhz")
        table.add_row(r["group"], r["label"], r.get("instruction", ""), r.get("support", ""),
                      f"{r['tflops']['median']:.4g} {'TOPS' if r['ops_unit'] == 'TOPS' else ''}".strip(),
                      percent(r.get("percent_of_spec")), percent(r.get("percent_of_clock_peak")),
                      f"{clock:.0f} MHz" if clock else "-",
                      Text(r.get("verdict", ""), style=VERDICT_STYLE.get(r.get("verdict", ""), "")),
                      fallback_cell(r))
    return table


def view(records: list[dict], console: Console) -> None:
    print_table(console, peak_table(records), "T(FL)OP/s = operations counted per instruction (2 m n k per mma, 2 per "
                "FMA lane) / median time; % clock peak = against rate per SM per clock x SMs x the SM clock seen; the "
                "verdict uses it where the device table has a rate.")
