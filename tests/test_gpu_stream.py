"""GPU tests of the memory family: every stream kernel, every memory kind, copies, launches.

Run with `make test-gpu` on a machine with a GPU; they skip, with the reason, elsewhere.
"""

import numpy as np
import pytest

from smbench.backends import facts as device_facts
from smbench.families import stream
from smbench.families.launch import cuda as launch_cuda
from smbench.families.stream import cuda as stream_cuda
from smbench.families.transfer import cuda as transfer_cuda
from smbench.timing import TimingPolicy

pytestmark = pytest.mark.gpu

QUICK = TimingPolicy(warmup=1, min_samples=3, max_samples=20, budget_s=0.05)
ELEMENTS = (1 << 20) + 3 * 1024  # not a power of two: grid-stride loops must cover it


@pytest.fixture(scope="module")
def gpu():
    from smbench.backends import cuda

    facts = cuda.device_facts()
    return cuda, facts, cuda.load(stream.KERNEL_FILE, cuda.native_target(facts))


def _timer(cuda, **kwargs):
    import cupy

    return cuda.DeviceTimer(cupy.cuda.Stream(non_blocking=True), **kwargs)


CASES = [(op, dtype, width) for op in stream.OPERATIONS for dtype in stream.DTYPES for width in stream.WIDTHS[dtype]]


@pytest.mark.parametrize("op, dtype, width", CASES)
def test_every_stream_kernel_validates_in_device_memory(gpu, op, dtype, width):
    cuda, facts, module = gpu
    case = stream_cuda.prepare(module, facts, op, dtype, width, ELEMENTS, "device")
    timer = _timer(cuda)
    try:
        stats = stream_cuda.time_case(case, QUICK, timer)
        validation = stream_cuda.validate(case)
    finally:
        timer.close()
        stream_cuda.release(case.allocations)
    assert validation.ok, validation.detail
    assert stats.n >= 3 and stats.median > 0


@pytest.mark.parametrize("kind", device_facts.MEMORY_KINDS)
def test_every_memory_kind_the_device_offers(gpu, kind):
    cuda, facts, module = gpu
    offered = {k: (ok, why) for k, ok, why in device_facts.memory_kinds(facts)}
    if not offered[kind][0]:
        pytest.skip(f"{kind}: {offered[kind][1]}")
    case = stream_cuda.prepare(module, facts, "triad", "f32", 16, ELEMENTS, kind)
    timer = _timer(cuda)
    try:
        stream_cuda.time_case(case, QUICK, timer)
        validation = stream_cuda.validate(case)
    finally:
        timer.close()
        stream_cuda.release(case.allocations)
    assert validation.ok, validation.detail


@pytest.mark.parametrize("flush", [False, True])
def test_blocking_kernel_and_cold_l2_timing(gpu, flush):
    cuda, facts, module = gpu
    case = stream_cuda.prepare(module, facts, "copy", "f32", 16, ELEMENTS, "device")
    timer = _timer(cuda, flush_bytes=2 * facts.l2_bytes if flush else 0)
    try:
        stats = stream_cuda.time_case(case, QUICK, timer)
        assert stream_cuda.validate(case).ok
    finally:
        timer.close()
        stream_cuda.release(case.allocations)
    assert stats.median > 0


def test_short_kernels_are_timed_on_the_device_not_the_host(gpu):
    """An empty launch queued behind the blocking kernel costs the GPU a few microseconds at
    most; timed from the host (CuPy's launch path) it would cost 5-10 us."""
    cuda, facts, module = gpu
    timed = launch_cuda.time_empty_kernel(module, QUICK)
    queued, round_trip = timed.queued, timed.launch_sync
    assert queued.median < 6e-6, f"{queued.median * 1e6:.2f} us per queued empty launch: host-bound?"
    assert round_trip.median > queued.median


@pytest.mark.parametrize("direction, host", [("h2d", "pinned"), ("h2d", "pageable"), ("d2h", "pinned"),
                                             ("d2h", "pageable"), ("d2d", "device")])
def test_transfers_validate(gpu, direction, host):
    cuda, _, _ = gpu
    copied = transfer_cuda.time_transfer(direction, host, 16 << 20, QUICK)
    stats, validation = copied.stats, copied.validation
    assert validation.ok, validation.detail
    assert stats.median > 0


def test_launch_latency(gpu):
    cuda, _, module = gpu
    timed = launch_cuda.time_empty_kernel(module, QUICK)
    queued, round_trip = timed.queued, timed.launch_sync
    assert 0 < queued.median < round_trip.median < 1.0


def test_telemetry_on_the_gpu():
    from smbench.telemetry import Sampler

    import time

    from smbench.telemetry import mark_work

    with Sampler(interval_s=0.01) as sampler:
        start = time.perf_counter()
        time.sleep(0.05)
        mark_work(start, time.perf_counter())
    assert sampler.summary.available, sampler.summary.why_unavailable
    assert sampler.summary.sm_clock_mhz and sampler.summary.work_samples >= 3


@pytest.mark.cli
def test_run_cli_on_the_gpu(tmp_path):
    from conftest import run_cli
    from smbench import results

    suite = tmp_path / "tiny.toml"
    suite.write_text('[stream]\noperations = ["copy", "triad"]\ndtypes = ["f32"]\nwidths = [16]\nsize_step = 16\n'
                     'memory_kinds_operations = ["triad"]\n[transfer]\nsizes_mib = [16]\n[launch]\n'
                     '[timing]\nmin_samples = 3\nbudget_s = 0.05\n')
    code, out, err = run_cli("run", "--backend", "cuda", "--suite", str(suite), "--out", str(tmp_path / "r"))
    assert code == 0, err + out
    (path,) = (tmp_path / "r").glob("*.json")
    document = results.load(path)
    assert document["backend"] == "cuda" and document["status"] == "complete"
    assert all(r["status"] in ("ok", "skipped") for r in document["records"])
    assert any(r.get("verdict") for r in document["records"] if r["family"] == "stream")
    np.testing.assert_array_less(0, [r["gbps"]["median"] for r in document["records"] if r["status"] == "ok"
                                     and "gbps" in r])
