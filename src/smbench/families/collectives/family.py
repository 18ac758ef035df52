"""The collectives family as the harness sees it: its suite section, its plan (collective x
type x op x root x placement x size, on every rank alike) and one case run on the backend's engine
(NCCL on the GPU, MPI on the CPU path). It runs on every rank of a multi-rank launch
(all_ranks); the figures are rank 0's to write."""

from __future__ import annotations

import hashlib
import socket

from smbench import ranks
from smbench.axes import Axes, Axis, Derived, Setting
from smbench.cases import Case, Skip, base_record
from smbench.errors import SmbenchError
from smbench.families import Family, Figure, PlanPart
from smbench.families import collectives as co
from smbench.families.collectives import links, measure, publish, view
from smbench.run_view import size as size_text
from smbench.settings import power_of_two, is_int, is_number


AXES = Axes(
    Axis("collectives", "collective", default=tuple(co.COLLECTIVES), choices=tuple(co.COLLECTIVES),
         help="nccl-tests' binaries: all_reduce_perf ... scatter_perf"),
    Axis("dtypes", "dtype", default=("f32", "bf16", "f16", "f64", "int8"), choices=tuple(co.DTYPES),
         help="nccl-tests -d; \"all\": every type NCCL has"),
    Axis("ops", "op", default=("sum",), choices=tuple(co.OPS),
         help="the reductions' op (all_reduce, reduce, reduce_scatter; the copies record none): nccl-tests -o"),
    Setting("root", co.ROOT, (lambda v: v == "all" or is_int(0)(v),
                              "a rank number >= 0 or \"all\" (broadcast's, reduce's, gather's and scatter's root: "
                              "nccl-tests -r)"), field="root"),
    Axis("placements", "placement", default=tuple(co.PLACEMENTS), choices=tuple(co.PLACEMENTS)),
    # The size is the bytes a rank's largest buffer holds after nccl-tests' rounding, with the size
    # the sweep asked for beside it: below one 16-byte chunk a rank, several asked sizes hold 0 bytes.
    Derived("bytes", "bytes per rank: smallest_bytes to the cap, every size_step (chunks rounded to 16 bytes)",
            unit="bytes"),
    Derived("size_requested", "the sweep's size before the rounding", unit="bytes"),
    Setting("smallest_bytes", 8, (is_int(1), "a whole number of bytes >= 1 (the sweep's smallest size per rank)")),
    Setting("largest_mib", 1024, (is_int(1), "a whole number of MiB >= 1 (the sweep's largest size per rank on a GPU)")),
    Setting("cpu_largest_kib", 64, (is_int(1), "a whole number of KiB >= 1 (the CPU path's largest size per rank)")),
    Setting("size_step", 2, (power_of_two(2), "a power of two >= 2 (the factor between sizes: 2 = every doubling)")),
    Setting("sample_ms", 1.0, (is_number, "a positive number of milliseconds (back-to-back calls per timed sample)")),
    Setting("max_reps", 1000, (is_int(1), "a whole number >= 1 (the most calls in one timed sample)")),
    Setting("timeout_s", 30.0, (is_number, "a positive number of seconds: a call that takes longer ends the job (a "
                                           "rank died or hangs)")),
    Setting("time_aggregate", measure.DEFAULT_AGGREGATE,
            (lambda v: v in measure.AGGREGATES,
             "avg, max, min or rank0: how the ranks' times make one (nccl-tests -a 1, 3, 2, 0)")),
    Setting("link", "auto", (lambda v: v == "auto" or v in links.LINKS or v in links.ALIASES,
                             f"auto or one of {', '.join(links.LINKS)}")),
    Setting("verdict_min_mib", 64, (is_int(1), "a whole number of MiB >= 1 (sizes from which busbw is judged "
                                               "against the link)")),
    together=lambda v: ("smallest_bytes is larger than largest_mib"
                        if v["smallest_bytes"] > v["largest_mib"] * co.MIB else ""),
)


def setting(suite, key: str):
    """The section's value with its default; an axis's as the list its plan crosses ("all" expanded)."""
    return suite.section("collectives")[key]


def sizes(suite, runner, world) -> tuple[list[int], str]:
    """The sweep, the same on every rank, to the backend's cap (on a GPU: the least free memory
    of any rank's)."""
    cap = runner.part("collectives").size_cap(suite.section("collectives"), runner, world)
    return co.sweep(setting(suite, "smallest_bytes"), cap.bytes, setting(suite, "size_step")), cap.why


