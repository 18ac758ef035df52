"""Ranks: how many processes this job has, which one this is, and how they talk.

A job is one process (world size 1) or several started together by a launcher: mpiexec
(MPICH's hydra sets PMI_RANK/PMI_SIZE), Open MPI's mpirun (OMPI_COMM_WORLD_*) or Slurm's
srun (SLURM_PROCID/SLURM_NTASKS). The launch is read from the environment, so a single
process never imports MPI; with more than one rank, mpi4py carries every message (a one-
line error with the install hint when it is missing).

Every call that waits on other ranks goes through `wait`: a nonblocking MPI request polled
against a deadline, so a rank that hangs ends the job within the timeout (RankLost) instead
of holding every other rank forever. Nothing here knows any benchmark family.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass, field

from smbench import __version__
from smbench.errors import SmbenchError

INSTALL_HINT = "pip install 'smbench[collectives]'"
MPI_LIBRARY_HINT = "`pip install mpich` on Linux, `brew install mpich` or `brew install open-mpi` on macOS"
# (launcher, rank variable, size variable, local-rank variable), in the order they are tried.
LAUNCHERS = (
    ("mpiexec (PMI)", "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID"),
    ("Open MPI", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"),
    ("Slurm srun", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"),
)
# Where the launcher's own local rank is missing, the others' are asked in this order: under
# `srun --mpi=pmi2` Slurm's PMI sets PMI_RANK and PMI_SIZE but no MPI_LOCALRANKID, while srun
# itself sets SLURM_LOCALID (the task's index on its node). With none, the global rank stands in,
# which is the local rank only on one host.
LOCAL_RANKS = ("MPI_LOCALRANKID", "OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID")
ENVIRONMENT_PREFIXES = ("NCCL_", "UCX_", "FI_")  # the transports' settings, recorded with the topology
DEFAULT_TIMEOUT_S = 30.0
# A rank that timed out waits this long before it aborts the job, so that rank 0 (which
# timed out too) can finish the result file and say why first.
ABORT_GRACE_S = 5.0
# Rank 0's last line goes through the launcher's pipes: MPI_Abort right after it can tear them
# down before the line is forwarded (seen with MPICH's hydra under load), so rank 0 waits that
# long after saying it.
FORWARD_S = 0.5
INTERRUPTED = 130  # the exit status of a command stopped by Ctrl-C (128 + SIGINT)
# ... and by the signals that end a run as Ctrl-C does (smbench.run.STOP_SIGNALS): 128 + the signal.
INTERRUPTED_CODES = frozenset(128 + int(getattr(signal, name)) for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGPIPE")
                              if hasattr(signal, name))


class RankLost(SmbenchError):
    """Another rank died or stopped answering: the job cannot go on. The harness keeps the
    records so far, rank 0 says this line, and the job is aborted."""

    exit_code = 3


@dataclass(frozen=True)
class Launch:
    launcher: str  # "single process" or the launcher that set the environment
    rank: int
    size: int
    local_rank: int


def detect(environ=None) -> Launch:
    """The launch this process is part of, from the environment alone (no MPI import).
    Slurm's variables count only inside a job step (srun sets SLURM_STEP_ID): a batch
    script's own shell that runs smbench directly stays a single process."""
    env = os.environ if environ is None else environ
    for launcher, rank_name, size_name, local_name in LAUNCHERS:
        if rank_name not in env or size_name not in env:
            continue
        if launcher == "Slurm srun" and "SLURM_STEP_ID" not in env:
            continue
        try:
            rank, size = int(env[rank_name]), int(env[size_name])
        except ValueError:
            raise SmbenchError(f"{rank_name}={env[rank_name]!r} / {size_name}={env[size_name]!r}: "
                               f"not whole numbers ({launcher})") from None
        local = _local_rank(env, local_name, rank)
        if size < 1 or not 0 <= rank < size:
            raise SmbenchError(f"{launcher}: rank {rank} of {size} makes no sense")
        return Launch(launcher, rank, size, local)
    return Launch("single process", 0, 1, 0)


def _local_rank(env, own: str, rank: int) -> int:
    """The launcher's own local-rank variable, else another launcher's (LOCAL_RANKS), else the rank."""
    for name in (own, *(n for n in LOCAL_RANKS if n != own)):
        if name in env:
            try:
                return int(env[name])
            except ValueError:
                raise SmbenchError(f"{name}={env[name]!r}: not a whole number") from None
    return rank


def import_mpi(why: str):
    """mpi4py's MPI module, or a one-line error with the install hint (mpi4py itself, or the
    MPI library it loads: mpi4py 4 raises RuntimeError when it finds none, as on a Mac, where
    the mpich wheel is not installed)."""
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise SmbenchError(f"{why} needs mpi4py ({exc}); install it with {INSTALL_HINT}") from None
    except RuntimeError as exc:
        raise SmbenchError(f"{why} needs an MPI library ({str(exc).strip()}): {MPI_LIBRARY_HINT}") from None
    return MPI


