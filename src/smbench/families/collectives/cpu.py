"""The collectives on the CPU path: MPI (mpi4py) on host NumPy buffers.

Every call is MPI's nonblocking form, polled against the timeout so that a rank that hangs ends
the job. MPI has sum, product, min and max over f32, f64, int8, uint8, int32 and int64 (its own
C types, whose arithmetic is the type's: uint8's wraps modulo 256); f16, bf16 and fp8 have no MPI
type, so their buffers travel as words (MPI_UINT16_T, MPI_UINT8_T) reduced by user-defined
operations that widen to f32, apply the op and round back to the nearest value (ties to even; fp8
saturating, as NCCL's conversions). MPI has no average: it is done as NCCL does it (enqueue.cc):
for the floats each rank multiplies its input by the type's 1/n before the sum, for the integers
the sum is divided by n after it (rounded towards zero), both inside the timed call. Timed with
MPI_Wtime around each sample's calls.
"""

from __future__ import annotations

import os
import time

import numpy as np

from smbench import ranks
from smbench.families import SizeCap
from smbench.families import collectives as co
from smbench.families.collectives import dtypes as dt
from smbench.families.collectives import links
from smbench.families.collectives import pattern as pt

ENGINE = "MPI"
ONE_HOST = links.Inferred(links.LINKS["shm"], "inferred: every rank on one host, CPU path (MPI through shared memory)")

# What MPI lacks: (collective, placement) -> why.
_MISSING = {("broadcast", "out_of_place"): "out-of-place broadcast (MPI_Bcast has one buffer)"}

API = {"all_reduce": "MPI_Iallreduce", "all_gather": "MPI_Iallgather", "reduce_scatter": "MPI_Ireduce_scatter_block",
       "broadcast": "MPI_Ibcast", "reduce": "MPI_Ireduce", "alltoall": "MPI_Ialltoall", "sendrecv": "MPI_Isend/Irecv",
       "gather": "MPI_Igather", "scatter": "MPI_Iscatter"}
_WORDS = {1: "UINT8_T", 2: "UINT16_T"}  # the narrow floats' words


def unsupported(collective: str, dtype: str, placement: str, op: str = "sum") -> str:
    return _MISSING.get((collective, placement), "")


def size_cap(settings: dict, runner, world) -> SizeCap:
    return SizeCap(settings["cpu_largest_kib"] * co.KIB, f"the CPU path's cpu_largest_kib, {settings['cpu_largest_kib']} KiB")


def bf16_to_f32(bits: np.ndarray) -> np.ndarray:
    return (bits.astype(np.uint32) << 16).view(np.float32)


def f32_to_bf16(values: np.ndarray) -> np.ndarray:
    """Round to nearest even on the 16 bits dropped."""
    return dt.round_to(values, "bf16")


_COMBINE = {"sum": np.add, "avg": np.add, "prod": np.multiply, "min": np.minimum, "max": np.maximum}


def _narrow_op(dtype: str, op: str):
    """A user-defined MPI operation on a narrow float's words: widen to f32, apply, round back."""
    storage = dt.DTYPES[dtype].storage
    combine = _COMBINE[op]

    def apply(inbuf, inoutbuf, datatype) -> None:
        a = np.frombuffer(inbuf, dtype=storage)
        b = np.frombuffer(inoutbuf, dtype=storage)
        with np.errstate(over="ignore", invalid="ignore"):  # timed calls in place reduce results again: inf, NaN
            b[:] = dt.round_to(combine(dt.decode(np, a, dtype).astype(np.float32),
                                       dt.decode(np, b, dtype).astype(np.float32)), dtype)

    return apply


class MpiEngine:
    name = ENGINE
    xp = np
    timing = "MPI_Wtime around each sample's back-to-back calls, after a barrier; the ranks' times aggregated"

    def __init__(self, world):
        MPI = ranks.import_mpi("the collectives family on the CPU path")
        import mpi4py

        self.MPI, self.world = MPI, world
        self.comm = world.comm if world.comm is not None else MPI.COMM_WORLD  # one rank: MPI's own singleton
        self.library = f"{ranks.mpi_library(MPI) or 'MPI'} (mpi4py {mpi4py.__version__})"
        self._ops: dict = {}

    def datatype(self, dtype: str):
        t = dt.DTYPES[dtype]
        return getattr(self.MPI, t.mpi or _WORDS[t.size])

    def op(self, dtype: str, op: str):
        """MPI's operation for the type (avg: a sum, with the steps around it in the call)."""
        t = dt.DTYPES[dtype]
        if t.mpi:
            return {"sum": self.MPI.SUM, "avg": self.MPI.SUM, "prod": self.MPI.PROD, "min": self.MPI.MIN,
                    "max": self.MPI.MAX}[op]
        key = (dtype, "sum" if op == "avg" else op)
        if key not in self._ops:
            self._ops[key] = self.MPI.Op.Create(_narrow_op(*key), commute=True)
        return self._ops[key]

    def prepare(self, collective, dtype, placement, send, receive, count, op="sum", root=co.ROOT):
        return MpiCall(self, collective, dtype, placement, send, receive, count, op, root)


