"""The collectives on the CPU path: MPI (mpi4py) on host NumPy buffers.

Every call is MPI's nonblocking form, polled against the timeout so that a rank that
hangs ends the job. MPI has sums over f32, f64 and int8; f16 and bf16 have no MPI type, so
their buffers travel as 16-bit words (MPI_UINT16_T) summed by a user-defined operation
that widens to f32, adds and rounds back (bf16: to nearest even, as a GPU does). Timed
with MPI_Wtime around each sample's calls.
"""

from __future__ import annotations

import os
import time

import numpy as np

from smbench import ranks
from smbench.families import collectives as co

ENGINE = "MPI"

# What MPI lacks: (collective, placement) -> why.
_MISSING = {("broadcast", "out_of_place"): "out-of-place broadcast (MPI_Bcast has one buffer)"}

API = {"all_reduce": "MPI_Iallreduce", "all_gather": "MPI_Iallgather", "reduce_scatter": "MPI_Ireduce_scatter_block",
       "broadcast": "MPI_Ibcast", "reduce": "MPI_Ireduce", "alltoall": "MPI_Ialltoall", "sendrecv": "MPI_Isend/Irecv"}


def unsupported(collective: str, dtype: str, placement: str) -> str:
    return _MISSING.get((collective, placement), "")


def _sum_f16(inbuf, inoutbuf, datatype) -> None:
    a = np.frombuffer(inbuf, dtype=np.float16)
    b = np.frombuffer(inoutbuf, dtype=np.float16)
    with np.errstate(over="ignore"):  # timed calls in place sum sums: f16 overflows to inf, as on a GPU
        b[:] = (a.astype(np.float32) + b.astype(np.float32)).astype(np.float16)


def bf16_to_f32(bits: np.ndarray) -> np.ndarray:
    return (bits.astype(np.uint32) << 16).view(np.float32)


def f32_to_bf16(values: np.ndarray) -> np.ndarray:
    """Round to nearest even on the 16 bits dropped (NaN is not expected here: exact integers)."""
    bits = values.astype(np.float32).view(np.uint32)
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)


def _sum_bf16(inbuf, inoutbuf, datatype) -> None:
    a = np.frombuffer(inbuf, dtype=np.uint16)
    b = np.frombuffer(inoutbuf, dtype=np.uint16)
    with np.errstate(over="ignore"):  # a sum past bf16's range is inf, as MPI's own sums give
        b[:] = f32_to_bf16(bf16_to_f32(a) + bf16_to_f32(b))


class MpiEngine:
    name = ENGINE
    xp = np
    timing = "MPI_Wtime around each sample's back-to-back calls, after a barrier; the slowest rank's time"

    def __init__(self, world):
        MPI = ranks.import_mpi("the collectives family on the CPU path")
        import mpi4py

        self.MPI, self.world = MPI, world
        self.comm = world.comm if world.comm is not None else MPI.COMM_WORLD  # one rank: MPI's own singleton
        self.library = f"{ranks.mpi_library(MPI) or 'MPI'} (mpi4py {mpi4py.__version__})"
        self.types = {"f32": (MPI.FLOAT, MPI.SUM), "f64": (MPI.DOUBLE, MPI.SUM), "int8": (MPI.INT8_T, MPI.SUM),
                      "f16": (MPI.UINT16_T, MPI.Op.Create(_sum_f16, commute=True)),
                      "bf16": (MPI.UINT16_T, MPI.Op.Create(_sum_bf16, commute=True))}

    def prepare(self, collective, dtype, placement, send, receive, count):
        return MpiCall(self, collective, dtype, placement, send, receive, count)


class MpiCall:
    def __init__(self, engine: MpiEngine, collective, dtype, placement, send, receive, count):
        self.engine, self.collective, self.placement = engine, collective, placement
        self.send, self.receive, self.count = send, receive, count
        self.api = API[collective]
        mpi_type, self.op = engine.types[dtype]
        self.s = [send, mpi_type]
        self.r = None if receive is None else [receive, mpi_type]

    def start(self) -> list:
        MPI, comm, op = self.engine.MPI, self.engine.comm, self.op
        in_place = self.placement == "in_place"
        rank, n = comm.Get_rank(), comm.Get_size()
        c = self.collective
        if c == "all_reduce":
            return [comm.Iallreduce(MPI.IN_PLACE, self.s, op) if in_place else comm.Iallreduce(self.s, self.r, op)]
        if c == "all_gather":
            return [comm.Iallgather(MPI.IN_PLACE, self.s) if in_place else comm.Iallgather(self.s, self.r)]
        if c == "reduce_scatter":
            return [comm.Ireduce_scatter_block(MPI.IN_PLACE, self.s, op) if in_place
                    else comm.Ireduce_scatter_block(self.s, self.r, op)]
        if c == "broadcast":
            return [comm.Ibcast(self.s, root=co.ROOT)]
        if c == "reduce":
            if in_place:
                return [comm.Ireduce(MPI.IN_PLACE if rank == co.ROOT else self.s, self.s if rank == co.ROOT else None,
                                     op, root=co.ROOT)]
            return [comm.Ireduce(self.s, self.r, op, root=co.ROOT)]
        if c == "alltoall":
            return [comm.Ialltoall(self.s, self.r)]
        if c == "sendrecv":
            return [comm.Irecv(self.r, source=(rank - 1) % n, tag=16), comm.Isend(self.s, dest=(rank + 1) % n, tag=16)]
        raise ValueError(c)

    def run(self, reps: int) -> float:
        """reps calls one after another, each polled to completion against the timeout;
        the seconds they took on this rank."""
        MPI, world = self.engine.MPI, self.engine.world
        limit = world.timeout_s
        begin = MPI.Wtime()
        for _ in range(reps):
            requests = self.start()
            deadline = time.monotonic() + limit
            while not MPI.Request.Testall(requests):
                os.sched_yield()  # more ranks than cores (a laptop, CI): let the others run
                if time.monotonic() > deadline:
                    raise ranks.RankLost(f"{self.api} did not complete within {limit:g} s on rank {world.rank}: "
                                         f"a rank died or hangs (collectives.timeout_s)")
        return MPI.Wtime() - begin

    def result(self):
        if self.receive is not None:
            return self.receive
        if self.collective == "reduce_scatter":
            return self.send[:self.count // self.engine.comm.Get_size()]  # MPI leaves it at the start of the buffer
        return self.send


_ENGINE: MpiEngine | None = None


def engine(world, runner) -> MpiEngine:
    global _ENGINE
    if _ENGINE is None or _ENGINE.world is not world:
        _ENGINE = MpiEngine(world)
    return _ENGINE
