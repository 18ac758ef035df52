"""What the gemm family asks of a backend: families/gemm/<backend>.py satisfies GemmPart (the
CUDA backend's tiled mma.sync GEMM beside cuBLAS; the CPU path's NumPy product; MLX's
mx.matmul in its own types). Its results are an Outcome per case and what the figure is held
to (HeldTo); run_gemm makes the record."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from smbench.families.peak.part import Rate
from smbench.telemetry import Summary
from smbench.timing import Stats, TimingPolicy


@dataclass
class Outcome:
    """One format on one shape on a backend. status "skipped" or "failed" with the reason: no
    figure (the fields still go in the row)."""

    status: str = "ok"
    reason: str = ""
    # The record's fields this backend fills: support, support_note, instruction, tile, splits,
    # sass, validation, error, emulator, the kernel's provenance; where a backend words them its
    # own way (MLX), kernel, accumulator and layout too.
    fields: dict = field(default_factory=dict)
    stats: Stats | None = None  # seconds per product; None: not timed
    telemetry: Summary | None = None
    cublas: dict = field(default_factory=dict)  # cuBLAS on the same inputs, or why it did not run
    fallback: dict = field(default_factory=dict)  # the compute_80 build, or why it did not run

    def failed(self, reason: str) -> Outcome:
        """This outcome, failed for this reason (its fields so far stay in the row)."""
        self.status, self.reason = "failed", reason
        return self


@dataclass
class HeldTo:
    """What a GEMM's figure is held to on this backend."""

    mma: Rate  # the format's mma.sync loop rate (None where there is none, and why)
    spec_keys: tuple[str, ...]  # the device row's peaks that are the format's spec, the first found


@runtime_checkable
class GemmPart(Protocol):
    # Its own formats (key -> gemm.Format), run on the suite's shapes instead of [gemm] formats
    # (MLX: its own types, C in A's type); None: the family's formats, crossed by its axes.
    FORMATS: dict | None
    PLAN_NOTES: dict  # what the result file's notes say of such a plan ({} without one)

    def run_case(self, runner, fmt, shape, policy: TimingPolicy, settings: dict) -> Outcome:
        """The product checked exactly and against float64, then timed; settings: [gemm]."""

    def held_to(self, runner, fmt, policy: TimingPolicy) -> HeldTo:
        """The loop rate and spec peaks the format's figure is held to."""
