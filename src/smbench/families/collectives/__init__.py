"""Collectives across ranks (all_reduce, all_gather, reduce_scatter, broadcast, reduce,
alltoall, send/recv, gather, scatter), as nvidia's nccl-tests measures them: what needs no
engine is here.

Sizes and figures follow nccl-tests (doc/PERFORMANCE.md, src/*.cu): `size` is the bytes of the
largest buffer one rank holds (all_gather's and gather's output, reduce_scatter's, alltoall's
and scatter's input, the one buffer of the others); a collective that splits its buffer into one
chunk per rank rounds the chunk down to a multiple of 16 bytes (nccl-tests since December 2024,
commit 29f4114: aligned chunks for any rank count), so a size too small for that has no elements
and is a row of zeros, as nccl-tests prints it. `time` is the ranks' times aggregated as
nccl-tests' -a says (the average by default); algbw = size / time and busbw = algbw x the
collective's factor below, the figure comparable with a link's bandwidth.

Every element of every rank's output is checked against its exact value (pattern.py: the inputs;
here: where each rank's inputs and results lie in its buffers), before the timing and after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from smbench.families.collectives import dtypes as dt
from smbench.families.collectives import pattern as pt
from smbench.units import GIB, KIB, MIB  # noqa: F401 - family code reads them here

ROOT = 0  # the root of broadcast, reduce, gather and scatter unless the suite says (nccl-tests -r, default 0)
ALIGN_BYTES = 16  # nccl-tests' chunk alignment (all_gather.cu and the others: count/nranks & ~(16/eltSize - 1))


@dataclass(frozen=True)
class Collective:
    name: str
    bus_factor: Callable[[int], float]  # busbw / algbw with n ranks (nccl-tests' PERFORMANCE.md and *GetBw)
    factor_text: str
    chunked: bool  # the buffer is one chunk per rank: the chunk rounds down to ALIGN_BYTES
    placements: tuple[str, ...]  # the placements nccl-tests times: out of place, in place
    reduction: bool = False  # takes a reduction op (nccl-tests -o)
    rooted: bool = False  # takes a root (nccl-tests -r)


# The one place each busbw factor is written.
COLLECTIVES = {c.name: c for c in (
    Collective("all_reduce", lambda n: 2 * (n - 1) / n, "2(n-1)/n", False, ("out_of_place", "in_place"), reduction=True),
    Collective("all_gather", lambda n: (n - 1) / n, "(n-1)/n", True, ("out_of_place", "in_place")),
    Collective("reduce_scatter", lambda n: (n - 1) / n, "(n-1)/n", True, ("out_of_place", "in_place"), reduction=True),
    Collective("broadcast", lambda n: 1.0, "1", False, ("out_of_place", "in_place"), rooted=True),
    Collective("reduce", lambda n: 1.0, "1", False, ("out_of_place", "in_place"), reduction=True, rooted=True),
    Collective("alltoall", lambda n: (n - 1) / n, "(n-1)/n", True, ("out_of_place",)),
    Collective("sendrecv", lambda n: 1.0, "1", False, ("out_of_place",)),
    Collective("gather", lambda n: (n - 1) / n, "(n-1)/n", True, ("out_of_place", "in_place"), rooted=True),
    Collective("scatter", lambda n: (n - 1) / n, "(n-1)/n", True, ("out_of_place", "in_place"), rooted=True),
)}
PLACEMENTS = {"out_of_place": "out of place", "in_place": "in place"}
OPS = pt.OPS
DTYPES = dt.DTYPES


def bus_factor(collective: str, ranks: int) -> float:
    return COLLECTIVES[collective].bus_factor(ranks)


def figures(collective: str, size_bytes: int, seconds: float, ranks: int) -> tuple[float, float]:
    """(algbw, busbw) in GB/s for `size_bytes` moved in `seconds` by `ranks` ranks."""
    algbw = size_bytes / seconds / 1e9 if seconds > 0 else 0.0
    return algbw, algbw * bus_factor(collective, ranks)


def element_count(collective: str, size_bytes: int, dtype: str, ranks: int) -> tuple[int, int]:
    """(elements of the rank's largest buffer, nccl-tests' `count` column) for a requested size:
    a chunked collective's chunk is size / element / ranks rounded down to ALIGN_BYTES (its count
    column is the chunk), the others' count is size / element. (0, 0) when the size holds too few."""
    item = dt.DTYPES[dtype].size
    total = size_bytes // item
    if not COLLECTIVES[collective].chunked:
        return total, total
    chunk = (total // ranks) & ~(ALIGN_BYTES // item - 1)
    return chunk * ranks, chunk


def sweep(smallest: int, largest: int, step: int) -> list[int]:
    """smallest, smallest x step, ... up to largest (bytes)."""
    sizes, size = [], smallest
    while size <= largest:
        sizes.append(size)
        size *= step
    return sizes


def op_of(collective: str, op: str) -> str | None:
    """The reduction a collective applies (None for the copies: their inputs are the copy pattern)."""
    return op if COLLECTIVES[collective].reduction else None


def not_exact(collective: str, op: str, dtype: str, ranks: int) -> str:
    return pt.not_exact(op_of(collective, op), dtype, ranks)


def pattern_of(collective: str, op: str, dtype: str, ranks: int) -> pt.Pattern:
    return pt.pattern(op_of(collective, op), dtype, ranks)


# ---------------------------------------------------------------- where each rank's inputs and results lie

# A buffer, or the part of it a rank's result is read from, as segments: ("input", length, rank,
# first global element): that rank's inputs; ("reduced", length, first): the reduction over every
# rank; ("sentinel", length): never written (an output the collective must not touch).
Segment = tuple


def _chunks(ranks: int, chunk: int, mine: int, own: Segment) -> list[Segment]:
    """A buffer of every rank's chunk that holds only `own` at its place `mine`, sentinels elsewhere."""
    return [s for s in (("sentinel", mine * chunk), own, ("sentinel", (ranks - mine - 1) * chunk)) if s[1]]


def buffers(collective: str, placement: str, rank: int, ranks: int, count: int, root: int = ROOT):
    """(send, receive) segments of a rank's buffers before the call; receive is None in place,
    where the one buffer is laid out as NCCL and nccl-tests lay it out (a rank's chunk at rank x
    chunk). `count` is the elements of the largest buffer."""
    c = count // ranks
    mine = ("input", count, rank, 0)
    in_place = placement == "in_place"
    if collective in ("all_gather", "gather"):
        own = ("input", c, rank, rank * c)  # the rank's own chunk, at its global place
        if in_place:
            return _chunks(ranks, c, rank, own), None
        return [own], [("sentinel", count)]
    if collective == "scatter":
        send = [("input", count, rank, 0)] if rank == root else [("sentinel", count)]
        return send, None if in_place else [("sentinel", c)]
    if collective == "broadcast":
        send = [mine] if rank == root else [("sentinel", count)]  # what a non-root rank sends is never read
        return send, None if in_place else [("sentinel", count)]
    out = c if collective == "reduce_scatter" else count
    return [mine], None if in_place else [("sentinel", out)]


def result_span(collective: str, placement: str, rank: int, ranks: int, count: int) -> tuple[int, int]:
    """(start, length) of what is checked in the buffer NCCL writes (the receive buffer, or the
    one buffer in place): a reduce_scatter's and a scatter's chunk at rank x chunk in place, the
    whole buffer otherwise (a rank off the root included: it must be left as it was)."""
    c = count // ranks
    if collective in ("reduce_scatter", "scatter"):
        return (rank * c, c) if placement == "in_place" else (0, c)
    return 0, count


def expected(collective: str, placement: str, rank: int, ranks: int, count: int, root: int = ROOT) -> list[Segment]:
    """What the rank's result span must hold after the call, as segments."""
    c = count // ranks
    if collective == "all_reduce" or (collective == "reduce" and rank == root):
        return [("reduced", count, 0)]
    if collective == "reduce":  # off the root: untouched (in place: its own inputs)
        return buffers(collective, placement, rank, ranks, count, root)[0 if placement == "in_place" else 1]
    if collective == "reduce_scatter":
        return [("reduced", c, rank * c)]
    if collective == "broadcast":
        return [("input", count, root, 0)]
    if collective == "sendrecv":
        return [("input", count, (rank - 1) % ranks, 0)]
    if collective == "alltoall":  # from each sender s, its block for this rank
        return [("input", c, s, rank * c) for s in range(ranks) if c]
    if collective == "all_gather" or (collective == "gather" and rank == root):
        return [("input", c, s, s * c) for s in range(ranks) if c]
    if collective == "gather":  # off the root: untouched
        return buffers(collective, placement, rank, ranks, count, root)[0 if placement == "in_place" else 1]
    if collective == "scatter":
        return [("input", c, root, rank * c)]
    raise ValueError(collective)


def length(segments: list[Segment]) -> int:
    return sum(s[1] for s in segments)


def values(xp, pat: pt.Pattern, segments: list[Segment], start: int, stop: int, seed: int):
    """The values (float64 or int64) of positions start..stop of a buffer laid out as `segments`."""
    parts, offset = [], 0
    for segment in segments:
        kind, size = segment[0], segment[1]
        lo, hi = max(start, offset), min(stop, offset + size)
        if lo < hi:
            if kind == "sentinel":
                parts.append(xp.full(hi - lo, dt.sentinel(pat.dtype), dtype=dt.domain(xp, pat.dtype)))
            else:
                first = segment[-1]
                index = xp.arange(first + lo - offset, first + hi - offset, dtype=xp.int64)
                parts.append(pt.inputs(xp, pat, segment[2], index, seed) if kind == "input"
                             else pt.reduced(xp, pat, index, seed))
        offset += size
    if not parts:
        return xp.zeros(0, dtype=dt.domain(xp, pat.dtype))
    return parts[0] if len(parts) == 1 else xp.concatenate(parts)


# Elements made or checked at once: the values, their hashes and the comparison take a small
# multiple of a piece in 8-byte words, so a 1 GiB buffer is made and checked in pieces.
PIECE = 1 << 22


def fill(xp, pat: pt.Pattern, segments: list[Segment], seed: int, out=None, piece: int = PIECE):
    """A buffer in the type's storage laid out as `segments` (written into `out` when given)."""
    total = length(segments)
    if out is None:  # at least one element allocated: an empty buffer still has an address to pass
        out = xp.empty(max(total, 1), dtype=dt.DTYPES[pat.dtype].storage)[:total]
    for start in range(0, total, piece):
        stop = min(total, start + piece)
        out[start:stop] = dt.encode(xp, values(xp, pat, segments, start, stop, seed), pat.dtype)
    return out


def mismatches(xp, got_stored, want, dtype: str):
    """Which stored elements differ from their exact values (NaN, the floats' sentinel, equals NaN)."""
    got = dt.decode(xp, got_stored, dtype)
    same = got == want
    if dt.DTYPES[dtype].is_float:
        same = same | (xp.isnan(got) & xp.isnan(want))
    return ~same


def check(xp, got_stored, want, dtype: str) -> dict:
    """Stored elements against their exact values: every element."""
    got = dt.decode(xp, got_stored, dtype)
    wrong = xp.nonzero(mismatches(xp, got_stored, want, dtype))[0]
    bad = int(wrong.size)
    if bad == 0:
        return {"ok": True, "checked": int(want.size), "wrong": 0}
    first = int(wrong[0])
    return {"ok": False, "checked": int(want.size), "wrong": bad, "first": first,
            "got": _number(got[first]), "want": _number(want[first])}


def _number(value):
    """A value for the record: an int for the integer types, a float otherwise."""
    value = value.item() if hasattr(value, "item") else value
    return value if isinstance(value, int) else float(value)


def check_output(xp, pat: pt.Pattern, segments: list[Segment], got_stored, seed: int,
                 piece: int = PIECE) -> dict:
    """check() of a whole result span, piece by piece (memory a small multiple of one piece)."""
    total = length(segments)
    result = {"ok": True, "checked": 0, "wrong": 0}
    for start in range(0, total, piece):
        stop = min(total, start + piece)
        part = check(xp, got_stored[start:stop], values(xp, pat, segments, start, stop, seed), pat.dtype)
        if not part["ok"] and result["ok"]:
            result.update(ok=False, first=start + part["first"], got=part["got"], want=part["want"])
        result["checked"] += part["checked"]
        result["wrong"] += part["wrong"]
    return result


def _shown(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def combine(per_rank: list[dict | None]) -> dict:
    """Every rank's check as one validation block: ok only if every rank's is; `wrong` is the
    wrong elements of every rank together (nccl-tests' #wrong)."""
    checked = sum(r["checked"] for r in per_rank if r)
    wrong = sum(r["wrong"] for r in per_rank if r)
    bad = [(rank, r) for rank, r in enumerate(per_rank) if r and not r["ok"]]
    if not bad:
        return {"ok": True, "checked": checked, "wrong": 0, "detail": f"every element of {checked} on "
                f"{sum(1 for r in per_rank if r)} ranks equals its exact value", "max_abs_error": 0.0,
                "tolerance": 0.0}
    rank, first = bad[0]
    detail = (f"rank {rank}: {first['wrong']} of {first['checked']} elements wrong, the first at element "
              f"{first['first']} (got {_shown(first['got'])}, expected {_shown(first['want'])})"
              + (f"; ranks {', '.join(str(r) for r, _ in bad[1:])} wrong too" if len(bad) > 1 else ""))
    got, want = first["got"], first["want"]
    error = float(abs(got - want)) if got == got and want == want else None  # NaN: an element never written
    return {"ok": False, "checked": checked, "wrong": wrong, "detail": detail, "max_abs_error": error,
            "tolerance": 0.0}
