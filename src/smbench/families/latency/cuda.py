"""The latency chase on the GPU: the ring built on the device, checked, walked, timed.

One case: build the ring (on the GPU; for memory the CPU owns, copied in by the CPU so that
its pages start there), read it all once (latency_touch: the L2 and the TLBs as warm as they
can be), a validation launch of VALIDATION_STEPS loads per chain checked against the CPU
(every chain by the closed form of the walk, a sample walked step by step), warm-up, then
launches of `steps` loads per chain timed with CUDA events behind the blocking kernel
(smbench.backends.cuda.time_calls), and a last check that every chain ended where the
CPU's walk ends after all the loads the host launched, having counted them itself.
"""

from __future__ import annotations

import numpy as np

from smbench import telemetry as telemetry_module
from smbench.families import latency

BLOCK = 256  # threads per block in loaded mode
PILOT_STEPS = 256
ARRAY_SAMPLE = 4096  # elements of the built array compared with the ring's definition


def builds(case, runner) -> list:
    """What a case compiles (smbench.prebuild): latency.cu for the device's own target."""
    return [runner.backend.Build(latency.KERNEL_FILE, runner.target, read_sass=False)]


def geometry(mode: str, function, runner) -> tuple[int, int]:
    """(grid, block): one thread for latency; every SM filled to its occupancy for loaded."""
    if mode == "latency":
        return 1, 1
    facts = runner.facts
    return facts.sm_count * runner.backend.blocks_per_sm(function, facts, BLOCK), BLOCK


def check_array(cupy, array, ring: latency.Ring) -> latency.Validation:
    """A sample of the built array (first, last, random elements) against Ring.next_of."""
    rng = np.random.default_rng(ring.seed)
    picked = np.unique(np.concatenate([[0, ring.n - 1], rng.integers(0, ring.n, min(ARRAY_SAMPLE, ring.n))]))
    got = cupy.asnumpy(array[cupy.asarray(picked.astype(np.int64))]).astype(np.uint64)
    want = ring.next_of(picked.astype(np.uint64))
    wrong = np.flatnonzero(got != want)
    if wrong.size:
        first = int(wrong[0])
        return latency.Validation(False, len(picked),
                                  f"the ring on the device differs from its definition at {wrong.size} of "
                                  f"{len(picked)} sampled elements; next[{picked[first]}] = {got[first]}, "
                                  f"want {want[first]}")
    return latency.Validation(True, len(picked), f"{len(picked)} sampled elements of the ring as defined")


def check_chains(ring: latency.Ring, origin: np.ndarray, starts: np.ndarray, position, steps_done, total: int,
                 walked: int | None, what: str) -> latency.Validation:
    """Every chain's final index and load count against the closed form of the CPU's walk;
    `walked` loads also walked step by step by the CPU for a sample of chains."""
    got = np.asarray(position, dtype=np.uint64)
    done = np.asarray(steps_done, dtype=np.uint64)
    checks = [latency.validate(got, done, ring.at(origin + np.uint64(total)), total, what=f"{what}, every chain")]
    if walked is not None:
        sample = latency.walked_chains(len(got), seed=ring.seed)
        want = walk_verified(ring, np.asarray(starts, dtype=np.uint64)[sample], walked)
        checks.append(latency.validate(got[sample], done[sample], want, walked, chains=sample,
                                       what=f"{what}, the CPU's step-by-step walk"))
    return latency.combine(*checks)


def walk_verified(ring: latency.Ring, starts: np.ndarray, steps: int) -> np.ndarray:
    """latency.walk(ring.next_of, starts, steps) for a random ring, all of each chain's path at
    once: its indices from the ring's positions (the permutation of the start's position + 0,
    1, ..., steps), then every step of it checked against next_of in one call, so the result
    is the step-by-step walk's by induction. Step by step, next_of costs a Feistel inverse and
    forward per load in Python: 2048 loads took the host 0.6 s for one chain, 2.5 s for 32.
    Where a step does not follow next_of (the ring's definition disagrees with itself), the
    step-by-step walk decides."""
    starts = np.asarray(starts, dtype=np.uint64)
    if ring.pattern != "random":
        return latency.walk(ring.next_of, starts, steps)  # a stride's next_of is one add: cheap already
    position = ring.permutation.inverse(starts.copy())
    offsets = np.arange(steps + 1, dtype=np.uint64)
    along = (position[:, None] + offsets[None, :]) % np.uint64(ring.n)
    path = ring.permutation.forward(along.ravel()).reshape(len(starts), steps + 1)
    followed = np.array_equal(path[:, 0], starts) and np.array_equal(ring.next_of(path[:, :-1].ravel()),
                                                                      path[:, 1:].ravel())
    return path[:, -1] if followed else latency.walk(ring.next_of, starts, steps)


def clock_for(summary, cycles_per_load: float | None, ns: float, runner) -> tuple[float | None, str]:
    """The SM clock the cycles are counted at: NVML's median inside the timed work when it has
    enough samples; else the clock the chase itself saw (its clock64 cycles over the events'
    time); else the driver's clock that telemetry names."""
    in_work = [s for s in getattr(summary, "samples", []) if s.in_work and s.sm_clock_mhz is not None]
    if summary.available and len(in_work) >= telemetry_module.MIN_WORK_SAMPLES and summary.clock_mhz:
        return float(summary.clock_mhz), summary.clock_source
    if cycles_per_load and ns > 0:
        return cycles_per_load / ns * 1e3, ("the chase's own clock: clock64() cycles per load over the events' ns "
                                            f"per load ({len(in_work)} NVML samples fell inside the timed work)")
    if summary.available and summary.clock_mhz:
        return float(summary.clock_mhz), summary.clock_source
    maximum = runner.info.get("sm_clock_max_mhz")
    if maximum:
        return float(maximum), f"the driver's maximum SM clock ({summary.why_unavailable or 'no telemetry'})"
    return None, "no SM clock: no telemetry, no clock64 figure, no driver clock"


