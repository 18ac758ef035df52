"""`smbench doctor`: is this machine ready, and what will smbench use on it?

Each check is one line, ok / warn / fail, with what was found. A fail means smbench
cannot do its job here (no NVRTC, say); a warn means part of it is unavailable (no
GPU: the CPU reference path only; no cuobjdump: SASS checks stated as 'unchecked').
Each tool's line says where it came from: a pip wheel (through cuda.pathfinder),
$CUDA_HOME or $CUDA_PATH, PATH, or /usr/local/cuda.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
import sys
from dataclasses import dataclass

from smbench import __version__, toolchain
from smbench import targets as target_table
from smbench.errors import SmbenchError

OK, WARN, FAIL = "ok", "warn", "fail"

RUNTIME_PACKAGES = ("numpy", "pandas", "matplotlib", "rich", "cuda-bindings", "cuda-pathfinder",
                    "nvidia-cuda-nvrtc", "nvidia-cuda-runtime", "nvidia-cuda-crt", "nvidia-cuda-cccl",
                    "nvidia-nvjitlink", "nvidia-cuda-nvdisasm", "nvidia-cuda-cuobjdump", "cupy-cuda13x",
                    "nvidia-ml-py")

# Headers a user's kernel commonly includes: all must resolve from the wheels or a toolkit.
HEADER_PROBE = """
#include <cuda_fp16.h>
#include <cuda_bf16.h>
#include <cuda_fp8.h>
#include <mma.h>
#include <cooperative_groups.h>
extern "C" __global__ void smbench_header_probe(float *out) {
    namespace cg = cooperative_groups;
    cg::thread_block block = cg::this_thread_block();
    __half h = __float2half(1.0f);
    __nv_bfloat16 b = __float2bfloat16(2.0f);
    __nv_fp8_e4m3 e(3.0f);
    out[block.thread_rank()] = __half2float(h) + __bfloat162float(b) + float(e);
}
"""


@dataclass
class Check:
    name: str
    status: str
    detail: str


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def check_python() -> list[Check]:
    ok = sys.version_info >= (3, 10)
    return [
        Check("python", OK if ok else FAIL, f"{platform.python_version()} ({sys.executable})"),
        Check("platform", OK, f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs; smbench {__version__}"),
    ]


# cuda-pathfinder finds the CUDA 13 wheels' tools (nvidia/cu13/bin) from 1.8.1 on.
MIN_PATHFINDER = (1, 8, 1)


def _release(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def check_packages() -> list[Check]:
    found = {p: _version(p) for p in RUNTIME_PACKAGES}
    missing = [p for p, v in found.items() if v is None]
    detail = ", ".join(f"{p} {v}" for p, v in found.items() if v)
    checks = []
    if missing:
        # On a machine with a CUDA toolkit the nvidia-* wheels may be absent and not needed:
        # the toolchain checks below say whether their pieces were found anyway.
        checks.append(Check("packages", WARN, f"not installed: {', '.join(missing)}; installed: {detail}"))
    else:
        checks.append(Check("packages", OK, detail))
    pathfinder = found.get("cuda-pathfinder")
    if pathfinder and _release(pathfinder) < MIN_PATHFINDER:
        checks.append(Check("pathfinder", WARN, f"cuda-pathfinder {pathfinder} may not find the CUDA 13 wheels' "
                                               f"tools; pip install -U 'cuda-pathfinder>=1.8.1'"))
    return checks


def check_nvrtc() -> list[Check]:
    try:
        major, minor = toolchain.nvrtc_version()
    except SmbenchError as exc:
        return [Check("nvrtc", FAIL, str(exc))]
    archs = toolchain.nvrtc_supported_archs()
    knows_121 = 121 in archs
    checks = [Check("nvrtc", OK, f"NVRTC {major}.{minor}; targets sm_{', sm_'.join(map(str, archs))}"),
              Check("nvrtc sm_121", OK if knows_121 else FAIL,
                    "knows sm_121 (DGX Spark / GB10), with a/f variants" if knows_121 else
                    "does not know sm_121: needs NVRTC >= 12.9; pip install -U nvidia-cuda-nvrtc")]
    unknown = [t.name for t in target_table.all_targets() if t.number not in archs]
    if unknown:
        checks.append(Check("targets", WARN, f"this NVRTC cannot compile for {', '.join(unknown)}"))
    return checks


def _kernels_needing_cuda_headers() -> list[str]:
    """smbench's own kernel files that include a CUDA header (fma.cu: cuda_fp16.h, cuda_bf16.h)."""
    from smbench.compile import cuda_headers_needed
    from smbench.paths import builtin_kernel_files, kernels_dir

    return [path.name for path in builtin_kernel_files()
            if cuda_headers_needed(path.read_text(encoding="utf-8", errors="replace"), [kernels_dir()])]


