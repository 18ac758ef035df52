"""The latency chase on the CPU reference path: the same rings walked in NumPy on the host,
timed in this thread's CPU time until the median settles (smbench.host_timing), validated
against the closed form of the walk. Its figures are the
host's (a NumPy array lookup per load, Python's own cost included), labelled so."""

from __future__ import annotations

from smbench import host_timing
from smbench.families import SizeCap, latency
from smbench.families.latency.part import Chase
from smbench.telemetry import Summary
from smbench.timing import TimingPolicy

WARM_MOST = 1 << 14  # warm-up loads per chain at most: a Python loop pays for every one
PILOT_STEPS = 256


def cache_ops(asked: list[str]) -> list[str]:
    return ["host"]  # a NumPy array lookup has no cache operator


def size_cap(suite, runner) -> SizeCap:
    """The CPU path's cap: a Python loop walks one chain, so its sets stay small."""
    caps = [m for m in (suite.section("latency")["cpu_largest_mib"], suite.section("cpu")["largest_mib"]) if m]
    return SizeCap(min(caps) * latency.MIB, f"the CPU path's cap, {min(caps)} MiB")


def kernel(params: dict) -> str:
    return "numpy"


def run_chase(ring: latency.Ring, params: dict, runner, policy: TimingPolicy, walk=None) -> Chase:
    """The chase in NumPy on the host: one chain (a Python loop over the array) or
    CPU_LOADED_CHAINS chains (one gather a step), timed in this thread's CPU time until the median
    settles (smbench.host_timing), validated against where the CPU's walk of the ring ends (its
    closed form) and the number of loads."""
    walk = walk or latency.numpy_chase
    array = ring.build()
    loaded = params["mode"] == "loaded"
    chains = latency.CPU_LOADED_CHAINS if loaded else 1
    origin = latency.spread(ring, chains)
    position = ring.at(origin).astype("int64") if loaded else int(ring.at(0))
    total = [0]
    done_total = [0]

    def chase(steps: int) -> float:
        nonlocal position
        start = host_timing.CLOCK()
        position, done = walk(array, position, steps)
        elapsed = host_timing.CLOCK() - start
        total[0] += steps
        done_total[0] += done
        return elapsed

    warm = min(latency.warm_steps(ring, chains), WARM_MOST)
    chase(warm)
    steps = latency.steps_for(chase(PILOT_STEPS) / PILOT_STEPS, params.get("launch_ms", 1.0) / 1e3)
    stats = host_timing.measure(lambda: chase(steps), policy, policy.host_interval)
    want = ring.at(origin + total[0]) if loaded else ring.at(total[0])
    validation = latency.validate(position, done_total[0], want, total[0], what="NumPy chase")
    return Chase(validation, threads=1, chains=chains, stats=stats, steps_per_launch=steps,
                 telemetry=Summary(False, "CPU backend: no GPU telemetry"),
                 clock_source="the CPU path has no SM clock: no cycles",
                 fields={"chains_per_thread": chains, "warm_steps": warm, "total_steps": total[0],
                         "timing": "this thread's CPU time around each call of the NumPy chase"})
