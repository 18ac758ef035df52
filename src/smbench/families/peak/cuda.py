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
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from smbench import sass, toolchain
from smbench import targets as target_table
from smbench.backends import cuda
from smbench.compile import assemble_ptx, compile_file
from smbench.errors import SmbenchError, one_line
from smbench.families import peak
from smbench.families.peak.part import Loop, Rate
from smbench.paths import kernels_dir
from smbench.timing import calls_per_sample, Stats, TimingPolicy, measure

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
    """One format's kernel with its buffers, launchable at any grid and iteration count.
    `clock`: the loop's own measure of the SM clock (kernels/smbench_clock.cuh), cycles and
    nanoseconds added up over every launch since zero_clock()."""

    fmt: peak.Format
    function: object
    inputs: object
    status: object
    clock: object = None

    @classmethod
    def create(cls, module: cuda.Module, fmt: peak.Format, timing: bool) -> "Launcher":
        cupy = cuda._cupy()
        host = peak.mma_inputs(fmt, timing=timing) if fmt.unit == "tensor" else peak.fma_inputs(fmt)
        return cls(fmt, module.module.get_function(fmt.kernel), cupy.asarray(host), cupy.zeros(1, dtype=cupy.uint32),
                   cupy.zeros(2, dtype=cupy.uint64))

    def output(self, threads: int):
        cupy = cuda._cupy()
        return cupy.zeros(peak.output_count(self.fmt, threads), dtype=peak.output_dtype(self.fmt))

    def launch(self, grid: int, block: int, output, iters: int, stream=None) -> None:
        self.function((grid,), (block,), (self.inputs, output, np.int32(iters), self.status, self.clock),
                      stream=stream)

    def zero_clock(self) -> None:
        self.clock.fill(0)

    def kernel_clock(self) -> dict | None:
        """The SM clock the launches since zero_clock() ran at, from the kernel's own reads."""
        cycles, ns = (int(x) for x in cuda._cupy().asnumpy(self.clock))
        return peak.kernel_clock(cycles, ns)

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
    return calls_per_sample(pilot_seconds / pilot_iters, target_seconds, MAX_ITERS, fewest=pilot_iters,
                            multiple=unroll)


@dataclass
class Timed:
    stats: Stats
    iters: int
    grid: int
    block: int
    clock: dict | None = None  # peak.kernel_clock over the warm-up and timed launches

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
        # First unblocked (module loading and anything lazy), then the pilot behind the blocking
        # kernel: an unblocked one would count the host's launch gap as loop time and make the
        # timed launches shorter than launch_seconds.
        timer.sample(lambda: launcher.launch(grid, BLOCK, output, PILOT_ITERS, stream), 1, blocking=False,
                     work=False)
        pilot = timer.sample(lambda: launcher.launch(grid, BLOCK, output, PILOT_ITERS, stream), 1, work=False)
        iters = iterations_for(pilot, PILOT_ITERS, launch_seconds, fmt.unroll)
        stream.synchronize()
        launcher.zero_clock()  # the pilot's few microseconds are not the loop's clock
        # One launch of ~launch_seconds per sample, still queued behind the blocking kernel so
        # that no host gap sits between the start event and the kernel.
        stats = measure(lambda: timer.sample(lambda: launcher.launch(grid, BLOCK, output, iters, stream), 1), policy)
        stream.synchronize()
        clock = launcher.kernel_clock()
    finally:
        timer.close()
    if launcher.unsupported():
        raise SmbenchError(f"{fmt.kernel} reported the format unsupported during timing")
    return Timed(stats, iters, grid, BLOCK, clock)


def builds(case, runner) -> list[cuda.Build]:
    """What a case compiles (smbench.prebuild): the loop's file for the device's target, and
    its compute_80 PTX assembled for the GPU where the suite times the fallback."""
    fmt = peak.BY_KEY[case.params["format"]]
    target = target_table.get(runner.target)
    if peak.gate(fmt, target)[0] == "skipped":
        return []
    found = [cuda.Build(fmt.file, runner.target)]
    if runner.suite.section("peak")["fallback"] and peak.fallback_compiles(fmt):
        found.append(cuda.Build(fmt.file, "compute_" + target_table.FALLBACK_PTX_TARGET[3:],
                                assemble_for=target.portable_real))
    return found


# ---------------------------------------------------------------- one format, as run_peak reads it

