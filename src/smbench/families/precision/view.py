"""The precision family's part of the summary at the end of `smbench run`."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from smbench.run_view import family_table, print_table


def _parameter(found: dict, show=str) -> str:
    """A fitted parameter: its value, or the values the probes left open."""
    if found is None:
        return "-"
    if found["determined"]:
        return show(found["value"])
    values = found["consistent"]
    if not values:
        return "none fits"
    numbers = [v for v in values if isinstance(v, int) and not isinstance(v, bool)]
    if len(numbers) == len(values) and len(values) > 2:
        return f"{min(numbers)}..{max(numbers)}"
    return " or ".join(show(v) for v in values)


def _block_cell(p: dict) -> str:
    """Products per fused sum; with the products dealt to the sums in runs, and c added only
    after them (the sm_89-form FP8 mma that ptxas builds from HMMAs on sm_90), said too."""
    text = _parameter(p.get("block"), lambda v: "all K" if v is None else str(v))
    interleave, c_entry = p.get("interleave") or {}, p.get("c_entry") or {}
    if interleave.get("determined") and interleave.get("value"):
        text += f" in runs of {interleave['value']}"
    if c_entry.get("determined") and c_entry.get("value") == "after":
        text += ", c added after"
    return text


def precision_table(records: list[dict]) -> Table | None:
    rows, table = family_table(records, "precision",
                                "tensor-core numerics (fitted model; a range where the format cannot tell)",
                                ("format", "K", "products", "subnormals in/out", "fraction bits", "alignment",
                                 "to acc", "block", "inf x 0 / overflow", "GEMM rel. error (K)", "emulator = device"),
                                wrapped=("format",))
    if table is None:
        return None
    for r in rows:
        p = r["fit"]["parameters"]
        width = 24 if r["accumulator"] == "f32" else 11
        fraction = _parameter(p.get("fraction_bits"))
        if p.get("fraction_bits", {}).get("determined"):
            fraction += f" ({p['fraction_bits']['value'] - width + 1:+d})"
        specials = {s["probe"]: s["device"] for s in r["fit"]["specials"]}
        inf_zero = specials.get("inf x 0", "-")
        overflow = next((v for k, v in specials.items() if "overflow" in k), "-")
        largest = max(r["gemm"], key=lambda row: row["k"]) if r.get("gemm") else None
        error = (f"{largest['device_median_rel_error']:.2g} ({largest['k']})" if largest else "-")
        agree = f"{100 * largest['bit_identical']:.0f}%" if largest else "-"
        products = _parameter(p.get("product_bits"), lambda v: "exact" if v is None else f"{v} bits")
        subnormals = (_parameter(p.get("subnormal_inputs"), lambda v: "kept" if v else "flushed") + " / " +
                      _parameter(p.get("subnormal_outputs"), lambda v: "kept" if v else "flushed"))
        table.add_row(r["label"], str(r["k"]), products, subnormals, fraction, _parameter(p.get("align_rounding")),
                      _parameter(p.get("output_rounding")),
                      _block_cell(p),
                      f"{inf_zero} / {overflow}", error, agree)
    return table


def view(records: list[dict], console: Console) -> None:
    numerics = precision_table(records)
    print_table(console, numerics, "fraction bits: bits kept below the leading bit of a fused sum's largest term "
                "(in brackets: beyond the accumulator's significand); alignment: how the bits past them go; to acc: "
                "the rounding of each fused sum to the accumulator; block: products per fused sum. Median relative "
                "error of a random 16 x K x 8 GEMM against float64, and how often the fitted emulator gives the "
                "device's bits exactly.")
    if numerics is not None:
        recovered = [r for r in records if r["family"] == "precision" and r.get("recovered")]
        wrong = [r["benchmark"] for r in recovered if "WRONG" in r["recovered"].values()]
        if recovered:
            console.print(f"CPU path: the probes recovered the emulated model's parameters for "
                          f"{len(recovered) - len(wrong)} of {len(recovered)} formats"
                          + (f"; WRONG for {', '.join(wrong)}" if wrong else ""), highlight=False)


def headline(document: dict) -> list[tuple[str, str]]:
    records = [r for r in document["records"] if r["family"] == "precision" and r["status"] in ("ok", "failed")]
    if not records:
        return []
    fitted = [r for r in records if r["status"] == "ok"]
    text = f"{len(fitted)} of {len(records)} formats probed and fitted to a model (the numerics table has each)"
    recovered = [r for r in fitted if r.get("recovered")]
    if recovered:
        right = sum("WRONG" not in r["recovered"].values() for r in recovered)
        text += f"; CPU path: the emulator's own model recovered for {right} of {len(recovered)}"
    return [("numerics", text)]
