"""One rank of an `mpiexec -n N` job that plants wrong collectives into real MPI calls and checks
them with the family's own checks: every planted one must fail, every unplanted one pass.

The plants are made where a real fault would come from, in what the ranks give MPI:
- a rank left out of a reduction: that rank gives the op's identity (0 for sum and avg, 1 for
  prod, the type's largest value for min, its least for max), so MPI's result is the others' alone;
- a block sent to the wrong peer: alltoall's sender s swaps its blocks for peers q and q + 1;
  all_gather's and gather's rank s gives rank s + 1's chunk; scatter's root swaps the chunks of q
  and q + 1; send/recv's and broadcast's sender gives another rank's buffer;
- a reduce_scatter chunk shifted: every rank rotates its input by `shift` chunks, so rank r gets
  the reduction of chunk r + shift.

Rank 0 prints one JSON line: the cases run, and those whose outcome was not the one planted.
Usage: mpiexec -n N python tests/collectives_planted.py [sizes...]
"""

from __future__ import annotations

import json
import sys

import numpy as np

from smbench import ranks
from smbench.families import collectives as co
from smbench.families.collectives import cpu
from smbench.families.collectives import dtypes as dt
from smbench.families.collectives import measure

SIZES = [int(a) for a in sys.argv[1:]] or [8, 504]


def identity(op: str, dtype: str):
    """What a left-out rank gives: the op's identity, as a value."""
    if op in ("sum", "avg"):
        return 0
    if op == "prod":
        return 1
    t = dt.DTYPES[dtype]
    if t.is_float:
        finite = dt.finite_values(dtype) if t.size <= 2 else np.array([-np.finfo(t.storage).max, np.finfo(t.storage).max])
        return finite[-1] if op == "min" else finite[0]
    info = np.iinfo(t.storage)
    return info.max if op == "min" else info.min


def plant(kind: str, which: int, layout: measure.Layout, send, world) -> None:
    """Spoil this rank's send buffer (in storage) as `kind` says."""
    rank, n, c = world.rank, world.size, layout.count // world.size
    pattern, dtype = layout.pattern, layout.dtype
    if kind == "left_out" and rank == which:
        send[:] = dt.encode(np, np.full(send.size, identity(layout.op, dtype), dtype=dt.domain(np, dtype)), dtype)
    elif kind == "shifted":
        send[:] = np.roll(send.copy(), -which * c)
    elif kind == "wrong_peer":
        if layout.collective == "alltoall" and rank == which:
            q, other = (rank + 1) % n, (rank + 2) % n
            a, b = send[q * c:(q + 1) * c].copy(), send[other * c:(other + 1) * c].copy()
            send[q * c:(q + 1) * c], send[other * c:(other + 1) * c] = b, a
        elif layout.collective in ("all_gather", "gather") and rank == which:
            other = (rank + 1) % n
            chunk = co.fill(np, pattern, [("input", c, other, other * c)], measure.SEED_BEFORE)
            if layout.placement == "in_place":
                send[rank * c:(rank + 1) * c] = chunk
            else:
                send[:] = chunk
        elif layout.collective == "scatter" and rank == layout.root:
            q, other = which, (which + 1) % n
            a, b = send[q * c:(q + 1) * c].copy(), send[other * c:(other + 1) * c].copy()
            send[q * c:(q + 1) * c], send[other * c:(other + 1) * c] = b, a
        elif layout.collective in ("sendrecv", "broadcast") and rank == which:
            send[:] = co.fill(np, pattern, [("input", layout.count, (rank + 1) % n, 0)], measure.SEED_BEFORE)


def plants(collective: str, n: int, root: int) -> list[tuple[str, int]]:
    """(kind, which) of every wrong collective planted for one case, and ("right", 0)."""
    if co.COLLECTIVES[collective].reduction:
        found = [("left_out", k) for k in range(n)]
        if collective == "reduce_scatter":
            found += [("shifted", s) for s in range(1, n)]
        return [("right", 0), *found]
    if collective == "broadcast":
        return [("right", 0), ("wrong_peer", root)]
    return [("right", 0), *[("wrong_peer", s) for s in range(n)]]


def main() -> int:
    world = ranks.world()
    world.timeout_s = 60
    engine = cpu.engine(world, None)
    cases, checks = [], []  # what each case planted; this rank's check of it (gathered once at the end)
    for collective, spec in co.COLLECTIVES.items():
        for dtype in co.DTYPES:
            for op in (co.OPS if spec.reduction else ["sum"]):
                if co.not_exact(collective, op, dtype, world.size):
                    continue
                root = 1 if spec.rooted else 0
                for placement in spec.placements:
                    if cpu.unsupported(collective, dtype, placement, op):
                        continue
                    for size in SIZES:
                        count, _ = co.element_count(collective, size, dtype, world.size)
                        if count == 0:
                            continue
                        params = {"collective": collective, "dtype": dtype, "placement": placement, "count": count,
                                  "op": op, "root": root}
                        layout = measure.Layout(params, world.rank, world.size)
                        for kind, which in plants(collective, world.size, root):
                            send, receive = layout.make(np, measure.SEED_BEFORE)
                            plant(kind, which, layout, send, world)
                            call = engine.prepare(collective, dtype, placement, send, receive, count, op, root)
                            call.run(1)
                            cases.append((f"{collective} {dtype} {op} {placement} {size} B: {kind} {which}",
                                          kind != "right" and not _unreachable(kind, op, count, world.size),
                                          kind == "right"))
                            checks.append(layout.check(np, call, measure.SEED_BEFORE))
    every = world.allgather(checks, "the checks")
    if world.is_root:
        unexpected = []
        for number, (name, must_fail, must_pass) in enumerate(cases):
            result = co.combine([theirs[number] for theirs in every])
            if (must_fail and result["ok"]) or (must_pass and not result["ok"]):
                unexpected.append(f"{name}: {result['detail']}")
        print(json.dumps({"ranks": world.size, "ran": len(cases), "planted": sum(1 for c in cases if c[1]),
                          "unexpected": unexpected[:20], "unexpected_count": len(unexpected)}), flush=True)
    return 0


def _unreachable(kind: str, op: str, count: int, n: int) -> bool:
    """Leaving a rank out of min or max cannot be seen in fewer elements than ranks (pattern.py)."""
    return kind == "left_out" and op in ("min", "max") and count < n


if __name__ == "__main__":
    sys.exit(main())
