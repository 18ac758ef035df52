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

from smbench import devices, provenance
from smbench.errors import SmbenchError
from smbench.families import stream
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

    def stream_case(self, op, dtype, width, kind, elements, policy):
        case = self.backend.prepare(op, dtype, width, elements)
        stats, value = self.backend.time_case(case, policy)
        validation = self.backend.validate(case, value)
        return stats, validation, {"backend": "numpy"}, Summary(False, "CPU backend: no GPU telemetry")

    def provenance(self) -> dict:
        return {"target": None, "compile_options": None, "kernel_source_hash": None}


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
        self.blocking = bool(suite.flag("timing", "blocking"))
        self.cold_l2 = bool(suite.flag("timing", "cold_l2"))
        self._module = None

    @property
    def module(self):
        if self._module is None:
            self._module = self.backend.load(stream.KERNEL_FILE, self.target)
        return self._module

    def _timer(self):
        cupy = self.backend._cupy()
        spin = self.backend.load("timing.cu", self.target).module.get_function("smbench_spin_until") \
            if self.blocking else None
        timer = self.backend.DeviceTimer(cupy.cuda.Stream(non_blocking=True), self.blocking,
                                         2 * self.facts.l2_bytes if self.cold_l2 else 0)
        return timer, spin

    def memory_kinds(self):
        return stream.memory_kinds(self.facts)

    def sampler(self) -> Sampler:
        return Sampler(pci_bus_id=self.info.get("pci_bus_id"))

    def stream_case(self, op, dtype, width, kind, elements, policy):
        case = self.backend.prepare(self.module, self.facts, op, dtype, width, elements, kind)
        timer = None
        try:
            timer, spin = self._timer()
            with self.sampler() as sampler:
                stats = self.backend.time_case(case, policy, timer, spin)
            validation = self.backend.validate(case)
        finally:
            if timer is not None:
                timer.close()
            self.backend.release(case.allocations)
        return stats, validation, {"grid": case.grid, "block": case.block}, sampler.summary

    def provenance(self) -> dict:
        module = self.module
        return {"target": module.target, "compile_options": module.options, "kernel_source_hash": module.source_hash}


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
    largest = suite.flag("cpu", "largest_mib", None) if runner.name == "cpu" else None
    sizes, _, why = stream.sweep_sizes(runner.l2_bytes, runner.info["free_bytes"],
                                       bool(runner.info.get("unified_memory")),
                                       largest=largest * MIB if largest else None)
    if largest:
        why = f"the suite's CPU cap, {largest} MiB (memory allows {why})"
    step = max(1, int(round(math.log2(suite.flag("stream", "size_step", 1)))))
    chosen = sizes[::step]
    if sizes and chosen[-1] != sizes[-1]:
        chosen.append(sizes[-1])
    return chosen, why


def plan(suite: Suite, runner, only: set[str]) -> tuple[list[Case], dict]:
    cases: list[Case] = []
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
            for kind, offered, why in runner.memory_kinds():
                if kind == "device":
                    continue
                for op in section.get("memory_kinds_operations", []):
                    dtype, width = section.get("dtypes", ["f32"])[0], max(section.get("widths", [16]))
                    cases.append(Case("stream", op, f"{op} {dtype} {width}B {kind}",
                                      {"op": op, "dtype": dtype, "width": width, "memory": kind,
                                       "working_set": sizes[-1] if sizes else 0, "offered": offered, "why": why}))
    if "transfer" in only and suite.data.get("transfer"):
        for size in suite.data["transfer"].get("sizes_mib", []):
            for direction, host in (("h2d", "pinned"), ("h2d", "pageable"), ("d2h", "pinned"), ("d2h", "pageable"),
                                    ("d2d", "device")):
                cases.append(Case("transfer", direction, f"{direction} {host} {size} MiB",
                                  {"direction": direction, "host": host, "bytes": size * MIB}))
    if "launch" in only and suite.flag("launch", "enabled"):
        cases.append(Case("launch", "launch", "empty-kernel launch latency", {}))
    return cases, notes


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


RUNNERS: dict[str, Callable] = {"stream": run_stream, "transfer": run_transfer, "launch": run_launch}


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


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


def execute(suite: Suite, runner, only: set[str], out_dir: Path,
            on_case: Callable[[Case, int, int], None] | None = None) -> tuple[Path, list[dict]]:
    """Run the plan; returns (the result file, its records). An interrupt finishes the file
    as "interrupted" with every record so far, then propagates."""
    check_families(only)
    cases, notes = plan(suite, runner, only)
    if not cases:
        raise SmbenchError(f"suite {suite.name!r} has nothing to run for {', '.join(sorted(only))}")
    policy = suite.timing(runner.name)
    writer = ResultWriter(output_path(out_dir, runner, suite), header(suite, runner, notes))
    try:
        for number, case in enumerate(cases):
            if on_case:
                on_case(case, number, len(cases))
            writer.add(run_case(case, runner, policy))
        writer.finish("complete")
    except KeyboardInterrupt:
        writer.finish("interrupted")
        raise RunInterrupted(writer.path, len(writer.document["records"])) from None
    except OSError as exc:
        # The disk filled or went away: what is on it is the last whole version of the file.
        raise SmbenchError(f"cannot write {writer.path}: {exc.strerror or exc}; the file holds the cases "
                           f"written before this one") from None
    return writer.path, writer.document["records"]
