"""Noise: one definition for every figure smbench shows, and the test that tells two runs apart.

A figure is the median of its timed samples (seconds per call); everything here is computed
from those samples, the same way in the result file (smbench.timing), `smbench export`,
`compare`, `rerun` and the report:

- **noise** = interquartile range / median of the timed samples (Q1 and Q3 by linear
  interpolation, numpy's default). Robust: one preempted sample moves it little, where the
  standard deviation / mean that nvbench's stopping rule uses (smbench.timing, the GPU loop)
  can be dominated by it.
- **the median's 95% interval**: distribution-free, from order statistics. The number of
  samples below the true median is Binomial(n, 1/2), so [X(j), X(n+1-j)] covers it with
  probability 1 - 2 P(B <= j - 1); j is the largest index keeping that >= 95% (Conover,
  "Practical Nonparametric Statistics", 3rd ed. 1999, section 3.2; Le Boudec, "Performance
  Evaluation of Computer and Communication Systems", 2010, theorem 2.1). Below 6 samples no
  such interval reaches 95%: the interval is then [min, max] with its lower coverage said.
  Order statistics map through any monotone function, so the interval of a rate (bytes / time)
  is the rate of the time interval's ends.
- **converged**: whether sampling stopped on its rule (nvbench's 0.5% relative standard
  deviation on the GPU; on the CPU path the median's interval within the suite's target,
  smbench.host_timing) rather than on its time budget or sample cap.

Two sets of samples differ when the two-sided Mann-Whitney U test rejects "same distribution"
at ALPHA; nothing else decides the verdict. Its effect size is the ratio of the medians, with the
Hodges-Lehmann interval of the ratio at the test's own level (the shift between the logs of the
samples: Hollander, Wolfe and Chicken, "Nonparametric Statistical Methods", 3rd ed. 2014,
section 4.3), so the interval excludes 1 exactly when the test, without its tie correction,
rejects.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

ALPHA = 0.01  # the level of compare's and rerun's test
LEVEL = 0.95  # the median's interval
NOT_CONVERGED = "~"  # beside a figure whose sampling stopped before its rule was met
DEFINITION = ("(x%) = the noise: interquartile range / median of the timed samples; ~ = sampling stopped on its "
              "time budget or sample cap before its rule was met (not converged); the median's 95% interval "
              "(order statistics) is in --format json and csv")


def quartiles(samples) -> tuple[float, float, float]:
    q1, median, q3 = np.percentile(np.asarray(samples, dtype=float), [25, 50, 75])
    return float(q1), float(median), float(q3)


def relative_iqr(samples) -> float | None:
    """THE noise: interquartile range / median (None without two samples or with a zero median)."""
    if samples is None or len(samples) < 2:
        return None
    q1, median, q3 = quartiles(samples)
    return (q3 - q1) / median if median else None


def median_interval(samples, level: float = LEVEL) -> tuple[float, float, float] | None:
    """(low, high, coverage): the order-statistic interval of the median. Coverage is at least
    `level` from 6 samples on (for 95%); with fewer it is [min, max] and its own, lower,
    coverage. None without two samples."""
    if samples is None or len(samples) < 2:
        return None
    ordered = sorted(float(x) for x in samples)
    n = len(ordered)
    # j: the 1-based index of the lower order statistic; below[j] = 2^n P(B <= j - 1), exactly.
    j, term, below = 1, 1, 1
    while j + 1 <= n // 2:
        term = term * (n - j + 1) // j  # C(n, j)
        if 1 - 2 * (below + term) / 2 ** n < level:
            break
        j, below = j + 1, below + term
    return ordered[j - 1], ordered[n - j], 1 - 2 * below / 2 ** n


@dataclass(frozen=True)
class Spread:
    """A figure's spread, from its timed samples (seconds): n, the noise (relative IQR), the
    median's 95% interval (low, high, coverage) and whether sampling converged (None: not said)."""

    n: int
    noise: float | None
    low: float | None
    high: float | None
    coverage: float | None
    converged: bool | None
    stop_reason: str = ""

    def rate(self, amount: float) -> tuple[float, float] | None:
        """The interval of `amount` / time (a rate): the time interval's ends swapped."""
        if self.low is None or not self.low or not self.high:
            return None
        return amount / self.high, amount / self.low

    @property
    def mark(self) -> str:
        return NOT_CONVERGED if self.converged is False else ""

    def text(self) -> str:
        """'noise 3.1%' and, when sampling did not converge, the mark: the shortest honest cell."""
        return f"({percent(self.noise)}){self.mark}"

    def to_dict(self, amount: float | None = None) -> dict:
        """For JSON and CSV: numbers, never only a sentence; the interval in the figure's unit
        when `amount` turns seconds into it (a rate), else in seconds."""
        interval = (self.rate(amount) if amount else (self.low, self.high)) if self.low is not None else None
        return {"n": self.n, "noise": self.noise, "median_ci95": list(interval) if interval else None,
                "ci_coverage": self.coverage, "converged": self.converged, "stop_reason": self.stop_reason}


def percent(fraction: float | None) -> str:
    """0.031 -> '3.1%', 0.31 -> '31%', 1.49 -> '149%'; 'n/a' for None."""
    if fraction is None:
        return "n/a"
    value = 100 * fraction
    return f"{value:.0f}%" if value >= 10 else f"{value:.2g}%"


