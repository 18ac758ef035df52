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
from smbench.families import SizeCap, latency
from smbench.families.latency.part import Chase

BLOCK = 256  # threads per block in loaded mode
# The GPU build of a random ring holds the ring and a few chunk-sized temporaries; the
# memory kinds other than device also need a host copy. Rings use at most this share of
# what is free (a quarter on a unified-memory device, whose DRAM the OS shares).
DEVICE_FREE_FRACTION = 0.5
UNIFIED_FREE_FRACTION = 0.25
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


def cache_ops(asked: list[str]) -> list[str]:
    return list(asked)  # ca: ordinary loads; cg: L1 bypassed


def size_cap(suite, runner) -> SizeCap:
    """A share of the free memory: the ring and the build's temporaries (a host copy too, for
    the memory kinds the CPU owns)."""
    unified = bool(runner.info.get("unified_memory"))
    fraction = UNIFIED_FREE_FRACTION if unified else DEVICE_FREE_FRACTION
    free = int(runner.info.get("free_bytes") or 0)
    return SizeCap(int(free * fraction), f"{fraction:.0%} of {free / latency.GIB:.1f} GiB free")


def kernel(params: dict) -> str:
    return latency.kernel_name(params["cache_op"], params["chains_per_thread"])


def run_chase(ring: latency.Ring, params: dict, runner, policy) -> Chase:
    backend = runner.backend
    cupy = backend._cupy()
    module = backend.load(latency.KERNEL_FILE, runner.target)
    function = module.module.get_function(kernel(params))
    grid, block = geometry(params["mode"], function, runner)
    allocation = backend.allocate(params["memory"], ring.n, np.uint32)
    walk = None
    try:
        place_ring(cupy, ring, params["memory"], allocation)
        walk = Walk(cupy, function, grid, block, params["chains_per_thread"], allocation.array, ring)
        chase = Chase(walk.validation_launch(module.module.get_function("latency_touch"), runner.facts.sm_count),
                      threads=grid * block, chains=walk.chains,
                      fields={"launch": {"grid": grid, "block": block}, **module.provenance,
                              "built": PLACED[allocation.host is None]})
        if chase.validation.ok:
            time_chase(chase, walk, runner, policy, params.get("launch_ms", 1.0) / 1e3)
        return chase
    finally:
        if walk is not None:
            walk.close()
        backend.release({"next": allocation})
        allocation = walk = None  # the last references to the ring: its blocks can go back now
        cupy.get_default_memory_pool().free_all_blocks()  # the ring's memory back for the families after


# How the ring came to be in its memory (allocation.host is None: device or managed memory).
PLACED = {True: "on the GPU, in place", False: "on the GPU, copied into this memory by the CPU"}


def place_ring(cupy, ring: latency.Ring, kind: str, allocation) -> None:
    """The ring in the case's memory. Built on the GPU; for memory the CPU owns, written into
    it by the CPU, so that its pages start where this kind of memory lives (a GPU write would
    pull managed pages into GPU memory)."""
    if allocation.host is None:
        ring.build(cupy, out=allocation.array)
    else:
        allocation.host[:] = cupy.asnumpy(ring.build(cupy))
    if kind == "managed-prefetch":
        current = cupy.cuda.get_current_stream()
        cupy.cuda.runtime.memPrefetchAsync(allocation.array.data.ptr, allocation.array.nbytes,
                                           cupy.cuda.Device().id, current.ptr)


