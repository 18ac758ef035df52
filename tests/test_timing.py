import itertools

import numpy as np
import pytest

from smbench.timing import TimingPolicy, measure, quantile, relative_noise, summarize


def test_statistics_match_numpy():
    samples = [3.0, 1.0, 4.0, 1.5, 9.0, 2.6, 5.0]
    stats = summarize(samples)
    assert stats.n == 7 and stats.min == 1.0 and stats.max == 9.0
    assert stats.median == pytest.approx(np.median(samples))
    assert stats.q25 == pytest.approx(np.quantile(samples, 0.25))
    assert stats.q75 == pytest.approx(np.quantile(samples, 0.75))
    assert stats.iqr == pytest.approx(np.quantile(samples, 0.75) - np.quantile(samples, 0.25))
    assert stats.mean == pytest.approx(np.mean(samples)) and stats.stdev == pytest.approx(np.std(samples, ddof=1))
    # one definition of noise (smbench.noise): IQR / median; the stopping rule's stdev / mean apart
    assert stats.noise == pytest.approx(stats.iqr / np.median(samples))
    assert stats.rel_stdev == pytest.approx(np.std(samples, ddof=1) / np.mean(samples))
    assert stats.to_dict()["median_ci95"] == [1.0, 9.0]  # 7 samples: the 95% interval is [min, max]
    assert stats.samples == samples  # raw samples kept, in order
    assert set(stats.to_dict()) >= {"median", "min", "iqr", "mean", "stdev", "n", "samples"}


def test_quantile_edges():
    assert quantile([5.0], 0.5) == 5.0
    assert quantile([1.0, 3.0], 0.5) == 2.0
    with pytest.raises(ValueError):
        quantile([], 0.5)
    assert relative_noise([1.0]) == float("inf")


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def sampler(values, clock=None, step=0.0):
    iterator = iter(values)
    calls = []

    def sample():
        calls.append(1)
        if clock is not None:
            clock.now += step
        return next(iterator)

    return sample, calls


def test_stops_on_low_noise_after_min_samples():
    sample, calls = sampler(itertools.repeat(1.0))
    stats = measure(sample, TimingPolicy(warmup=2, min_samples=5, noise_target=0.005))
    assert stats.converged and stats.stop_reason == "noise" and stats.n == 5
    assert len(calls) == 7  # warm-up samples are run and thrown away


def test_keeps_sampling_while_noisy_until_the_noise_settles():
    values = [1.0, 2.0, 1.0, 2.0, 1.0] + [1.5] * 2000
    sample, _ = sampler(values)
    stats = measure(sample, TimingPolicy(warmup=0, min_samples=5, max_samples=5000, noise_target=0.05,
                                         budget_s=1e9))
    assert stats.converged and stats.n > 5 and relative_noise(stats.samples) <= 0.05


def test_budget_stops_a_noisy_run():
    clock = FakeClock()
    sample, _ = sampler(itertools.cycle([1.0, 3.0]), clock, step=0.1)
    stats = measure(sample, TimingPolicy(warmup=0, min_samples=4, max_samples=10_000, budget_s=1.0), clock=clock)
    assert not stats.converged and stats.stop_reason == "budget"
    assert 4 <= stats.n <= 12


def test_max_samples_stops_and_min_samples_is_honoured_past_the_budget():
    sample, _ = sampler(itertools.cycle([1.0, 3.0]))
    stats = measure(sample, TimingPolicy(warmup=0, min_samples=3, max_samples=6, budget_s=1e9))
    assert stats.stop_reason == "max_samples" and stats.n == 6
    clock = FakeClock()
    sample, _ = sampler(itertools.cycle([1.0, 3.0]), clock, step=100.0)  # every sample blows the budget
    stats = measure(sample, TimingPolicy(warmup=0, min_samples=4, budget_s=1.0), clock=clock)
    assert stats.n == 4 and stats.stop_reason == "budget"


@pytest.mark.parametrize("kwargs", [{"min_samples": 1}, {"min_samples": 10, "max_samples": 5},
                                    {"noise_target": 0}, {"budget_s": -1}, {"warmup": -1}])
def test_bad_policies_are_refused(kwargs):
    with pytest.raises(ValueError):
        TimingPolicy(**kwargs)


def test_one_formula_for_the_work_of_a_timed_sample():
    """Calls, loop iterations and chase steps per sample all come from timing.calls_per_sample:
    at least the target, rounded UP to a whole multiple, within [fewest, most]."""
    from smbench.timing import calls_per_sample

    assert calls_per_sample(1e-3, 10e-3, 1000) == 10
    assert calls_per_sample(3e-3, 10e-3, 1000) == 4  # 3.3 rounded up: a sample never falls short
    assert calls_per_sample(1e-9, 1e-3, 1000) == 1000 and calls_per_sample(1.0, 1e-3, 1000, fewest=5) == 5
    assert calls_per_sample(1e-6, 1e-4, 1 << 30, multiple=8) == 104  # 100 -> the next multiple of 8
    assert calls_per_sample(0.0, 1e-3, 1 << 30) == 1 << 30 and calls_per_sample(0.0, 1e-3, 99, unmeasured=7) == 7
    from smbench.families.collectives.measure import reps_for

    assert reps_for(0.3e-3, 1.0, 1000) == 4  # collectives too: 3.3 calls make 4, not 3 (short of 1 ms)


# ---------------------------------------------------------------- the CPU path's sampling (smbench.host_timing)

def test_host_sampling_converges_when_the_median_is_known_and_says_so():
    from smbench import host_timing

    steady = itertools.cycle([1.00, 1.01, 0.99, 1.02, 0.98, 5.0])  # one preempted sample in six
    stats = host_timing.measure(lambda: next(steady), TimingPolicy(warmup=0, min_samples=5, max_samples=1000,
                                                                  budget_s=10.0), 0.05)
    assert stats.converged and stats.stop_reason == "interval" and stats.n < 30
    assert stats.rel_stdev > 0.5  # nvbench's rule would never have stopped on these


def test_host_sampling_that_cannot_settle_stops_on_its_budget_unconverged():
    from smbench import host_timing

    rng = np.random.default_rng(0)
    ticks = itertools.count()
    stats = host_timing.measure(lambda: float(rng.lognormal(0, 1.5)), TimingPolicy(warmup=0, min_samples=5,
                                                                                  max_samples=10_000, budget_s=0.2),
                                0.001, wall=lambda: next(ticks) * 0.01)
    assert not stats.converged and stats.stop_reason == "budget" and stats.n == 21


def test_host_samples_count_this_thread_s_cpu_time_not_time_descheduled():
    import time

    from smbench import host_timing

    asleep = host_timing.timed(lambda: time.sleep(0.02))  # the thread gives its core away
    assert asleep() < 0.005
    calls = []
    short = host_timing.timed(lambda: calls.append(1))  # far below a millisecond: repeated within a sample
    before = len(calls)
    short()
    assert len(calls) - before == host_timing.MOST_CALLS or len(calls) - before > 10
