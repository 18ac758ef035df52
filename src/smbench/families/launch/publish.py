"""Copies and launches side by side in comparisons: the transfer family's cudaMemcpy figures
and this family's launch latencies (a CUDA empty kernel, MLX's smallest operation), in one table (as the run summary shows them)."""

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
            # One row for a CUDA empty kernel and MLX's smallest operation alike: each backend's
            # cheapest unit of work, so a Mac's file and a GPU's line up.
            for name, field, timing in (("smallest launch, queued (us)", "queued_us", "queued"),
                                        ("smallest launch + sync (us)", "launch_sync_us", "launch_sync")):
                samples = ((record.get("time_s") or {}).get(timing) or {}).get("samples")
                entries[name] = Entry(record[field]["median"], [t * 1e6 for t in samples] if samples else None,
                                      better="lower")
    return entries


COMPARE = (("Copies and launches", transfers, "benchmark"),)


def headline(document: dict) -> list[tuple[str, str]]:
    for r in document["records"]:
        if r["family"] == "launch" and r["status"] == "ok":
            what = "smallest MLX operation" if r.get("operation") else "empty kernel"
            return [("launch", f"{r['queued_us']['median']:.2f} us per queued {what}, "
                               f"{r['launch_sync_us']['median']:.2f} us launch + synchronize")]
    return []
