"""Compute-peak loops on the GPU: validate briefly, then time a full-device launch.

The decisions (formats, inputs, references, what counts as intact) are in
smbench.families.peak and tested without a GPU; this module only launches. The
fallback build is the loop's compute_80 PTX made into machine code for this GPU: what
a program that ships only sm_80 code gets here. nvJitLink assembles it, as the
driver's JIT would, so that its SASS can be checked like the native build's (and so
that a driver older than NVRTC, which cannot read NVRTC's newer PTX, still runs it);
without nvJitLink the PTX goes to the driver's JIT itself.
"""

from __future__ import annotations

import functools
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from smbench import sass, toolchain
from smbench import targets as target_table
from smbench.backends import cuda
from smbench.compile import assemble_ptx, compile_file
from smbench.errors import SmbenchError
from smbench.families import peak
from smbench.paths import kernels_dir
from smbench.timing import Stats, TimingPolicy, measure

BLOCK = 256
PILOT_ITERS = 256
MAX_ITERS = 1 << 24


@dataclass
class Fallback:
    module: cuda.Module
    how: str  # how the PTX became machine code
    sass: dict | None  # kernel -> SASS summary, where the machine code could be read
    sass_reason: str = ""  # why it could not be read, where it could not


def _driver_older_than_nvrtc() -> str:
    """Why the driver cannot JIT NVRTC's PTX (its CUDA version is older), or ''."""
    driver = cuda._cupy().cuda.runtime.driverGetVersion()  # 13000 for CUDA 13.0
    nvrtc = toolchain.nvrtc_version()
    if (driver // 1000, (driver % 1000) // 10) < tuple(nvrtc):
        return (f"the driver (CUDA {driver // 1000}.{(driver % 1000) // 10}) is older than NVRTC "
                f"{nvrtc[0]}.{nvrtc[1]}, whose PTX it cannot JIT, and nvJitLink is not available")
    return ""


@functools.lru_cache(maxsize=None)
def load_fallback(kernel_file: str, real_arch: str, options: tuple[str, ...] = ()) -> Fallback:
    """The file's compute_80 PTX as machine code for real_arch (the GPU's portable target)."""
    cupy = cuda._cupy()
    arch = "compute_" + target_table.FALLBACK_PTX_TARGET[3:]
    result = compile_file(kernels_dir() / kernel_file, arch, options=options)
    if not result.ok:
        raise SmbenchError(f"{kernel_file} does not compile for {arch}: {result.first_error}")
    directory = Path(tempfile.mkdtemp(prefix="smbench-fallback-"))
    assembled = assemble_ptx(result.ptx, real_arch)
    if assembled is not None:
        if not assembled["ok"]:
            raise SmbenchError(f"{arch} PTX does not assemble for {real_arch}: {assembled['log'].splitlines()[0]}")
        path = directory / f"{Path(kernel_file).stem}-{arch}-{real_arch}.cubin"
        path.write_bytes(assembled["cubin"])
        how = f"{arch} PTX assembled for {real_arch} by nvJitLink, as the driver's JIT would"
        reading = sass.read(assembled["cubin"])  # no cuobjdump here: the loop runs, its SASS unchecked
        return Fallback(cuda.Module(cupy.RawModule(path=str(path)), arch, result.options, result.source_hash), how,
                        reading.kernels if reading.checked else None, reading.reason)
    why = _driver_older_than_nvrtc()
    if why:
        raise SmbenchError(why)
    path = directory / f"{Path(kernel_file).stem}-{arch}.ptx"
    path.write_text(result.ptx)
    return Fallback(cuda.Module(cupy.RawModule(path=str(path)), arch, result.options, result.source_hash),
                    f"{arch} PTX JIT-compiled by the driver", None, "the driver's JIT leaves no cubin to read")


@dataclass
class Launcher:
    """One format's kernel with its buffers, launchable at any grid and iteration count."""

    fmt: peak.Format
    function: object
    inputs: object
    status: object

    @classmethod
    def create(cls, module: cuda.Module, fmt: peak.Format, timing: bool) -> "Launcher":
        cupy = cuda._cupy()
        host = peak.mma_inputs(fmt, timing=timing) if fmt.unit == "tensor" else peak.fma_inputs(fmt)
        return cls(fmt, module.module.get_function(fmt.kernel), cupy.asarray(host), cupy.zeros(1, dtype=cupy.uint32))

    def output(self, threads: int):
        cupy = cuda._cupy()
        return cupy.zeros(peak.output_count(self.fmt, threads), dtype=peak.output_dtype(self.fmt))

    def launch(self, grid: int, block: int, output, iters: int, stream=None) -> None:
        self.function((grid,), (block,), (self.inputs, output, np.int32(iters), self.status), stream=stream)

    def unsupported(self) -> bool:
        return int(self.status[0]) == peak.UNSUPPORTED


def validate(module: cuda.Module, fmt: peak.Format) -> tuple[peak.Validation, bool]:
    """(validation of one warp's VALIDATION_ITERS iterations on the exact inputs, whether the
    kernel reported itself unsupported)."""
    cupy = cuda._cupy()
    launcher = Launcher.create(module, fmt, timing=False)
    output = launcher.output(32)
    launcher.launch(1, 32, output, peak.VALIDATION_ITERS)
    cupy.cuda.runtime.deviceSynchronize()
    if launcher.unsupported():
        return peak.Validation(False, 0, "the kernel reported the format unsupported on this target"), True
    return peak.validate(fmt, cupy.asnumpy(output), peak.VALIDATION_ITERS, 32), False


def iterations_for(pilot_seconds: float, pilot_iters: int, target_seconds: float, unroll: int) -> int:
    """Iterations that make one launch last about target_seconds, a multiple of the unroll."""
    if pilot_seconds <= 0:
        return MAX_ITERS
    iters = pilot_iters * target_seconds / pilot_seconds
    return int(min(MAX_ITERS, max(pilot_iters, math.ceil(iters / unroll) * unroll)))


@dataclass
class Timed:
    stats: Stats
    iters: int
    grid: int
    block: int

    @property
    def threads(self) -> int:
        return self.grid * self.block


def time_loop(module: cuda.Module, fmt: peak.Format, facts, policy: TimingPolicy, launch_seconds: float) -> Timed:
    """Every SM full (blocks per SM from the driver's occupancy), one launch per sample."""
    cupy = cuda._cupy()
    launcher = Launcher.create(module, fmt, timing=True)
    grid = facts.sm_count * cuda.blocks_per_sm(launcher.function, facts, BLOCK)
    output = launcher.output(grid * BLOCK)
    stream = cupy.cuda.Stream(non_blocking=True)
    timer = cuda.DeviceTimer(stream)
    cupy.cuda.runtime.deviceSynchronize()
    try:
        pilot = timer.sample(lambda: launcher.launch(grid, BLOCK, output, PILOT_ITERS, stream), 1, blocking=False,
                              work=False)
        iters = iterations_for(pilot, PILOT_ITERS, launch_seconds, fmt.unroll)
        # One launch of ~launch_seconds per sample, still queued behind the blocking kernel so
        # that no host gap sits between the start event and the kernel.
        stats = measure(lambda: timer.sample(lambda: launcher.launch(grid, BLOCK, output, iters, stream), 1), policy)
    finally:
        timer.close()
    if launcher.unsupported():
        raise SmbenchError(f"{fmt.kernel} reported the format unsupported during timing")
    return Timed(stats, iters, grid, BLOCK)
