"""The transfer family as the harness sees it: cudaMemcpy host<->device from pinned and pageable memory, and device-to-device."""

from __future__ import annotations

from smbench.cases import MIB, Case, base_record
from smbench.families import Family, PlanPart, require
from smbench.settings import is_int, list_of

SETTINGS = {"sizes_mib": (list_of(is_int(1)), "a list of whole MiB >= 1")}
DIRECTIONS = (("h2d", "pinned"), ("h2d", "pageable"), ("d2h", "pinned"), ("d2h", "pageable"), ("d2d", "device"))


def plan(suite, runner) -> PlanPart:
    part = PlanPart()
    for size in suite.data["transfer"].get("sizes_mib", []):
        for direction, host in DIRECTIONS:
            part.cases.append(Case("transfer", direction, f"{direction} {host} {size} MiB",
                                   {"direction": direction, "host": host, "bytes": size * MIB}))
    return part


def run_transfer(case: Case, runner, policy) -> dict:
    record = base_record(case)
    if runner.name != "cuda":
        return {**record, "status": "skipped", "reason": "cudaMemcpy copies (host<->device, device-to-device) need a GPU"}
    p = case.params
    copies = runner.part("transfer")
    record["timing"] = ("queued behind the blocking kernel" if copies.transfer_blocked(p["host"]) else
                        "issued by the host: a copy from pageable memory is synchronous to the host")
    with runner.sampler() as sampler:
        stats, validation = copies.time_transfer(p["direction"], p["host"], p["bytes"], policy)
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
                settings=SETTINGS, plan=plan, run=run_transfer, check_record=check_record, headline=headline)
