"""Timing: warm-up, samples until the noise is low enough, and honest statistics.

The loop is the same for every backend: the GPU backend's sample function brackets
the timed region with CUDA events and returns the elapsed device time; the CPU
backend's uses perf_counter. Sampling stops when the relative noise (standard
deviation / mean, as nvbench defines it) is under the target with at least
min_samples taken, or when the time budget or max_samples runs out; the result says
which. Every sample is kept.

The statistics a person reads are smbench.noise's, the same everywhere: the file's
`noise` is the interquartile range / median, `median_ci95` the median's distribution-free
95% interval; the stopping rule's own statistic is kept as `rel_stdev`.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Callable


@dataclass(frozen=True)
class TimingPolicy:
    warmup: int = 3
    min_samples: int = 10
    max_samples: int = 1000
    noise_target: float = 0.005  # 0.5% relative standard deviation
    budget_s: float = 2.0  # wall-clock seconds for the samples of one case
    # The CPU path's stop rule (smbench.host_timing): the median's 95% interval within +-this.
    host_interval: float = 0.05

    def __post_init__(self) -> None:
        if self.min_samples < 2 or self.max_samples < self.min_samples:
            raise ValueError("need 2 <= min_samples <= max_samples")
        if self.noise_target <= 0 or self.budget_s <= 0 or self.warmup < 0:
            raise ValueError("noise_target and budget_s must be positive, warmup not negative")


@dataclass
class Stats:
    """Seconds per timed call."""

    n: int
    median: float
    min: float
    max: float
    mean: float
    stdev: float
    q25: float
    q75: float
    noise: float  # smbench.noise's: interquartile range / median
    converged: bool
    stop_reason: str  # "noise", "budget", "max_samples" (the CPU path: "interval", smbench.host_timing)
    samples: list[float] = field(default_factory=list)
    rel_stdev: float = math.inf  # stdev / mean: what nvbench's stopping rule reads

    @property
    def iqr(self) -> float:
        return self.q75 - self.q25

    def to_dict(self) -> dict:
        from smbench import noise

        data = asdict(self)
        data["iqr"] = self.iqr
        interval = noise.median_interval(self.samples)
        data["median_ci95"] = list(interval[:2]) if interval else None
        return data


def calls_per_sample(pilot_seconds: float, target_seconds: float, most: int, fewest: int = 1, multiple: int = 1,
                     unmeasured: int | None = None) -> int:
    """The one formula for work per timed sample after a pilot: how many units of pilot_seconds
    each (calls, loop iterations, chase steps) one sample makes so that it lasts at least
    target_seconds, rounded up to a whole multiple, between fewest and most; `unmeasured` (else
    most) when the pilot measured nothing."""
    if pilot_seconds <= 0:
        return unmeasured if unmeasured is not None else most
    wanted = math.ceil(target_seconds / pilot_seconds / multiple) * multiple
    return max(fewest, min(most, wanted))


def quantile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolation quantile (numpy's default) of already sorted values."""
    if not sorted_values:
        raise ValueError("no values")
    position = (len(sorted_values) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def relative_noise(samples: list[float]) -> float:
    if len(samples) < 2:
        return math.inf
    mean = statistics.fmean(samples)
    return statistics.stdev(samples) / mean if mean > 0 else math.inf


def summarize(samples: list[float], converged: bool = False, stop_reason: str = "") -> Stats:
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    mean = statistics.fmean(samples)
    stdev = statistics.stdev(samples) if len(samples) > 1 else 0.0
    median, q25, q75 = quantile(ordered, 0.5), quantile(ordered, 0.25), quantile(ordered, 0.75)
    return Stats(n=len(samples), median=median, min=ordered[0], max=ordered[-1], mean=mean,
                 stdev=stdev, q25=q25, q75=q75, noise=(q75 - q25) / median if median > 0 else math.inf,
                 converged=converged, stop_reason=stop_reason, samples=list(samples),
                 rel_stdev=stdev / mean if mean > 0 else math.inf)


def measure(sample: Callable[[], float], policy: TimingPolicy = TimingPolicy(),
            clock: Callable[[], float] = time.perf_counter) -> Stats:
    """Run `sample` (which returns the seconds of one timed call) under the policy."""
    for _ in range(policy.warmup):
        sample()
    samples: list[float] = []
    start = clock()
    while True:
        samples.append(sample())
        if len(samples) >= policy.min_samples:
            if relative_noise(samples) <= policy.noise_target:
                return summarize(samples, True, "noise")
            if len(samples) >= policy.max_samples:
                return summarize(samples, False, "max_samples")
            if clock() - start >= policy.budget_s:
                return summarize(samples, False, "budget")
