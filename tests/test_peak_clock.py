"""% of the clock-based peak from the clock each loop measured itself (kernels/
smbench_clock.cuh): clock64() against %globaltimer in block 0, over every timed launch. NVML
samples every ~20 ms, so a loop of a few milliseconds has none of its own and the
application clock stood in, which H100/H200 do not hold under tensor load."""

import types

import numpy as np
import pytest

from smbench import devices, sass
from smbench.backends import cuda
from smbench.cases import Case
from smbench.compile import assemble_ptx, compile_file
from smbench.families import peak
from smbench.families.peak import cuda as cuda_peak
from smbench.families.peak.family import run_peak
from smbench.families.peak.part import Loop
from smbench.telemetry import Summary
from smbench.timing import TimingPolicy, summarize

from conftest import KERNELS
from numpy_cupy import NumpyCupy

QUICK = TimingPolicy(warmup=1, min_samples=3, max_samples=3, budget_s=1.0)


def _listing(cubin):
    return sass.run_cuobjdump(cubin)


@pytest.mark.parametrize("target", ["sm_90a", "sm_121a", "compute_80"])
@pytest.mark.needs_sass
def test_each_loop_reads_the_clocks_once_before_and_once_after_its_loop(target):
    for name in (peak.MMA_FILE, peak.FMA_FILE):
        built = compile_file(KERNELS / name, target)
        assert built.ok, built.log
        cubin = built.cubin if target != "compute_80" else assemble_ptx(built.ptx, "sm_90")["cubin"]
        text = _listing(cubin)
        for fmt in peak.FORMATS:
            if fmt.file != name:
                continue
            listing = sass.kernel_listing(text, fmt.kernel)
            loops = [(start, end) for start, end in sass.backward_branches(listing)
                     if any(start <= at <= end and (sass.is_tensor(op) or op.split(".")[0] == fmt.instruction)
                            for at, op, _ in listing)]
            if not loops:  # a stub: this target lacks the format
                continue
            start, end = loops[0]
            for register in ("SR_CLOCKLO", "SR_GLOBALTIMERLO"):
                reads = [at for at, op, operands in listing if register in operands]
                assert [at < start for at in reads].count(True) == 1, (target, fmt.key, register)
                assert [at > end for at in reads].count(True) == 1, (target, fmt.key, register)
                assert not [at for at in reads if start <= at <= end], (target, fmt.key, register)


def test_the_kernel_clock_is_cycles_over_nanoseconds_and_needs_enough_of_them():
    clock = peak.kernel_clock(cycles=1_755_000_000, ns=1_000_000_000)
    assert clock["mhz"] == pytest.approx(1755) and "clock64" in clock["source"]
    assert peak.kernel_clock(cycles=1755, ns=1000) is None  # 1 us: a coarse timer would decide it
    assert peak.kernel_clock(cycles=0, ns=10**9) is None  # a stub never read its clock


class _Runner:
    name = "cuda"

    def __init__(self, outcome):
        from smbench import suites

        self.outcome, self.shared, self.suite = outcome, {}, suites.load("quick")
        self.info = {"compute_capability": "9.0", "sm_count": 132, "sm_clock_max_mhz": 1980}
        self.spec = devices.by_key("h200")

    def part(self, family):
        return types.SimpleNamespace(run_case=lambda runner, fmt, policy, settings: Loop(**self.outcome))


def _outcome(fmt, tflops, kernel_clock, telemetry):
    iters, threads = 4096, 132 * 256 * 8
    seconds = peak.total_ops(fmt, threads, iters) / (tflops * 1e12)
    return {"support": "native", "instruction": "FFMA", "iters": iters, "threads": threads,
            "launch": {"grid": 132 * 8, "block": 256}, "validation": peak.Validation(True, 1, "ok"),
            "stats": summarize([seconds] * 3), "telemetry": telemetry, "kernel_clock": kernel_clock,
            "fallback": {"status": "not run", "reason": "off"}}


def test_the_percent_of_clock_peak_uses_the_clock_the_loop_ran_at():
    """Planted: the loop ran at 1600 MHz; NVML had too few samples and offers the application
    clock, 1980 MHz. At 90% of what 1600 MHz allows, the loop is normal, not low."""
    fmt = peak.BY_KEY["fp32"]
    at_1600 = devices.clock_peak(devices.sm_rate("9.0", "fp32"), 132, 1600)
    nvml = Summary(True, clock_mhz=1980.0, clock_source="the driver's application SM clock: 0 NVML samples fell "
                                                         "inside the timed work, fewer than 3")
    ran = peak.kernel_clock(cycles=16_000_000, ns=10_000_000)
    record = run_peak(Case("peak", fmt.key, "x", {"format": fmt.key}),
                      _Runner(_outcome(fmt, 0.9 * at_1600, ran, nvml)), QUICK)
    assert record["expected"]["clock_mhz"] == pytest.approx(1600)
    assert record["percent_of_clock_peak"] == pytest.approx(90) and record["verdict"] == "normal"
    assert record["expected"]["clock_source"].startswith("the loop's own clock")
    assert "application SM clock: 0 NVML samples" in record["expected"]["clock_source"]  # NVML's, beside it
    assert record["kernel_clock"]["mhz"] == pytest.approx(1600)
    # Without the loop's own clock the same figure is judged against the application clock: low.
    record = run_peak(Case("peak", fmt.key, "x", {"format": fmt.key}),
                      _Runner(_outcome(fmt, 0.9 * at_1600, None, nvml)), QUICK)
    assert record["verdict"] == "low" and record["percent_of_clock_peak"] == pytest.approx(90 * 1600 / 1980)


def test_time_loop_reads_the_clock_of_the_timed_launches_not_the_pilot(monkeypatch):
    fake = NumpyCupy()
    fake.cuda.Stream = lambda non_blocking=False: types.SimpleNamespace(synchronize=lambda: None)
    monkeypatch.setattr(cuda, "_cupy", lambda: fake)
    monkeypatch.setattr(cuda, "blocks_per_sm", lambda function, facts, block: 1)
    launches = []

    def kernel(grid, block, args, stream=None):  # each launch: iters cycles at 1.5 GHz
        clock, iters = args[4], int(args[2])
        launches.append(iters)
        clock += np.array([iters * 3, iters * 2], dtype=np.uint64)

    class Timer:
        def __init__(self, stream):
            pass

        def sample(self, launch, reps, blocking=True, work=True):
            launch()
            return 1e-6 if not work else 1e-3  # the pilots: 1 us; the timed launches 1 ms

        def close(self):
            pass

    monkeypatch.setattr(cuda, "DeviceTimer", Timer)
    module = types.SimpleNamespace(module=types.SimpleNamespace(get_function=lambda name: kernel))
    fmt = peak.BY_KEY["fp32"]
    timed = cuda_peak.time_loop(module, fmt, types.SimpleNamespace(sm_count=2), QUICK, 1e-3)
    assert launches[:2] == [cuda_peak.PILOT_ITERS] * 2 and len(launches) == 2 + QUICK.warmup + 3
    timed_iters = sum(launches[2:])
    assert timed.clock["cycles"] == 3 * timed_iters and timed.clock["ns"] == 2 * timed_iters
    assert timed.clock["mhz"] == pytest.approx(1500)
