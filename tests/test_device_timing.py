"""Every GPU figure is device-bound: the timed launches wait behind the blocking kernel.

A stand-in for CuPy records what reaches the stream, in order, so that the rule is
checked on a machine with no GPU for each path that times GPU work: stream kernels,
copies, launches, compute-peak loops and GEMMs (ours and cuBLAS alike).
"""

from __future__ import annotations

import ctypes
import types

import numpy as np
import pytest

from smbench import suites
from smbench.backends import cuda
from smbench.families.gemm import cuda as cuda_gemm
from smbench.families.peak import cuda as cuda_peak
from smbench.families.stream import cuda as stream_cuda
from smbench.families.transfer import cuda as transfer_cuda
from smbench.errors import SmbenchError
from smbench.timing import TimingPolicy

POLICY = TimingPolicy(warmup=1, min_samples=3, max_samples=3, budget_s=1.0)


class FakeCupy:
    """The parts of CuPy the device timer uses; `log` holds what each stream received."""

    uint8, uint32 = np.uint8, np.uint32

    def __init__(self, kernel_seconds: float = 1e-6, launch_gap: float = 0.0):
        self.log: list[str] = []
        self.kernel_seconds, self.launch_gap = kernel_seconds, launch_gap
        self._buffers = []
        fake = self

        class Event:
            def record(self, stream=None):
                self.at = len(fake.log)
                fake.log.append("event")

            def synchronize(self):
                pass

        class Stream:
            def __init__(self, non_blocking=False):
                pass

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return False

            def synchronize(self):
                fake.log.append("synchronize")

            ptr = 0

        def host_alloc(nbytes, flags):
            buffer = ctypes.create_string_buffer(nbytes)
            self._buffers.append(buffer)
            return ctypes.addressof(buffer)

        def elapsed(start, end):
            kernels = sum(1 for entry in fake.log[start.at:end.at] if entry == "kernel")
            # Unblocked, the host's launch gap sits between the start event and the kernel.
            blocked = "spin" in fake.log[max(0, start.at - 1):start.at]
            return 1e3 * (fake.kernel_seconds * max(kernels, 1) + (0 if blocked else fake.launch_gap))

        runtime = types.SimpleNamespace(hostAlloc=host_alloc, hostAllocMapped=2, freeHost=lambda pointer: None)
        self.cuda = types.SimpleNamespace(Event=Event, Stream=Stream, runtime=runtime, get_elapsed_time=elapsed)

    def zeros(self, n, dtype):
        return np.zeros(n, dtype=dtype)

    def empty(self, n, dtype):
        return np.empty(n, dtype=dtype)

    def kernel(self, *args, **kwargs):
        self.log.append("kernel")

    def spin(self, *args, **kwargs):
        self.log.append("spin")

    def samples(self) -> list[list[str]]:
        """The log cut into samples: each from one event pair, with what came before it."""
        cut, current = [], []
        for entry in self.log:
            if entry == "synchronize":  # the host waiting on a stream queues nothing
                continue
            current.append(entry)
            if entry == "event" and current.count("event") == 2:
                cut.append(current)
                current = []
        return cut


@pytest.fixture
def fake(monkeypatch):
    cupy = FakeCupy()
    monkeypatch.setattr(cuda, "_cupy", lambda: cupy)
    monkeypatch.setattr(cuda, "spin_kernel", lambda: cupy.spin)
    return cupy


def _assert_device_bound(cupy: FakeCupy) -> None:
    """The first sample is the first call (unblocked: lazy work); every later one, the pilot
    included, is spin, event, kernels, event."""
    samples = cupy.samples()
    assert len(samples) >= 2 + POLICY.warmup + POLICY.min_samples
    assert "spin" not in samples[0]
    for sample in samples[1:]:
        assert sample[:2] == ["spin", "event"] and sample[-1] == "event", sample
        assert sample.count("kernel") >= 1


def test_a_timed_sample_waits_behind_the_blocking_kernel(fake):
    timer = cuda.DeviceTimer(fake.cuda.Stream())
    seconds = timer.sample(fake.kernel, 10)
    assert fake.log == ["spin", "event"] + ["kernel"] * 10 + ["event"]
    assert seconds == pytest.approx(fake.kernel_seconds)
    assert int(timer._flag[0]) == 1  # the host released the spinning thread


