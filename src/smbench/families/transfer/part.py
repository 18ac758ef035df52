"""What the transfer family asks of a backend: families/transfer/<backend>.py satisfies
TransferPart (only the CUDA backend has one: on the others the family is one skipped row)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from smbench.cases import Validation
from smbench.timing import Stats, TimingPolicy


@dataclass
class Copied:
    """One copy, timed and checked."""

    stats: Stats  # seconds per copy
    validation: Validation


@runtime_checkable
class TransferPart(Protocol):
    def transfer_blocked(self, host_kind: str) -> bool:
        """Whether a copy from this host memory is queued behind the blocking kernel."""

    def time_transfer(self, direction: str, host_kind: str, nbytes: int, policy: TimingPolicy) -> Copied:
        """nbytes copied h2d, d2h or d2d (host_kind: pinned, pageable; device for d2d)."""
