"""Result documents as pandas frames: one row per record, with one value column per figure.

A measured figure's spread is smbench.noise's, as everywhere: `noise` = interquartile range /
median of its timed samples, `ci95_low`/`ci95_high` the median's 95% interval in the figure's
unit, `converged` whether sampling stopped on its rule (False: on its budget or sample cap)."""

from __future__ import annotations

import math

import pandas as pd

from smbench import noise
from smbench.families import figure_of

COLUMNS = ("file", "device", "kind", "backend", "family", "benchmark", "kernel", "dtype", "width", "memory", "shape",
           "size_bytes", "metric", "value", "best", "n", "noise", "ci95_low", "ci95_high", "converged", "status",
           "verdict", "percent_of_expected", "figure_kind", "source", "reason")
TIMES = ("ns", "us")  # figures that grow with the time (the others are rates: amount / time)


def _interval(value, metric: str, timing: dict) -> tuple[float | None, float | None]:
    """The median's 95% interval in the figure's unit: the time interval's ends scaled by the
    figure / the median time (swapped for a rate)."""
    spread = noise.of_timing(timing)
    median = timing.get("median")
    if spread is None or spread.low is None or value is None or not median or not spread.low:
        return None, None
    if metric in TIMES:
        return value * spread.low / median, value * spread.high / median
    return value * median / spread.high, value * median / spread.low


# Rates any family's records may hold beside their own figure, and their units.
RATES = (("gbps", "GB/s"), ("tflops", "TFLOP/s"))


def _metric(record: dict) -> tuple[str, float | None, float | None]:
    """(unit, median, best): the family's own figure first (a GEMM records GB/s too; its figure
    is the throughput), else the first rate the record holds."""
    figure = figure_of(record)
    units = dict(RATES)
    order = [(figure.field, units.get(figure.field, figure.unit), figure.best)]
    order += [(name, unit, "best") for name, unit in RATES if name != figure.field]
    for key, unit, best in order:
        if isinstance(record.get(key), dict):
            return unit, record[key].get("median"), record[key].get(best)
    return "", None, None


def rows(document: dict, file: str = "") -> list[dict]:
    out = []
    for record in document["records"]:
        metric, value, best = _metric(record)
        timing = record.get("time_s") if isinstance(record.get("time_s"), dict) else {}
        spread = noise.of_timing(timing)
        low, high = _interval(value, metric, timing)
        out.append({
            "file": file, "device": document["device"].get("name", ""), "kind": document["kind"],
            "backend": document["backend"], "family": record["family"], "benchmark": record["benchmark"],
            "kernel": record.get("kernel") or record["benchmark"], "dtype": record.get("dtype"),
            "width": record.get("width"), "memory": record.get("memory") or record.get("host"),
            "shape": record.get("shape") if isinstance(record.get("shape"), str) else None,  # "M x N x K"
            "size_bytes": record.get("working_set_bytes") or record.get("bytes"), "metric": metric,
            "value": value, "best": best, "n": timing.get("n"),
            "noise": spread.noise if spread else None, "ci95_low": low, "ci95_high": high,
            "converged": timing.get("converged") if isinstance(timing.get("converged"), bool) else None,
            "status": record["status"], "verdict": record.get("verdict"),
            "percent_of_expected": record.get("percent_of_expected"), "figure_kind": record.get("figure_kind"),
            "source": record.get("source"), "reason": record.get("reason"),
        })
    return out


def frame(documents: list[tuple[str, dict]]) -> pd.DataFrame:
    """One frame for several (file name, document) pairs."""
    data = [row for name, document in documents for row in rows(document, name)]
    table = pd.DataFrame(data, columns=list(COLUMNS))
    # Sizes, widths and counts are whole numbers; absent ones must not turn them into floats.
    return table.astype({"width": "Int64", "size_bytes": "Int64", "n": "Int64", "converged": "boolean"})


def to_markdown(table: pd.DataFrame, float_format: str = "{:.4g}") -> str:
    """A Markdown table without the optional `tabulate` dependency."""
    def cell(value) -> str:
        if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
            return ""
        if isinstance(value, float):
            return float_format.format(value)
        return str(value).replace("|", "\\|")

    header = "| " + " | ".join(map(str, table.columns)) + " |"
    rule = "|" + "---|" * len(table.columns)
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *body]) + "\n"
