"""The latency family as the harness sees it: its suite section, its plan (pattern x working
set x mode, then the other memory kinds last) and one chase run and validated by the
backend's part (families/latency/part.py: the GPU's chase kernel in cuda.py, the same chase
in NumPy in cpu.py)."""

from __future__ import annotations

import math
from typing import Callable

from smbench.axes import Axes, Axis, Derived, Point, Setting
from smbench.backends.runners import dram_starts
from smbench.cases import Case, base_record, case_of
from smbench.errors import SmbenchError
from smbench.families import Family, Figure, PlanPart, latency
from smbench.families.latency import publish, view
from smbench.settings import power_of_two, is_int, is_number, list_of
from smbench.units import size_text

MEMORY_KINDS = ("managed", "managed-prefetch", "pinned-mapped", "pageable")


def _nonempty(check) -> Callable:
    return lambda v: list_of(check)(v) and bool(v)


AXES = Axes(
    Axis("patterns", "pattern", default=("random", "stride"), choices=tuple(latency.PATTERNS),
         help="a random single cycle; a fixed stride of stride_bytes"),
    Derived("working_set", "bytes of the ring: smallest_kib doubling (points_per_octave a doubling) to the cap", unit="bytes"),
    Axis("modes", "mode", default=("latency", "loaded"), choices=tuple(latency.MODES),
         help="latency: one thread; loaded: every SM full of independent chains"),
    Axis("cache_ops", "cache_op", default=("ca",), choices=tuple(latency.CACHE_OPS),
         help="ca: ordinary loads (L1 and L2); cg: L1 bypassed (the CPU path has one: host)"),
    Derived("memory", "the device's own memory, then the memory_kinds below"),
    Setting("stride_bytes", 128, (lambda v: is_int(4)(v) and v % 4 == 0, "a whole number of bytes >= 4, a multiple "
                                  "of 4"), field="stride_bytes", unit="bytes", help="the stride pattern's step"),
    Setting("chains", 4, (lambda v: v in latency.CHAINS_PER_THREAD and not isinstance(v, bool),
                          "1, 2, 4 or 8 independent chains per thread in loaded mode"), field="chains_per_thread"),
    Setting("sizes_kib", None, (_nonempty(is_int(1)), "a list of whole KiB >= 1 (instead of the sweep)")),
    Setting("smallest_kib", 4, (is_int(1), "a whole number of KiB >= 1 (the sweep's smallest working set)")),
    Setting("largest_mib", None, (is_int(1), "a whole number of MiB >= 1 (default: 4 x the last-level cache or "
                                             "1 GiB, whichever is larger)")),
    Setting("points_per_octave", 1, (lambda v: v in (1, 2, 4) and not isinstance(v, bool),
                                     "1, 2 or 4 sizes per doubling")),
    Setting("size_step", 1, (power_of_two(1), "a power of two >= 1 (the factor between sizes: 4 = every 4x; 1 = "
                                            "every size)")),
    Setting("launch_ms", 1.0, (is_number, "a positive number of milliseconds per timed launch")),
    Setting("seed", 1, (is_int(0), "a whole number >= 0 (the random ring's key)")),
    Setting("memory_kinds", ("managed", "pinned-mapped"), (list_of(lambda x: x in MEMORY_KINDS),
                                                           f"a list of {', '.join(MEMORY_KINDS)}"),
            help="the one-thread random chase in these too, where the device offers them"),
    Setting("memory_kinds_size_step", 4, (power_of_two(1), "a power of two >= 1 (the factor between the other memory "
                                                         "kinds' sizes)")),
    Setting("memory_kinds_largest_mib", 256, (is_int(1), "a whole number of MiB >= 1 (the other memory kinds' "
                                                         "largest set)")),
    Setting("cpu_largest_mib", 8, (is_int(1), "a whole number of MiB >= 1 (the CPU path's largest set)")),
    together=lambda v: ("largest_mib is smaller than smallest_kib"
                        if v["largest_mib"] and v["largest_mib"] * 1024 < v["smallest_kib"] else ""),
)

