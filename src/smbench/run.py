"""`smbench run`: a suite's cases on a backend, validated, written as they finish.

The plan comes from the suite (benchmarks/*.toml) and the device's facts; each case
becomes one record in the result file the moment it finishes. A case that fails to
compile, allocate, launch or validate is a record that says why, and the run goes on.
"""

from __future__ import annotations

import datetime
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from smbench import devices, provenance, sass
from smbench import targets as target_table
from smbench.errors import SmbenchError
from smbench.errors import one_line as _one_line
from smbench.families import gemm, peak, precision, stream
from smbench.results import ResultWriter
from smbench.suites import Suite, check_families
from smbench.telemetry import Sampler, Summary

MIB = 1 << 20


@dataclass
class Case:
    family: str
    benchmark: str
    label: str
    params: dict


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
        from smbench.backends import cpu_gemm

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
        self.peak_settings = peak_settings(suite)
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
        from smbench.backends import cuda_peak
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
        from smbench.backends import cuda_precision

        target = target_table.get(self.target)
        if not target.has(fmt.feature):
            raise _Skip(f"needs {', '.join(peak.targets_with(fmt.feature, target_table.NATIVE))}: {self.target} has "
                        f"no {target_table.FEATURES[fmt.feature]}")
        how = "the GPU" + (" (emulated: ptxas builds this format from other instructions)"
                           if target.support(fmt.feature) == target_table.EMULATED else "")
        return cuda_precision.device(self.target), cuda_precision.gemm(self.target), how, \
            self.backend.load(precision.KERNEL_FILE, self.target).provenance

    def _peak_fallback(self, fmt: peak.Format, policy, settings: dict) -> dict:
        """The same loop from compute_80 PTX. Whatever goes wrong here is the fallback's row
        entry: the native figure already measured is kept."""
        from smbench.backends import cuda_peak

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
        from smbench.backends import cuda_gemm

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


class _Skip(Exception):
    """A case the device cannot run: a skipped row with this reason."""


def make_runner(name: str, suite: Suite):
    """A runner for a backend already known to work here (a worker process's)."""
    return CudaRunner(suite) if name == "cuda" else CpuRunner()


def prepare_runner(runner, suite: Suite) -> None:
    runner.gemm_settings = gemm_settings(suite)


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

def stream_sizes(suite: Suite, runner) -> tuple[list[int], str]:
    caps = [(suite.flag("stream", "largest_mib", None), "the suite's cap"),
            (suite.flag("cpu", "largest_mib", None) if runner.name == "cpu" else None, "the suite's CPU cap")]
    caps = [(mib, what) for mib, what in caps if mib]
    largest, what = min(caps) if caps else (None, "")
    sizes, _, why = stream.sweep_sizes(runner.l2_bytes, runner.info["free_bytes"],
                                       bool(runner.info.get("unified_memory")),
                                       largest=largest * MIB if largest else None)
    if largest:
        why = f"{what}, {largest} MiB (memory allows {why})"
    step = max(1, int(round(math.log2(suite.flag("stream", "size_step", 1)))))
    chosen = sizes[::step]
    if sizes and chosen[-1] != sizes[-1]:
        chosen.append(sizes[-1])
    return chosen, why


