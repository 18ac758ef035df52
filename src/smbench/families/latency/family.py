"""The latency family as the harness sees it: its suite section, its plan (pattern x working
set x mode, then the other memory kinds last) and one chase run and validated: on the GPU
(smbench.families.latency.cuda) or, on the CPU path, the same chase in NumPy."""

from __future__ import annotations

import math
import time

from smbench.cases import Case, base_record
from smbench.errors import SmbenchError
from smbench.families import Family, PlanPart, latency
from smbench.families.latency import publish, view
from smbench.settings import is_int, is_number, list_of
from smbench.telemetry import Summary
from smbench.timing import measure

MEMORY_KINDS = ("managed", "managed-prefetch", "pinned-mapped", "pageable")


def _power_of_two(v) -> bool:
    return is_int(1)(v) and v & (v - 1) == 0


SETTINGS = {
    "patterns": (lambda v: list_of(lambda x: x in latency.PATTERNS)(v) and bool(v), "a list of random, stride"),
    "stride_bytes": (lambda v: is_int(4)(v) and v % 4 == 0, "a whole number of bytes >= 4, a multiple of 4"),
    "modes": (lambda v: list_of(lambda x: x in latency.MODES)(v) and bool(v),
              "a list of latency (one thread), loaded (every SM full of chains)"),
    "cache_ops": (lambda v: list_of(lambda x: x in latency.CACHE_OPS)(v) and bool(v),
                  "a list of ca (ordinary loads, L1 and L2), cg (L1 bypassed)"),
    "sizes_kib": (lambda v: list_of(is_int(1))(v) and bool(v), "a list of whole KiB >= 1 (instead of the sweep)"),
    "smallest_kib": (is_int(1), "a whole number of KiB >= 1 (the sweep's smallest working set)"),
    "largest_mib": (is_int(1), "a whole number of MiB >= 1 (default: 4 x L2 or 1 GiB, whichever is larger)"),
    "points_per_octave": (lambda v: v in (1, 2, 4) and not isinstance(v, bool), "1, 2 or 4 sizes per doubling"),
    "size_step": (_power_of_two, "a power of two >= 1 (the factor between sizes: 4 = every 4x; 1 = every size)"),
    "chains": (lambda v: v in latency.CHAINS_PER_THREAD and not isinstance(v, bool),
               "1, 2, 4 or 8 independent chains per thread in loaded mode"),
    "launch_ms": (is_number, "a positive number of milliseconds per timed launch"),
    "seed": (is_int(0), "a whole number >= 0 (the random ring's key)"),
    "memory_kinds": (list_of(lambda x: x in MEMORY_KINDS), f"a list of {', '.join(MEMORY_KINDS)}"),
    "memory_kinds_size_step": (_power_of_two, "a power of two >= 1 (the factor between the other memory kinds' sizes)"),
    "memory_kinds_largest_mib": (is_int(1), "a whole number of MiB >= 1 (the other memory kinds' largest set)"),
    "cpu_largest_mib": (is_int(1), "a whole number of MiB >= 1 (the CPU path's largest set)"),
}

DEFAULTS = {"patterns": ["random", "stride"], "stride_bytes": 128, "modes": ["latency", "loaded"],
            "cache_ops": ["ca"], "smallest_kib": 4, "points_per_octave": 1, "size_step": 1, "chains": 4,
            "launch_ms": 1.0, "seed": 1, "memory_kinds": ["managed", "pinned-mapped"], "memory_kinds_size_step": 4,
            "memory_kinds_largest_mib": 256, "cpu_largest_mib": 8}

# The GPU build of a random ring holds the ring and a few chunk-sized temporaries; the
# memory kinds other than device also need a host copy. Rings use at most this share of
# what is free (a quarter on a unified-memory device, whose DRAM the OS shares).
DEVICE_FREE_FRACTION = 0.5
UNIFIED_FREE_FRACTION = 0.25


def setting(suite, key: str):
    return suite.data.get("latency", {}).get(key, DEFAULTS.get(key))


