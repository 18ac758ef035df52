"""One collective case on any engine (MPI on the CPU path, NCCL on the GPU): set up on every
rank, one call checked element by element, then timed with the noise stop, each sample the
ranks' times aggregated as nccl-tests' -a says, and then checked again, as nccl-tests checks
after its timed loop: the timed buffers themselves where the timed calls leave a known result
(every out-of-place call, the in-place copies), else buffers filled afresh with other inputs
(another seed: stale data cannot pass) and one more call (the in-place reductions, whose timed
calls reduced their own results again). Every step the ranks must take together is agreed first,
so a step that fails on one rank fails the case on every rank instead of leaving the others
waiting in a collective."""

from __future__ import annotations

import time

from smbench import ranks
from smbench.cases import Case, base_record
from smbench.families import collectives as co
from smbench.families.collectives import links
from smbench.timing import calls_per_sample, measure

# The seeds of the inputs: the checked call before the timing, and the fresh inputs after it.
SEED_BEFORE, SEED_AFTER = 1, 2

# nccl-tests' -a: how one time is made of the ranks' times (common.cu, Allreduce of deltaSec):
# 0 rank 0's, 1 the average (its default), 2 the least, 3 the most.
AGGREGATES = {"avg": (1, lambda times: sum(times) / len(times)), "max": (3, max), "min": (2, min),
              "rank0": (0, lambda times: times[0])}
DEFAULT_AGGREGATE = "avg"


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
    """Collectives per timed sample so that a sample lasts at least sample_ms."""
    return calls_per_sample(pilot_s, sample_ms / 1e3, most)


def _synchronize(xp) -> None:
    """Buffers written on the GPU's default stream are complete before NCCL's stream reads them."""
    if hasattr(xp, "cuda"):
        xp.cuda.Device().synchronize()


class Layout:
    """A case's buffers on this rank: how they are filled and what its result must hold."""

    def __init__(self, p: dict, rank: int, ranks_: int):
        self.collective, self.placement, self.dtype = p["collective"], p["placement"], p["dtype"]
        self.count, self.root, self.rank, self.ranks = p["count"], p.get("root") or 0, rank, ranks_
        self.op = p.get("op") or "sum"
        self.pattern = co.pattern_of(self.collective, self.op, self.dtype, ranks_)
        self.send, self.receive = co.buffers(self.collective, self.placement, rank, ranks_, self.count, self.root)
        self.want = co.expected(self.collective, self.placement, rank, ranks_, self.count, self.root)

    def make(self, xp, seed: int):
        """(send, receive) in the type's storage (receive None in place)."""
        return (co.fill(xp, self.pattern, self.send, seed),
                None if self.receive is None else co.fill(xp, self.pattern, self.receive, seed))

    def refill(self, xp, call, seed: int) -> None:
        co.fill(xp, self.pattern, self.send, seed, out=call.send)
        if self.receive is not None:
            co.fill(xp, self.pattern, self.receive, seed, out=call.receive)
        _synchronize(xp)

    def check(self, xp, call, seed: int) -> dict:
        return co.check_output(xp, self.pattern, self.want, call.result(), seed)

    @property
    def timed_buffers_known(self) -> bool:
        """Whether the timed calls leave the result of one call: all but the in-place reductions."""
        return self.placement == "out_of_place" or not co.COLLECTIVES[self.collective].reduction


def validate(world, engine, layout: Layout, call, seed: int, what: str) -> dict:
    """Every rank's result checked, as one validation block on every rank."""
    return co.combine(world.allgather(agreed(world, lambda: layout.check(engine.xp, call, seed), what),
                                      "the checks"))