def check_headers() -> list[Check]:
    from smbench.compile import compile_file, compile_source
    from smbench.paths import kernels_dir

    headers = toolchain.cuda_headers()
    users = _kernels_needing_cuda_headers()
    users_text = ", ".join(users) if users else "none of them"
    if not headers.dirs:
        return [Check("cuda headers", WARN, f"{headers.describe()}: kernels that #include CUDA headers do not "
                                           f"compile (of smbench's own: {users_text}); the others need none. "
                                           f"pip install nvidia-cuda-runtime nvidia-cuda-crt nvidia-cuda-cccl, "
                                           f"or set CUDA_HOME to a CUDA toolkit")]
    try:
        arch = "sm_121a" if 121 in toolchain.nvrtc_supported_archs() else "sm_80"
        result = compile_source(HEADER_PROBE, arch, source_name="header_probe.cu")
        if result.ok:
            return [Check("cuda headers", OK, f"fp16, bf16, fp8, mma.h, cooperative_groups compile; "
                                             f"{headers.describe()}")]
        # The probe is what a user's kernel may include; smbench's own need less (fp16, bf16).
        broken = [name for name in users if not compile_file(kernels_dir() / name, arch).ok]
    except SmbenchError as exc:
        return [Check("cuda headers", FAIL, str(exc))]
    status = FAIL if broken else WARN
    own = (f"smbench's own {', '.join(broken)} do not compile either" if broken else
           f"smbench's own kernels compile ({users_text} with these headers)")
    return [Check("cuda headers", status, f"fp16/bf16/fp8/mma.h/cooperative_groups do not compile: "
                                         f"{result.first_error}; {own}; {headers.describe()}")]


def _tool_version(path) -> str:
    try:
        done = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"does not run: {exc}"
    lines = [line.strip() for line in done.stdout.splitlines() if line.strip()]
    release = [line for line in lines if "release " in line]  # "Cuda compilation tools, release 13.0, V13.0.88"
    return (release or lines or ["version unknown"])[-1]


def _release_of(version_line: str) -> tuple[int, ...] | None:
    """(13, 0) from "Cuda compilation tools, release 13.0, V13.0.88"."""
    marker = "release "
    if marker not in version_line:
        return None
    return _release(version_line.split(marker, 1)[1].split(",")[0]) or None


# What is lost without each tool, for its warning line.
TOOL_LOSS = {"cuobjdump": "SASS checks are 'unchecked' (registers, spills, instruction mix and loop "
                          "integrity are not read)",
             "nvdisasm": "the compile matrix and the run's prebuild read SASS one cuobjdump per cubin "
                         "instead of one nvdisasm per architecture (slower; cuobjdump's own SASS listing "
                         "runs the nvdisasm beside it)"}


