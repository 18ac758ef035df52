"""The CPU path's sampling: what a shared host can time steadily, and a stop rule it can meet.

On a 2-core machine shared with other programs, wall time per call swings several-fold from
run to run: it counts the time the scheduler gave the core to someone else. The CPU path's
NumPy work runs in the calling thread, so it is timed in that thread's CPU time
(CLOCK_THREAD_CPUTIME_ID): time spent waiting on memory counts, time spent descheduled does
not. A call shorter than SAMPLE_S is repeated within one sample (as the GPU path queues several
launches per event pair), and the clock's own cost (a pair of reads, calibrated once) is taken
off each sample: microsecond samples measure the interpreter and the clock, not the work.

nvbench's rule (relative standard deviation under 0.5%, smbench.timing) is the GPU's; one
preempted sample keeps a host's standard deviation high however many are taken. Here sampling
stops when the median is known well enough: its distribution-free 95% interval
(smbench.noise.median_interval) within +-target of it (the suite's [cpu] interval_target, +-5%
unless it says otherwise: on a shared 2-core host the noise is 5-10%, so +-2% takes seconds), with
at least min_samples taken; else at the time budget (wall time) or max_samples, and the result
says it did not converge.
"""

from __future__ import annotations

import functools
import statistics
import time
from typing import Callable

from smbench import noise
from smbench.timing import Stats, TimingPolicy, calls_per_sample, summarize

CLOCK = time.thread_time
SAMPLE_S = 1e-3  # the least CPU time one sample lasts
MOST_CALLS = 4096
RULE = "the median's 95% interval within +-{target:.1%} of it (CPU path, thread CPU time)"


@functools.lru_cache(maxsize=None)
def clock_cost() -> float:
    """Seconds one pair of CLOCK reads adds to a sample (the median of many)."""
    pairs = []
    for _ in range(201):
        start = CLOCK()
        pairs.append(CLOCK() - start)
    return statistics.median(pairs)


def timed(call: Callable[[], object], keep: list | None = None) -> Callable[[], float]:
    """A sample function: the thread CPU seconds per call, over enough calls to last SAMPLE_S
    (a pilot call decides how many; the call must give the same result each time, as the CPU
    path's operations do); the last call's result is kept in `keep`."""
    cost = clock_cost()
    start = CLOCK()
    call()
    calls = calls_per_sample(CLOCK() - start, SAMPLE_S, MOST_CALLS)

    def sample() -> float:
        start = CLOCK()
        for _ in range(calls):
            result = call()
        elapsed = CLOCK() - start
        if keep is not None:
            keep[:] = [result]
        return max(elapsed - cost, elapsed * 0.01) / calls
    return sample


def settled(samples: list[float], target: float) -> bool:
    """Whether the median's 95% interval lies within +-target of the median."""
    interval = noise.median_interval(samples)
    if interval is None or interval[2] < noise.LEVEL:
        return False
    low, high, _ = interval
    median = statistics.median(samples)
    return median > 0 and max(median - low, high - median) <= target * median


def measure(sample: Callable[[], float], policy: TimingPolicy, target: float,
            wall: Callable[[], float] = time.perf_counter) -> Stats:
    """Run `sample` (seconds of one call) under the policy's warm-up, sample counts and budget,
    stopping when the median settles (settled) or saying it did not."""
    for _ in range(policy.warmup):
        sample()
    samples: list[float] = []
    start = wall()
    while True:
        samples.append(sample())
        if len(samples) >= policy.min_samples and settled(samples, target):
            return summarize(samples, True, "interval")
        if len(samples) >= policy.max_samples:
            return summarize(samples, False, "max_samples")
        if len(samples) >= 2 and wall() - start >= policy.budget_s:
            return summarize(samples, False, "budget")