def test_short_kernels_take_many_launches_per_sample_within_the_queue(fake):
    timer = cuda.DeviceTimer(fake.cuda.Stream())
    cuda.time_calls(timer, fake.kernel, POLICY)
    _assert_device_bound(fake)
    launches = [sample.count("kernel") for sample in fake.samples()[2:]]  # after the first call and the pilot
    assert set(launches) == {cuda.MAX_QUEUED}  # 200 us of 1 us kernels, capped by the queue depth
    with pytest.raises(SmbenchError, match="at most"):
        timer.sample(fake.kernel, cuda.MAX_QUEUED + 1)


def test_the_pilot_waits_behind_the_blocking_kernel_so_samples_meet_their_target(monkeypatch):
    """Planted: a 5 us kernel that CuPy takes 8 us to launch. An unblocked pilot reads 13 us and
    sizes samples of 16 calls, 80 us; behind the blocking kernel it reads 5 us: 40 calls, the
    200 us target."""
    fake = FakeCupy(kernel_seconds=5e-6, launch_gap=8e-6)
    monkeypatch.setattr(cuda, "_cupy", lambda: fake)
    monkeypatch.setattr(cuda, "spin_kernel", lambda: fake.spin)
    cuda.time_calls(cuda.DeviceTimer(fake.cuda.Stream()), fake.kernel, POLICY)
    samples = fake.samples()
    assert "spin" not in samples[0] and samples[1][:2] == ["spin", "event"] and samples[1].count("kernel") == 1
    assert {sample.count("kernel") for sample in samples[2:]} == {40}


def test_a_blocking_kernel_that_timed_out_fails_the_sample(fake):
    timer = cuda.DeviceTimer(fake.cuda.Stream())
    timer._timed_out[0] = 1  # what the spin kernel writes when the host never released it
    with pytest.raises(SmbenchError, match="timed out"):
        timer.sample(fake.kernel, 1)


def test_stream_kernels_are_device_bound(fake):
    case = types.SimpleNamespace(function=fake.kernel, grid=1, block=1, args=())
    stream_cuda.time_case(case, POLICY, cuda.DeviceTimer(fake.cuda.Stream()))
    _assert_device_bound(fake)


def test_gemms_and_cublas_are_device_bound(fake):
    cuda_gemm.time_launch(fake.kernel, POLICY)
    _assert_device_bound(fake)
    assert max(sample.count("kernel") for sample in fake.samples()) <= cuda_gemm.CALLS_PER_SAMPLE


def test_peak_loops_are_device_bound(fake, monkeypatch):
    class Launcher:
        def launch(self, grid, block, output, iters, stream=None):
            fake.kernel()

        def output(self, threads):
            return None

        def unsupported(self):
            return False

        def zero_clock(self):
            pass

        def kernel_clock(self):
            return None

        function = None

    monkeypatch.setattr(cuda_peak.Launcher, "create", classmethod(lambda cls, module, fmt, timing: Launcher()))
    monkeypatch.setattr(cuda, "blocks_per_sm", lambda function, facts, block: 1)
    fake.cuda.runtime.deviceSynchronize = lambda: None
    fmt = types.SimpleNamespace(unroll=4, kernel="loop")
    cuda_peak.time_loop(None, fmt, types.SimpleNamespace(sm_count=2), POLICY, 1e-3)
    _assert_device_bound(fake)


def test_copies_from_pageable_memory_are_issued_unblocked_and_still_count_as_work(fake, monkeypatch):
    """A pageable cudaMemcpyAsync returns only when done: behind a spinning kernel it would
    wait for the host that waits for it. Pinned and device copies stay blocked."""
    from smbench import telemetry

    assert not transfer_cuda.transfer_blocked("pageable")
    assert transfer_cuda.transfer_blocked("pinned") and transfer_cuda.transfer_blocked("device")
    marked = []
    monkeypatch.setattr(telemetry, "mark_work", lambda start, end: marked.append((start, end)))
    timer = cuda.DeviceTimer(fake.cuda.Stream())
    cuda.time_calls(timer, fake.kernel, POLICY, reps=1, blocking=False)
    assert "spin" not in fake.log
    assert len(marked) == POLICY.warmup + POLICY.min_samples  # every sample but the pilot
    timer.close()
    assert fake.log[-1] == "synchronize" and int(timer._flag[0]) == 1  # nothing spins on a freed flag


def test_no_suite_times_launches_from_the_host():
    for name in suites.available():
        assert suites.load(name).data.get("timing", {}).get("blocking", True) is True, name
    with pytest.raises(SmbenchError, match="blocking = False should be true"):
        suites.check({"timing": {"blocking": False}}, "mine.toml")