@dataclass
class World:
    """This job's ranks. `comm` is mpi4py's COMM_WORLD, or None for a single process (which
    never imports MPI)."""

    launch: Launch
    comm: object = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    notes: list = field(default_factory=list)

    @property
    def rank(self) -> int:
        return self.launch.rank

    @property
    def size(self) -> int:
        return self.launch.size

    @property
    def is_root(self) -> bool:
        return self.launch.rank == 0

    def mpi(self):
        return import_mpi("talking to other ranks") if self.comm is not None else None

    # ---- every exchange below is a nonblocking request polled against the deadline

    def wait(self, request, what: str, timeout_s: float | None = None) -> None:
        """Poll an MPI request until it completes; RankLost after the timeout."""
        limit = self.timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + limit
        while not request.Test():
            os.sched_yield()  # more ranks than cores: let the others run
            if time.monotonic() > deadline:
                raise RankLost(f"no answer from every rank within {limit:g} s during {what}: a rank died or hangs "
                               f"(raise collectives.timeout_s if a step is simply that slow)")

    def barrier(self, what: str) -> None:
        if self.comm is not None:
            self.wait(self.comm.Ibarrier(), what)

    def allgather(self, value, what: str) -> list:
        """Every rank's value (any picklable object), in rank order, on every rank: the
        lengths, then the bytes, each a nonblocking MPI call polled against the timeout."""
        if self.comm is None:
            return [value]
        import pickle

        import numpy as np

        MPI = self.mpi()
        mine = np.frombuffer(pickle.dumps(value), dtype=np.uint8)
        lengths = np.zeros(self.size, dtype=np.int64)
        self.wait(self.comm.Iallgather([np.array([mine.size], dtype=np.int64), MPI.INT64_T], [lengths, MPI.INT64_T]),
                  what)
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        every = np.empty(int(lengths.sum()), dtype=np.uint8)
        self.wait(self.comm.Iallgatherv([mine, MPI.BYTE], [every, (lengths, offsets), MPI.BYTE]), what)
        return [pickle.loads(every[o:o + n].tobytes()) for o, n in zip(offsets, lengths)]

    def gather(self, value, what: str) -> list | None:
        """Every rank's value on rank 0 (None elsewhere)."""
        every = self.allgather(value, what)
        return every if self.is_root else None

    def bcast(self, value, what: str):
        """Rank 0's value on every rank."""
        return self.allgather(value if self.is_root else None, what)[0]

    def agree(self, what: str, mine) -> None:
        """Every rank holds the same `mine` (a suite and its settings, smbench's version), else a
        one-line SmbenchError on every rank naming the ranks that differ from rank 0."""
        every = self.allgather(mine, what)
        differ = [rank for rank, theirs in enumerate(every) if theirs != every[0]]
        if differ:
            first, theirs, ours = differ[0], every[differ[0]], every[0]
            if isinstance(ours, dict) and isinstance(theirs, dict):
                keys = [k for k in sorted(set(ours) | set(theirs)) if ours.get(k) != theirs.get(k)]
                how = ", ".join(f"{k} {_brief(theirs.get(k))} where rank 0 has {_brief(ours.get(k))}" for k in keys)
            else:
                how = f"{_brief(theirs)} where rank 0 has {_brief(ours)}"
            others = f" (and ranks {', '.join(map(str, differ[1:]))})" if len(differ) > 1 else ""
            raise SmbenchError(f"the ranks do not agree on {what}: rank {first}{others} has {how}; start every rank "
                               f"with the same smbench, suite and options")

    def abort(self, code: int) -> None:
        """End every rank of the job (MPI_Abort); a single process just exits."""
        sys.stdout.flush()
        sys.stderr.flush()
        if self.comm is not None:
            self.comm.Abort(code)
        raise SystemExit(code)  # pragma: no cover - Abort does not return

    def describe(self, device: dict | None = None) -> dict:
        """The topology as rank 0 records it: every rank's host, process and device (name and
        PCI bus), the launcher, the MPI library, the transports' environment."""
        mine = {"rank": self.rank, "local_rank": self.launch.local_rank, "host": socket.gethostname(),
                "pid": os.getpid(), "device": (device or {}).get("name"),
                "pci_bus_id": (device or {}).get("pci_bus_id"),
                "environment": {k: v for k, v in sorted(os.environ.items()) if k.startswith(ENVIRONMENT_PREFIXES)}}
        every = self.gather(mine, "the topology")
        if every is None:
            return {}
        described = {"size": self.size, "launcher": self.launch.launcher,
                     "hosts": sorted({r["host"] for r in every}), "ranks": every,
                     "mpi_library": mpi_library(self.mpi()) if self.comm is not None else None}
        if self.notes:
            described["notes"] = list(self.notes)
        return described


