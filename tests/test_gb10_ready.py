"""The Spark (GB10) without one: unified memory from the device table as well as the driver's
flag, sweeps sized from MemAvailable where cudaMemGetInfo reads less, and every verdict that
rests on a rate assumed for it (the GeForce sm_12x SM's) saying so."""

import pytest

from smbench import devices
from smbench.backends import cuda
from smbench.families import peak, stream

from device_data import GB10

MEMINFO = "MemTotal:       128000000 kB\nMemFree:         9000000 kB\nMemAvailable:   100000000 kB\n"


def test_on_unified_memory_the_larger_of_cudamemgetinfo_and_memavailable_is_planned_with():
    """Planted: cudaMemGetInfo leaves out the page cache and reads 300 MB where the kernel would
    give 100 GB back: 25% of 300 MB caps the sweep under 4 x L2, no DRAM figure at all."""
    reported = 300 << 20
    free, source = cuda.usable_free_bytes(reported, unified=True, meminfo=MEMINFO)
    assert free == 100_000_000 * 1024 and source.startswith("MemAvailable")
    low, _, _ = stream.sweep_sizes(GB10.l2_bytes, reported, unified=True)
    high, _, _ = stream.sweep_sizes(GB10.l2_bytes, free, unified=True)
    assert low[-1] < 4 * GB10.l2_bytes <= high[-1]
    assert cuda.usable_free_bytes(reported, unified=False, meminfo=MEMINFO) == (reported, "cudaMemGetInfo")
    more = cuda.usable_free_bytes(200 * 10**9, unified=True, meminfo=MEMINFO)
    assert more[0] == 200 * 10**9 and more[1].startswith("cudaMemGetInfo")
    assert cuda.usable_free_bytes(5, unified=True, meminfo="MemTotal: 1 kB\n") == (5, "cudaMemGetInfo (not below "
                                                                                      "MemAvailable here)")


def test_mem_available_reads_the_kernels_figure():
    assert cuda.mem_available(MEMINFO) == 100_000_000 * 1024
    assert cuda.mem_available("MemTotal: 5 kB\n") is None


def test_the_gb10_row_is_unified_whatever_the_drivers_flag():
    gb10 = devices.match("NVIDIA GB10", "12.1")
    assert gb10.unified_memory and devices.unified({"integrated": False}, gb10)


@pytest.mark.parametrize("key,ratio,word", [("bf16_f32acc", 0.5, "half rate"), ("f16_f16acc", 0.9, "normal"),
                                            ("fp32", 0.3, "low")])
def test_a_verdict_against_a_rate_assumed_for_gb10_says_so(key, ratio, word):
    fmt = peak.BY_KEY[key]
    expected = peak.expectation(fmt, "12.1", 48, devices.by_key("gb10"), 2400, None, "the loop's own clock")
    judged = peak.judge(ratio * expected.clock_peak, expected)
    assert judged["verdict"] == f"{word} (assumed rate)" and peak.verdict_word(judged["verdict"]) == word
    assert "assumed for GB10" in judged["verdict_basis"]
    # The same figures on an RTX 5090, whose rates NVIDIA states: no mark.
    stated = peak.expectation(fmt, "12.0", 170, devices.by_key("rtx5090"), 2400, None, "the loop's own clock")
    assert peak.judge(ratio * stated.clock_peak, stated)["verdict"] == word