def sizes(suite, runner) -> tuple[list[int], str]:
    """The working sets of the sweep (bytes), and what capped it."""
    settings = suite.section("latency")
    explicit = settings["sizes_kib"]
    caps = []
    largest_mib = settings["largest_mib"]
    if largest_mib:
        caps.append((largest_mib * latency.MIB, f"the suite's largest_mib, {largest_mib} MiB"))
    else:
        dram = dram_starts(runner.last_level_cache_bytes)
        caps.append((max(dram, latency.GIB), f"max(4 x the last-level cache = {dram / latency.MIB:.0f} MiB, 1 GiB)"))
    backend = runner.part("latency").size_cap(suite, runner)  # its memory, or (the CPU path) its cost
    caps.append((backend.bytes, backend.why))
    caps.append((latency.MAX_ELEMENTS // 128 * 128 * latency.INDEX_BYTES, "uint32 indices (16 GiB)"))
    top, why = min(caps)
    if explicit:
        chosen = [k * latency.KIB for k in explicit if k * latency.KIB <= top]
        return chosen, f"the suite's sizes_kib (at most {why})"
    smallest = settings["smallest_kib"] * latency.KIB
    per_octave = settings["points_per_octave"]
    return latency.sweep(smallest, top, per_octave, _every(settings["size_step"], per_octave)), why


def _every(factor: int, per_octave: int) -> int:
    """Sizes of the sweep to step over for a factor between sizes (4: every 4x)."""
    return max(1, int(round(math.log2(factor) * per_octave)))


def _label(mode: str, pattern: str, stride: int, cache: str, size: int, memory: str) -> str:
    what = f"stride {stride} B" if pattern == "stride" else pattern
    return f"{mode} {what}{'' if cache == 'host' else ' ' + cache} {size_text(size)} {memory}"



def plan(suite, runner) -> PlanPart:
    """Each pattern x working set x mode (x cache operator on the GPU) in the device's own
    memory, a working set's cases together; then, last of the whole run, the random
    one-thread chase in each other memory kind the suite names, at every few sizes (a kind
    the device does not offer is one skipped row that says why)."""
    part = PlanPart()
    settings = suite.section("latency")
    chosen, part.notes["latency_sweep_cap"] = sizes(suite, runner)
    caches = runner.part("latency").cache_ops(settings["cache_ops"])
    part.cases = [_case(p, settings) for p in AXES.points({**settings, "cache_ops": caches},
                                                          derived={"working_set": chosen,
                                                                   "memory": [runner.home_memory]})]
    part.last = _other_memory_kinds(settings, runner, chosen)
    return part


def _other_memory_kinds(settings, runner, chosen: list[int]) -> list[Case]:
    """The one-thread random chase in each other memory kind the suite names and the runner
    has (the CPU path has none), at every few sizes; one skipped row for a kind it lacks."""
    offered = {kind.kind: kind.offered or kind.why or "not offered" for kind in runner.memory_kinds()
               if kind.kind != runner.home_memory and kind.kind in settings["memory_kinds"]}
    cap = settings["memory_kinds_largest_mib"] * latency.MIB
    kind_sizes = [s for s in chosen if s <= cap]
    picked = kind_sizes[::_every(settings["memory_kinds_size_step"], settings["points_per_octave"])]
    if kind_sizes and picked[-1] != kind_sizes[-1]:
        picked.append(kind_sizes[-1])
    # A kind the device lacks is one skipped row (at the largest size), not one per size.
    one = {kind: picked if ok is True else picked[-1:] for kind, ok in offered.items()}
    one_thread = {**settings, "patterns": ["random"], "modes": ["latency"], "cache_ops": ["ca"]}
    return [_case(p, settings) for kind in offered for p in
            AXES.points(one_thread, derived={"working_set": one[kind], "memory": [kind]},
                        applies=lambda f: offered[f["memory"]])]


def one_case(suite, pattern: str, mode: str, cache: str, size: int, memory: str) -> Case:
    """One chase's case as the plan makes it (for a test or a check that runs a single chase)."""
    point = Point({"pattern": pattern, "working_set": size, "mode": mode, "cache_op": cache, "memory": memory})
    return _case(point, suite.section("latency"))


def _case(point, settings) -> Case:
    f = point.fields
    pattern, mode, cache, size, memory = f["pattern"], f["mode"], f["cache_op"], f["working_set"], f["memory"]
    stride = settings["stride_bytes"]
    extra = {"chains_per_thread": settings["chains"] if mode == "loaded" else 1, "seed": settings["seed"],
             "launch_ms": settings["launch_ms"]}
    if pattern == "stride":
        extra["stride_bytes"] = stride
    what = f"stride {stride} B" if pattern == "stride" else pattern
    return case_of("latency", point, f"{mode} {what}", _label(mode, pattern, stride, cache, size, memory), **extra)


def ring_of(params: dict) -> latency.Ring:
    return latency.ring_for(params["pattern"], params["working_set"], params.get("seed", 0),
                            params.get("stride_bytes", 128))


def run_latency(case: Case, runner, policy) -> dict:
    p = case.params
    backend = runner.part("latency")
    record = {**base_record(case), "label": case.label}
    ring = ring_of(p)
    record.update({"elements": ring.n, "working_set_bytes": ring.working_set_bytes,
                   "cycle_length": ring.cycle_length, "ring": ring.describe(),
                   "load": latency.CACHE_OPS.get(p["cache_op"], "a NumPy array lookup"),
                   "caches": list(latency.CACHES[p["cache_op"]]), "kernel": backend.kernel(p),
                   "llc_bytes": runner.last_level_cache_bytes or None})
    chase = backend.run_chase(ring, p, runner, policy)
    record.update({**chase.fields, "validation": chase.validation.to_dict(), "threads": chase.threads,
                   "chains": chase.chains})
    if chase.steps_per_launch is not None:
        record["steps_per_launch"] = chase.steps_per_launch
    if chase.telemetry is not None:
        record["telemetry"] = chase.telemetry.to_dict()
    if not chase.validation.ok:
        return {**record, "status": "failed", "reason": f"validation failed: {chase.validation.detail}"}
    stats, steps, clock = chase.stats, chase.steps_per_launch, chase.clock_mhz
    ns = latency.per_load_ns(stats, steps)
    record.update({
        "status": "ok", "time_s": stats.to_dict(), "latency_ns": ns,
        "cycles": {"median": latency.to_cycles(ns["median"], clock), "min": latency.to_cycles(ns["min"], clock)}
        if clock else None,
        "clock_mhz": clock, "clock_source": chase.clock_source,
        "loads_per_s": chase.chains * steps / stats.median,
    })
    return record


def check_record(record: dict, where: str) -> None:
    """What the latency view, report lines and plot index in an ok record."""
    ns = record.get("latency_ns")
    if not isinstance(ns, dict) or not _number(ns.get("median")):
        raise SmbenchError(f"{where}.latency_ns should be an object with a numeric 'median'")
    cycles = record.get("cycles")
    if cycles is not None and not (isinstance(cycles, dict) and (cycles.get("median") is None
                                                                  or _number(cycles.get("median")))):
        raise SmbenchError(f"{where}.cycles should be null or an object with a numeric 'median'")
    if not isinstance(record.get("working_set_bytes"), int):
        raise SmbenchError(f"{where}.working_set_bytes should be a whole number")
    for name in ("mode", "pattern", "memory"):
        if not isinstance(record.get(name), str):
            raise SmbenchError(f"{where}.{name} should be a string")


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


FAMILY = Family("latency", rank=65,  # last: a run cut short (gpu-check's limits) loses these before older figures
                summary="dependent-load latency: a pointer chase from 4 KiB to DRAM, one thread and loaded",
                axes=AXES, plan=plan, run=run_latency, view=view.view,
                check_record=check_record,
                compare=publish.COMPARE, report_lines=publish.report_lines, plots=publish.plots,
                # ns per load; rerun's noise test reads each launch's loads per chain / seconds (its inverse)
                figure=Figure("latency_ns", "ns", "steps_per_launch", 1e9), headline=view.headline,
                needs="the pointer chase is a CUDA kernel (or the CPU path's NumPy walk)")
