"""The launch family on a GPU: an empty kernel, queued back to back (the GPU's launch rate)
and launched then waited for (what a program that synchronises pays)."""

from __future__ import annotations

import time

from smbench.backends import cuda as backend
from smbench.cases import Validation
from smbench.families.launch.part import Launches
from smbench.timing import TimingPolicy, measure

WHAT = "empty-kernel"


def builds(case, runner) -> list[backend.Build]:
    """What a case compiles (smbench.prebuild): the empty kernel lives in stream.cu."""
    return runner.part("stream").builds(case, runner)


def time_launch(runner, policy: TimingPolicy) -> Launches:
    """The empty kernel: stream.cu's, one module for both families."""
    return time_empty_kernel(runner.part("stream").module(runner), policy)


def time_empty_kernel(module: backend.Module, policy: TimingPolicy) -> Launches:
    """Device time per empty launch, queued back to back behind the blocking kernel: the GPU's
    own launch rate; host wall time of one launch + synchronize: what a program that waits
    for each kernel pays."""
    cupy = backend._cupy()
    function = module.module.get_function("stream_empty")
    current = cupy.cuda.Stream(non_blocking=True)
    timer = backend.DeviceTimer(current)
    try:
        queued = backend.time_calls(timer, lambda: function((1,), (1,), (), stream=current), policy, reps=backend.MAX_QUEUED)
    finally:
        timer.close()

    def round_trip() -> float:
        start = time.perf_counter()
        function((1,), (1,), (), stream=current)
        current.synchronize()
        return time.perf_counter() - start

    return Launches(queued, measure(round_trip, policy),
                    Validation(True, 0, "empty kernel: launches and synchronize succeeded"))
