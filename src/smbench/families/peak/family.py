"""The peak family as the harness sees it: every mma.sync and CUDA-core loop, gated by the target table, validated, timed and judged."""

from __future__ import annotations

from smbench.axes import Axes, Axis, Setting
from smbench.cases import Case, base_record, case_of
from smbench.families import Family, Figure, PlanPart, peak, require
from smbench.families.peak import publish
from smbench.families.peak import view
from smbench.settings import is_bool, is_number

AXES = Axes(
    Axis("formats", "format", default=tuple(peak.BY_KEY), choices=tuple(peak.BY_KEY),
         help="every mma.sync format and CUDA-core loop; one the GPU lacks is a skipped row"),
    Setting("launch_ms", 5.0, (is_number, "a positive number of milliseconds per timed launch")),
    Setting("fallback", True, (is_bool, "true or false (also time the compute_80 PTX build)")),
)


def plan(suite, runner) -> PlanPart:
    return PlanPart([case_of("peak", point, key, f"{peak.BY_KEY[key].group} {peak.BY_KEY[key].label}")
                     for point in AXES.points(suite.section("peak")) for key in [point.fields["format"]]])


def run_peak(case: Case, runner, policy) -> dict:
    fmt = peak.BY_KEY[case.params["format"]]
    record = {**base_record(case), "kernel": fmt.kernel, "group": fmt.group, "label": fmt.label, "unit": fmt.unit,
              "ops_unit": fmt.ops_unit, "shape": list(fmt.shape) if fmt.shape else None,
              "ops_per_instruction": fmt.ops_per_instruction}
    loop = runner.part("peak").run_case(runner, fmt, policy, runner.suite.section("peak"))
    if loop.status != "ok":
        return {**record, "status": loop.status, "reason": loop.reason,
                **{k: v for k, v in (("support", loop.support), ("instruction", loop.instruction)) if v is not None}}
    validation = loop.validation
    record.update({"support": loop.support, "support_note": loop.support_note, "instruction": loop.instruction,
                   "validation": validation.to_dict(), **loop.provenance})
    if not validation.ok:
        return {**record, "status": "failed", "reason": f"validation failed: {validation.detail}"}
    stats, telemetry = loop.stats, loop.telemetry
    ops = peak.total_ops(fmt, loop.threads, loop.iters)
    measured = ops / stats.median / 1e12
    clock, source = _clock(loop.kernel_clock, telemetry)
    expected = peak.expectation(fmt, runner.info.get("compute_capability"), runner.info.get("sm_count"),
                                runner.spec, clock, runner.info.get("sm_clock_max_mhz"), source)
    fallback = loop.fallback
    if fallback.get("status") == "ok":
        fallback["native_over_fallback"] = measured / fallback["tflops"]
    record.update({"status": "ok", "iters": loop.iters, "threads": loop.threads,
                   "launch": loop.launch, "ops": ops, "time_s": stats.to_dict(),
                   "tflops": {"median": measured, "best": ops / stats.min / 1e12},
                   "telemetry": telemetry.to_dict(), "kernel_clock": loop.kernel_clock,
                   "expected": expected.to_dict(),
                   **peak.judge(measured, expected, emulated=loop.support == "emulated"),
                   "fallback": fallback})
    peak.measured_rates(runner)[fmt.key] = measured  # the rate a GEMM of this format is held to
    return record


def _clock(ran_at: dict | None, telemetry) -> tuple[float | None, str]:
    """The clock the loop ran at and its source. The clock the loop measured itself (every
    timed launch) first: NVML's 20 ms samples miss a loop of a few milliseconds, and its
    fallback, the application clock, is not the clock an H100/H200 holds under tensor load.
    NVML's median stays in the source beside it."""
    if ran_at:
        return ran_at["mhz"], ran_at["source"] + (
            f"; NVML's {telemetry.clock_source}: {telemetry.clock_mhz:.0f} MHz" if telemetry.available
            and telemetry.clock_mhz else "")
    return (telemetry.clock_mhz if telemetry.available else None), telemetry.clock_source


def check_record(record: dict, where: str) -> None:
    """What compare, plot, report and export index in an ok peak record: its T(FL)OP/s, and for
    a measured one the label and unit its report line names."""
    require(record, where, {"tflops": dict} if record.get("published") else
            {"tflops": dict, "label": str, "ops_unit": str}, "peak")


FAMILY = Family("peak", rank=30, summary="tensor-core and CUDA-core throughput per precision", axes=AXES,
                plan=plan, run=run_peak, view=view.view, check_record=check_record,
                compare=publish.COMPARE, report_lines=publish.report_lines, plots=publish.plots,
                figure=Figure("tflops", "T(FL)OP/s", "ops", 1e12), headline=view.headline,
                cost=(2, 0.3), needs="the throughput loops are mma.sync and CUDA-core kernels (or the CPU path's "
                                     "NumPy model of one warp)",
                published=publish.published, vocabulary=publish.VOCABULARY, verdict_styles=peak.VERDICT_STYLES)