def spread(samples, converged: bool | None = None, stop_reason: str = "", of_time: float | None = None) -> Spread:
    """The spread of samples in a figure's unit. `of_time`: the noise of the timed samples the
    figure was made from (a rate's samples are amount / time: the noise is the times')."""
    interval = median_interval(samples)
    low, high, coverage = interval if interval else (None, None, None)
    return Spread(len(samples) if samples is not None else 0, of_time if of_time is not None else relative_iqr(samples),
                  low, high, coverage, converged, stop_reason)


def of_timing(timing) -> Spread | None:
    """The spread of a record's `time_s` (its samples, its convergence); None without samples."""
    if not isinstance(timing, dict) or not timing.get("samples"):
        return None
    converged = timing.get("converged")
    return spread(timing["samples"], converged if isinstance(converged, bool) else None,
                  str(timing.get("stop_reason", "")))


def said(record: dict) -> str:
    """' (noise 4.8%)' for a measured record's line, '' without samples: its spread in words."""
    spread = of_timing(record.get("time_s"))
    return f" (noise {percent(spread.noise)})" if spread is not None and spread.noise is not None else ""


def cell(record: dict) -> str:
    """A table's noise cell: '4.8%' (the one definition), '-' without samples."""
    spread = of_timing(record.get("time_s"))
    return percent(spread.noise) if spread is not None and spread.noise is not None else "-"


def mark(record: dict) -> str:
    """NOT_CONVERGED beside a measured figure whose sampling did not converge, else ''."""
    timing = record.get("time_s")
    return NOT_CONVERGED if isinstance(timing, dict) and timing.get("converged") is False else ""


# ---------------------------------------------------------------- two runs: the test and its effect

def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks from 1, ties given their average rank."""
    order = values.argsort(kind="mergesort")
    ranks = np.empty(len(values))
    ordered = values[order]
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and ordered[j + 1] == ordered[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def mann_whitney_p(a, b) -> float:
    """Two-sided p-value of the Mann-Whitney U test: normal approximation with the tie
    correction and a continuity correction (adequate from about 8 samples a side; smaller
    samples get a conservative answer). 1.0 with fewer than 2 samples a side."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    n1, n2 = len(x), len(y)
    if n1 < 2 or n2 < 2:
        return 1.0
    combined = np.concatenate([x, y])
    u1 = _ranks(combined)[:n1].sum() - n1 * (n1 + 1) / 2
    mean = n1 * n2 / 2
    _, counts = np.unique(combined, return_counts=True)
    n = n1 + n2
    variance = n1 * n2 / 12 * ((n + 1) - (counts ** 3 - counts).sum() / (n * (n - 1)))
    if variance <= 0:
        return 1.0 if u1 == mean else 0.0
    z = (abs(u1 - mean) - 0.5) / math.sqrt(variance)
    return math.erfc(max(z, 0.0) / math.sqrt(2))


def ratio_interval(a, b, alpha: float = ALPHA) -> tuple[float, float] | None:
    """The Hodges-Lehmann interval of b / a at level 1 - alpha: the ordered pairwise
    differences log b_j - log a_i, cut where the U test (normal approximation, continuity
    correction) stops rejecting. None where a sample is not positive."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(x) < 2 or len(y) < 2 or (x <= 0).any() or (y <= 0).any():
        return None
    differences = np.sort(np.subtract.outer(np.log(y), np.log(x)).ravel())
    count = len(differences)
    z = NormalDist().inv_cdf(1 - alpha / 2)
    sd = math.sqrt(len(x) * len(y) * (len(x) + len(y) + 1) / 12)
    k = max(1, math.ceil(count / 2 - 0.5 - z * sd))  # the k-th smallest and largest differences
    return float(math.exp(differences[k - 1])), float(math.exp(differences[count - k]))


@dataclass(frozen=True)
class Difference:
    """What the test says of two sample sets (the first is the baseline): p, the counts, the
    ratio of medians (other / first) and its interval at the test's level, and whether the test
    rejects at ALPHA. The verdict follows from `beyond` alone."""

    p: float
    n: tuple[int, int]
    ratio: float | None
    low: float | None
    high: float | None
    alpha: float = ALPHA

    @property
    def beyond(self) -> bool:
        return self.p < self.alpha

    def verdict(self) -> str:
        if not self.beyond:
            return f"within noise (p={self.p:.2g})"
        if self.ratio is None:
            return f"differs (p={self.p:.1e})"
        interval = f" [{self.low:.3g}-{self.high:.3g}]" if self.low is not None else ""
        return f"differs: {self.ratio:.3g}x{interval} (p={self.p:.1e})"

    def to_dict(self) -> dict:
        return {"test": "two-sided Mann-Whitney U", "alpha": self.alpha, "p": self.p, "n": list(self.n),
                "beyond_noise": self.beyond, "ratio_of_medians": self.ratio,
                "ratio_interval": [self.low, self.high] if self.low is not None else None,
                "interval_level": 1 - self.alpha}


def difference(a, b, alpha: float = ALPHA) -> Difference | None:
    """The test of b against a (the baseline); None unless both have 2 samples or more."""
    if a is None or b is None or len(a) < 2 or len(b) < 2:
        return None
    median_a, median_b = float(np.median(a)), float(np.median(b))
    interval = ratio_interval(a, b, alpha)
    low, high = interval if interval else (None, None)
    return Difference(mann_whitney_p(a, b), (len(a), len(b)), median_b / median_a if median_a else None, low, high,
                      alpha)
