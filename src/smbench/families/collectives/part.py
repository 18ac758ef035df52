"""What the collectives family asks of a backend: families/collectives/<backend>.py satisfies
CollectivesPart (NCCL on the GPU, MPI on the CPU path). Its engine is an Engine: the calls
of one case are prepared there and timed by smbench.families.collectives.measure."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from smbench.families import SizeCap
from smbench.families.collectives.links import Inferred


@runtime_checkable
class Engine(Protocol):
    name: str  # "NCCL", "MPI"
    library: str  # the library and its version, as the records name it
    timing: str  # how a sample is timed, in words
    xp: object  # the array module of its buffers (CuPy, NumPy)

    def prepare(self, collective: str, dtype: str, placement: str, send, receive, count: int, op: str = "sum",
                root: int = 0):
        """One case's call: run(reps) -> the rank's seconds per call; result() -> what it wrote."""


@runtime_checkable
class CollectivesPart(Protocol):
    ENGINE: str  # the engine's name, for the plan's notes
    ONE_HOST: Inferred  # the link a busbw is held to when every rank is on one host (collectives.link = auto)

    def unsupported(self, collective: str, dtype: str, placement: str, op: str = "sum") -> str:
        """What this engine lacks for a case ('' when it has it)."""

    def engine(self, world, runner) -> Engine:
        """The engine over the job's ranks, started once (a one-line SmbenchError if it cannot)."""

    def size_cap(self, settings: dict, runner, world) -> SizeCap:
        """The sweep's largest size per rank on this backend, the same on every rank."""
