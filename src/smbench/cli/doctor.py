"""`smbench doctor`: is this machine ready (Python, packages, NVRTC, tools, GPUs)?"""

from __future__ import annotations

import argparse
import io
import json

from rich.console import Console
from rich.text import Text

from smbench.cli import common


def cmd_doctor(args: argparse.Namespace) -> int:
    from smbench.doctor import FAIL, run_checks

    checks = run_checks()
    if args.format == "json":
        common.write(json.dumps([c.__dict__ for c in checks], indent=2) + "\n", None)
    else:
        console = Console(file=io.StringIO(), width=200, force_terminal=common.stdout_is_terminal())
        colours = {"ok": "green", "warn": "yellow", "fail": "red bold"}
        for check in checks:
            line = Text()
            line.append(f"{check.status:<5}", style=colours.get(check.status, ""))
            line.append(f" {check.name:<14} ", style="bold")
            line.append(check.detail)
            console.print(line, soft_wrap=True)
        common.write(console.file.getvalue(), None)
    return 1 if any(c.status == FAIL for c in checks) else 0


def add_parser(sub) -> None:
    doctor = sub.add_parser("doctor", help="is this machine ready: Python, packages, NVRTC, tools, GPUs")
    doctor.add_argument("--format", choices=("table", "json"), default="table", help="table (default) or json")
    doctor.set_defaults(handler=cmd_doctor)
