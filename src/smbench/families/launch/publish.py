"""Copies and launches side by side in comparisons: the transfer family's cudaMemcpy figures
and this family's empty-kernel latencies, in one table (as the run summary shows them)."""

from __future__ import annotations

from smbench.compare import Entry, gbps_samples


def transfers(document: dict) -> dict[str, Entry]:
    entries: dict[str, Entry] = {}
    for record in document["records"]:
        if record["status"] != "ok":
            continue
        if record["family"] == "transfer":
            entries[f"cudaMemcpy {record['benchmark']} {record['host']} (GB/s)"] = Entry(record["gbps"]["median"],
                                                                                       gbps_samples(record))
        elif record["family"] == "launch":
            entries["empty kernel queued (us)"] = Entry(record["queued_us"]["median"], None)
            entries["empty kernel launch+sync (us)"] = Entry(record["launch_sync_us"]["median"], None)
    return entries


COMPARE = (("Copies and launches", transfers, "benchmark"),)


def headline(document: dict) -> list[tuple[str, str]]:
    for r in document["records"]:
        if r["family"] == "launch" and r["status"] == "ok":
            return [("launch", f"{r['queued_us']['median']:.2f} us per queued empty kernel, "
                               f"{r['launch_sync_us']['median']:.2f} us launch + synchronize")]
    return []
