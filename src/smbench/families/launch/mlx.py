"""The launch family through MLX: the smallest evaluated operation (one element plus one).

MLX has no kernel launch of its own to call: what a program pays per operation is recording
it and having it evaluated. Two figures, as on a GPU: operations queued back to back (a chain
of CHAIN additions, each depending on the one before, evaluated once: nothing can be left
out) and one operation evaluated and waited for (mx.eval + synchronize each time)."""

from __future__ import annotations

import time

from smbench.backends import mlx as backend
from smbench.cases import Validation
from smbench.families.launch.part import Launches
from smbench.timing import TimingPolicy, measure

CHAIN = 64
WHAT = "smallest MLX operation"  # MLX launches no kernel of ours


def time_launch(runner, policy: TimingPolicy) -> Launches:
    """Seconds per queued operation and per evaluated-and-waited one, and whether both computed."""
    mx = backend.mx()
    start_value = mx.zeros((1,), dtype=mx.float32)
    backend.evaluate(start_value)
    last: list = [None, None]

    def queued() -> float:
        began = time.perf_counter()
        value = start_value
        for _ in range(CHAIN):
            value = value + 1  # each depends on the one before: the whole chain must run
        backend.evaluate(value)
        last[0] = value
        return (time.perf_counter() - began) / CHAIN

    def round_trip() -> float:
        began = time.perf_counter()
        value = start_value + 1
        backend.evaluate(value)
        last[1] = value
        return time.perf_counter() - began

    chained, single = measure(queued, policy), measure(round_trip, policy)
    got = (float(backend.to_numpy(last[0])[0]), float(backend.to_numpy(last[1])[0]))
    ok = got == (float(CHAIN), 1.0)
    return Launches(chained, single,
                    Validation(ok, 2, f"a chain of {CHAIN} additions of 1 gave {got[0]:g} (must be {CHAIN}); "
                                      f"one gave {got[1]:g} (must be 1)"),
                    "one float32 element + 1, through MLX (there is no kernel launch to call)")
