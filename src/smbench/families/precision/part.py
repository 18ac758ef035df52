"""What the precision family asks of a backend: families/precision/<backend>.py satisfies
PrecisionPart (the CUDA backend's mma through kernels/precision.cu; the CPU path's emulator
playing a published model; MLX's matmul). Its results: the formats it probes (Formats) and
what answers the probes for one format (Devices)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol, runtime_checkable

from smbench import emulate


@dataclass
class Formats:
    """The formats a backend probes, of those the suite asks for."""

    keep: frozenset | None = None  # None: every one asked (each gated by the backend as it runs)
    notes: dict = field(default_factory=dict)  # what the result file's notes say of the choice


@dataclass
class Devices:
    """What answers one format's probes and GEMMs on a backend."""

    probe: Callable  # precision.Device: (fmt, a, b, c[, scales]) -> D[0, 0] of each problem
    gemm: Callable  # (fmt, a, b) -> C of a random GEMM (16 x K by K x 8)
    how: str  # what answers, in words (the record's `device`)
    kernel: dict  # the compiled kernel's provenance (cases.NO_KERNEL without one)
    plays: emulate.Model | None = None  # the published model an emulator plays: the fit must recover it
    through: str = ""  # what answered where it is no tensor core (MLX's f32 matmul); '' for one
    through_verdict: str = ""  # the verdict then, with {input} for the input format


@runtime_checkable
class PrecisionPart(Protocol):
    def formats(self, settings: dict) -> Formats:
        """Which of [precision] formats this backend probes (settings: the section)."""

    def devices(self, runner, fmt, settings: dict) -> Devices:
        """The probe and GEMM devices for a format (precision.Format); raises cases.Skip for a
        format this backend cannot probe, with the reason."""
