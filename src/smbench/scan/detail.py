"""`smbench scan --detail`: kernel names and resources per architecture, from cuobjdump.

The scan itself reads headers only; this asks cuobjdump (the pip wheel's, else a CUDA
toolkit's: toolchain.find_binary_utility) for `-res-usage`, which lists every kernel of
every cubin in a file with its registers, shared and local memory, decompressing what
is compressed. It costs a run of cuobjdump per file, so only --detail pays it.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from smbench import sass, toolchain

_ARCH_LINE = re.compile(r"^\s*arch\s*=\s*(sm_\w+)")
# A file with thousands of kernels (cuBLAS) would take minutes; what is past this is cut.
DETAIL_TIMEOUT_S = 120


def parse_res_usage(text: str) -> list[dict]:
    """`cuobjdump -res-usage` output -> [{"arch", "name", "registers", "shared", "local", "stack"}]."""
    kernels, arch, name = [], None, None
    for line in text.splitlines():
        match = _ARCH_LINE.match(line)
        if match:
            arch = match.group(1)
            continue
        match = sass._RESOURCE_FUNCTION.match(line)
        if match:
            name = match.group(1)
            continue
        if name is not None:
            fields = {k: int(v) for k, v in sass._RESOURCE_FIELDS.findall(line)}
            if "REG" in fields:
                kernels.append({"arch": arch, "name": name, "registers": fields["REG"],
                                "shared": fields.get("SHARED", 0), "local": fields.get("LOCAL", 0),
                                "stack": fields.get("STACK", 0)})
                name = None
    return kernels


def kernels(path: Path) -> list[dict]:
    """The kernels of one file; [{"error": why}] when cuobjdump is missing or fails."""
    found = toolchain.find_binary_utility("cuobjdump")
    if found is None:
        return [{"error": toolchain.missing_binary_message("cuobjdump")}]
    try:
        done = subprocess.run([str(found.path), "-res-usage", str(path)], capture_output=True, text=True,
                              errors="replace", timeout=DETAIL_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return [{"error": f"cuobjdump took over {DETAIL_TIMEOUT_S} s"}]
    except OSError as exc:
        return [{"error": f"cuobjdump could not run: {exc}"}]
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        return [{"error": f"cuobjdump failed: {lines[0] if lines else done.returncode}"}]
    return parse_res_usage(done.stdout)