def check_tools() -> list[Check]:
    checks = []
    try:
        nvrtc = toolchain.nvrtc_version()
    except SmbenchError:
        nvrtc = None
    for name in ("cuobjdump", "nvdisasm"):
        found = toolchain.find_binary_utility(name)
        if found is None:
            checks.append(Check(name, WARN, f"{toolchain.missing_binary_message(name)}: {TOOL_LOSS[name]}"))
            continue
        version = _tool_version(found.path)
        detail = f"{found.path} (from {found.via}; {version})"
        if version.startswith("does not run"):
            checks.append(Check(name, WARN, f"{detail}: {TOOL_LOSS[name]}"))
            continue
        release = _release_of(version)
        if nvrtc and release and release[:2] < tuple(nvrtc):
            detail += (f"; older than NVRTC {nvrtc[0]}.{nvrtc[1]}: the SASS of a target it does not know "
                       f"reads as 'unchecked'")
        checks.append(Check(name, OK, detail))
    version = toolchain.nvjitlink_version()
    if version:
        checks.append(Check("nvjitlink", OK, f"nvJitLink {version[0]}.{version[1]}"))
    else:
        checks.append(Check("nvjitlink", WARN, "not found: compat cannot isolate failing kernels or show the "
                                              "sm_80 fallback; pip install nvidia-nvjitlink"))
    return checks


def check_gpus() -> list[Check]:
    from smbench.gpuinfo import driver_version, list_gpus

    version, why = driver_version()
    if version is None:
        return [Check("cuda driver", WARN, f"no usable driver ({why})"),
                Check("gpu", WARN, "no GPU: CPU reference path and compile matrix only")]
    checks = [Check("cuda driver", OK, f"supports CUDA {version[0]}.{version[1]}")]
    try:
        nvrtc_major = toolchain.nvrtc_version()[0]
    except SmbenchError:
        nvrtc_major = None
    if nvrtc_major is not None and version[0] < nvrtc_major:
        checks[0] = Check("cuda driver", FAIL,
                          f"supports CUDA {version[0]}.{version[1]}, older than NVRTC {nvrtc_major}: it cannot "
                          f"load what NVRTC {nvrtc_major} compiles; update the driver or use an older NVRTC")
    gpus, why = list_gpus()
    if not gpus:
        return checks + [Check("gpu", WARN, f"no GPU ({why}): CPU reference path and compile matrix only")]
    for gpu in gpus:
        number = gpu.major * 10 + gpu.minor
        native = [t.name for t in target_table.all_targets() if t.number == number]
        clock = f", SM clock {gpu.sm_clock_mhz:.0f} MHz" if gpu.sm_clock_mhz else ""
        memory_clock = f", memory clock {gpu.memory_clock_mhz:.0f} MHz" if gpu.memory_clock_mhz else ""
        bus = f", {gpu.bus_width_bits}-bit bus" if gpu.bus_width_bits else ""
        kind = ", integrated (unified memory)" if gpu.integrated else ""
        detail = (f"{gpu.index}: {gpu.name}, compute capability {gpu.compute_capability}, {gpu.sm_count} SMs, "
                  f"{gpu.memory_bytes / 2**30:.1f} GiB{clock}{memory_clock}{bus}{kind}; "
                  f"targets {', '.join(native) if native else 'none in the table'}")
        checks.append(Check(f"gpu {gpu.index}", OK if native else WARN, detail))
    return checks


def check_nvml() -> list[Check]:
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            return [Check("nvml", OK, f"driver {pynvml.nvmlSystemGetDriverVersion()}: telemetry available")]
        finally:
            pynvml.nvmlShutdown()
    except Exception as exc:  # noqa: BLE001 - NVML missing is a normal state off a GPU machine
        return [Check("nvml", WARN, f"unavailable ({type(exc).__name__}): telemetry will say so")]


def check_cache() -> list[Check]:
    from smbench.paths import cache_dir

    root = cache_dir()
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        return [Check("cache", WARN, f"{root} is not writable ({exc.strerror}): every compile runs cold")]
    return [Check("cache", OK, str(root))]


# The checks of CUDA's own tools and driver: only the CUDA path and the compile matrix need them.
CUDA_ONLY = frozenset({"nvrtc", "nvrtc sm_121", "cuda headers", "cuda driver"})


def run_checks() -> list[Check]:
    checks: list[Check] = []
    for group in (check_python, check_packages, check_nvrtc, check_headers, check_tools, check_gpus,
                  check_nvml, check_cache):
        try:
            checks.extend(group())
        except Exception as exc:  # noqa: BLE001 - one broken check is a line, not the end of doctor
            checks.append(Check(group.__name__.removeprefix("check_"), FAIL, f"check crashed: {exc}"))
    return checks