class Walk:
    """The chase kernel over one ring: every chain's position, its loads counted on the
    device, the clock64 cycles of chain 0, and every load the host launched (`total`)."""

    def __init__(self, cupy, function, grid: int, block: int, chains_per_thread: int, array, ring: latency.Ring):
        self.cupy, self.function, self.grid, self.block, self.array, self.ring = cupy, function, grid, block, array, ring
        self.chains = grid * block * chains_per_thread
        self.origin = latency.spread(ring, self.chains)
        self.starts = np.asarray(ring.at(self.origin), dtype=np.uint64)
        self.position = cupy.asarray(self.starts.astype(np.uint32))
        self.steps_done = cupy.zeros(self.chains, dtype=cupy.uint64)
        self.cycles = cupy.zeros(1, dtype=cupy.uint64)
        self.sink = cupy.zeros(1, dtype=cupy.uint32)
        cupy.cuda.runtime.deviceSynchronize()
        self.stream = cupy.cuda.Stream(non_blocking=True)
        self.total = 0
        self.timer = None

    def launch(self, steps: int) -> None:
        self.function((self.grid,), (self.block,), (self.array, self.position, self.steps_done, self.cycles,
                                                    np.uint64(steps)), stream=self.stream)
        self.total += steps

    def check(self, walked: int | None, what: str) -> latency.Validation:
        """Every chain against the closed form of the CPU's walk (check_chains)."""
        return check_chains(self.ring, self.origin, self.starts, self.cupy.asnumpy(self.position),
                            self.cupy.asnumpy(self.steps_done), self.total, walked, what)

    def validation_launch(self, touch, sm_count: int) -> latency.Validation:
        """The built array against the ring's definition, then a read of the whole array
        (latency_touch: the L2 and the TLBs as warm as they can be) and VALIDATION_STEPS loads
        per chain, checked every chain and, for a sample, step by step."""
        array_check = check_array(self.cupy, self.array, self.ring)
        touch((sm_count * 4,), (BLOCK,), (self.array, np.uint64(self.ring.n), self.sink), stream=self.stream)
        self.launch(latency.VALIDATION_STEPS)
        self.stream.synchronize()
        return latency.combine(array_check, self.check(latency.VALIDATION_STEPS, "validation launch"))

    def steps_for(self, launch_s: float, backend) -> int:
        """Loads per chain for a launch of launch_s: pilots, unblocked, until one lasts a
        quarter of a launch."""
        self.timer = backend.DeviceTimer(self.stream)
        steps = PILOT_STEPS
        for _ in range(4):
            seconds = self.timer.sample(lambda: self.launch(steps), 1, blocking=False, work=False)
            estimate = latency.steps_for(seconds / steps, launch_s)
            if seconds >= launch_s / 4:
                return estimate
            steps = estimate
        return steps

    def close(self) -> None:
        if self.timer is not None:
            self.timer.close()
            self.timer = None


def time_chase(chase: Chase, walk: Walk, runner, policy, launch_s: float) -> None:
    """Warm-up, launches of `steps` loads per chain timed with CUDA events behind the blocking
    kernel, and a last check that every chain ended where the CPU's walk ends after all the
    loads the host launched, having counted them itself."""
    backend = runner.backend
    warm = latency.warm_steps(walk.ring, walk.chains)
    walk.launch(warm)
    steps = walk.steps_for(launch_s, backend)
    with runner.sampler() as sampler:
        stats = backend.time_calls(walk.timer, lambda: walk.launch(steps), policy, reps=1)
    walk.stream.synchronize()
    chase.validation = latency.combine(chase.validation, walk.check(None, "after timing"))
    cycles_per_load = int(walk.cupy.asnumpy(walk.cycles)[0]) / steps
    ns = stats.median * 1e9 / steps
    chase.clock_mhz, chase.clock_source = clock_for(sampler.summary, cycles_per_load, ns, runner)
    chase.stats, chase.steps_per_launch, chase.telemetry = stats, steps, sampler.summary
    chase.fields.update({
        "warm_steps": warm, "total_steps": walk.total,
        "clock64_cycles": cycles_per_load, "clock64_mhz": cycles_per_load / ns * 1e3 if ns > 0 else None,
        "timing": f"CUDA events around each launch of {steps} loads per chain, queued behind the blocking "
                  f"kernel; ns per load = time / loads (the launch's own few us are under 1% at "
                  f"{launch_s * 1e3:g} ms)",
        "warm_up": f"latency_touch read the whole array, then {warm} loads per chain before timing",
    })
