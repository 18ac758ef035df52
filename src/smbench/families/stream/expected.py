"""What a stream figure is held to: the device's DRAM bandwidth (the device table's row, or
derived from the driver's memory clock and bus), where DRAM starts (smbench.backends.runners.
dram_starts), the band a DRAM-resident figure is normal in, and what the family adds to a
result file's header for that (the harness asks the family; it names none of this itself)."""

from __future__ import annotations

from smbench import devices
from smbench.backends.runners import dram_starts
from smbench.errors import SmbenchError

# What counts as normal for a DRAM-resident stream kernel, as fractions of the spec:
# good tools reach 80-93% of HBM/GDDR spec (gpu-stream's A100/H100 files), the Spark
# 85% (231-234 of 273 GB/s). Below LOW the figure is low; above HIGH it cannot be DRAM.
NORMAL_LOW = 0.70
NORMAL_HIGH = 1.02

VERDICT_STYLES = {"cache": "dim"}  # a figure from the caches: a DRAM spec says nothing about it


def bandwidth_verdict(measured_gbps: float, expected: devices.Figure | None, dram_resident: bool) -> str:
    """normal / low / suspicious-high against the expected band; 'cache' where the working
    set fits in the caches (a DRAM spec says nothing there); 'no expectation' without one."""
    if not dram_resident:
        return "cache"
    if expected is None:
        return "no expectation"
    ratio = measured_gbps / expected.value
    if ratio > NORMAL_HIGH:
        return "suspicious-high"
    if ratio < NORMAL_LOW:
        return "low"
    return "normal"


def figure_fields(figure: devices.Figure | None) -> dict | None:
    """The expected DRAM bandwidth as a result file holds it."""
    return None if figure is None else {"gbps": figure.value, "kind": figure.kind, "source": figure.source}


def header(runner) -> dict:
    """The run's expected DRAM bandwidth and the working set from which a figure is DRAM's."""
    return {"expected_bandwidth": figure_fields(runner.dram_bandwidth),
            "dram_threshold_bytes": dram_starts(runner.last_level_cache_bytes)}


def check_header(document: dict, origin: str) -> None:
    """The expected bandwidth the views and report lines divide by: null or a numeric 'gbps'."""
    expected = document.get("expected_bandwidth")
    gbps = expected.get("gbps") if isinstance(expected, dict) else None
    if expected is not None and not (isinstance(gbps, (int, float)) and not isinstance(gbps, bool)):
        raise SmbenchError(f"{origin}: field 'expected_bandwidth' should be null or an object with a numeric 'gbps'")


def title(document: dict) -> str:
    """The run summary's title clause: the bandwidth the verdicts are against, with its source."""
    expected = document.get("expected_bandwidth")
    if not expected:
        return ""
    return f"expected DRAM bandwidth {expected['gbps']:g} GB/s ({expected['kind']}: {expected['source']})"
