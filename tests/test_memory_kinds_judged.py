"""Each memory kind held to its own link (docs/memory.md): mapped host memory to the PCIe
link NVML reports (both directions at once for a kernel that reads and writes), or to the
DRAM itself on a unified-memory device; managed memory's first launch timed apart from the
resident median; copies counted as nvbandwidth counts them, with 2N beside the
device-to-device figure and the 2N DRAM bytes of a copy on unified memory said."""

import types

import pytest

from smbench import devices
from smbench.cases import Case, Validation
from smbench.families.stream.family import expectation_of, run_stream
from smbench.families.stream.part import Measured
from smbench.families.transfer.part import Copied
from smbench.families.transfer.family import run_transfer
from smbench.telemetry import Summary
from smbench.timing import TimingPolicy, summarize

POLICY = TimingPolicy(warmup=0, min_samples=2, max_samples=2, budget_s=0.01)
H200 = devices.by_key("h200")
GB10 = devices.by_key("gb10")
GIB = 1 << 30


def _runner(spec, info, seconds=1e-3, first_touch=None):
    launch = {"grid": 1, "block": 256}
    part = types.SimpleNamespace(
        run_case=lambda runner, work, policy: Measured(
            summarize([seconds, seconds]), Validation(True, 1, "ok"), launch, Summary(False, "stand-in"), {},
            first_touch),
        transfer_blocked=lambda host: True,
        time_transfer=lambda direction, host, nbytes, policy: Copied(summarize([seconds, seconds]),
                                                                     Validation(True, 1, "ok")))
    return types.SimpleNamespace(name="cuda", home_memory="device", spec=spec, dram_bandwidth=spec.memory_bandwidth,
                                 info=info,
                                 last_level_cache_bytes=50 << 20, part=lambda family: part,
                                 sampler=lambda: __import__("smbench.telemetry", fromlist=["NoTelemetry"])
                                 .NoTelemetry("stand-in"))


def _stream(runner, op, memory, gbps):
    elements = (512 << 20) // 4 // (2 if op == "copy" else 3)
    moved = (2 if op == "copy" else 3) * elements * 4
    seconds = moved / (gbps * 1e9)  # the stand-in times every case at `seconds`: the figure wanted
    runner = _runner(runner.spec, runner.info, seconds)
    case = Case("stream", op, "x", {"op": op, "dtype": "f32", "width": 16, "memory": memory,
                                    "working_set": 512 << 20})
    return run_stream(case, runner, POLICY)


H200_INFO = {"unified_memory": False, "host_link": {"generation": 5, "width": 16}}


def test_pinned_mapped_memory_is_held_to_the_pcie_link_not_to_hbm():
    """Planted: a mapped copy at 110 GB/s over PCIe Gen5 x16 (63 GB/s a direction, 126 for a
    copy reading and writing at once) is normal, where against 4800 GB/s of HBM it read low."""
    runner = _runner(H200, H200_INFO)
    copy = _stream(runner, "copy", "pinned-mapped", 110.0)
    assert copy["expected_gbps"] == pytest.approx(126.0, abs=0.2) and copy["verdict"] == "normal"
    assert "PCIe Gen5 x16" in copy["expected_source"] and copy["expected_basis"] == "host memory over the PCIe link"
    triad = _stream(runner, "triad", "pinned-mapped", 80.0)  # reads 2N, writes N: 1.5 x the link
    assert triad["expected_gbps"] == pytest.approx(94.5, abs=0.2) and triad["verdict"] == "normal"
    assert _stream(runner, "copy", "pinned-mapped", 400.0)["verdict"] == "suspicious-high"  # no PCIe link is that fast
    assert _stream(runner, "copy", "pinned-mapped", 50.0)["verdict"] == "low"
    device = _stream(runner, "copy", "device", 4200.0)
    assert device["expected_gbps"] == 4800 and device["verdict"] == "normal"


def test_without_a_known_link_there_is_no_verdict_and_pageable_on_hmm_is_not_judged():
    runner = _runner(H200, {"unified_memory": False, "host_link": {"why": "NVML unavailable"}})
    copy = _stream(runner, "copy", "pinned-mapped", 50.0)
    assert copy["verdict"] == "no expectation" and "NVML unavailable" in copy["expected_basis"]
    pageable = _stream(_runner(H200, H200_INFO), "copy", "pageable", 50.0)
    assert pageable["verdict"] == "no expectation" and "HMM" in pageable["expected_basis"]


def test_on_unified_memory_host_memory_is_the_dram():
    runner = _runner(GB10, {"unified_memory": True})
    for memory in ("pinned-mapped", "pageable", "managed"):
        record = _stream(runner, "copy", memory, 230.0)
        assert record["expected_gbps"] == 273 and record["verdict"] == "normal", memory


def test_the_table_says_unified_even_where_the_driver_does_not():
    assert devices.unified({"integrated": False, "unified_memory": False}, GB10)
    assert not devices.unified({"integrated": False, "unified_memory": False}, H200)


def test_managed_memory_times_its_first_touch_apart_from_the_resident_median():
    runner = _runner(H200, H200_INFO, seconds=1e-3, first_touch=0.05)
    case = Case("stream", "copy", "x", {"op": "copy", "dtype": "f32", "width": 16, "memory": "managed",
                                        "working_set": 512 << 20})
    record = run_stream(case, runner, POLICY)
    assert record["first_touch"]["seconds"] == 0.05 and "not judged" in record["first_touch"]["what"]
    assert record["first_touch"]["gbps"] == pytest.approx(record["gbps"]["median"] / 50)
    assert "first launch timed alone" in record["timing"] and "first_touch_s" not in record["launch"]
    assert record["expected_gbps"] == 4800  # resident after the first touch: the GPU's memory


def _transfer(direction, host, info, seconds=0.01):
    case = Case("transfer", direction, "x", {"direction": direction, "host": host, "bytes": 256 << 20})
    return run_transfer(case, _runner(H200, info, seconds), POLICY)


def test_copies_count_the_bytes_copied_as_nvbandwidth_does():
    d2d = _transfer("d2d", "device", H200_INFO)
    copied = 256 << 20
    assert d2d["bytes_moved"] == copied and d2d["gbps"]["median"] == pytest.approx(copied / 0.01 / 1e9)
    assert d2d["gbps_read_write"]["median"] == pytest.approx(2 * d2d["gbps"]["median"])
    assert "nvbandwidth" in d2d["counting"]
    h2d = _transfer("h2d", "pinned", H200_INFO)
    assert h2d["gbps"]["median"] == pytest.approx(copied / 0.01 / 1e9) and "dram_bytes" not in h2d


def test_a_copy_on_unified_memory_says_it_moves_twice_the_dram_bytes_it_counts():
    h2d = _transfer("h2d", "pinned", {"unified_memory": True})
    assert h2d["dram_bytes"] == 2 * (256 << 20) and h2d["bytes_moved"] == 256 << 20
    assert "moves 536870912 DRAM bytes" in h2d["unified_memory_note"]
