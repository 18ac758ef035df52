"""The collectives on the GPU: NCCL (the nvidia-nccl-cu13 wheel) through CuPy's bindings,
one rank per GPU. The NCCL unique id goes from rank 0 to the others through MPI (a single
rank needs no MPI). Each sample's calls are queued back to back on the rank's stream
between two CUDA events; the wait for the last one is polled against the timeout and, past
it, the communicator is aborted (ncclCommAbort) so that a rank that died or hangs ends the
job. alltoall, send/recv, gather and scatter are NCCL's grouped point-to-point calls, as in
nccl-tests (before NCCL 2.28's ncclGather and ncclScatter, which CuPy does not bind)."""

from __future__ import annotations

import glob
import os
import re
import tempfile
import time

from smbench import ranks
from smbench.errors import SmbenchError
from smbench.families import SizeCap
from smbench.families import collectives as co
from smbench.families.collectives import links, measure

ENGINE = "NCCL"
ONE_HOST = links.Inferred(None, "inferred: every GPU in one host, but NVLink or PCIe is not known here; say which "
                                "with --set collectives.link=nvlink4 (or pcie5, ...)")
GPU_FREE_FRACTION = 1 / 16  # send, receive and the check's temporaries at the largest size

API = {"all_reduce": "ncclAllReduce", "all_gather": "ncclAllGather", "reduce_scatter": "ncclReduceScatter",
       "broadcast": "ncclBroadcast", "reduce": "ncclReduce", "alltoall": "ncclSend/ncclRecv (grouped)",
       "sendrecv": "ncclSend/ncclRecv", "gather": "ncclSend/ncclRecv to the root (grouped)",
       "scatter": "ncclSend/ncclRecv from the root (grouped)"}
# ncclRedOp_t (nccl.h): ncclSum 0, ncclProd 1, ncclMax 2, ncclMin 3, ncclAvg 4 (NCCL 2.10 and later).
OPS = {"sum": 0, "prod": 1, "max": 2, "min": 3, "avg": 4}
# NCCL refuses an fp8 reduction unless every GPU is sm_90 or later (enqueue.cc: "FP8 reduction support
# begins with sm90 capable devices"); fp8 copies run anywhere.
FP8_REDUCTION_SM = 90


