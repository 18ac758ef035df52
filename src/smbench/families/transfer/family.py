"""The transfer family as the harness sees it: cudaMemcpy host<->device from pinned and pageable memory, and device-to-device."""

from __future__ import annotations

from smbench.axes import Axes, Axis
from smbench.cases import MIB, Case, base_record, case_of
from smbench.families import Family, PlanPart, require
from smbench.settings import is_int

# (direction, the memory on the host side, or the device's for a device-to-device copy)
COPIES = (("h2d", "pinned"), ("h2d", "pageable"), ("d2h", "pinned"), ("d2h", "pageable"), ("d2d", "device"))
AXES = Axes(
    Axis("sizes_mib", "bytes", default=(256,), item=(is_int(1), "a whole number of MiB >= 1"),
         into=lambda mib: mib * MIB, unit="bytes", help="the size of each copy"),
    Axis("copies", ("direction", "host"), default=COPIES, choices=COPIES,
         help="[direction, host memory] pairs: h2d/d2h from pinned or pageable memory, d2d"),
)


def plan(suite, runner) -> PlanPart:
    return PlanPart([case_of("transfer", point, point.fields["direction"],
                             f"{point.fields['direction']} {point.fields['host']} {point.fields['bytes'] // MIB} MiB")
                     for point in AXES.points(suite.section("transfer"))])


def run_transfer(case: Case, runner, policy) -> dict:
    record = base_record(case)
    p = case.params
    copies = runner.part("transfer")
    record["timing"] = ("queued behind the blocking kernel" if copies.transfer_blocked(p["host"]) else
                        "issued by the host: a copy from pageable memory is synchronous to the host")
    with runner.sampler() as sampler:
        timed = copies.time_transfer(p["direction"], p["host"], p["bytes"], policy)
    stats, validation = timed.stats, timed.validation
    record["validation"] = validation.to_dict()
    record["telemetry"] = sampler.summary.to_dict()
    if not validation.ok:
        return {**record, "status": "failed", "reason": f"validation failed: {validation.detail}"}
    # The figure counts the bytes copied, once, as nvbandwidth does (size x copies / time), so
    # that its rows compare with nvbandwidth's. A device-to-device copy reads and writes every
    # byte in the same DRAM: that count (2N, BabelStream's for the stream copy) is kept beside
    # it, and is what the stream kernels are compared with.
    copied = p["bytes"]
    record.update({"status": "ok", "time_s": stats.to_dict(), "bytes_moved": copied,
                   "counting": COUNTING,
                   "gbps": {"median": copied / stats.median / 1e9, "best": copied / stats.min / 1e9}})
    if p["direction"] == "d2d":
        record["gbps_read_write"] = {"median": 2 * copied / stats.median / 1e9, "best": 2 * copied / stats.min / 1e9}
    elif runner.info.get("unified_memory"):
        # Host and device memory are the same DRAM: the copy reads N and writes N of it.
        record["dram_bytes"] = 2 * copied
        record["unified_memory_note"] = (f"unified memory: this copy moves {2 * copied} DRAM bytes (reads and writes "
                                         f"the same DRAM) while the figure counts the {copied} copied")
    return record


COUNTING = "bytes copied, once (nvbandwidth's count); device-to-device also read + written (gbps_read_write)"


def headline(document: dict) -> list[tuple[str, str]]:
    """Each direction's largest copy."""
    largest: dict[tuple, dict] = {}
    for r in document["records"]:
        if r["family"] == "transfer" and r["status"] == "ok":
            key = (r["benchmark"], r["host"])
            if key not in largest or r["bytes"] > largest[key]["bytes"]:
                largest[key] = r
    if not largest:
        return []
    return [("copies", ", ".join(f"{direction.upper()}{'' if host == 'device' else ' ' + host} "
                                 f"{r['gbps']['median']:.4g} GB/s" for (direction, host), r in largest.items())
             + " (bytes copied, nvbandwidth's count)")]



def check_record(record: dict, where: str) -> None:
    """What compare and export index in an ok copy: its GB/s and the host memory it used."""
    require(record, where, {"gbps": dict, "host": str}, "transfer")


FAMILY = Family("transfer", rank=20, summary="host<->device and device-to-device copies (cudaMemcpyAsync)",
                axes=AXES, plan=plan, run=run_transfer, check_record=check_record, headline=headline,
                needs="cudaMemcpy copies (host<->device, device-to-device) need a GPU")
