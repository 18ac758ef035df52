"""`smbench doctor`: is this machine ready (Python, packages, NVRTC, tools, GPUs)?"""

from __future__ import annotations

import argparse
import io
import json

from rich.console import Console
from rich.text import Text

from smbench import screen
from smbench.cli import common


def cmd_doctor(args: argparse.Namespace) -> int:
    from smbench.doctor import FAIL, run_checks

    checks = run_checks()
    if args.format == "json":
        common.write(json.dumps([c.__dict__ for c in checks], indent=2) + "\n", None)
    else:
        terminal = common.stdout_is_terminal()
        console = Console(file=io.StringIO(), width=Console().width if terminal else 10_000, force_terminal=terminal)
        colours = {"ok": "green", "warn": "yellow", "fail": "red bold"}
        names = max(14, *(len(check.name) for check in checks))
        for check in checks:
            # Wrapped under the detail at a terminal, never inside a path; a line each into a file.
            head = f"{check.status:<5} {check.name:<{names}} "
            first, *rest = screen.wrap(check.detail, console.width, indent=len(head), first=head)
            line = Text()
            line.append(first[:5], style=colours.get(check.status, ""))
            line.append(first[5:len(head)], style="bold")
            line.append(first[len(head):])
            console.print(line, soft_wrap=True)
            for more in rest:
                console.print(more, soft_wrap=True, highlight=False, markup=False)
        common.write(console.file.getvalue(), None)
    return 1 if any(c.status == FAIL for c in checks) else 0


def add_parser(sub) -> None:
    doctor = sub.add_parser("doctor", help="is this machine ready: Python, packages, NVRTC, tools, GPUs",
                            description="Check what smbench needs here, a line each (ok, warn or fail, with what was "
                                        "found and where it came from): Python and the packages, NVRTC and the "
                                        "targets it knows, the CUDA headers, cuobjdump and nvdisasm, the driver, "
                                        "the GPUs, NVML, the compile cache. Exit 1 when a check fails.")
    doctor.add_argument("--format", choices=("table", "json"), default="table", help="table (default) or json")
    doctor.set_defaults(handler=cmd_doctor)