def plan(suite: Suite, runner, only: set[str]) -> tuple[list[Case], dict]:
    cases: list[Case] = []
    host_memory: list[Case] = []
    notes = {}
    if "stream" in only and suite.data.get("stream"):
        section = suite.data["stream"]
        sizes, notes["sweep_cap"] = stream_sizes(suite, runner)
        home = "device" if runner.name == "cuda" else "host"
        for dtype in section.get("dtypes", ["f32"]):
            for width in section.get("widths", [16]):
                if width not in stream.WIDTHS[dtype]:
                    continue
                for op in section.get("operations", []):
                    for size in sizes:
                        cases.append(Case("stream", op, f"{op} {dtype} {width}B {size // 1024} KiB {home}",
                                          {"op": op, "dtype": dtype, "width": width, "memory": home,
                                           "working_set": size}))
        if runner.name == "cuda":
            # Memory the CPU owns (managed, mapped, pageable) runs after all device-memory work:
            # a GPU that faults on such memory loses its context, and what ran before is kept.
            for kind, offered, why in runner.memory_kinds():
                if kind == "device":
                    continue
                for op in section.get("memory_kinds_operations", []):
                    dtype, width = section.get("dtypes", ["f32"])[0], max(section.get("widths", [16]))
                    host_memory.append(Case("stream", op, f"{op} {dtype} {width}B {kind}",
                                            {"op": op, "dtype": dtype, "width": width, "memory": kind,
                                             "working_set": sizes[-1] if sizes else 0, "offered": offered,
                                             "why": why}))
    if "transfer" in only and suite.data.get("transfer"):
        for size in suite.data["transfer"].get("sizes_mib", []):
            for direction, host in (("h2d", "pinned"), ("h2d", "pageable"), ("d2h", "pinned"), ("d2h", "pageable"),
                                    ("d2d", "device")):
                cases.append(Case("transfer", direction, f"{direction} {host} {size} MiB",
                                  {"direction": direction, "host": host, "bytes": size * MIB}))
    if "peak" in only and suite.data.get("peak"):
        for key in chosen_formats(suite, "peak", peak.BY_KEY):
            fmt = peak.BY_KEY[key]
            cases.append(Case("peak", key, f"{fmt.group} {fmt.label}", {"format": key}))
    if "precision" in only and suite.data.get("precision"):
        for key in chosen_formats(suite, "precision", precision.BY_KEY):
            cases.append(Case("precision", key, f"numerics {precision.BY_KEY[key].label}",
                              {"format": key, **precision_settings(suite)}))
    if "gemm" in only and suite.data.get("gemm"):
        settings = gemm_settings(suite)
        for key in chosen_formats(suite, "gemm", gemm.BY_KEY):
            for shape in gemm.shapes(settings):
                cases.append(Case("gemm", key, f"GEMM {gemm.BY_KEY[key].label} {shape.label}",
                                  {"format": key, "m": shape.m, "n": shape.n, "k": shape.k, "shape": shape.label,
                                   "shape_kind": shape.kind}))
    if "launch" in only and suite.flag("launch", "enabled"):
        cases.append(Case("launch", "launch", "empty-kernel launch latency", {}))
    return cases + host_memory, notes


# ---------------------------------------------------------------- one case -> one record

def _base(case: Case) -> dict:
    return {"family": case.family, "benchmark": case.benchmark, **{k: v for k, v in case.params.items()
                                                                  if k not in ("offered", "why")}}


def run_stream(case: Case, runner, policy) -> dict:
    p = case.params
    record = _base(case)
    record["kernel"] = stream.kernel_name(p["op"], p["dtype"], p["width"])
    if not p.get("offered", True):
        return {**record, "status": "skipped", "reason": p["why"]}
    itemsize = stream.DTYPES[p["dtype"]](0).itemsize
    elements = stream.elements_for(p["op"], p["working_set"], itemsize, p["width"])
    moved = stream.OPERATIONS[p["op"]].bytes_moved(elements, itemsize)
    record.update({"elements": elements, "working_set_bytes": moved, "bytes_moved": moved,
                   "formula": stream.OPERATIONS[p["op"]].formula})
    stats, validation, launch, telemetry = runner.stream_case(p["op"], p["dtype"], p["width"], p["memory"],
                                                              elements, policy)
    record.update({"validation": validation.to_dict(), "launch": launch, "telemetry": telemetry.to_dict(),
                   **runner.provenance()})
    if not validation.ok:
        return {**record, "status": "failed", "reason": f"validation failed: {validation.detail}"}
    median_gbps = moved / stats.median / 1e9
    dram = moved >= runner.dram_threshold
    expected = runner.expected
    record.update({
        "status": "ok", "time_s": stats.to_dict(),
        "gbps": {"median": median_gbps, "best": moved / stats.min / 1e9},
        "dram_resident": dram,
        "expected_gbps": expected.value if expected else None,
        "expected_source": f"{expected.kind}: {expected.source}" if expected else None,
        "percent_of_expected": 100 * median_gbps / expected.value if expected else None,
        "verdict": devices.bandwidth_verdict(median_gbps, expected, dram),
    })
    return record


