"""`smbench compat`: which kernels compile for which targets, to which instructions."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console

from smbench import targets as target_table
from smbench.cli import common
from smbench.cli.progress import progress
from smbench.errors import SmbenchError


def _compile_options(args: argparse.Namespace) -> list[str]:
    options = []
    for directory in args.include or []:
        path = Path(directory)
        if not path.is_dir():
            raise SmbenchError(f"-I {directory}: no such directory")
        options.append(f"-I{path.resolve()}")
    options += [f"-D{define}" for define in args.define or []]
    options += list(args.nvrtc_option or [])
    return options


def _target_list(text: str) -> list:
    """--targets: targets of the target table (sm_121a), or devices of the device table, each
    read as the plain target of its compute capability (gb10 -> sm_121), through the lookup
    scan --gpu uses. The device's own target is said on stderr, so the column is recognised."""
    from smbench.scan import rules

    names = []
    for part in (p.strip() for p in text.split(",")):
        if part and part.lower() not in target_table.TARGETS and part.lower() != "all" \
                and not part.lower().startswith(("sm_", "compute_")):
            capability = rules.device_capability(part, "--targets")
            if capability is None:
                raise SmbenchError(f"--targets {part}: not a target ({', '.join(target_table.TARGETS)}) nor a "
                                   f"device in smbench's table ({rules.device_names()})")
            target, specific = f"sm_{capability[0]}{capability[1]}", target_table.best_native(*capability).name
            print(f"smbench compat: {part} = {target}"
                  + (f" ({specific}: its arch-specific instructions)" if specific != target else ""), file=sys.stderr)
            part = target
        names.append(part)
    return target_table.parse_list(",".join(names), real_only=True)


def cmd_compat(args: argparse.Namespace) -> int:
    from smbench import compat, compat_view
    from smbench.cache import Cache

    target_list = _target_list(args.targets)
    common.check_writable(args.output)
    if args.files:
        units = compat.user_units([Path(f) for f in args.files], _compile_options(args))
    else:
        if args.include or args.define or args.nvrtc_option:
            raise SmbenchError("-I/-D/--nvrtc-option apply to your own .cu files; name them")
        units = compat.builtin_units()
    cache = Cache(enabled=not args.no_cache)

    with progress("compiling", "smbench compat", "compiles") as update:
        update(total=len(units) * len(target_list))
        report = compat.run(units, target_list, cache=cache, jobs=args.jobs, on_done=lambda: update(advance=1))

    if len(report.skipped_targets) == len(target_list):
        raise SmbenchError(next(iter(report.skipped_targets.values())))
    if args.format == "json":
        common.write(compat_view.render_json(report), args.output)
    elif args.format == "csv":
        common.write(compat_view.render_csv(report), args.output)
    elif args.format == "md":
        common.write(compat_view.render_markdown(report), args.output)
    else:
        terminal = args.output is None and common.stdout_is_terminal()
        width = Console().width if terminal else None
        common.write(compat_view.render_table_text(report, width, colour=terminal), args.output)
    return _compat_status(report, args.fail_on)


def _compat_status(report, fail_on: str) -> int:
    """Exit 1 when a cell is as bad as --fail-on says, with a line on stderr saying which."""
    bad = {"error": ("error",), "failed": ("error", "failed"), "never": ()}[fail_on]
    cells = [c for c in report.cells if c.status in bad]
    if not cells:
        return 0
    errors = sum(c.status == "error" for c in cells)
    print(f"smbench compat: {errors} kernel/target cells do not compile for any target (errors in the code), "
          f"{len(cells) - errors} rejected by their target (--fail-on {fail_on})", file=sys.stderr)
    return 1


def add_parser(sub) -> None:
    compat = sub.add_parser("compat", help="which kernels compile for which targets, to which instructions",
                            description="Compile every kernel (yours, or smbench's own) for every target with "
                                        "NVRTC and read the machine code: no GPU needed.")
    compat.add_argument("files", nargs="*", metavar="FILE.cu",
                        help="your CUDA files (their __global__ kernels, extern \"C\" or C++, shown demangled); "
                             "default: smbench's kernels/")
    compat.add_argument("--targets", default="all",
                        help="comma-separated targets or devices, e.g. sm_80,sm_121a or gb10,rtx5090 (a device is "
                             "its plain target: gb10 = sm_121); default all")
    compat.add_argument("--format", choices=("table", "json", "csv", "md"), default="table",
                        help="table (default), json (the matrix with its provenance: plot and report read it), "
                             "csv or md")
    common.out_file(compat)
    compat.add_argument("-I", dest="include", action="append", metavar="DIR", help="include directory")
    compat.add_argument("-D", dest="define", action="append", metavar="NAME[=VALUE]", help="preprocessor define")
    compat.add_argument("--nvrtc-option", action="append", metavar="OPT",
                        help="any other NVRTC option, e.g. --nvrtc-option=-use_fast_math")
    compat.add_argument("--jobs", "-j", type=common.positive_int, default=None,
                        help="parallel compiles (default: CPU count)")
    compat.add_argument("--no-cache", action="store_true", help="compile everything again")
    compat.add_argument("--fail-on", choices=("error", "failed", "never"), default="error",
                        help="exit 1 when code does not compile for any target (error, the default), also when a "
                             "target rejects a kernel (failed), or never")
    compat.set_defaults(handler=cmd_compat)
