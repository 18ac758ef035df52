"""What the launch family asks of a backend: families/launch/<backend>.py satisfies LaunchPart
(the CUDA backend: an empty kernel; MLX: its smallest operation; the CPU path has none)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from smbench.cases import Validation
from smbench.timing import Stats, TimingPolicy


@dataclass
class Launches:
    """The backend's smallest unit of work, timed two ways."""

    queued: Stats  # seconds per call, queued back to back: the device's own rate
    launch_sync: Stats  # seconds for one call and the wait for it: what a program that synchronises pays
    validation: Validation  # that the calls ran (and, where they compute, computed)
    operation: str = ""  # what was called when it is no kernel launch of ours (MLX), in words


@runtime_checkable
class LaunchPart(Protocol):
    WHAT: str  # what is launched, in the case's label: "empty-kernel", "smallest MLX operation"

    def time_launch(self, runner, policy: TimingPolicy) -> Launches:
        """Both timings, by the suite's policy."""
