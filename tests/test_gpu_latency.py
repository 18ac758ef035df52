"""GPU tests of the latency family: the ring the GPU builds is the host's, every chase
kernel validates in device memory and in every memory kind the device offers, a broken
ring fails its case, and latency rises from an L1-sized set to an L2-sized one to DRAM.

Run with `make test-gpu` on a machine with a GPU; they skip, with the reason, elsewhere.
"""

from __future__ import annotations

import numpy as np
import pytest

from smbench import suites
from smbench.families import latency
from smbench.families.latency import family
from smbench.timing import TimingPolicy

pytestmark = pytest.mark.gpu

KIB, MIB = latency.KIB, latency.MIB
QUICK = TimingPolicy(warmup=1, min_samples=3, max_samples=10, budget_s=0.05)


@pytest.fixture(scope="module")
def runner():
    from smbench import run

    return run.CudaRunner(suites.load("selftest"))


def _case(pattern="random", mode="latency", memory="device", cache="ca", size=64 * KIB):
    case = family.one_case(suites.load("selftest"), pattern, mode, cache, size, memory)
    case.params["launch_ms"] = 0.5
    return case


def _ok(record: dict) -> dict:
    assert record["status"] == "ok", record.get("reason")
    assert record["validation"]["ok"] and "after timing" in record["validation"]["detail"]
    return record


def test_the_ring_the_gpu_builds_is_the_one_the_host_defines():
    import cupy

    for pattern in latency.PATTERNS:
        ring = latency.ring_for(pattern, 4 * MIB + 512, seed=5)
        assert np.array_equal(cupy.asnumpy(ring.build(cupy)), ring.build()), pattern
    ring = latency.Ring("random", 100_003, 2)  # chunk boundaries inside the ring, cycle walking at its end
    assert np.array_equal(cupy.asnumpy(ring.build(cupy, chunk=4096)), ring.build())


@pytest.mark.parametrize("pattern", latency.PATTERNS)
@pytest.mark.parametrize("mode", latency.MODES)
@pytest.mark.parametrize("cache", list(latency.CACHE_OPS))
def test_every_chase_validates_in_device_memory(runner, pattern, mode, cache):
    record = _ok(family.run_latency(_case(pattern, mode, cache=cache), runner, QUICK))
    assert 0 < record["latency_ns"]["median"] < 100_000
    assert record["clock_mhz"] and 100 < record["clock_mhz"] < 5000, record["clock_source"]
    assert record["cycles"]["median"] > 0 and record["clock64_cycles"] > 0
    chains = record["chains"]
    assert chains == 1 if mode == "latency" else chains >= runner.facts.sm_count * 256 * 8


@pytest.mark.parametrize("kind", ["managed", "managed-prefetch", "pinned-mapped", "pageable"])
def test_every_memory_kind_the_device_offers(runner, kind):
    offered = {name: (ok, why) for name, ok, why in runner.memory_kinds()}
    if not offered[kind][0]:
        pytest.skip(offered[kind][1])
    record = _ok(family.run_latency(_case(memory=kind, size=1 * MIB), runner, QUICK))
    assert record["memory"] == kind and record["built"].endswith("by the CPU" if kind != "device" else "in place")


def test_a_broken_ring_fails_its_case_on_the_gpu(runner, monkeypatch):
    real = latency.Ring.build

    def corrupt(self, xp=np, out=None, chunk=1 << 24):
        built = real(self, xp, out, chunk)
        built[0] = (built[0] + 1) % self.n
        return built

    monkeypatch.setattr(latency.Ring, "build", corrupt)
    record = family.run_latency(_case(), runner, QUICK)
    assert record["status"] == "failed" and "validation failed" in record["reason"], record


def test_latency_rises_from_l1_to_l2_to_dram(runner):
    """A one-thread random chase: an L1-sized set (16 KiB) is faster than an L2-sized one
    (a quarter of the L2), which is faster than one of 8 x L2 (DRAM); with L1 bypassed the
    16 KiB set costs an L2 access."""
    l2 = runner.last_level_cache_bytes
    sizes = (16 * KIB, max(256 * KIB, l2 // 4 // (64 * KIB) * (64 * KIB)), max(8 * l2, 256 * MIB))
    ns = [_ok(family.run_latency(_case(size=size), runner, QUICK))["latency_ns"]["median"] for size in sizes]
    assert ns[0] * 1.5 < ns[1] and ns[1] * 1.3 < ns[2], dict(zip(sizes, ns))
    bypassed = _ok(family.run_latency(_case(cache="cg", size=16 * KIB), runner, QUICK))["latency_ns"]["median"]
    assert bypassed > 1.5 * ns[0], (bypassed, ns[0])