def run_transfer(case: Case, runner, policy) -> dict:
    record = _base(case)
    if runner.name != "cuda":
        return {**record, "status": "skipped", "reason": "cudaMemcpy copies (host<->device, device-to-device) need a GPU"}
    p = case.params
    record["timing"] = ("queued behind the blocking kernel" if runner.backend.transfer_blocked(p["host"]) else
                        "issued by the host: a copy from pageable memory is synchronous to the host")
    with runner.sampler() as sampler:
        stats, validation = runner.backend.time_transfer(p["direction"], p["host"], p["bytes"], policy)
    record["validation"] = validation.to_dict()
    record["telemetry"] = sampler.summary.to_dict()
    if not validation.ok:
        return {**record, "status": "failed", "reason": f"validation failed: {validation.detail}"}
    # A device-to-device copy reads and writes every byte: counted 2N, as the stream copy is.
    moved = p["bytes"] * (2 if p["direction"] == "d2d" else 1)
    return {**record, "status": "ok", "time_s": stats.to_dict(), "bytes_moved": moved,
            "gbps": {"median": moved / stats.median / 1e9, "best": moved / stats.min / 1e9}}


def run_launch(case: Case, runner, policy) -> dict:
    record = _base(case)
    if runner.name != "cuda":
        return {**record, "status": "skipped", "reason": "kernel launches need a GPU"}
    with runner.sampler() as sampler:
        queued, round_trip = runner.backend.time_launch(runner.module, policy)
    return {**record, "status": "ok", "telemetry": sampler.summary.to_dict(),
            "validation": {"ok": True, "checked": 0,
                                                     "detail": "empty kernel: launches and synchronize succeeded"},
            "queued_us": {"median": queued.median * 1e6, "min": queued.min * 1e6},
            "launch_sync_us": {"median": round_trip.median * 1e6, "min": round_trip.min * 1e6},
            "time_s": {"queued": queued.to_dict(), "launch_sync": round_trip.to_dict()}}


def chosen_formats(suite: Suite, section: str, known: dict) -> list[str]:
    """A family's `formats` setting: "all" (the default) is every format, in table order."""
    chosen = suite.data[section].get("formats", "all")
    return list(known) if chosen == "all" else list(chosen)


def peak_settings(suite: Suite) -> dict:
    return {"launch_ms": suite.flag("peak", "launch_ms", 5.0), "fallback": suite.flag("peak", "fallback", True)}