def run_case(case: Case, world, engine, policy) -> dict:
    p = case.params
    n, rank, xp = world.size, world.rank, engine.xp
    record = {**base_record(case), "label": case.label, "engine": engine.name, "library": engine.library}
    aggregate_name = p.get("time_aggregate") or DEFAULT_AGGREGATE
    aggregate = AGGREGATES[aggregate_name][1]
    try:
        layout = agreed(world, lambda: Layout(p, rank, n), "laying out the buffers")

        def setup():
            send, receive = layout.make(xp, SEED_BEFORE)
            return engine.prepare(p["collective"], p["dtype"], p["placement"], send, receive, p["count"],
                                  p.get("op") or "sum", p.get("root") or 0)

        call = agreed(world, setup, "setting up the buffers")
        record["kernel"] = kernel_name(call.api, p)
        agreed(world, lambda: call.run(1), "the checked call")
        validation = validate(world, engine, layout, call, SEED_BEFORE, "checking the output")
        record["validation"] = validation
        if not validation["ok"]:
            return {**record, "status": "failed", "wrong": validation["wrong"],
                    "reason": f"{p['bytes']} B per rank: validation failed: {validation['detail']}"}
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
            return aggregate([seconds for seconds, _, _ in every])

        stats = measure(sample, policy, clock=lambda: wall["agreed"])
        per_rank = [times[-stats.n:] for times in per_rank]  # the warm-up samples came first
        if layout.timed_buffers_known:
            after = validate(world, engine, layout, call, SEED_BEFORE, "checking the timed buffers")
            after["how"] = "the timed calls' own output"
        else:
            agreed(world, lambda: layout.refill(xp, call, SEED_AFTER), "filling the buffers afresh")
            agreed(world, lambda: call.run(1), "the call after the timing")
            after = validate(world, engine, layout, call, SEED_AFTER, "checking the output after the timing")
            after["how"] = "fresh inputs (another seed) and one more call, as the timed calls reduced their own output"
    except CaseFailed as failed:
        return {**record, "status": "failed", "reason": str(failed)}
    size = p["bytes"]
    algbw, busbw = co.figures(p["collective"], size, stats.median, n)
    best_alg, best_bus = co.figures(p["collective"], size, stats.min, n)
    record.update({
        "status": "ok", "reps_per_sample": reps, "time_s": stats.to_dict(), "wrong": after["wrong"],
        "time_aggregate": aggregate_name, "time_aggregate_nccl_tests": f"-a {AGGREGATES[aggregate_name][0]}",
        "algbw_gbps": {"median": algbw, "best": best_alg}, "busbw_gbps": {"median": busbw, "best": best_bus},
        "figure_gbps": {"median": busbw, "best": best_bus} if n > 1 else {"median": algbw, "best": best_alg},
        "figure": "busbw" if n > 1 else "algbw (one rank: nothing crosses a link)",
        "latency_us": {"median": stats.median * 1e6, "min": stats.min * 1e6},
        "rank_time_s": [{"rank": r, "median": sorted(s)[len(s) // 2], "samples": s} for r, s in enumerate(per_rank)],
        "timing": f"{engine.timing} ({aggregate_name}, nccl-tests -a {AGGREGATES[aggregate_name][0]})",
    })
    record["validation"] = {**validation, "after_timing": after}
    if not after["ok"]:
        # nccl-tests prints such a row with its #wrong and fails the run: the figures stay in the
        # record for the diagnosis, but the case is failed and no view reports them.
        record.update(status="failed", reason=f"{size} B per rank: validation after the timing failed "
                                              f"({after['how']}): {after['detail']}")
        return record
    if size >= p["verdict_min_bytes"] and n > 1:
        judged = links.verdict(busbw, links.lookup((p.get("link") or {}).get("key") or ""))
        record.update({"verdict": judged.verdict, "percent_of_link": judged.percent, "looks_like": judged.words})
        if judged.like:
            record.update({"looks_like_link": judged.like.key, "advice": judged.advice})
    return record


def kernel_name(api: str, p: dict) -> str:
    """`ncclAllReduce f32 (out of place)`, `MPI_Ireduce bf16 max root 1 (in place)`: what the
    record measured, with the op and the root where they are not nccl-tests' defaults (sum, root
    0), so that the names of files from before ops and roots (rerun's keys) stay the same."""
    parts = [api, p["dtype"], *decorations(p)]
    return f"{' '.join(parts)} ({co.PLACEMENTS[p['placement']]})"


def decorations(p: dict) -> list[str]:
    """The op and root words of a case or record ('max', 'root 1'), where not the defaults."""
    collective = co.COLLECTIVES[p.get("collective") or p.get("benchmark")]
    words = []
    if collective.reduction and (p.get("op") or "sum") != "sum":
        words.append(p["op"])
    if collective.rooted and (p.get("root") or 0) != co.ROOT:
        words.append(f"root {p['root']}")
    return words