def unsupported(collective: str, dtype: str, placement: str, op: str = "sum") -> str:
    """What this NCCL and GPU lack for a case ('' when they have it): the fp8 types before NCCL
    2.24, fp8 reductions below sm_90."""
    t = co.DTYPES[dtype]
    try:
        from cupy.cuda import nccl

        version = nccl.get_version()
    except Exception:  # noqa: BLE001 - no NCCL: the engine's start says so on each row
        return ""
    have = (version // 10000, version % 10000 // 100)
    if have < t.nccl_since:
        return f"{dtype} (NCCL {version_text(version)}; it came with NCCL {t.nccl_since[0]}.{t.nccl_since[1]})"
    if dtype in ("e4m3", "e5m2") and co.COLLECTIVES[collective].reduction:
        capability = _compute_capability()
        if capability is not None and capability < FP8_REDUCTION_SM:
            return f"{dtype} reductions below sm_90 (this GPU is sm_{capability})"
    return ""


def size_cap(settings: dict, runner, world) -> SizeCap:
    """The suite's largest_mib, or 1/16 of the least free GPU memory of any rank's."""
    every = world.allgather(int(runner.info.get("free_bytes") or 0), "the free GPU memory")
    free = min(every)
    caps = [(settings["largest_mib"] * co.MIB, f"the suite's largest_mib, {settings['largest_mib']} MiB")]
    if free:
        fewest = f" (rank {every.index(free)}'s, the least)" if len(every) > 1 else ""
        caps.append((int(free * GPU_FREE_FRACTION), f"1/16 of {free / co.GIB:.1f} GiB free{fewest}"))
    return SizeCap(*min(caps))


def _compute_capability() -> int | None:
    try:
        import cupy

        return int(cupy.cuda.Device().compute_capability)
    except Exception:  # noqa: BLE001
        return None


def version_text(code: int) -> str:
    """NCCL's version code (23203) as 2.32.3 (codes from 2.9 on: major x 10000 + minor x 100 + patch)."""
    return f"{code // 10000}.{code % 10000 // 100}.{code % 100}"


def chosen_interface(debug_dir: str | None) -> list[str]:
    """The 'NET/... Using ...' lines NCCL wrote with NCCL_DEBUG=INFO: the interface it chose."""
    if not debug_dir:
        return []
    lines = []
    for path in glob.glob(os.path.join(debug_dir, "nccl.*")):
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                lines += [re.sub(r"^.*?NET/", "NET/", line.strip()) for line in handle if re.search(r"NET/\S+ ?: ?Using", line)]
        except OSError:
            continue
    return sorted(set(lines))


class NcclEngine:
    name = ENGINE
    timing = "CUDA events around each sample's back-to-back calls on the rank's stream; the ranks' times aggregated"

    def __init__(self, world, runner):
        def load():
            from cupy.cuda import nccl

            if not getattr(nccl, "available", True):  # CuPy without NCCL: every call would fail
                raise SmbenchError("CuPy finds no NCCL library here: pip install 'smbench[collectives]' "
                                   "(the nvidia-nccl-cu13 wheel)")
            return runner.backend._cupy(), nccl

        # Each step before the communicator is agreed: a rank that fails one is named on every
        # rank at once, instead of leaving the others in the unique id's exchange or NCCL's init.
        # One rank: a missing NCCL is the skipped row's reason (smbench.errors.SmbenchError).
        cupy, nccl = load() if world.size == 1 else measure.agreed(world, load, "loading CuPy's NCCL")
        made = measure.agreed(world, lambda: nccl.get_unique_id() if world.is_root else None,
                              "making the NCCL unique id")
        self.cupy, self.nccl, self.world, self.xp = cupy, nccl, world, cupy
        self.library = f"NCCL {version_text(nccl.get_version())}"
        self.debug_dir = None
        if os.environ.get("NCCL_DEBUG", "").upper() == "INFO" and "NCCL_DEBUG_FILE" not in os.environ:
            # NCCL says which network interface it chose only in its INFO log: keep it to record.
            self.debug_dir = tempfile.mkdtemp(prefix="smbench-nccl-")
            os.environ["NCCL_DEBUG_FILE"] = os.path.join(self.debug_dir, "nccl.%h.%p")
        uid = world.bcast(made, "the NCCL unique id")
        self.comm = _communicator(nccl, world, uid)
        self.stream = cupy.cuda.Stream(non_blocking=True)
        # ncclDataType_t values from nccl.h (dtypes.DTYPES): CuPy passes them through as ints, so
        # the types its own constants lack (fp8) are called by number.
        self.types = {name: t.nccl for name, t in co.DTYPES.items()}
        self.interface = chosen_interface(self.debug_dir)
        if self.interface:
            self.library += f"; {'; '.join(self.interface)}"

    def prepare(self, collective, dtype, placement, send, receive, count, op="sum", root=co.ROOT):
        return NcclCall(self, collective, dtype, placement, send, receive, count, op, root)

    def abort(self) -> None:
        try:
            self.comm.abort()
        except Exception:  # noqa: BLE001 - the job ends either way
            pass


def _communicator(nccl, world, uid):
    """NCCL's communicator, made with a deadline: ncclCommInitRank blocks until every rank has
    joined, and CuPy offers no nonblocking init (its NcclConfig has no 'blocking'), so it runs
    in a thread that this rank waits for up to the timeout; past it, RankLost ends the job (the
    abort ends the thread with the process)."""
    import threading

    made: dict = {}

    def init() -> None:
        try:
            made["comm"] = nccl.NcclCommunicator(world.size, uid, world.rank)
        except Exception as exc:  # noqa: BLE001 - said on this rank's row below
            made["error"] = exc

    thread = threading.Thread(target=init, name="ncclCommInitRank", daemon=True)
    thread.start()
    thread.join(world.timeout_s)
    if thread.is_alive():
        raise ranks.RankLost(f"ncclCommInitRank did not complete within {world.timeout_s:g} s on rank {world.rank}: "
                             f"a rank died, hangs or cannot reach the others (collectives.timeout_s)")
    if "error" in made:
        raise made["error"]
    return made["comm"]


class NcclCall:
    def __init__(self, engine: NcclEngine, collective, dtype, placement, send, receive, count, op="sum", root=co.ROOT):
        self.engine, self.collective, self.placement, self.count = engine, collective, placement, count
        self.send, self.receive, self.root = send, receive, root
        self.type = engine.types[dtype]
        self.op = OPS[op]
        self.item = send.dtype.itemsize
        self.api = API[collective]
        engine.cupy.cuda.Device().synchronize()  # the buffers are filled on the default stream

    def issue(self) -> None:
        e, comm, nccl = self.engine, self.engine.comm, self.engine.nccl
        rank, n, stream = e.world.rank, e.world.size, e.stream.ptr
        in_place = self.placement == "in_place"
        s = self.send.data.ptr
        r = s if in_place else self.receive.data.ptr
        c = self.count // n
        chunk = c * self.item
        name, t, total, op, root = self.collective, self.type, self.count, self.op, self.root
        if name == "all_reduce":
            comm.allReduce(s, r, total, t, op, stream)
        elif name == "all_gather":  # in place: this rank's chunk is already at its place in the output
            comm.allGather(s + rank * chunk if in_place else s, r, c, t, stream)
        elif name == "reduce_scatter":  # in place: the result lands at this rank's chunk of the buffer
            comm.reduceScatter(s, s + rank * chunk if in_place else r, c, t, op, stream)
        elif name == "broadcast":
            comm.broadcast(s, r, total, t, root, stream)
        elif name == "reduce":
            comm.reduce(s, r, total, t, op, root, stream)
        elif name == "alltoall":
            nccl.groupStart()
            for peer in range(n):
                comm.send(s + peer * chunk, c, t, peer, stream)
                comm.recv(r + peer * chunk, c, t, peer, stream)
            nccl.groupEnd()
        elif name == "sendrecv":
            nccl.groupStart()
            comm.send(s, total, t, (rank + 1) % n, stream)
            comm.recv(r, total, t, (rank - 1) % n, stream)
            nccl.groupEnd()
        elif name == "gather":  # as nccl-tests before NCCL 2.28's ncclGather: every rank sends its chunk to the root
            if c == 0:
                return  # nccl-tests issues nothing for an empty gather or scatter
            nccl.groupStart()
            comm.send(s + rank * chunk if in_place else s, c, t, root, stream)
            if rank == root:
                for peer in range(n):
                    comm.recv(r + peer * chunk, c, t, peer, stream)
            nccl.groupEnd()
        elif name == "scatter":  # the root sends each rank its chunk (in place: into the rank's place of the buffer)
            if c == 0:
                return
            nccl.groupStart()
            if rank == root:
                for peer in range(n):
                    comm.send(s + peer * chunk, c, t, peer, stream)
            comm.recv(s + rank * chunk if in_place else r, c, t, root, stream)
            nccl.groupEnd()
        else:
            raise ValueError(name)

    def run(self, reps: int) -> float:
        """reps calls queued between two events; the device seconds between them."""
        e = self.engine
        cupy = e.cupy
        start, end = cupy.cuda.Event(), cupy.cuda.Event()
        start.record(e.stream)
        for _ in range(reps):
            self.issue()
        end.record(e.stream)
        limit = e.world.timeout_s
        deadline = time.monotonic() + limit
        while not end.done:
            if time.monotonic() > deadline:
                e.abort()
                raise ranks.RankLost(f"{self.api} did not complete within {limit:g} s on rank {e.world.rank}: a rank "
                                     f"died or hangs (the NCCL communicator was aborted; collectives.timeout_s)")
            time.sleep(20e-6)
        e.comm.check_async_error()
        return cupy.cuda.get_elapsed_time(start, end) / 1e3

    def result(self):
        """The rank's result span (co.result_span) in the buffer NCCL wrote."""
        start, length = co.result_span(self.collective, self.placement, self.engine.world.rank,
                                       self.engine.world.size, self.count)
        buffer = self.send if self.receive is None else self.receive
        return buffer[start:start + length]


_ENGINE: NcclEngine | None = None


def engine(world, runner) -> NcclEngine:
    global _ENGINE
    if _ENGINE is None or _ENGINE.world is not world:
        _ENGINE = NcclEngine(world, runner)
    return _ENGINE
