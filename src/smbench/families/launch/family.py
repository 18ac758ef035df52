"""The launch family as the harness sees it: an empty kernel's launch latency, queued on the device and launch + synchronize."""

from __future__ import annotations

from smbench.axes import Axes
from smbench.cases import Case, base_record
from smbench.families import Family, PlanPart, require
from smbench.families.launch import publish

AXES = Axes()  # one case: an empty [launch] section runs it


def plan(suite, runner) -> PlanPart:
    what = "smallest MLX operation" if getattr(runner, "name", "") == "mlx" else "empty-kernel"  # MLX launches no kernel of ours
    return PlanPart([Case("launch", "launch", f"{what} launch latency", {})])


def run_launch(case: Case, runner, policy) -> dict:
    record = base_record(case)
    if runner.name == "mlx":
        return run_mlx(record, runner, policy)
    if runner.name != "cuda":
        return {**record, "status": "skipped", "reason": "kernel launches need a GPU"}
    with runner.sampler() as sampler:
        # The empty kernel is stream.cu's: one module for both families.
        queued, round_trip = runner.part("launch").time_launch(runner.part("stream").module(runner), policy)
    return {**record, "status": "ok", "telemetry": sampler.summary.to_dict(),
            "validation": {"ok": True, "checked": 0, "detail": "empty kernel: launches and synchronize succeeded"},
            "queued_us": {"median": queued.median * 1e6, "min": queued.min * 1e6},
            "launch_sync_us": {"median": round_trip.median * 1e6, "min": round_trip.min * 1e6},
            "time_s": {"queued": queued.to_dict(), "launch_sync": round_trip.to_dict()}}


def run_mlx(record: dict, runner, policy) -> dict:
    """The smallest evaluated MLX operation: queued in a dependent chain, and evaluated alone."""
    with runner.sampler() as sampler:
        queued, round_trip, validation = runner.part("launch").time_launch(policy)
    record.update({"telemetry": sampler.summary.to_dict(), "validation": validation.to_dict(),
                   "operation": "one float32 element + 1, through MLX (there is no kernel launch to call)"})
    if not validation.ok:
        return {**record, "status": "failed", "reason": f"validation failed: {validation.detail}"}
    return {**record, "status": "ok",
            "queued_us": {"median": queued.median * 1e6, "min": queued.min * 1e6},
            "launch_sync_us": {"median": round_trip.median * 1e6, "min": round_trip.min * 1e6},
            "time_s": {"queued": queued.to_dict(), "launch_sync": round_trip.to_dict()}}


def check_record(record: dict, where: str) -> None:
    """What compare and export index in an ok launch record: both latencies."""
    require(record, where, {"queued_us": dict, "launch_sync_us": dict}, "launch")


FAMILY = Family("launch", rank=60, summary="launch latency of an empty kernel", axes=AXES, plan=plan,
                run=run_launch, check_record=check_record,
                compare=publish.COMPARE, headline=publish.headline)