def as_one_job(world: World, body, program: str) -> int:
    """Run a command's body on every rank of a multi-rank launch and end the job together: a
    lost rank is said once, by rank 0 (the others wait a moment, then every rank is aborted);
    an error on every rank alike (a mismatch) is said on each and the job ends; an error on
    some ranks only aborts the job rather than leave the others waiting."""
    try:
        code = body()
        if code in INTERRUPTED_CODES and world.size > 1:
            _sleep_through_interrupts(FORWARD_S)  # rank 0's "kept in FILE" line reaches the launcher first
            world.abort(code)  # rank 0 finished its file after the interrupt: the others wait in their grace
        return code
    except RankLost as lost:
        if world.is_root:
            say(f"{program}: error: {lost}")
            _sleep_through_interrupts(FORWARD_S)
        else:
            _sleep_through_interrupts(ABORT_GRACE_S)
        world.abort(lost.exit_code)
    except SmbenchError as exc:
        say(f"{program}: error: {'' if world.is_root else f'rank {world.rank}: '}{exc}")
        try:
            world.barrier("the end of a job every rank failed")
        except RankLost:
            world.abort(exc.exit_code)
        return exc.exit_code
    except KeyboardInterrupt as stop:
        # Ctrl-C (or SIGTERM, SIGHUP, SIGPIPE: smbench.run.Stopped) reaches every rank at once:
        # rank 0 finishes the result file and says so (its body returns the interrupt's code,
        # above); the others wait for that before the job ends.
        code = getattr(stop, "exit_code", INTERRUPTED)
        if world.is_root:
            say(f"{program}: interrupted")
            _sleep_through_interrupts(FORWARD_S)
        else:
            _sleep_through_interrupts(ABORT_GRACE_S)
        world.abort(code)
    except Exception:  # noqa: BLE001 - a bug on one rank must not leave the others waiting
        import traceback

        traceback.print_exc()
        world.abort(1)
    return 1  # pragma: no cover - abort does not return


def _sleep_through_interrupts(seconds: float) -> None:
    """Wait that long even if Ctrl-C comes again (the grace is for rank 0 to finish)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            time.sleep(max(0.0, end - time.monotonic()))
        except KeyboardInterrupt:
            continue


def mpi_library(MPI) -> str | None:
    """The MPI library's own first line (MPICH Version: 5.0.2, Open MPI v5...)."""
    try:
        return " ".join(MPI.Get_library_version().split("\n")[0].split())
    except Exception:  # noqa: BLE001 - provenance records what it can
        return None


def _brief(value) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def say(line: str) -> None:
    """One line on stderr in one write: the ranks share the launcher's stderr, and a line
    written in pieces could be cut by another rank's."""
    sys.stderr.flush()
    os.write(sys.stderr.fileno(), (line + "\n").encode("utf-8", "replace"))


def fingerprint(suite_name: str, settings: dict) -> dict:
    """What every rank must share to run one job: the suite's name, each of its settings by
    its dotted name (--set included: `timing.warmup`), so that a mismatch names the setting and
    both values, and smbench's version."""
    return {"suite": suite_name, "smbench": __version__, **_dotted(settings)}


def _dotted(settings: dict, prefix: str = "") -> dict:
    """{"timing": {"warmup": 2}} -> {"timing.warmup": 2} (a section's table inside a section too)."""
    flat = {}
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_dotted(value, f"{name}."))
        else:
            flat[name] = value
    return flat


_WORLD: World | None = None


def world(environ=None) -> World:
    """This process's World, made once: a single process without MPI, or COMM_WORLD (mpi4py
    imported here; a missing mpi4py is a one-line error with the install hint)."""
    global _WORLD
    if _WORLD is None or environ is not None:
        launch = detect(environ)
        comm = None
        if launch.size > 1:
            MPI = import_mpi(f"a {launch.size}-rank launch ({launch.launcher})")
            comm = MPI.COMM_WORLD
            comm.Set_errhandler(MPI.ERRORS_RETURN)  # an MPI error is an exception, not a silent abort
            if comm.Get_size() != launch.size or comm.Get_rank() != launch.rank:
                raise SmbenchError(f"{launch.launcher} says rank {launch.rank} of {launch.size}, MPI says rank "
                                   f"{comm.Get_rank()} of {comm.Get_size()}: mpi4py is built against another MPI "
                                   f"than the launcher's (use the mpiexec beside this Python)")
        _WORLD = World(launch, comm)
    return _WORLD


def reset() -> None:
    """Forget the World (tests that change the environment)."""
    global _WORLD
    _WORLD = None
