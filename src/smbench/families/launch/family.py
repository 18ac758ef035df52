"""The launch family as the harness sees it: an empty kernel's launch latency, queued on the device and launch + synchronize."""

from __future__ import annotations

from smbench.axes import Axes
from smbench.cases import Case, base_record
from smbench.families import Family, Figure, PlanPart, require
from smbench.families.launch import publish

AXES = Axes()  # one case: an empty [launch] section runs it


def plan(suite, runner) -> PlanPart:
    return PlanPart([Case("launch", "launch", f"{runner.part('launch').WHAT} launch latency", {})])


def run_launch(case: Case, runner, policy) -> dict:
    """The backend's smallest unit of work (an empty kernel; MLX's smallest operation), queued
    back to back and launched then waited for."""
    record = base_record(case)
    with runner.sampler() as sampler:
        timed = runner.part("launch").time_launch(runner, policy)
    record.update({"telemetry": sampler.summary.to_dict(), "validation": timed.validation.to_dict()})
    if timed.operation:
        record["operation"] = timed.operation
    if not timed.validation.ok:
        return {**record, "status": "failed", "reason": f"validation failed: {timed.validation.detail}"}
    queued, round_trip = timed.queued, timed.launch_sync
    return {**record, "status": "ok",
            "queued_us": {"median": queued.median * 1e6, "min": queued.min * 1e6},
            "launch_sync_us": {"median": round_trip.median * 1e6, "min": round_trip.min * 1e6},
            "time_s": {"queued": queued.to_dict(), "launch_sync": round_trip.to_dict()}}


def check_record(record: dict, where: str) -> None:
    """What compare and export index in an ok launch record: both latencies."""
    require(record, where, {"queued_us": dict, "launch_sync_us": dict}, "launch")


FAMILY = Family("launch", rank=60, summary="launch latency of an empty kernel", axes=AXES, plan=plan,
                run=run_launch, check_record=check_record,
                compare=publish.COMPARE, headline=publish.headline, needs="kernel launches need a GPU",
                # A latency, its best the shortest; its samples are times, not rates of an amount.
                figure=Figure("queued_us", "us", best="min"),
                moved={("launch", "enabled"): None})  # it runs where its section is, an empty one included