def run_peak(case: Case, runner, policy) -> dict:
    fmt = peak.BY_KEY[case.params["format"]]
    record = {**_base(case), "kernel": fmt.kernel, "group": fmt.group, "label": fmt.label, "unit": fmt.unit,
              "ops_unit": fmt.ops_unit, "shape": list(fmt.shape) if fmt.shape else None,
              "ops_per_instruction": fmt.ops_per_instruction}
    outcome = runner.peak_case(fmt, policy, runner.peak_settings)
    if outcome.get("status") in ("skipped", "failed"):
        return {**record, "status": outcome["status"], "reason": outcome["reason"],
                **{k: outcome[k] for k in ("support", "instruction") if k in outcome}}
    validation = outcome["validation"]
    record.update({"support": outcome["support"], "support_note": outcome.get("support_note", ""),
                   "instruction": outcome["instruction"], "validation": validation.to_dict(),
                   **outcome.get("provenance", {})})
    if not validation.ok:
        return {**record, "status": "failed", "reason": f"validation failed: {validation.detail}"}
    stats, telemetry = outcome["stats"], outcome["telemetry"]
    ops = peak.total_ops(fmt, outcome["threads"], outcome["iters"])
    measured = ops / stats.median / 1e12
    clock = telemetry.clock_mhz if telemetry.available else None
    expected = peak.expectation(fmt, runner.info.get("compute_capability"), runner.info.get("sm_count"),
                                runner.spec, clock, runner.info.get("sm_clock_max_mhz"), telemetry.clock_source)
    fallback = outcome["fallback"]
    if fallback.get("status") == "ok":
        fallback["native_over_fallback"] = measured / fallback["tflops"]
    record.update({"status": "ok", "iters": outcome["iters"], "threads": outcome["threads"],
                   "launch": outcome["launch"], "ops": ops, "time_s": stats.to_dict(),
                   "tflops": {"median": measured, "best": ops / stats.min / 1e12},
                   "telemetry": telemetry.to_dict(), "expected": expected.to_dict(),
                   **peak.judge(measured, expected, emulated=outcome["support"] == "emulated"),
                   "fallback": fallback})
    runner.measured_peaks[fmt.key] = measured  # the rate a GEMM of this format is held to
    return record


def precision_settings(suite: Suite) -> dict:
    return {"cpu_model": suite.flag("precision", "cpu_model", "truncate-3"),
            "gemm_ks": suite.flag("precision", "gemm_ks", [64, 256, 1024])}


def run_precision(case: Case, runner, policy) -> dict:
    """Probe one format's numerics and fit the emulator to the answers; then random GEMMs
    against float64 and against the fitted emulator."""
    fmt = precision.BY_KEY[case.params["format"]]
    settings = case.params
    record = {**_base(case), "kernel": fmt.kernel, "label": fmt.label, "input_format": fmt.input_format,
              "accumulator": fmt.accumulator, "k": fmt.k}
    try:
        device, device_gemm, how, provenance_of_kernel = runner.precision_devices(fmt, settings)
    except _Skip as why:
        return {**record, "status": "skipped", "reason": str(why)}
    # Validation: K products of 1 x 1 must give K exactly, whatever the model.
    ones = np.ones((1, fmt.k))
    got = float(device(fmt, ones, ones, np.zeros(1))[0])
    record["device"] = how
    record.update(provenance_of_kernel)
    record["validation"] = {"ok": got == fmt.k, "checked": 1,
                            "detail": f"sum of {fmt.k} products 1 x 1 = {got:g} (must be {fmt.k} exactly)"}
    if got != fmt.k:
        return {**record, "status": "failed", "reason": "validation failed: " + record["validation"]["detail"]}
    fitted = precision.fit(fmt, device)
    record.update({"status": "ok", "fit": fitted.to_dict()})
    if fitted.model is None:
        return {**record, "status": "failed", "reason": "no model of the emulator's family fits every answer"}
    record["gemm"] = precision.gemm_errors(fmt, device_gemm, fitted.model, settings["gemm_ks"])
    if runner.name == "cpu":
        record["recovered"] = precision.recovered(precision.MODELS[settings["cpu_model"]], fitted)
    return record


def gemm_settings(suite: Suite) -> dict:
    section = suite.data.get("gemm", {})
    return {**{key: section.get(key, default) for key, default in GEMM_DEFAULTS.items()},
            "cpu_max_gflop": suite.flag("cpu", "gemm_max_gflop", 1.0),
            "cpu_emulate_max": suite.flag("cpu", "gemm_emulate_max", 1 << 22)}


GEMM_DEFAULTS = {"squares": [], "shapes": [], "decode_m": [], "decode_nk": [], "tails": [], "cublas": True,
                 "fallback": True, "emulator_model": "truncate-3"}