def run_case(runner, fmt: peak.Format, policy: TimingPolicy, settings: dict) -> Loop:
    """Gate by the target table, check the compiled loop is intact, validate on exact
    inputs, then time it on every SM; the compute_80 build the same way."""
    support, why = peak.gate(fmt, target_table.get(runner.target))
    if support == "skipped":
        return Loop("skipped", why)
    compiled = compile_file(kernels_dir() / fmt.file, runner.target)
    if not compiled.ok:
        return Loop("failed", f"{fmt.file} does not compile for {runner.target}: {compiled.first_error}")
    try:
        histogram = dict(sass.summarize(compiled.cubin)[fmt.kernel].histogram)
    except SmbenchError as exc:
        # No cuobjdump on this machine. A native loop was intact on every target in the
        # tests; an emulated one is where ptxas folds work, so it is not timed unseen.
        if support == "emulated":
            return Loop("skipped", f"the loop's SASS cannot be checked ({exc}), and an emulated loop is not "
                                   f"timed unchecked")
        histogram, why = None, f"{why} (SASS not checked: {exc})".strip()
    instruction = peak.loop_instruction(fmt, histogram) if histogram is not None else ""
    if histogram is not None:
        intact, detail = peak.loop_intact(fmt, histogram, emulated=support == "emulated")
        if not intact:  # a defect of the benchmark, not of the GPU: failed, never a figure
            return Loop("failed", detail, support=support, instruction=instruction)
    module = cuda.load(fmt.file, runner.target)
    validation, _ = validate(module, fmt)
    loop = Loop(support=support, support_note=why, instruction=instruction, validation=validation,
                provenance=module.provenance)
    if not validation.ok:
        return loop
    with runner.sampler() as sampler:
        timed = time_loop(module, fmt, runner.facts, policy, settings["launch_ms"] / 1e3)
    loop.stats, loop.iters, loop.threads, loop.kernel_clock = timed.stats, timed.iters, timed.threads, timed.clock
    loop.launch, loop.telemetry = {"grid": timed.grid, "block": timed.block}, sampler.summary
    loop.fallback = run_fallback(runner, fmt, policy, settings) if settings["fallback"] else \
        {"status": "not run", "reason": "the suite turned the fallback off"}
    return loop


def run_fallback(runner, fmt: peak.Format, policy: TimingPolicy, settings: dict) -> dict:
    """The same loop from compute_80 PTX. Whatever goes wrong here is the fallback's row
    entry: the native figure already measured is kept."""
    absent = peak.fallback_absent(fmt)
    if absent is not None:
        return absent
    try:
        fallback = load_fallback(fmt.file, target_table.get(runner.target).portable_real)
        instruction = ""
        summary = fallback.sass.get(fmt.kernel) if fallback.sass is not None else None
        if summary is not None:
            histogram = dict(summary.histogram)
            instruction = peak.loop_instruction(fmt, histogram)
            intact, detail = peak.loop_intact(fmt, histogram)
            if not intact:
                return {"status": "failed", "reason": detail, "how": fallback.how}
        validation, _ = validate(fallback.module, fmt)
        if not validation.ok:
            return {"status": "failed", "reason": f"validation failed: {validation.detail}", "how": fallback.how}
        timed = time_loop(fallback.module, fmt, runner.facts, policy, settings["launch_ms"] / 1e3)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # noqa: BLE001 - a driver that cannot JIT the PTX, say
        return {"status": "failed", "reason": one_line(exc)}
    ops = peak.total_ops(fmt, timed.threads, timed.iters)
    unchecked = {} if summary is not None else {
        "sass": {"status": "unchecked", "reason": fallback.sass_reason or f"no SASS for {fmt.kernel}"}}
    return {"status": "ok", "how": fallback.how, "instruction": instruction, **unchecked,
            "time_s": timed.stats.to_dict(), "kernel_clock": timed.clock,
            "tflops": ops / timed.stats.median / 1e12, "iters": timed.iters}


def loop_rate(runner, key: str, policy: TimingPolicy) -> Rate:
    """The mma.sync loop rate of a format, T(FL)OP/s: the peak family's figure from earlier
    in this run, or the loop timed now (without its fallback) when that family did not run."""
    rates, not_run = peak.measured_rates(runner), runner.shared.setdefault("peak_not_run", {})
    if key in rates:
        return Rate(rates[key], "the peak family's mma.sync loop, earlier in this run")
    if key in not_run:
        return Rate(None, not_run[key])
    fmt = peak.BY_KEY[key]
    try:
        loop = run_case(runner, fmt, policy, {**runner.suite.section("peak"), "fallback": False})
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # noqa: BLE001 - the GEMM's own figure stands without it
        loop = Loop("failed", one_line(exc))
    validation = loop.validation
    if loop.status != "ok" or validation is None or not validation.ok:
        why = loop.reason or (validation.detail if validation is not None else "no result")
        not_run[key] = f"the mma.sync loop did not run: {why}"
        return Rate(None, not_run[key])
    ops = peak.total_ops(fmt, loop.threads, loop.iters)
    rates[key] = ops / loop.stats.median / 1e12
    return Rate(rates[key], "the mma.sync loop, timed for this GEMM")
