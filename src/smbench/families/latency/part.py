"""What the latency family asks of a backend: families/latency/<backend>.py satisfies
LatencyPart (the CUDA backend's chase kernel; the CPU path's NumPy walk); one chase's result
is a Chase, from which run_latency makes the record."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from smbench.cases import Validation
from smbench.families import SizeCap
from smbench.telemetry import Summary
from smbench.timing import Stats, TimingPolicy


@dataclass
class Chase:
    """One chase on a backend: checked, and where the checks passed, timed."""

    validation: Validation
    threads: int
    chains: int  # independent chains walked at once
    # Further record fields this backend gives: the launch geometry and kernel provenance, how
    # the ring was built, the warm-up, the loads counted, the timing in words, clock64 figures.
    fields: dict = field(default_factory=dict)
    stats: Stats | None = None  # seconds per timed launch; None: a check failed before timing
    steps_per_launch: int | None = None  # loads per chain in each timed launch
    telemetry: Summary | None = None
    clock_mhz: float | None = None  # the SM clock the cycles are counted at; None: no cycles
    clock_source: str = ""


@runtime_checkable
class LatencyPart(Protocol):
    def cache_ops(self, asked: list[str]) -> list[str]:
        """The cache operators its loads take, of those [latency] cache_ops asks for."""

    def size_cap(self, suite, runner) -> SizeCap:
        """The largest ring this backend's sweep reaches (its memory, or its cost)."""

    def kernel(self, params: dict) -> str:
        """The record's kernel for a case (its cache operator and chains per thread)."""

    def run_chase(self, ring, params: dict, runner, policy: TimingPolicy) -> Chase:
        """Build the ring (latency.Ring), check it, walk it, time it, check where it ended."""