def run_chase(ring: latency.Ring, p: dict, runner, policy) -> dict:
    backend = runner.backend
    cupy = backend._cupy()
    module = backend.load(latency.KERNEL_FILE, runner.target)
    function = module.module.get_function(latency.kernel_name(p["cache_op"], p["chains_per_thread"]))
    touch = module.module.get_function("latency_touch")
    grid, block = geometry(p["mode"], function, runner)
    chains = grid * block * p["chains_per_thread"]
    outcome = {"threads": grid * block, "chains": chains, "launch": {"grid": grid, "block": block},
               **module.provenance}
    allocation = backend.allocate(p["memory"], ring.n, np.uint32)
    try:
        return _chase(cupy, runner, ring, p, policy, (function, touch, grid, block), allocation, outcome)
    finally:
        backend.release({"next": allocation})
        allocation = None  # the last reference to the ring: its blocks can go back now
        cupy.get_default_memory_pool().free_all_blocks()  # the ring's memory back for the families after


def _chase(cupy, runner, ring: latency.Ring, p: dict, policy, kernels: tuple, allocation, outcome: dict) -> dict:
    """Build, check, warm, time and check again (run_chase holds the ring's memory)."""
    backend = runner.backend
    function, touch, grid, block = kernels
    kind = p["memory"]
    chains = outcome["chains"]
    timer = None
    try:
        if allocation.host is None:
            ring.build(cupy, out=allocation.array)
            outcome["built"] = "on the GPU, in place"
        else:
            # Built on the GPU, written into this memory by the CPU: its pages start where this
            # kind of memory lives (a GPU write would pull managed pages into GPU memory).
            allocation.host[:] = cupy.asnumpy(ring.build(cupy))
            outcome["built"] = "on the GPU, copied into this memory by the CPU"
        if kind == "managed-prefetch":
            current = cupy.cuda.get_current_stream()
            cupy.cuda.runtime.memPrefetchAsync(allocation.array.data.ptr, allocation.array.nbytes,
                                               cupy.cuda.Device().id, current.ptr)
        origin = latency.spread(ring, chains)
        starts = np.asarray(ring.at(origin), dtype=np.uint64)
        position = cupy.asarray(starts.astype(np.uint32))
        steps_done = cupy.zeros(chains, dtype=cupy.uint64)
        cycles = cupy.zeros(1, dtype=cupy.uint64)
        sink = cupy.zeros(1, dtype=cupy.uint32)
        cupy.cuda.runtime.deviceSynchronize()
        array_check = check_array(cupy, allocation.array, ring)
        stream = cupy.cuda.Stream(non_blocking=True)
        total = [0]

        def launch(steps: int) -> None:
            function((grid,), (block,), (allocation.array, position, steps_done, cycles, np.uint64(steps)),
                     stream=stream)
            total[0] += steps

        touch((runner.facts.sm_count * 4,), (BLOCK,), (allocation.array, np.uint64(ring.n), sink), stream=stream)
        launch(latency.VALIDATION_STEPS)
        stream.synchronize()
        validation = latency.combine(array_check, check_chains(
            ring, origin, starts, cupy.asnumpy(position), cupy.asnumpy(steps_done), total[0],
            latency.VALIDATION_STEPS, "validation launch"))
        outcome["validation"] = validation.to_dict()
        if not validation.ok:
            return outcome
        warm = latency.warm_steps(ring, chains)
        launch(warm)
        timer = backend.DeviceTimer(stream)
        launch_s = p.get("launch_ms", 1.0) / 1e3
        steps = PILOT_STEPS
        for _ in range(4):  # pilots, unblocked, until one lasts a quarter of a launch
            seconds = timer.sample(lambda: launch(steps), 1, blocking=False, work=False)
            estimate = latency.steps_for(seconds / steps, launch_s)
            if seconds >= launch_s / 4:
                steps = estimate
                break
            steps = estimate
        with runner.sampler() as sampler:
            stats = backend.time_calls(timer, lambda: launch(steps), policy, reps=1)
        stream.synchronize()
        after = check_chains(ring, origin, starts, cupy.asnumpy(position), cupy.asnumpy(steps_done), total[0],
                             None, "after timing")
        validation = latency.combine(validation, after)
        cycles_per_load = int(cupy.asnumpy(cycles)[0]) / steps
        ns = stats.median * 1e9 / steps
        summary = sampler.summary
        clock, source = clock_for(summary, cycles_per_load, ns, runner)
        outcome.update({
            "validation": validation.to_dict(), "stats": stats, "steps_per_launch": steps, "warm_steps": warm,
            "total_steps": total[0], "telemetry": summary,
            "clock64_cycles": cycles_per_load, "clock64_mhz": cycles_per_load / ns * 1e3 if ns > 0 else None,
            "sm_clock": {"mhz": clock, "source": source},
            "timing": f"CUDA events around each launch of {steps} loads per chain, queued behind the blocking "
                      f"kernel; ns per load = time / loads (the launch's own few us are under 1% at "
                      f"{launch_s * 1e3:g} ms)",
            "warm_up": f"latency_touch read the whole array, then {warm} loads per chain before timing",
        })
        return outcome
    finally:
        if timer is not None:
            timer.close()
