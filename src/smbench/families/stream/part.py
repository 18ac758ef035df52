"""What the stream family asks of a backend: families/stream/<backend>.py (cuda, cpu, mlx)
is a module that satisfies StreamPart; its results are the named records below."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol, runtime_checkable

from smbench.cases import Case, Validation
from smbench.telemetry import Summary
from smbench.timing import Stats, TimingPolicy


@dataclass(frozen=True)
class Work:
    """One operation as a backend runs it."""

    op: str  # copy, scale, add, triad, dot, read, write
    dtype: str  # f32, f64
    width: int  # bytes per access
    memory: str  # the runner's home memory or another of its memory kinds
    elements: int  # per array
    path: str = ""  # which of the part's own ways, where it has several (MLX: "mlx" operations or "metal" kernels)


@dataclass
class Measured:
    """One operation, timed and checked on a backend."""

    stats: Stats  # seconds per call
    validation: Validation
    how: dict  # how it ran, the record's `launch`: the grid and block, or the backend and its calls per sample
    telemetry: Summary
    kernel: dict  # the compiled kernel's provenance (cases.NO_KERNEL without one)
    first_touch_s: float | None = None  # the first launch timed alone, where pages move on first touch


@runtime_checkable
class StreamPart(Protocol):
    # Its own cases over the sweep (MLX: its operations, then Metal kernels at each width):
    # (section, sizes, runner) -> cases; None: the family crosses its axes in the runner's
    # home memory, then the other memory kinds it offers at the largest size.
    plan_cases: Callable[[dict, list[int], object], list[Case]] | None

    def run_case(self, runner, work: Work, policy: TimingPolicy) -> Measured:
        """The operation timed by the suite's policy and validated against the reference."""
