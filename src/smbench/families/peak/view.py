"""The peak family's part of the summary at the end of `smbench run`."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from smbench.families import peak
from smbench import noise
from smbench.noise import NOT_CONVERGED, mark
from smbench.run_view import GROUP_ORDER, Column, Short, fallback_cell, percent, print_fitted, verdict_style


COLUMNS = [Column("precision", "prec", keep=1), Column("format", keep=Column.NEVER_DROPPED),
           Column("instruction", "instr", keep=3), Column("support", keep=4),
           Column("T(FL)OP/s", keep=Column.NEVER_DROPPED, right=True),
           Column("noise", keep=5, right=True), Column("% spec", "%spec", keep=7, right=True),
           Column("% clock peak", "%clk", keep=6, right=True), Column("clock", keep=2, right=True),
           Column("verdict", keep=8), Column("native / sm_80 PTX", "vs sm_80", keep=5)]


def peak_rows(records: list[dict]) -> list[list]:
    """Per precision: the loop's instruction, throughput, % of spec and of the clock-based
    peak, the verdict, and how much faster the native build is than the compute_80 one."""
    rows = [r for r in records if r["family"] == "peak" and r["status"] == "ok"]
    order = {key: i for i, key in enumerate(GROUP_ORDER)}
    rows.sort(key=lambda r: (order.get(r["group"], len(order)), r["unit"] != "tensor"))
    table = []
    for r in rows:
        clock = r.get("expected", {}).get("clock_mhz")
        table.append([r["group"], Short((r["label"], r["benchmark"])), r.get("instruction", ""), r.get("support", ""),
                      f"{r['tflops']['median']:.4g}{mark(r)}{' TOPS' if r['ops_unit'] == 'TOPS' else ''}", noise.cell(r),
                      percent(r.get("percent_of_spec")), percent(r.get("percent_of_clock_peak")),
                      f"{clock:.0f} MHz" if clock else "-",
                      Text(r.get("verdict", ""), style=verdict_style(peak.verdict_word(r.get("verdict", "")))),
                      fallback_cell(r)])
    return table


def view(records: list[dict], console: Console) -> None:
    print_fitted(console, "compute peaks (dense)", COLUMNS, peak_rows(records),
                 "T(FL)OP/s = operations counted per instruction (2 m n k per mma, 2 per FMA lane) / median time; "
                 "% clock peak = against rate per SM per clock x SMs x the SM clock the loop measured; the verdict "
                 f"uses it where the device table has a rate; noise: interquartile range / median of the timed samples; "
                 f"{NOT_CONVERGED}: sampling did not converge (smbench.noise).")


def headline(document: dict) -> list[tuple[str, str]]:
    """The fastest tensor loop of each precision, and how many loops each verdict got."""
    rows = [r for r in document["records"] if r["family"] == "peak" and r["status"] == "ok"]
    if not rows:
        return []
    best: dict[str, dict] = {}
    for r in rows:
        if r["unit"] == "tensor" and (r["group"] not in best or r["tflops"]["median"] > best[r["group"]]["tflops"]["median"]):
            best[r["group"]] = r
    order = {key: i for i, key in enumerate(GROUP_ORDER)}
    figures = ", ".join(f"{group} {r['tflops']['median']:.4g}{mark(r)}" + (f" ({percent(r.get('percent_of_clock_peak'))})"
                                                                   if r.get("percent_of_clock_peak") else "")
                        for group, r in sorted(best.items(), key=lambda item: order.get(item[0], len(order))))
    verdicts: dict[str, list[str]] = {}
    for r in rows:
        verdicts.setdefault(r.get("verdict") or "no verdict", []).append(r["benchmark"])
    counted = "; ".join(f"{len(names)} {verdict}" + (f" ({', '.join(names[:3])}{' ...' if len(names) > 3 else ''})"
                                                     if verdict not in ("normal", "no expectation") else "")
                        for verdict, names in verdicts.items())
    # The clock-based peak needs the SM clock and the unit counts of a GPU: none on the CPU path.
    clocked = any(r.get("percent_of_clock_peak") for r in best.values())
    return [("tensor", f"T(FL)OP/s, best loop per precision{' (% of the clock-based peak)' if clocked else ''}: "
                       f"{figures}"),
            ("", f"{len(rows)} loops validated: {counted}")]