def sizes(suite, runner) -> tuple[list[int], str]:
    """The working sets of the sweep (bytes), and what capped it."""
    explicit = setting(suite, "sizes_kib")
    llc = runner.l2_bytes or 0
    caps = []
    largest_mib = setting(suite, "largest_mib")
    if largest_mib:
        caps.append((largest_mib * latency.MIB, f"the suite's largest_mib, {largest_mib} MiB"))
    else:
        caps.append((max(4 * llc, latency.GIB), f"max(4 x L2 = {4 * llc / latency.MIB:.0f} MiB, 1 GiB)"))
    if runner.name == "cpu":
        cpu_caps = [m for m in (setting(suite, "cpu_largest_mib"), suite.flag("cpu", "largest_mib", None)) if m]
        caps.append((min(cpu_caps) * latency.MIB, f"the CPU path's cap, {min(cpu_caps)} MiB"))
    else:
        unified = bool(runner.info.get("unified_memory"))
        fraction = UNIFIED_FREE_FRACTION if unified else DEVICE_FREE_FRACTION
        free = int(runner.info.get("free_bytes") or 0)
        caps.append((int(free * fraction), f"{fraction:.0%} of {free / latency.GIB:.1f} GiB free"))
    caps.append((latency.MAX_ELEMENTS // 128 * 128 * latency.INDEX_BYTES, "uint32 indices (16 GiB)"))
    top, why = min(caps)
    if explicit:
        chosen = [k * latency.KIB for k in explicit if k * latency.KIB <= top]
        return chosen, f"the suite's sizes_kib (at most {why})"
    smallest = setting(suite, "smallest_kib") * latency.KIB
    per_octave = setting(suite, "points_per_octave")
    return latency.sweep(smallest, top, per_octave, _every(setting(suite, "size_step"), per_octave)), why


def _every(factor: int, per_octave: int) -> int:
    """Sizes of the sweep to step over for a factor between sizes (4: every 4x)."""
    return max(1, int(round(math.log2(factor) * per_octave)))


def _label(mode: str, pattern: str, stride: int, cache: str, size: int, memory: str) -> str:
    what = f"stride {stride} B" if pattern == "stride" else pattern
    return f"{mode} {what}{'' if cache == 'host' else ' ' + cache} {_size(size)} {memory}"


def _size(nbytes: int) -> str:
    for unit, scale in (("GiB", latency.GIB), ("MiB", latency.MIB), ("KiB", latency.KIB)):
        if nbytes >= scale:
            return f"{nbytes / scale:.4g} {unit}"
    return f"{nbytes} B"


def plan(suite, runner) -> PlanPart:
    """Each pattern x working set x mode (x cache operator on the GPU) in the device's own
    memory, a working set's cases together; then, last of the whole run, the random
    one-thread chase in each other memory kind the suite names, at every few sizes (a kind
    the device does not offer is one skipped row that says why)."""
    part = PlanPart()
    chosen, part.notes["latency_sweep_cap"] = sizes(suite, runner)
    home = "device" if runner.name == "cuda" else "host"
    caches = setting(suite, "cache_ops") if runner.name == "cuda" else ["host"]
    stride = setting(suite, "stride_bytes")
    for pattern in setting(suite, "patterns"):
        for size in chosen:
            for mode in setting(suite, "modes"):
                for cache in caches:
                    part.cases.append(_case(pattern, stride, mode, cache, size, home, suite))
    if runner.name != "cuda":
        return part
    wanted = setting(suite, "memory_kinds")
    cap = setting(suite, "memory_kinds_largest_mib") * latency.MIB
    kind_sizes = [s for s in chosen if s <= cap]
    picked = kind_sizes[::_every(setting(suite, "memory_kinds_size_step"), setting(suite, "points_per_octave"))]
    if kind_sizes and picked[-1] != kind_sizes[-1]:
        picked.append(kind_sizes[-1])
    for kind, offered, why in runner.memory_kinds():
        if kind not in wanted:
            continue
        if not offered:
            case = _case("random", stride, "latency", "ca", picked[-1] if picked else 0, kind, suite)
            case.params.update(offered=False, why=why)
            part.last.append(case)
            continue
        for size in picked:
            part.last.append(_case("random", stride, "latency", "ca", size, kind, suite))
    return part


def _case(pattern, stride, mode, cache, size, memory, suite) -> Case:
    params = {"pattern": pattern, "mode": mode, "cache_op": cache, "memory": memory, "working_set": size,
              "chains_per_thread": setting(suite, "chains") if mode == "loaded" else 1,
              "seed": setting(suite, "seed"), "launch_ms": setting(suite, "launch_ms")}
    if pattern == "stride":
        params["stride_bytes"] = stride
    what = f"stride {stride} B" if pattern == "stride" else pattern
    return Case("latency", f"{mode} {what}", _label(mode, pattern, stride, cache, size, memory), params)


def ring_of(params: dict) -> latency.Ring:
    return latency.ring_for(params["pattern"], params["working_set"], params.get("seed", 0),
                            params.get("stride_bytes", 128))


def run_latency(case: Case, runner, policy) -> dict:
    p = case.params
    record = {**base_record(case), "label": case.label}
    if not p.get("offered", True):
        return {**record, "status": "skipped", "reason": p["why"]}
    ring = ring_of(p)
    record.update({"elements": ring.n, "working_set_bytes": ring.working_set_bytes,
                   "cycle_length": ring.cycle_length, "ring": ring.describe(),
                   "load": latency.CACHE_OPS.get(p["cache_op"], "a NumPy array lookup"),
                   "caches": list(latency.CACHES[p["cache_op"]])})
    if runner.name == "cuda":
        from smbench.families.latency import cuda

        record["kernel"] = latency.kernel_name(p["cache_op"], p["chains_per_thread"])
        record["llc_bytes"] = runner.l2_bytes
        outcome = cuda.run_chase(ring, p, runner, policy)
    else:
        record["kernel"] = "numpy"
        record["llc_bytes"] = max(runner.info.get("l2_bytes") or 0, runner.info.get("l3_bytes") or 0) or None
        outcome = cpu_chase(ring, p, policy)
    record.update({k: v for k, v in outcome.items() if k not in ("stats", "telemetry", "sm_clock")})
    telemetry = outcome.get("telemetry")
    if telemetry is not None:
        record["telemetry"] = telemetry.to_dict()
    if not outcome["validation"]["ok"]:
        return {**record, "status": "failed", "reason": f"validation failed: {outcome['validation']['detail']}"}
    stats, steps = outcome["stats"], outcome["steps_per_launch"]
    ns = latency.per_load_ns(stats, steps)
    clock, source = (outcome["sm_clock"]["mhz"], outcome["sm_clock"]["source"]) if "sm_clock" in outcome else \
        (None, "the CPU path has no SM clock: no cycles")
    record.update({
        "status": "ok", "time_s": stats.to_dict(), "latency_ns": ns,
        "cycles": {"median": latency.to_cycles(ns["median"], clock), "min": latency.to_cycles(ns["min"], clock)}
        if clock else None,
        "clock_mhz": clock, "clock_source": source,
        "loads_per_s": outcome["chains"] * steps / stats.median,
    })
    return record


def cpu_chase(ring: latency.Ring, p: dict, policy, walk=None) -> dict:
    """The chase in NumPy on the host: one chain (a Python loop over the array) or
    CPU_LOADED_CHAINS chains (one gather a step), timed with perf_counter, validated against
    where the CPU's walk of the ring ends (its closed form) and the number of loads."""
    walk = walk or latency.numpy_chase
    array = ring.build()
    loaded = p["mode"] == "loaded"
    chains = latency.CPU_LOADED_CHAINS if loaded else 1
    origin = latency.spread(ring, chains)
    position = ring.at(origin).astype("int64") if loaded else int(ring.at(0))
    total = [0]
    done_total = [0]

    def chase(steps: int) -> float:
        nonlocal position
        start = time.perf_counter()
        position, done = walk(array, position, steps)
        elapsed = time.perf_counter() - start
        total[0] += steps
        done_total[0] += done
        return elapsed

    warm = latency.warm_steps(ring, chains)
    chase(min(warm, 1 << 14))
    pilot_steps = 256
    steps = latency.steps_for(chase(pilot_steps) / pilot_steps, p.get("launch_ms", 1.0) / 1e3)
    stats = measure(lambda: chase(steps), policy)
    want = ring.at(origin + total[0]) if loaded else ring.at(total[0])
    validation = latency.validate(position, done_total[0], want, total[0], what="NumPy chase")
    return {"validation": validation.to_dict(), "stats": stats, "steps_per_launch": steps, "chains": chains,
            "threads": 1, "chains_per_thread": chains, "warm_steps": min(warm, 1 << 14), "total_steps": total[0],
            "telemetry": Summary(False, "CPU backend: no GPU telemetry"),
            "timing": "perf_counter around each call of the NumPy chase"}


def check(section: dict, suite_name: str) -> None:
    """Settings that must hold together."""
    if "largest_mib" in section and "smallest_kib" in section and \
            section["largest_mib"] * 1024 < section["smallest_kib"]:
        raise SmbenchError(f"{suite_name}: [latency] largest_mib is smaller than smallest_kib")


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
                settings=SETTINGS, plan=plan, run=run_latency, check=check, view=view.view,
                check_record=check_record,
                compare=publish.COMPARE, report_lines=publish.report_lines, plots=publish.plots,
                # ns per load; rerun's noise test reads each launch's loads per chain / seconds (its inverse)
                figure=("latency_ns", "ns", "steps_per_launch", 1e9), headline=view.headline)