def plan(suite, runner) -> PlanPart:
    """Every collective x type x op x root x placement x size that the engine has and whose
    results can be checked exactly; the same on every rank (the plan's collectives are called in
    order by all of them). The link the busbw is held to is chosen here, from the setting or from
    where the ranks are."""
    part = PlanPart()
    world = ranks.world()
    world.timeout_s = setting(suite, "timeout_s")
    engine = runner.part("collectives")
    chosen, part.notes["collectives_sweep_cap"] = sizes(suite, runner, world)
    hosts = world.allgather(socket.gethostname(), "the host names")
    names = world.allgather(runner.info.get("name"), "the device names")
    link, why = links.choose(setting(suite, "link"), world.size, len(set(hosts)), engine.ONE_HOST, names)
    part.notes["collectives_link"] = f"{link.name if link else 'no link'}: {why}"
    part.notes["collectives_engine"] = f"{engine.ENGINE} over {world.size} rank{'s' if world.size > 1 else ''}"
    part.notes["collectives_time"] = (f"time = the ranks' times aggregated by {setting(suite, 'time_aggregate')} "
                                      f"(nccl-tests -a {measure.AGGREGATES[setting(suite, 'time_aggregate')][0]})")
    root = setting(suite, "root")
    roots = list(range(world.size)) if root == "all" else [root]
    if any(r >= world.size for r in roots):
        raise SmbenchError(f"collectives.root = {root}: a job of {world.size} rank{'s' if world.size > 1 else ''} "
                           f"has ranks 0 to {world.size - 1}")
    left_out: dict[str, set] = {}  # what the engine lacks -> the types it was asked for in
    not_exact: dict[str, list] = {}
    dtypes, ops = setting(suite, "dtypes"), setting(suite, "ops")
    for name in setting(suite, "collectives"):
        collective = co.COLLECTIVES[name]
        for dtype in dtypes:
            for op in (ops if collective.reduction else ["sum"]):
                why_not = co.not_exact(name, op, dtype, world.size)
                if why_not:
                    not_exact.setdefault(why_not, []).append(f"{name} {dtype}" + (f" {op}" if collective.reduction else ""))
                    continue
                for root_rank in (roots if collective.rooted else [co.ROOT]):
                    for placement in setting(suite, "placements"):
                        if placement not in collective.placements:
                            continue
                        missing = engine.unsupported(name, dtype, placement, op)
                        if missing:
                            left_out.setdefault(missing, set()).add(dtype)
                            continue
                        for size in chosen:
                            part.cases.append(_case(name, dtype, op, root_rank, placement, size, world.size, link,
                                                    why, suite))
    if not_exact:
        part.notes["collectives_not_exact"] = "left out, their results could not be checked element by element: " + \
            "; ".join(f"{', '.join(cases)}: {why_not}" for why_not, cases in not_exact.items())
    if not part.cases and not_exact:
        raise SmbenchError(f"collectives over {world.size} ranks: {part.notes['collectives_not_exact']}")
    if left_out:
        part.notes["collectives_left_out"] = f"{engine.ENGINE} has no " + "; no ".join(
            f"{missing} ({', '.join(t for t in co.DTYPES if t in types)})" for missing, types in left_out.items())
    # Every rank calls the plan's collectives in order: a plan that differs would pair the wrong calls.
    labels = [case.label for case in part.cases]
    world.agree("the collectives plan", {"cases": len(labels), "sizes": chosen, "types": dtypes, "ops": ops,
                                         "first": labels[:1], "last": labels[-1:],
                                         "labels_sha256": hashlib.sha256("\n".join(labels).encode()).hexdigest()[:16]})
    return part


def _case(name, dtype, op, root, placement, size, n, link, why, suite) -> Case:
    count, param_count = co.element_count(name, size, dtype, n)
    nbytes = count * co.DTYPES[dtype].size
    collective = co.COLLECTIVES[name]
    params = {"collective": name, "dtype": dtype, "placement": placement, "bytes": nbytes, "count": count,
              "param_count": param_count, "size_requested": size,
              "op": op if collective.reduction else None, "root": root if collective.rooted else None,
              "ranks": n, "bus_factor": co.bus_factor(name, n), "bus_factor_formula": collective.factor_text,
              "bus_bytes": nbytes * co.bus_factor(name, n), "link": links.describe(link, why),
              # The figure compare, export and rerun judge: busbw, except at one rank, where
              # nothing crosses a link and busbw is 0 by definition for most collectives.
              "figure_bytes": nbytes * co.bus_factor(name, n) if n > 1 else nbytes,
              "sample_ms": setting(suite, "sample_ms"), "max_reps": setting(suite, "max_reps"),
              "time_aggregate": setting(suite, "time_aggregate"),
              "verdict_min_bytes": setting(suite, "verdict_min_mib") * co.MIB}
    words = " ".join(measure.decorations(params))
    shown = size_text(nbytes) if nbytes or not collective.chunked else f"0 B ({size_text(size)} asked)"
    label = f"{name} {dtype}{' ' + words if words else ''} {co.PLACEMENTS[placement]} {shown}"
    return Case("collectives", name, label, params)


def run(case: Case, runner, policy) -> dict:
    p = case.params
    world = ranks.world()
    why_not = co.not_exact(p["collective"], p.get("op") or "sum", p["dtype"], world.size)
    if why_not:
        raise Skip(f"{world.size} ranks: {why_not}")
    part = runner.part("collectives")
    if world.size == 1:
        try:
            engine = part.engine(world, runner)
        except SmbenchError as missing:  # no mpi4py or MPI library for the CPU path: a skipped row with the hint
            raise Skip(str(missing)) from None
    else:
        try:  # every rank says whether its engine started: one that failed is named, none waits for it
            engine = measure.agreed(world, lambda: part.engine(world, runner), f"starting {part.ENGINE}")
        except measure.CaseFailed as failed:
            return {**base_record(case), "status": "failed", "reason": str(failed)}
    return measure.run_case(case, world, engine, policy)


def check_record(record: dict, where: str) -> None:
    from smbench.families import require

    require(record, where, {"busbw_gbps": dict, "algbw_gbps": dict, "figure_gbps": dict, "latency_us": dict, "bytes": int,
                            "ranks": int, "dtype": str, "placement": str}, "collectives")


FAMILY = Family("collectives", rank=70,
                summary="collectives across ranks (all_reduce ... send/recv, gather, scatter) as nccl-tests measures "
                        "them: NCCL on the GPU, MPI on the CPU path; busbw against the link",
                axes=AXES, plan=plan, run=run, check_record=check_record, view=view.view,
                compare=publish.COMPARE, report_lines=publish.report_lines, plots=publish.plots,
                cost=(1, 0.01), headline=view.headline, all_ranks=True,
                figure=Figure("figure_gbps", "GB/s", "figure_bytes", 1e9),
                needs="collectives need NCCL (a GPU) or MPI (the CPU path)")
