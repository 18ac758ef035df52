"""One collective case on any engine (MPI on the CPU path, NCCL on the GPU): set up on
every rank, one call checked element by element, then timed with the noise stop, each
sample the slowest rank's. Every step the ranks must take together is agreed first, so
a step that fails on one rank fails the case on every rank instead of leaving the others
waiting in a collective."""

from __future__ import annotations

import time

from smbench import ranks
from smbench.cases import Case, base_record
from smbench.families import collectives as co
from smbench.families.collectives import links
from smbench.timing import measure


class CaseFailed(Exception):
    """A step failed on some rank: the case is a failed row on every rank."""


def attempt(step):
    """(step's result, None), or (None, the error in one line) if it raised (a lost rank still ends the job)."""
    try:
        return step(), None
    except (ranks.RankLost, CaseFailed):
        raise  # a lost rank ends the job; a step agreed inside this one failed on every rank already
    except Exception as exc:  # noqa: BLE001 - a failing step is a failed row, agreed by every rank
        return None, f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"


def first_error(errors: list, what: str) -> None:
    """CaseFailed naming the first rank whose error is not None."""
    for rank, theirs in enumerate(errors):
        if theirs:
            raise CaseFailed(f"{what} failed on rank {rank}: {theirs}")


def agreed(world, step, what: str):
    """Run `step` here; if it raised on any rank, every rank raises CaseFailed naming the first."""
    result, error = attempt(step)
    first_error(world.allgather(error, what), what)
    return result


def reps_for(pilot_s: float, sample_ms: float, most: int) -> int:
    """Collectives per timed sample so that a sample lasts about sample_ms."""
    return max(1, min(most, int(sample_ms / 1e3 / max(pilot_s, 1e-9))))


def run_case(case: Case, world, engine, policy) -> dict:
    p = case.params
    collective, dtype, placement, count = p["collective"], p["dtype"], p["placement"], p["count"]
    n, rank, xp = world.size, world.rank, engine.xp
    record = {**base_record(case), "label": case.label, "engine": engine.name, "library": engine.library}
    try:
        def setup():
            send, receive = co.initial(xp, collective, placement, rank, n, count)
            return engine.prepare(collective, dtype, placement, co.encode(xp, send, dtype),
                                  None if receive is None else co.encode(xp, receive, dtype), count)

        call = agreed(world, setup, "setting up the buffers")
        record["kernel"] = f"{call.api} {dtype} ({co.PLACEMENTS[placement]})"
        agreed(world, lambda: call.run(1), "the checked call")

        def check():
            return co.check_output(xp, collective, rank, n, count, call.result(), dtype)

        validation = co.combine(world.allgather(agreed(world, check, "checking the output"), "the checks"))
        record["validation"] = validation
        if not validation["ok"]:
            return {**record, "status": "failed", "reason": f"{p['bytes']} B per rank: validation failed: "
                                                         f"{validation['detail']}"}
        pilot = max(world.allgather(agreed(world, lambda: min(call.run(1) for _ in range(3)), "the pilot"),
                                    "the pilot times"))
        reps = reps_for(pilot, p["sample_ms"], p["max_reps"])
        per_rank: list[list[float]] = [[] for _ in range(n)]
        wall = {"agreed": 0.0}
        start = time.monotonic()

        def sample() -> float:
            world.barrier("the start of a sample")
            # A call that fails here fails the case on every rank, with its reason: the others
            # would otherwise wait in this allgather until the timeout and blame a lost rank.
            local, error = attempt(lambda: call.run(reps) / reps)
            every = world.allgather((local, time.monotonic() - start, error), "a sample's times")
            first_error([e for _, _, e in every], "a timed sample")
            for number, (seconds, _, _) in enumerate(every):
                per_rank[number].append(seconds)
            wall["agreed"] = max(w for _, w, _ in every)  # every rank stops after the same sample
            return max(seconds for seconds, _, _ in every)

        stats = measure(sample, policy, clock=lambda: wall["agreed"])
        per_rank = [times[-stats.n:] for times in per_rank]  # the warm-up samples came first
    except CaseFailed as failed:
        return {**record, "status": "failed", "reason": str(failed)}
    size = p["bytes"]
    algbw, busbw = co.figures(collective, size, stats.median, n)
    best_alg, best_bus = co.figures(collective, size, stats.min, n)
    record.update({
        "status": "ok", "reps_per_sample": reps, "time_s": stats.to_dict(),
        "algbw_gbps": {"median": algbw, "best": best_alg}, "busbw_gbps": {"median": busbw, "best": best_bus},
        "figure_gbps": {"median": busbw, "best": best_bus} if n > 1 else {"median": algbw, "best": best_alg},
        "figure": "busbw" if n > 1 else "algbw (one rank: nothing crosses a link)",
        "latency_us": {"median": stats.median * 1e6, "min": stats.min * 1e6},
        "rank_time_s": [{"rank": r, "median": sorted(s)[len(s) // 2], "samples": s} for r, s in enumerate(per_rank)],
        "timing": engine.timing,
    })
    if size >= p["verdict_min_bytes"] and n > 1:
        link = links.LINKS.get((p.get("link") or {}).get("key") or "")
        verdict, percent, words = links.verdict(busbw, link)
        record.update({"verdict": verdict, "percent_of_link": percent, "looks_like": words})
    return record