class MpiCall:
    def __init__(self, engine: MpiEngine, collective, dtype, placement, send, receive, count, op="sum", root=co.ROOT):
        self.engine, self.collective, self.placement = engine, collective, placement
        self.send, self.receive, self.count, self.dtype, self.root = send, receive, count, dtype, root
        self.op_name = op if co.COLLECTIVES[collective].reduction else None
        self.api = API[collective]
        self.type = engine.datatype(dtype)
        self.op = engine.op(dtype, self.op_name) if self.op_name else None
        n = engine.comm.Get_size()
        # avg of floats: each input times the type's 1/n first (NCCL's ncclDevPreMulSum), into a
        # scratch buffer out of place (the input stays), in the buffer itself in place.
        self.scale = pt._scalar_of_one_over(dtype, n) if self.op_name == "avg" and dt.DTYPES[dtype].is_float else None
        # Out of place, and in place off a reduce's root (whose buffer is not an output and must
        # stay as it was), the products go to a scratch buffer.
        off_root = collective == "reduce" and engine.comm.Get_rank() != root
        self.scratch = (np.empty_like(send) if self.scale is not None and (receive is not None or off_root)
                        else None)

    def _buffer(self, array):
        return [array, self.type]

    def _premultiply(self):
        """The buffer MPI sums: the input times round(1/n), rounded to the type."""
        if self.scale is None:
            return self.send
        target = self.scratch if self.scratch is not None else self.send
        with np.errstate(over="ignore", invalid="ignore"):
            target[:] = dt.round_to(dt.decode(np, self.send, self.dtype) * self.scale, self.dtype)
        return target

    def _divide(self) -> None:
        """avg of integers: the sum divided by n, rounded towards zero (NCCL's ncclDevSumPostDiv)."""
        if self.op_name != "avg" or dt.DTYPES[self.dtype].is_float:
            return
        comm = self.engine.comm
        if self.collective == "reduce" and comm.Get_rank() != self.root:
            return
        out = self.result()
        total = out.astype(np.int64)
        out[:] = (np.sign(total) * (np.abs(total) // comm.Get_size())).astype(out.dtype)

    def start(self) -> list:
        MPI, comm, op = self.engine.MPI, self.engine.comm, self.op
        in_place = self.placement == "in_place"
        rank, n = comm.Get_rank(), comm.Get_size()
        c = self.count // n
        root = self.root
        r = None if self.receive is None else self._buffer(self.receive)
        name = self.collective
        if name in ("all_reduce", "reduce_scatter", "reduce"):
            s = self._buffer(self._premultiply())
            if name == "all_reduce":
                return [comm.Iallreduce(MPI.IN_PLACE, s, op) if in_place else comm.Iallreduce(s, r, op)]
            if name == "reduce_scatter":  # in place MPI leaves the result at the start of the buffer
                return [comm.Ireduce_scatter_block(MPI.IN_PLACE, s, op) if in_place else comm.Ireduce_scatter_block(s, r, op)]
            if in_place:
                return [comm.Ireduce(MPI.IN_PLACE if rank == root else s, s if rank == root else None, op, root=root)]
            return [comm.Ireduce(s, r, op, root=root)]
        s = self._buffer(self.send)
        if name == "all_gather":
            return [comm.Iallgather(MPI.IN_PLACE, s) if in_place else comm.Iallgather(s, r)]
        if name == "broadcast":
            return [comm.Ibcast(s, root=root)]
        if name == "alltoall":
            return [comm.Ialltoall(s, r)]
        if name == "sendrecv":
            return [comm.Irecv(r, source=(rank - 1) % n, tag=16), comm.Isend(s, dest=(rank + 1) % n, tag=16)]
        if name == "gather":  # in place: the root's own chunk is already at its place in the one buffer
            if in_place:
                if rank == root:
                    return [comm.Igather(MPI.IN_PLACE, s, root=root)]
                return [comm.Igather(self._buffer(self.send[rank * c:(rank + 1) * c]), None, root=root)]
            return [comm.Igather(s, r, root=root)]
        if name == "scatter":  # in place: each rank's chunk lands at its place in the one buffer
            if in_place:
                if rank == root:
                    return [comm.Iscatter(s, MPI.IN_PLACE, root=root)]
                return [comm.Iscatter(None, self._buffer(self.send[rank * c:(rank + 1) * c]), root=root)]
            return [comm.Iscatter(s if rank == root else None, r, root=root)]
        raise ValueError(name)

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
            self._divide()
        return MPI.Wtime() - begin

    def result(self):
        """The rank's result span, as NCCL lays it out (co.result_span), except where MPI puts it
        elsewhere: an in-place reduce_scatter's at the start of the buffer."""
        if self.receive is not None:
            return self.receive
        if self.collective == "reduce_scatter":
            return self.send[:self.count // self.engine.comm.Get_size()]
        start, length = co.result_span(self.collective, self.placement, self.engine.comm.Get_rank(),
                                       self.engine.comm.Get_size(), self.count)
        return self.send[start:start + length]


_ENGINE: MpiEngine | None = None


def engine(world, runner) -> MpiEngine:
    global _ENGINE
    if _ENGINE is None or _ENGINE.world is not world:
        _ENGINE = MpiEngine(world)
    return _ENGINE