def run_gemm(case: Case, runner, policy) -> dict:
    """One format on one shape: validated exactly and against float64, timed, beside cuBLAS
    and the compute_80 build; held to the format's measured mma.sync rate and spec peak."""
    fmt = gemm.BY_KEY[case.params["format"]]
    p = case.params
    shape = gemm.Shape(p["m"], p["n"], p["k"], p["shape_kind"])
    record = {**_base(case), "kernel": fmt.kernel, "label": fmt.label,
              "accumulator": fmt.accumulator, "ops_unit": fmt.ops_unit, "ops": shape.ops,
              "bytes_moved": gemm.bytes_moved(fmt, shape),
              "layout": "A row-major (M x K), B column-major (K x N), C row-major"}
    outcome = runner.gemm_case(fmt, shape, policy, runner.gemm_settings)
    kept = ("support", "support_note", "instruction", "tile", "splits", "sass", "validation", "error",
            "emulator")
    record.update({k: outcome[k] for k in kept if k in outcome})
    record.update(outcome.get("provenance", {}))
    if outcome.get("status") in ("skipped", "failed"):
        return {**record, "status": outcome["status"], "reason": outcome["reason"]}
    stats = outcome["stats"]
    mma_peak, peak_source = runner.mma_peak(fmt.peak_key, policy)
    spec = devices.spec_peak(runner.spec, peak.BY_KEY[fmt.peak_key].spec_keys)
    expected = runner.expected
    merit = gemm.figures(fmt, shape, stats.median, mma_peak, spec.value if spec else None,
                         expected.value if expected else None)
    cublas, fallback = outcome["cublas"], outcome["fallback"]
    if cublas.get("status") == "ok":
        cublas["ours_over_cublas"] = merit["tflops"] / cublas["tflops"]
    if fallback.get("status") == "ok":
        fallback["native_over_fallback"] = merit["tflops"] / fallback["tflops"]
    record.update({"status": "ok", "time_s": stats.to_dict(),
                   "tflops": {"median": merit["tflops"], "best": shape.ops / stats.min / 1e12},
                   "gbps": {"median": merit["gbps"], "best": gemm.bytes_moved(fmt, shape) / stats.min / 1e9},
                   "percent_of_bandwidth": merit["percent_of_bandwidth"],
                   "mma_peak": {"tflops": mma_peak, "source": peak_source},
                   "percent_of_mma_peak": merit["percent_of_mma_peak"],
                   "spec_peak": None if spec is None else {"value": spec.value, "source": spec.source},
                   "percent_of_spec": merit["percent_of_spec"], "cublas": cublas, "fallback": fallback,
                   "telemetry": outcome["telemetry"].to_dict()})
    return record


RUNNERS: dict[str, Callable] = {"stream": run_stream, "transfer": run_transfer, "launch": run_launch,
                                "peak": run_peak, "precision": run_precision, "gemm": run_gemm}


def run_case(case: Case, runner, policy) -> dict:
    try:
        return RUNNERS[case.family](case, runner, policy)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # noqa: BLE001 - one failing case is a row, never the end of the run
        return {**_base(case), "status": "failed", "reason": _one_line(exc)}


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
    from smbench.results import _jsonable

    for number, case in enumerate(cases):
        if on_case:
            on_case(case, number, len(cases))
        record = run_case(case, runner, policy)
        # Asked after every case: a fault in a part of a case that keeps its row (cuBLAS, the
        # fallback build) loses the context just the same.
        lost = runner.context_lost()
        if lost:
            record.update(status="failed", reason=f"{record.get('reason', 'a part of this case failed')} "
                                                  f"(the CUDA context was lost: {lost})")
        writer.add(record)
        if lost:
            writer.document["notes"]["context_lost"] = (
                f"after {case.label!r} the CUDA context was unusable; the {len(cases) - number - 1} cases after "
                f"it ran in fresh processes")
            rest = cases[number + 1:]
            worker.run_elsewhere(suite, runner.name, rest, runner, writer.add,
                                 (lambda c, i: on_case(c, number + 1 + i, len(cases))) if on_case else None,
                                 _base, encode=_jsonable)
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
