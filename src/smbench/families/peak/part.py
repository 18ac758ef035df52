"""What the peak family asks of a backend: families/peak/<backend>.py satisfies PeakPart (the
CUDA backend's loops on every SM; the CPU path's NumPy model of one warp); its result is a
Loop. A GEMM is held to a loop's rate: a Rate (smbench.families.gemm.part asks for it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from smbench.cases import Validation
from smbench.telemetry import Summary
from smbench.timing import Stats, TimingPolicy


@dataclass
class Loop:
    """One format's loop on a backend, as run_peak reads it. status "skipped" or "failed" with
    the reason: no figure (support and instruction, where known, still go in the row)."""

    status: str = "ok"
    reason: str = ""
    support: str | None = None  # native, emulated, reference
    support_note: str = ""
    instruction: str | None = None  # the loop's instruction in the SASS ("numpy" on the CPU path)
    validation: Validation | None = None  # None: it never ran (skipped or failed before)
    provenance: dict = field(default_factory=dict)  # the compiled kernel's
    stats: Stats | None = None  # seconds per launch; None: not timed (validation failed)
    iters: int = 0  # iterations per thread in a timed launch
    threads: int = 0
    launch: dict = field(default_factory=dict)  # grid and block, or the backend and its warps
    telemetry: Summary | None = None
    kernel_clock: dict | None = None  # the SM clock the loop measured itself (peak.kernel_clock)
    fallback: dict = field(default_factory=dict)  # the compute_80 build, or why it did not run


@dataclass
class Rate:
    """A loop's rate and where it comes from (None: no loop ran, and the source says why)."""

    tflops: float | None
    source: str


@runtime_checkable
class PeakPart(Protocol):
    def run_case(self, runner, fmt, policy: TimingPolicy, settings: dict) -> Loop:
        """The format's loop (peak.Format), gated, validated and timed; settings: [peak]."""
