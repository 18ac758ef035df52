"""`smbench targets`: the CUDA target table, what each target compiles."""

from __future__ import annotations

import argparse
import io
import json
from typing import Sequence

from rich.console import Console
from rich.text import Text

from smbench import run_view
from smbench import targets as target_table
from smbench.cli import common
from smbench.errors import SmbenchError


# (header, short header, feature key) of each feature column of `smbench targets`.
TARGET_COLUMNS = (
    ("mma f16/bf16/tf32/s8", "f16", "mma.f16"),  # the four go together on every target (tests check each)
    ("INT4 (s4/u4)", "s4", "mma.s4"),
    ("FP64 tensor (DMMA)", "f64", "mma.f64"),
    ("fp8 (sm_89 form)", "fp8", "mma.fp8"),
    ("f8f6f4 fp8", "f8f6f4", "mma.f8f6f4.fp8"),
    ("f8f6f4 fp6/fp4", "fp6/4", "mma.f8f6f4.fp6fp4"),
    ("block-scaled (mxf8f6f4, mxf4, nvfp4)", "mx/nv", "mma.block_scale"),
    ("wgmma", "wgmma", "wgmma"),
    ("tcgen05", "tc05", "tcgen05"),
    ("cp.async", "cp.a", "cp.async"),
    ("ldmatrix", "ldm", "ldmatrix"),
    ("TMA", "TMA", "cp.async.bulk"),
)


def _support_mark(level: str | None) -> str:
    return {target_table.NATIVE: "yes", target_table.EMULATED: "emulated"}.get(level or "", "-")


def _targets_rows(nvrtc_archs: Sequence[int]) -> list[dict]:
    rows = []
    for t in target_table.all_targets():
        row = {"target": t.name, "cc": t.compute_capability, "architecture": t.architecture,
               "family": t.family, "runs_on": " ".join(t.runs_on),
               "devices": t.devices, "min_nvrtc": ".".join(map(str, t.min_nvrtc)),
               "this_nvrtc": ("yes" if t.number in nvrtc_archs else "no") if nvrtc_archs else "unknown"}
        row.update({key: _support_mark(t.support(key)) for _, _, key in TARGET_COLUMNS})
        rows.append(row)
    return rows


def cmd_targets(args: argparse.Namespace) -> int:
    from smbench import toolchain

    try:
        archs = toolchain.nvrtc_supported_archs()
    except SmbenchError:
        archs = ()  # the table is still worth printing without NVRTC
    rows = _targets_rows(archs)
    if args.format == "json":
        # Every feature in full here (the columns fold f16/bf16/tf32/s8/f64 into one).
        for row in rows:
            target = target_table.get(row["target"])
            row["features"] = {key: target.support(key) for key in target_table.FEATURES}
        common.write(json.dumps({"features": target_table.FEATURES, "targets": rows}, indent=2) + "\n", args.output)
        return 0
    if args.format in ("csv", "md"):
        import pandas as pd

        from smbench import frames

        table = pd.DataFrame(rows)
        if args.format == "csv":
            common.write(table.to_csv(index=False, lineterminator="\n"), args.output)
        else:
            # For people: the terminal table's column names, not the feature keys.
            labels = {"min_nvrtc": "min NVRTC", "this_nvrtc": "this NVRTC", "runs_on": "runs on cc",
                      **{k: l for l, _, k in TARGET_COLUMNS}}
            common.write(frames.to_markdown(table.rename(columns=labels)), args.output)
        return 0
    terminal = args.output is None and common.stdout_is_terminal()
    console = Console(file=io.StringIO(), width=Console().width if terminal else 220, force_terminal=terminal)
    columns = [run_view.Column("target", keep=run_view.Column.NEVER_DROPPED), run_view.Column("cc", keep=8),
               run_view.Column("architecture", "arch", keep=4), run_view.Column("runs on cc", "runs on", keep=6),
               run_view.Column("this NVRTC", "NVRTC", keep=7),
               *(run_view.Column(label, short) for label, short, _ in TARGET_COLUMNS)]
    style = {"yes": "green", "emulated": "yellow"}
    rows = [[row["target"], row["cc"], row["architecture"], row["runs_on"], row["this_nvrtc"],
             *(run_view.Short((Text(row[key], style=style.get(row[key], "dim")),
                               Text({"emulated": "emu"}.get(row[key], row[key]), style=style.get(row[key], "dim"))))
               for _, _, key in TARGET_COLUMNS)] for row in rows]
    run_view.print_fitted(console, "CUDA targets: what each compiles (checked against NVRTC by the test suite)",
                          columns, rows, "emulated (emu) = compiles, but to a slower instruction of another class "
                          "(FP8 through HMMA on sm_90/sm_100). Devices per target: smbench targets --format md",
                          stack=True)
    common.write(console.file.getvalue(), args.output)
    return 0


def add_parser(sub) -> None:
    targets = sub.add_parser("targets", help="the CUDA target table: what each target compiles",
                             description="The CUDA targets smbench knows (sm_80 ... sm_121a and the family 'f' "
                                         "targets): compute capability, architecture, which GPUs run the code, "
                                         "whether this NVRTC compiles for it, and which tensor-core and memory "
                                         "instructions each has (checked against NVRTC by the test suite).")
    targets.add_argument("--format", choices=("table", "json", "csv", "md"), default="table",
                         help="table (default), json (every feature of every target), csv or md")
    common.out_file(targets)
    targets.set_defaults(handler=cmd_targets)
