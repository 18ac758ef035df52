"""Collectives across ranks (all_reduce, all_gather, reduce_scatter, broadcast, reduce,
alltoall, send/recv), as nvidia's nccl-tests measures them: what needs no engine is here.

Sizes and figures follow nccl-tests (doc/PERFORMANCE.md): `size` is the bytes of the
largest buffer one rank holds (all_gather's output, reduce_scatter's and alltoall's input,
the one buffer of the others); `time` is the slowest rank's; algbw = size / time and busbw
= algbw x the collective's factor below, the figure comparable with a link's bandwidth.

Inputs are patterned small integers, so every sum is exact in every type (bf16 and f16
included, with any number of ranks up to the bound in `exact_for`): each output element
is checked against its exact value and a wrong one fails the case, saying where.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

KIB, MIB, GIB = 1 << 10, 1 << 20, 1 << 30
ROOT = 0  # broadcast's and reduce's root rank


@dataclass(frozen=True)
class Collective:
    name: str
    bus_factor: Callable[[int], float]  # busbw / algbw with n ranks (nccl-tests' PERFORMANCE.md)
    factor_text: str
    chunked: bool  # the buffer is split in one chunk per rank: its element count rounds down to a multiple of n
    placements: tuple[str, ...]  # the placements nccl-tests times: in place, out of place


# The one place each busbw factor is written.
COLLECTIVES = {c.name: c for c in (
    Collective("all_reduce", lambda n: 2 * (n - 1) / n, "2(n-1)/n", False, ("out_of_place", "in_place")),
    Collective("all_gather", lambda n: (n - 1) / n, "(n-1)/n", True, ("out_of_place", "in_place")),
    Collective("reduce_scatter", lambda n: (n - 1) / n, "(n-1)/n", True, ("out_of_place", "in_place")),
    Collective("broadcast", lambda n: 1.0, "1", False, ("out_of_place", "in_place")),
    Collective("reduce", lambda n: 1.0, "1", False, ("out_of_place", "in_place")),
    Collective("alltoall", lambda n: (n - 1) / n, "(n-1)/n", True, ("out_of_place",)),
    Collective("sendrecv", lambda n: 1.0, "1", False, ("out_of_place",)),
)}
PLACEMENTS = {"out_of_place": "out of place", "in_place": "in place"}

# Storage of each type: bf16 is kept as its 16 bits (uint16) where the array library has no
# bf16; its values are small integers, whose bf16 bits are the top half of their f32 bits.
DTYPES = {"f32": ("float32", 4), "f64": ("float64", 8), "f16": ("float16", 2), "bf16": ("uint16", 2),
          "int8": ("int8", 1)}
EXACT_INTEGERS = {"f32": 1 << 24, "f64": 1 << 53, "f16": 1 << 11, "bf16": 1 << 8, "int8": 127}


def bus_factor(collective: str, ranks: int) -> float:
    return COLLECTIVES[collective].bus_factor(ranks)


def figures(collective: str, size_bytes: int, seconds: float, ranks: int) -> tuple[float, float]:
    """(algbw, busbw) in GB/s for `size_bytes` moved in `seconds` by `ranks` ranks."""
    algbw = size_bytes / seconds / 1e9
    return algbw, algbw * bus_factor(collective, ranks)


def element_count(collective: str, size_bytes: int, dtype: str, ranks: int) -> int:
    """Elements of the rank's largest buffer: a chunked collective's count rounds down to a
    multiple of the ranks (nccl-tests does the same); 0 when the size holds too few."""
    count = size_bytes // DTYPES[dtype][1]
    return count // ranks * ranks if COLLECTIVES[collective].chunked else count


def sweep(smallest: int, largest: int, step: int) -> list[int]:
    """smallest, smallest x step, ... up to largest (bytes)."""
    sizes, size = [], smallest
    while size <= largest:
        sizes.append(size)
        size *= step
    return sizes


# ---------------------------------------------------------------- patterned inputs, exact outputs

def modulus(ranks: int) -> int:
    """The pattern's prime: the smallest above the rank count + 1 (and at least 7), so that no
    two ranks of a job share a slope in `value` and at least two residues are missing from
    every element's sum (with one missing, the sum would be rank 0's input)."""
    p = max(7, ranks + 2)
    while any(p % d == 0 for d in range(2, int(p ** 0.5) + 1)):
        p += 1
    return p


def amplitude(ranks: int) -> int:
    """Inputs lie in [-a, a]: the residues mod the pattern's prime, centred."""
    return (modulus(ranks) - 1) // 2


