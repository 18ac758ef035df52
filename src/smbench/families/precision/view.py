"""The precision family's part of the summary at the end of `smbench run`: one short row per
format (fitted parameters in a few characters, a legend below), then one line per format
saying which published model the device behaves like, or where it differs from the nearest.

On the CPU path the device is the emulator playing a chosen GPU's published model: its lines say
so ("emulating H100's published model: recovered"), never that the host behaves like a GPU. The
expert parameters (neab, block, c_entry ...) stay in the table and these lines; the one-screen
summary (headline) names only the model."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from smbench import emulate, screen, tensor_core_models
from smbench.errors import SmbenchError
from smbench.families import precision
from smbench.run_view import family_table, print_table

COLUMNS = ("format", "neab", "block", "acc", "bits", "floor", "like", "=fit", "=pub")
LEGEND = ("neab: bits kept below the largest exponent sum beyond fp32's 23; block: products per fused sum "
          "(r2: dealt in runs of 2; c+: c added after); acc: each sum's rounding to the accumulator; bits: the "
          "block result truncated to that many significant bits first; floor: the lowest anchor exponent; like: "
          "the published models answering every probe as the device did (~ nearest, none matching); =fit / "
          "=pub: share of a random 16 x K x 8 GEMM's outputs the fitted / that published model gives bit for "
          "bit. a|b: the probes left both; any: every value tried; <=n: none, or any up to n; -: none.")


def _short(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "kept" if value else "ftz"
    if isinstance(value, str):
        return value.upper() if value in ("rz", "rne") else value
    return str(value)


def _cell(found: dict | None, show=_short, tried=()) -> str:
    """A fitted parameter: its value, or the values the probes left open, in a few characters
    ("any" when they left every value the fit tried)."""
    if not found:
        return "?"
    if found["determined"]:
        return show(found["value"])
    values = found["consistent"]
    if not values:
        return "none fits"
    if tried and set(tried) <= set(values):
        return "any"
    numbers = sorted(v for v in values if isinstance(v, int) and not isinstance(v, bool))
    if None in values and numbers and set(numbers) == {t for t in tried if t is not None and t <= numbers[-1]}:
        return f"<={numbers[-1]}"  # none, or any value up to the last: nothing seen above it
    if len(numbers) > 2:
        return ("-|" if None in values else "") + f"{numbers[0]}..{numbers[-1]}"
    return "|".join(show(v) for v in values)


def _block(p: dict) -> str:
    text = _cell(p.get("block"), lambda v: "K" if v is None else str(v))
    interleave, c_entry = p.get("interleave") or {}, p.get("c_entry") or {}
    if interleave.get("determined") and interleave.get("value"):
        text += f" r{interleave['value']}"
    if c_entry.get("determined") and c_entry.get("value") == "after":
        text += " c+"
    return text


def _like(record: dict) -> str:
    behaves = record.get("behaves") or {}
    if behaves.get("kind") == "none":
        return "n/a"
    names = ", ".join(behaves.get("models", [])) or "-"
    return names if behaves.get("kind") == "like" else f"~{names}"


def _share(row: dict | None, key: str) -> str:
    return f"{100 * row[key]:.0f}%" if row and key in row else "-"


def _label(record: dict) -> str:
    fmt = precision.BY_KEY.get(record["benchmark"])
    if fmt and record.get("through"):  # not a tensor core: say what answered
        return f"{fmt.input_format} in {record['through']}"
    return f"{fmt.input_format}>{fmt.accumulator}" if fmt and not fmt.scale else record["benchmark"].split("_")[0]


def precision_table(records: list[dict]) -> Table | None:
    rows, table = family_table(records, "precision", "tensor-core numerics: the fitted model, the published one",
                               COLUMNS, wrapped=("like",), right=("=fit", "=pub"))
    if table is None:
        return None
    for r in rows:
        p = r["fit"]["parameters"]
        largest = max(r["gemm"], key=lambda row: row["k"]) if r.get("gemm") else None
        table.add_row(_label(r), _cell(p.get("neab"), tried=range(emulate.MIN_NEAB, emulate.MAX_NEAB + 1)), _block(p),
                      _cell(p.get("output_rounding"), tried=emulate.ROUNDINGS), _cell(p.get("block_bits")),
                      _cell(p.get("anchor_floor"), tried=precision.FLOORS), _like(r),
                      _share(largest, "bit_identical"), _share(largest, "published_identical"))
    return table


SCALE_WORDS = {"product": "scale: per product", "block": "scale: on the block sum"}


def scale_entry(record: dict) -> str | None:
    """For a block-scaled format, where the fit says the scale enters: 'scale: per product',
    'scale: on the block sum', or that the probes left both; None for other formats."""
    fmt = precision.BY_KEY.get(record["benchmark"])
    found = ((record.get("fit") or {}).get("parameters") or {}).get("scale_entry")
    if not fmt or not fmt.scale or not found:
        return None
    if found["determined"]:
        return SCALE_WORDS[found["value"]]
    return "scale: undecided (the probes left " + " and ".join(SCALE_WORDS[v][7:] for v in found["consistent"]) + ")"


def emulating(record: dict, short: bool = False) -> str:
    """On the CPU path, what the probes were put to: 'emulating H100's published model', or the
    model standing in where none is published for the format (`short`: without naming it, so that
    the one-screen summary groups such formats)."""
    gpu = record.get("cpu_model", "?")
    try:
        tensor_core_models.lookup(gpu, record.get("input_format", ""), record.get("accumulator", ""))
        return f"emulating {gpu}'s published model"
    except SmbenchError:
        if short:
            return f"emulating {gpu}'s nearest published model, standing in (none is published for these)"
        return (f"emulating {gpu}'s nearest published model, standing in (none is published for "
                f"{record.get('input_format')} -> {record.get('accumulator')})")


def recovered_text(record: dict) -> str:
    """'recovered' when no parameter the probes settled differs from the emulated model's, else
    which are WRONG."""
    wrong = [name for name, outcome in record["recovered"].items() if outcome == "WRONG"]
    return f"WRONG for {', '.join(wrong)}" if wrong else "recovered"


def verdict(record: dict) -> str:
    """The device's answer in one clause: on the CPU path what it emulated and whether the probes
    recovered it; on a GPU which published model it behaves like (the parameters where it differs)."""
    if record.get("recovered"):
        return f"{emulating(record)}: {recovered_text(record)}"
    return record["behaves"]["verdict"]


def summary_verdict(record: dict) -> str:
    """verdict() for the one-screen summary: the model named, the expert parameters left to the table."""
    behaves = record.get("behaves") or {}
    if record.get("recovered"):
        return f"{emulating(record, short=True)}: {recovered_text(record)}"
    if behaves.get("kind") != "nearest":
        return verdict(record)
    nearest = ", ".join(behaves.get("models", [])) or "?"
    return f"matches no published model (nearest: {nearest}; how it differs: the numerics table)"


def verdict_lines(records: list[dict]) -> list[str]:
    """'e4m3>f32: behaves like H100 (Khattak & Mikaitis 2025)', one per fitted format; for a
    block-scaled one, where the scale enters after a semicolon."""
    return [f"{_label(r)}: {verdict(r)}" + (f"; {scale_entry(r)}" if scale_entry(r) else "")
            for r in records if r["family"] == "precision" and r["status"] == "ok" and r.get("behaves")]


def view(records: list[dict], console: Console) -> None:
    numerics = precision_table(records)
    print_table(console, numerics, LEGEND)
    if numerics is None:
        return
    for line in verdict_lines(records):
        screen.say(console, line, indent=4)
    recovered = [r for r in records if r["family"] == "precision" and r.get("recovered")]
    wrong = [r["benchmark"] for r in recovered if "WRONG" in r["recovered"].values()]
    if recovered:
        screen.say(console, f"CPU path: the emulator plays the published models of the GPU chosen ([precision] "
                            f"cpu_model); the probes recovered the emulated model's parameters for "
                            f"{len(recovered) - len(wrong)} of {len(recovered)} formats"
                            + (f"; WRONG for {', '.join(wrong)}" if wrong else ""))


def headline(document: dict) -> list[tuple[str, str]]:
    """The formats grouped by the published model each behaves like (or 'matches none'); on the
    CPU path by the model the emulator played and whether the probes recovered it."""
    records = [r for r in document["records"] if r["family"] == "precision" and r["status"] in ("ok", "failed")]
    if not records:
        return []
    groups: dict[str, list[str]] = {}
    for r in records:
        said = summary_verdict(r) if r["status"] == "ok" and r.get("behaves") else "no model fits"
        groups.setdefault(said, []).append(_label(r))
    return [("numerics", "; ".join(f"{', '.join(labels)}: {said}" for said, labels in groups.items()))]
