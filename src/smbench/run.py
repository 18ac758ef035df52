"""`smbench run`: a suite's cases on a backend, validated, written as they finish.

The plan comes from the suite (benchmarks/*.toml) and the device's facts; each case
becomes one record in the result file the moment it finishes. A case that fails to
compile, allocate, launch or validate is a record that says why, and the run goes on.
"""

from __future__ import annotations

import datetime
import os
import re
from pathlib import Path
from typing import Callable

from smbench import devices, provenance, sass
from smbench import targets as target_table
from smbench.errors import SmbenchError
from smbench.errors import one_line as _one_line
from smbench.cases import Case, Skip, base_record
from smbench.families import gemm, peak, precision, registry, stream
from smbench.families.gemm import family as gemm_family
from smbench.families.peak import family as peak_family
from smbench.results import ResultWriter
from smbench.suites import Suite, check_families
from smbench.telemetry import Sampler, Summary


# ---------------------------------------------------------------- backends as the runner sees them

class CpuRunner:
    name = "cpu"

    def __init__(self, why: str = "asked for"):
        from smbench.backends import cpu

        self.why = why  # why the CPU reference path runs: asked for, or no usable GPU
        self.backend = cpu
        self.info = cpu.device_info()
        self.l2_bytes = self.info["l2_bytes"]
        # On the host the step to DRAM comes after the last-level cache.
        self.dram_threshold = 4 * max(self.info["l2_bytes"], self.info.get("l3_bytes") or 0)
        self.expected = None
        self.spec = None  # no device-table row: the CPU's figures have no expectation
        self.peak_settings = {"launch_ms": 0.0, "fallback": False}
        self.gemm_settings: dict = {}  # set by execute() from the suite
        self.measured_peaks: dict[str, float] = {}

    def stream_case(self, op, dtype, width, kind, elements, policy):
        case = self.backend.prepare(op, dtype, width, elements)
        stats, value = self.backend.time_case(case, policy)
        validation = self.backend.validate(case, value)
        return stats, validation, {"backend": "numpy"}, Summary(False, "CPU backend: no GPU telemetry")

    def provenance(self) -> dict:
        return {"target": None, "compile_options": None, "kernel_source_hash": None}

    def precision_devices(self, fmt: precision.Format, settings: dict):
        """(probe device, GEMM device, what answers, kernel provenance): the emulator as the
        suite's model."""
        model = precision.MODELS[settings["cpu_model"]]
        return (precision.fragment_device(model), precision.emulator_gemm(model),
                f"the emulator configured as model {settings['cpu_model']!r}: {model.describe(fmt.accumulator)}",
                self.provenance())

    def peak_case(self, fmt: peak.Format, policy, settings: dict) -> dict:
        stats, validation, iters, threads = self.backend.peak_case(fmt, policy)
        return {"support": "reference", "validation": validation, "stats": stats, "iters": iters,
                "threads": threads, "launch": {"backend": "numpy", "warps": threads // 32},
                "telemetry": Summary(False, "CPU backend: no GPU telemetry"), "instruction": "numpy",
                "provenance": self.provenance(),
                "fallback": {"status": "not run", "reason": "the sm_80 fallback is a GPU measurement"}}

    def gemm_case(self, fmt: gemm.Format, shape: gemm.Shape, policy, settings: dict) -> dict:
        from smbench.families.gemm import cpu as cpu_gemm

        return {**cpu_gemm.run_case(fmt, shape, policy, settings), "provenance": self.provenance(),
                "telemetry": Summary(False, "CPU backend: no GPU telemetry")}

    def mma_peak(self, key: str, policy) -> tuple[float | None, str]:
        return None, "the CPU path has no mma.sync peak"

    def context_lost(self) -> str:
        return ""  # NumPy has no context to lose


class CudaRunner:
    name = "cuda"

    def __init__(self, suite: Suite):
        from smbench.backends import cuda

        self.backend = cuda
        self.facts = cuda.device_facts()
        self.info = cuda.device_info()
        self.l2_bytes = self.facts.l2_bytes
        self.dram_threshold = 4 * self.facts.l2_bytes
        self.target = cuda.native_target(self.facts)
        self.expected, spec = devices.expected_bandwidth(
            self.facts.name, self.facts.compute_capability, self.facts.memory_clock_khz, self.facts.bus_width_bits)
        self.why = f"device table row {spec.key!r}" if spec else "not in the device table: expectation derived"
        self.spec = spec
        self.peak_settings = peak_family.peak_settings(suite)
        self.gemm_settings: dict = {}  # set by execute() from the suite
        self.measured_peaks: dict[str, float] = {}  # peak format -> TFLOP/s measured in this run
        self._peak_failures: dict[str, str] = {}
        self.cold_l2 = bool(suite.flag("timing", "cold_l2"))
        self._module = None

    @property
    def module(self):
        if self._module is None:
            self._module = self.backend.load(stream.KERNEL_FILE, self.target)
        return self._module

    def _timer(self):
        cupy = self.backend._cupy()
        return self.backend.DeviceTimer(cupy.cuda.Stream(non_blocking=True),
                                        2 * self.facts.l2_bytes if self.cold_l2 else 0)

    def memory_kinds(self):
        return stream.memory_kinds(self.facts)

    def sampler(self) -> Sampler:
        return Sampler(pci_bus_id=self.info.get("pci_bus_id"))

    def stream_case(self, op, dtype, width, kind, elements, policy):
        case = self.backend.prepare(self.module, self.facts, op, dtype, width, elements, kind)
        timer = None
        try:
            timer = self._timer()
            with self.sampler() as sampler:
                stats = self.backend.time_case(case, policy, timer)
            validation = self.backend.validate(case)
        finally:
            if timer is not None:
                timer.close()
            self.backend.release(case.allocations)
        return stats, validation, {"grid": case.grid, "block": case.block}, sampler.summary

    def provenance(self) -> dict:
        return self.module.provenance

    def peak_case(self, fmt: peak.Format, policy, settings: dict) -> dict:
        """Gate by the target table, check the compiled loop is intact, validate on exact
        inputs, then time it on every SM; the compute_80 build the same way."""
        from smbench.families.peak import cuda as cuda_peak
        from smbench.compile import compile_file
        from smbench.paths import kernels_dir

        support, why = peak.gate(fmt, target_table.get(self.target))
        if support == "skipped":
            return {"status": "skipped", "reason": why}
        compiled = compile_file(kernels_dir() / fmt.file, self.target)
        if not compiled.ok:
            return {"status": "failed", "reason": f"{fmt.file} does not compile for {self.target}: "
                                                  f"{compiled.first_error}"}
        try:
            histogram = dict(sass.summarize(compiled.cubin)[fmt.kernel].histogram)
        except SmbenchError as exc:
            # No cuobjdump on this machine. A native loop was intact on every target in the
            # tests; an emulated one is where ptxas folds work, so it is not timed unseen.
            if support == "emulated":
                return {"status": "skipped", "reason": f"the loop's SASS cannot be checked ({exc}), and an "
                                                       f"emulated loop is not timed unchecked"}
            histogram, why = None, f"{why} (SASS not checked: {exc})".strip()
        instruction = peak.loop_instruction(fmt, histogram) if histogram is not None else ""
        if histogram is not None:
            intact, detail = peak.loop_intact(fmt, histogram, emulated=support == "emulated")
            if not intact:  # a defect of the benchmark, not of the GPU: failed, never a figure
                return {"status": "failed", "reason": detail, "support": support, "instruction": instruction}
        module = self.backend.load(fmt.file, self.target)
        validation, _ = cuda_peak.validate(module, fmt)
        outcome = {"support": support, "support_note": why, "instruction": instruction, "validation": validation,
                   "provenance": module.provenance}
        if not validation.ok:
            return outcome
        with self.sampler() as sampler:
            timed = cuda_peak.time_loop(module, fmt, self.facts, policy, settings["launch_ms"] / 1e3)
        outcome.update({"stats": timed.stats, "iters": timed.iters, "threads": timed.threads,
                        "launch": {"grid": timed.grid, "block": timed.block}, "telemetry": sampler.summary,
                        "fallback": self._peak_fallback(fmt, policy, settings) if settings["fallback"] else
                        {"status": "not run", "reason": "the suite turned the fallback off"}})
        return outcome

    def precision_devices(self, fmt: precision.Format, settings: dict):
        from smbench.families.precision import cuda as cuda_precision

        target = target_table.get(self.target)
        if not target.has(fmt.feature):
            raise Skip(f"needs {', '.join(peak.targets_with(fmt.feature, target_table.NATIVE))}: {self.target} has "
                        f"no {target_table.FEATURES[fmt.feature]}")
        how = "the GPU" + (" (emulated: ptxas builds this format from other instructions)"
                           if target.support(fmt.feature) == target_table.EMULATED else "")
        return cuda_precision.device(self.target), cuda_precision.gemm(self.target), how, \
            self.backend.load(precision.KERNEL_FILE, self.target).provenance

    def _peak_fallback(self, fmt: peak.Format, policy, settings: dict) -> dict:
        """The same loop from compute_80 PTX. Whatever goes wrong here is the fallback's row
        entry: the native figure already measured is kept."""
        from smbench.families.peak import cuda as cuda_peak

        absent = peak.fallback_absent(fmt)
        if absent is not None:
            return absent
        try:
            fallback = cuda_peak.load_fallback(fmt.file, target_table.get(self.target).portable_real)
            instruction = ""
            summary = fallback.sass.get(fmt.kernel) if fallback.sass is not None else None
            if summary is not None:
                histogram = dict(summary.histogram)
                instruction = peak.loop_instruction(fmt, histogram)
                intact, detail = peak.loop_intact(fmt, histogram)
                if not intact:
                    return {"status": "failed", "reason": detail, "how": fallback.how}
            validation, _ = cuda_peak.validate(fallback.module, fmt)
            if not validation.ok:
                return {"status": "failed", "reason": f"validation failed: {validation.detail}", "how": fallback.how}
            timed = cuda_peak.time_loop(fallback.module, fmt, self.facts, policy, settings["launch_ms"] / 1e3)
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - a driver that cannot JIT the PTX, say
            return {"status": "failed", "reason": _one_line(exc)}
        ops = peak.total_ops(fmt, timed.threads, timed.iters)
        unchecked = {} if summary is not None else {
            "sass": {"status": "unchecked", "reason": fallback.sass_reason or f"no SASS for {fmt.kernel}"}}
        return {"status": "ok", "how": fallback.how, "instruction": instruction, **unchecked,
                "time_s": timed.stats.to_dict(),
                "tflops": ops / timed.stats.median / 1e12, "iters": timed.iters}


    def gemm_case(self, fmt: gemm.Format, shape: gemm.Shape, policy, settings: dict) -> dict:
        from smbench.families.gemm import cuda as cuda_gemm

        return cuda_gemm.run_case(self, fmt, shape, policy, settings)

    def mma_peak(self, key: str, policy) -> tuple[float | None, str]:
        """The mma.sync loop rate of a format, T(FL)OP/s: the peak family's figure from earlier
        in this run, or the loop timed now (without its fallback) when that family did not run."""
        if key in self.measured_peaks:
            return self.measured_peaks[key], "the peak family's mma.sync loop, earlier in this run"
        if key in self._peak_failures:
            return None, self._peak_failures[key]
        fmt = peak.BY_KEY[key]
        try:
            outcome = self.peak_case(fmt, policy, {**self.peak_settings, "fallback": False})
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - the GEMM's own figure stands without it
            outcome = {"status": "failed", "reason": _one_line(exc)}
        validation = outcome.get("validation")
        if outcome.get("status") in ("skipped", "failed") or validation is None or not validation.ok:
            why = outcome.get("reason") or (validation.detail if validation is not None else "no result")
            self._peak_failures[key] = f"the mma.sync loop did not run: {why}"
            return None, self._peak_failures[key]
        ops = peak.total_ops(fmt, outcome["threads"], outcome["iters"])
        self.measured_peaks[key] = ops / outcome["stats"].median / 1e12
        return self.measured_peaks[key], "the mma.sync loop, timed for this GEMM"

    def context_lost(self) -> str:
        """The sticky CUDA error that left this process's context unusable, or '' if it works.
        An asynchronous kernel fault (illegal address, misaligned access, a trap) is sticky:
        every later call, a synchronize included, returns it again."""
        try:
            self.backend._cupy().cuda.runtime.deviceSynchronize()
        except Exception as exc:  # noqa: BLE001 - whatever the error, the context is gone
            return _one_line(exc)
        return ""


def make_runner(name: str, suite: Suite):
    """A runner for a backend already known to work here (a worker process's)."""
    return CudaRunner(suite) if name == "cuda" else CpuRunner()


def prepare_runner(runner, suite: Suite) -> None:
    runner.gemm_settings = gemm_family.gemm_settings(suite)


def resolve_backend(choice: str, suite: Suite):
    if choice not in ("auto", "cuda", "cpu"):
        raise SmbenchError(f"unknown backend {choice!r} (auto, cuda, cpu)")
    if choice == "cpu":
        return CpuRunner()
    from smbench.backends import cuda

    usable, why = cuda.available()
    if usable:
        return CudaRunner(suite)
    if choice == "cuda":
        raise SmbenchError(f"--backend cuda, but no usable GPU: {why}")
    return CpuRunner(f"no usable GPU: {why}")


# ---------------------------------------------------------------- the plan

def plan(suite: Suite, runner, only: set[str]) -> tuple[list[Case], dict]:
    """Each family's cases, in the registry's order (a family runs where its section is in
    the suite and --only names it); cases a family asks to run last come after all others."""
    cases: list[Case] = []
    last: list[Case] = []
    notes: dict = {}
    for name, family in registry().items():
        if name in only and suite.data.get(name):
            part = family.plan(suite, runner)
            cases += part.cases
            last += part.last
            notes.update(part.notes)
    return cases + last, notes


# ---------------------------------------------------------------- one case -> one record

# Stand-ins for a family's run, by family name (the fault-isolation tests add one).
RUNNERS: dict[str, Callable] = {}


def run_case(case: Case, runner, policy) -> dict:
    try:
        return (RUNNERS.get(case.family) or registry()[case.family].run)(case, runner, policy)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Skip as why:  # the device cannot run it: a skipped row that says why
        return {**base_record(case), "status": "skipped", "reason": str(why)}
    except Exception as exc:  # noqa: BLE001 - one failing case is a row, never the end of the run
        return {**base_record(case), "status": "failed", "reason": _one_line(exc)}


def run_checked(case: Case, runner, policy) -> tuple[dict, str]:
    """(the case's record, the sticky CUDA error if the context did not survive it, else '').
    The context is asked after every case: a fault in a part of a case that keeps its row
    (cuBLAS, the fallback build) loses it just the same; such a case is then failed."""
    record = run_case(case, runner, policy)
    lost = runner.context_lost()
    if lost:
        record.update(status="failed", reason=f"{record.get('reason', 'a part of this case failed')} "
                                              f"(the CUDA context was lost: {lost})")
    return record, lost


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run, after the result file was finished as "interrupted"."""

    def __init__(self, path: Path, records: int):
        super().__init__(str(path))
        self.path, self.records = path, records


def output_path(out_dir: Path, runner, suite: Suite) -> Path:
    """A new file: time to the second, the process id (two runs in one second), a counter."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    device = re.sub(r"[^A-Za-z0-9]+", "-", runner.info["name"]).strip("-").lower()[:40]
    stem = f"{stamp}-{runner.name}-{device}-{suite.name}-{os.getpid()}"
    path, number = Path(out_dir) / f"{stem}.json", 1
    while path.exists():
        number += 1
        path = Path(out_dir) / f"{stem}-{number}.json"
    return path


def header(suite: Suite, runner, notes: dict) -> dict:
    expected = runner.expected
    info = {k: v for k, v in runner.info.items() if k != "facts"}
    return {"suite": suite.name, "suite_description": suite.description, "suite_config": suite.data,
            "backend": runner.name,
            "provenance": provenance.collect(), "device": info,
            "expected_bandwidth": None if expected is None else
            {"gbps": expected.value, "kind": expected.kind, "source": expected.source},
            "dram_threshold_bytes": runner.dram_threshold, "notes": {"backend": runner.why, **notes},
            "timing_policy": suite.timing(runner.name).__dict__}


def run_cases(suite: Suite, runner, cases: list[Case], policy, writer: ResultWriter,
              on_case: Callable[[Case, int, int], None] | None = None) -> None:
    """Each case's record into the writer as it finishes. After each case the runner is asked
    whether its CUDA context survived; if not, the case is failed and the cases left run in
    fresh worker processes (smbench.worker), their records added here as they arrive."""
    from smbench import worker

    for number, case in enumerate(cases):
        if on_case:
            on_case(case, number, len(cases))
        record, lost = run_checked(case, runner, policy)
        writer.add(record)
        if lost:
            writer.document["notes"]["context_lost"] = (
                f"after {case.label!r} the CUDA context was unusable; the {len(cases) - number - 1} cases after "
                f"it ran in fresh processes")
            rest = cases[number + 1:]
            worker.run_elsewhere(suite, runner.name, rest, runner, writer.add,
                                 (lambda c, i: on_case(c, number + 1 + i, len(cases))) if on_case else None)
            return


def execute(suite: Suite, runner, only: set[str], out_dir: Path,
            on_case: Callable[[Case, int, int], None] | None = None) -> tuple[Path, list[dict]]:
    """Run the plan; returns (the result file, its records). An interrupt finishes the file
    as "interrupted" with every record so far, then propagates."""
    check_families(only)
    cases, notes = plan(suite, runner, only)
    if not cases:
        raise SmbenchError(f"suite {suite.name!r} has nothing to run for {', '.join(sorted(only))}")
    policy = suite.timing(runner.name)
    prepare_runner(runner, suite)
    writer = ResultWriter(output_path(out_dir, runner, suite), header(suite, runner, notes))
    try:
        run_cases(suite, runner, cases, policy, writer, on_case)
        writer.finish("complete")
    except KeyboardInterrupt:
        writer.finish("interrupted")
        raise RunInterrupted(writer.path, len(writer.document["records"])) from None
    except OSError as exc:
        # The disk filled or went away: what is on it is the last whole version of the file.
        raise SmbenchError(f"cannot write {writer.path}: {exc.strerror or exc}; the file holds the cases "
                           f"written before this one") from None
    return writer.path, writer.document["records"]