def bound(ranks: int) -> int:
    """The largest |sum| over any set of the ranks at one element, so any order of summing stays
    within it: at an element the ranks hold distinct residues (or all 0), so k ranks sum to at
    most a + (a-1) + ... + (a-k+1)."""
    a = amplitude(ranks)
    return max(k * a - k * (k - 1) // 2 for k in range(1, ranks + 1))


def exact_for(dtype: str, ranks: int) -> bool:
    """Whether sums over `ranks` ranks of the pattern are exact in the type (int8: up to 29
    ranks, bf16: 41, f16: 125)."""
    return bound(ranks) <= EXACT_INTEGERS[dtype]


def value(xp, rank, index, ranks: int):
    """The input of `rank` at global element `index` (arrays or scalars): (i + r(2i + 1)) mod p,
    centred, p a prime above the rank count + 1. Along the elements each rank's slope, 2r + 1,
    is its own mod p, so no two ranks' chunks are alike whatever the chunk length, and at one
    element the ranks hold distinct residues (all 0 where 2i + 1 = 0 mod p): their sum is
    never one rank's input everywhere, never zero everywhere, and stays small (`bound`)."""
    p = modulus(ranks)
    i = index % p  # first: 2i would overflow int32 at a GiB of int8
    return (i + rank * (2 * i + 1)) % p - (p - 1) // 2


def sentinel(ranks: int) -> int:
    """What an output buffer holds before the collective: no expected value equals it."""
    return -bound(ranks) - 1


def chunk(count: int, ranks: int) -> int:
    return count // ranks


def initial(xp, collective: str, placement: str, rank: int, ranks: int, count: int):
    """(send, receive) buffers of one rank as int32 arrays before the call; receive is None
    in place (the engine then works in the send buffer, laid out as NCCL and MPI expect)."""
    index = xp.arange(count, dtype=xp.int32)
    c = chunk(count, ranks)
    fill = sentinel(ranks)
    if collective == "all_gather":
        # The rank's own chunk: its values at their global place (in place: already there).
        mine = value(xp, rank, index[:c] + rank * c, ranks)
        if placement == "in_place":
            buffer = xp.full(count, fill, dtype=xp.int32)
            buffer[rank * c:(rank + 1) * c] = mine
            return buffer.astype(xp.int32), None
        return mine.astype(xp.int32), xp.full(count, fill, dtype=xp.int32)
    if collective == "broadcast" and rank != ROOT:
        send = xp.full(count, fill, dtype=xp.int32)  # what a non-root rank sends is never read
    else:
        send = value(xp, rank, index, ranks).astype(xp.int32)
    if placement == "in_place":
        return send, None
    out = c if collective == "reduce_scatter" else count
    return send, xp.full(out, fill, dtype=xp.int32)


def output_length(collective: str, ranks: int, count: int) -> int:
    """Elements of a rank's output: its chunk for reduce_scatter, else the whole buffer."""
    return chunk(count, ranks) if collective == "reduce_scatter" else count


def expected(xp, collective: str, rank: int, ranks: int, count: int, start: int = 0, stop: int | None = None):
    """The exact output of `rank` (int32) at output elements start .. stop (all by default),
    or None where the rank has none to check (reduce off the root)."""
    stop = output_length(collective, ranks, count) if stop is None else stop
    index = xp.arange(start, stop, dtype=xp.int32)
    c = chunk(count, ranks)
    if collective == "all_reduce" or (collective == "reduce" and rank == ROOT):
        return sum(value(xp, s, index, ranks) for s in range(ranks))
    if collective == "reduce":
        return None
    if collective == "all_gather":
        return value(xp, index // c, index, ranks)
    if collective == "reduce_scatter":
        return sum(value(xp, s, index + rank * c, ranks) for s in range(ranks))
    if collective == "alltoall":
        return value(xp, index // c, rank * c + index % c, ranks)
    if collective == "broadcast":
        return value(xp, ROOT, index, ranks)
    if collective == "sendrecv":
        return value(xp, (rank - 1) % ranks, index, ranks)
    raise ValueError(collective)


# Elements checked at once: the expected values and the comparison take several times the
# piece's size (int32 and float64 copies), so a 1 GiB int8 buffer is checked in pieces.
CHECK_PIECE = 1 << 24


def check_output(xp, collective: str, rank: int, ranks: int, count: int, got_stored, dtype: str,
                 piece: int = CHECK_PIECE) -> dict | None:
    """check() of the rank's whole output, piece by piece (memory a small multiple of one
    piece, not of the buffer); None where the rank has nothing to check."""
    length = output_length(collective, ranks, count)
    if expected(xp, collective, rank, ranks, count, 0, 0) is None:
        return None
    result = {"ok": True, "checked": 0, "wrong": 0}
    for start in range(0, length, piece):
        stop = min(length, start + piece)
        part = check(xp, got_stored[start:stop], expected(xp, collective, rank, ranks, count, start, stop), dtype)
        if not part["ok"] and result["ok"]:
            result.update(ok=False, first=start + part["first"], got=part["got"], want=part["want"])
        result["checked"] += part["checked"]
        result["wrong"] += part["wrong"]
    return result


def output_span(collective: str, placement: str, rank: int, ranks: int, count: int) -> tuple[int, int]:
    """(start, length) of the rank's result in the buffer NCCL leaves it in: in place, a
    reduce_scatter's result is the rank's chunk of the buffer (NCCL's layout; MPI leaves it at
    the start of the buffer instead, and the MPI engine's result() reads it there)."""
    c = chunk(count, ranks)
    if collective == "reduce_scatter":
        return (rank * c, c) if placement == "in_place" else (0, c)
    return 0, count


def encode(xp, values, dtype: str):
    """Integer values in the type's storage (bf16: the top 16 bits of their exact f32)."""
    if dtype == "bf16":
        return (values.astype(xp.float32).view(xp.uint32) >> 16).astype(xp.uint16)
    return values.astype(DTYPES[dtype][0])


def decode(xp, stored, dtype: str):
    """The stored values as float64 (bf16: its bits back in the top of an f32)."""
    if dtype == "bf16":
        return (stored.astype(xp.uint32) << 16).view(xp.float32).astype(xp.float64)
    return stored.astype(xp.float64)


def check(xp, got_stored, want, dtype: str) -> dict:
    """One rank's output against its exact values: every element."""
    got = decode(xp, got_stored, dtype)
    wrong = xp.nonzero(got != want.astype(xp.float64))[0]
    bad = int(wrong.size)
    if bad == 0:
        return {"ok": True, "checked": int(want.size), "wrong": 0}
    first = int(wrong[0])
    return {"ok": False, "checked": int(want.size), "wrong": bad, "first": first,
            "got": float(got[first]), "want": float(want[first])}


def combine(per_rank: list[dict | None]) -> dict:
    """Every rank's check as one validation block: ok only if every checked rank is."""
    checked = sum(r["checked"] for r in per_rank if r)
    bad = [(rank, r) for rank, r in enumerate(per_rank) if r and not r["ok"]]
    if not bad:
        return {"ok": True, "checked": checked, "detail": f"every element of {checked} on "
                f"{sum(1 for r in per_rank if r)} ranks equals its exact value", "max_abs_error": 0.0,
                "tolerance": 0.0}
    rank, first = bad[0]
    detail = (f"rank {rank}: {first['wrong']} of {first['checked']} elements wrong, the first at element "
              f"{first['first']} (got {first['got']:g}, expected {first['want']:g})"
              + (f"; ranks {', '.join(str(r) for r, _ in bad[1:])} wrong too" if len(bad) > 1 else ""))
    return {"ok": False, "checked": checked, "detail": detail,
            "max_abs_error": abs(first["got"] - first["want"]), "tolerance": 0.0}
