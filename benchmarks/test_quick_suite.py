"""The quick suite's stream cases under pytest-benchmark: `pytest benchmarks/`.

Each case runs through smbench's own harness (the GPU if there is one, else the CPU
reference path) and is validated before its timing counts. The seconds pytest-benchmark
sees come from a virtual clock that each round advances by the time smbench measured
(CUDA events on the GPU), so its statistics, --benchmark-json and --benchmark-compare
describe device time, not Python's launch overhead.

    pytest benchmarks/ --benchmark-json=out/bench.json
    pytest benchmarks/ --benchmark-compare --benchmark-autosave
"""

from __future__ import annotations

import pytest

from smbench import run, suites
from smbench.families import stream

SUITE = suites.load("quick")
_CLOCK = [0.0]


def device_clock() -> float:
    """pytest-benchmark's timer: only the measured seconds move it."""
    return _CLOCK[0]


# The GPU if there is one, else the CPU reference path; the plan (sizes up to 4 x L2 and
# 1 GiB on a GPU, the suite's CPU cap otherwise) follows from it.
RUNNER = run.resolve_backend("auto", SUITE)


@pytest.fixture(scope="module")
def runner():
    return RUNNER


def _cases():
    cases, _ = run.plan(SUITE, RUNNER, {"stream"})
    return [c for c in cases if c.params["memory"] in ("device", "host")]


def _sampler(runner, case):
    """(prepared state, a function timing one call in seconds, validate, release)."""
    p = case.params
    itemsize = stream.DTYPES[p["dtype"]](0).itemsize
    elements = stream.elements_for(p["op"], p["working_set"], itemsize, p["width"])
    moved = stream.OPERATIONS[p["op"]].bytes_moved(elements, itemsize)
    if runner.name == "cpu":
        import time

        backend = runner.backend
        prepared = backend.prepare(p["op"], p["dtype"], p["width"], elements)
        result = [None]

        def one() -> float:
            start = time.perf_counter()
            result[0] = backend.run_once(prepared)
            return time.perf_counter() - start

        return moved, one, lambda: backend.validate(prepared, result[0]), lambda: None
    backend = runner.backend
    prepared = backend.prepare(runner.module, runner.facts, p["op"], p["dtype"], p["width"], elements, "device")
    timer = runner._timer()

    def launch():
        prepared.function((prepared.grid,), (prepared.block,), prepared.args, stream=timer.stream_)

    reps = backend.reps_for(timer.sample(launch, 1, blocking=False, work=False))

    def release():
        timer.close()
        backend.release(prepared.allocations)

    return moved, lambda: timer.sample(launch, reps), lambda: backend.validate(prepared), release


@pytest.mark.parametrize("case", _cases(), ids=lambda c: f"{c.params['op']}-{c.params['working_set'] >> 10}KiB")
@pytest.mark.benchmark(group="stream", timer=device_clock)
def test_stream(benchmark, runner, case):
    moved, one, validate, release = _sampler(runner, case)
    policy = SUITE.timing(runner.name)
    try:
        def timed_round():
            _CLOCK[0] += one()

        benchmark.pedantic(timed_round, rounds=max(policy.min_samples, 5), warmup_rounds=policy.warmup)
        validation = validate()
    finally:
        release()
    assert validation.ok, validation.detail  # a figure that does not validate is not a figure
    benchmark.extra_info.update({"backend": runner.name, "device": runner.info["name"], "bytes_moved": moved,
                                 "gbps_median": moved / benchmark.stats.stats.median / 1e9,
                                 "kernel": stream.kernel_name(case.params["op"], case.params["dtype"],
                                                              case.params["width"])})
