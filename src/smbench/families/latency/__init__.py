"""The latency family: dependent loads (a pointer chase) over working sets from 4 KiB to DRAM.

Everything here runs without a GPU: the rings the chase follows (a random single cycle, a
fixed stride), the CPU's walk of a ring and the closed form of where a walk ends, the
validation of a chase, the size sweep, the conversion of time to ns and cycles per load,
the NumPy chase of the CPU path, and the analysis of a latency curve: where latency steps
(the cache capacities, found from the measured curve, never from a table) and the level
of each plateau.

A ring is a uint32 array `next` of n indices; a chain starting at index i loads next[i],
then next[next[i]], ...: every load's address is the previous load's value.

* random: a pseudo-random visiting order closed into a ring (next[order[k]] = order[k+1],
  next[order[n-1]] = order[0]), so the ring is one cycle through every element, as
  Sattolo's algorithm makes one. The order is a keyed four-round Feistel permutation of
  [0, 2^2h) restricted to [0, n) by cycle walking: the same integer arithmetic in NumPy
  and CuPy, so the GPU builds a 1 GiB ring in milliseconds (Sattolo's algorithm, or a
  NumPy shuffle, is sequential: about 100 ns an element, half a minute for 1 GiB) and the
  host computes any element of it, or where any walk along it ends, without the array.
* stride: next[i] = (i + s) mod n, s = stride_bytes / 4: one load per stride_bytes, a
  cycle of n / gcd(n, s) elements.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from smbench.cases import Validation
from smbench.timing import calls_per_sample
from smbench.units import GIB, KIB, MIB  # noqa: F401 - family code reads them here

KERNEL_FILE = "latency.cu"
UNROLL = 8  # SMBENCH_LATENCY_UNROLL in kernels/latency.cu: steps per launch are a multiple of it
INDEX_BYTES = 4  # uint32 indices
MAX_ELEMENTS = (1 << 32) - 1  # a ring of uint32 indices: at most 16 GiB

PATTERNS = ("random", "stride")
MODES = ("latency", "loaded")
CHAINS_PER_THREAD = (1, 2, 4, 8)  # the kernels latency.cu has
CACHE_OPS = {
    "ca": "ld.global (SASS LDG.E): cached in L1 and L2, an ordinary load",
    "cg": "__ldcg = ld.global.cg (SASS LDG.E.STRONG.GPU): L1 bypassed, cached in L2",
}
# Which caches a chase with this cache operator can hit, smallest first (names for levels).
CACHES = {"ca": ("L1", "L2"), "cg": ("L2",), "host": ("cache",)}

WARM_STEPS = 1 << 16  # steps walked before timing: a whole ring up to 256 KiB (any L1), then enough
VALIDATION_STEPS = 2048  # the validation launch: every chain checked by the closed form, a sample walked
WALKED_CHAINS = 32  # chains the CPU walks step by step after the validation launch

MASK64 = (1 << 64) - 1


def kernel_name(cache_op: str, chains_per_thread: int) -> str:
    if cache_op not in CACHE_OPS:
        raise KeyError(f"unknown cache operator {cache_op!r} (known: {', '.join(CACHE_OPS)})")
    if chains_per_thread not in CHAINS_PER_THREAD:
        raise KeyError(f"no kernel with {chains_per_thread} chains per thread (kernels: {CHAINS_PER_THREAD})")
    return f"latency_chase_{cache_op}_c{chains_per_thread}"


# ---------------------------------------------------------------- the random permutation

def _splitmix(value: int) -> int:
    """splitmix64's finaliser on a Python int: round keys from the seed."""
    z = (value + 0x9E3779B97F4A7C15) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def _c(x, value: int):
    """A constant as x's type: a Python int for an int, a NumPy uint64 for an array (so that
    NumPy and CuPy keep uint64 whatever their promotion rules)."""
    return value if isinstance(x, int) else np.uint64(value)


def _round(x, key: int, mask: int):
    """The Feistel round function: a keyed 64-bit mix of one half, cut to the half's bits.
    The same lines work on Python ints and on NumPy or CuPy uint64 arrays (arrays wrap at
    2^64; the masks keep Python ints there too)."""
    z = ((x ^ _c(x, key)) * _c(x, 0x9E3779B97F4A7C15)) & _c(x, MASK64)
    z = z ^ (z >> _c(x, 29))
    z = (z * _c(x, 0xBF58476D1CE4E5B9)) & _c(x, MASK64)
    z = z ^ (z >> _c(x, 32))
    return z & _c(x, mask)


@dataclass(frozen=True)
class Feistel:
    """A keyed bijection of [0, n): four Feistel rounds on [0, 4^h) (4^h >= n), cycle-walked
    into [0, n). `forward` and `inverse` take a Python int or a uint64 array (NumPy or CuPy)."""

    n: int
    seed: int
    rounds: int = 4

    @property
    def half_bits(self) -> int:
        return max(1, math.ceil(math.log2(max(2, self.n)) / 2))

    @property
    def keys(self) -> tuple[int, ...]:
        return tuple(_splitmix(self.seed * 0x100 + r) for r in range(self.rounds))

    def _halves(self, x):
        h = self.half_bits
        return x >> _c(x, h), x & _c(x, (1 << h) - 1)

    def _join(self, left, right):
        return (left << _c(left, self.half_bits)) | right

    def _forward_once(self, x):
        mask = (1 << self.half_bits) - 1
        left, right = self._halves(x)
        for key in self.keys:
            left, right = right, left ^ _round(right, key, mask)
        return self._join(left, right)

    def _inverse_once(self, y):
        mask = (1 << self.half_bits) - 1
        left, right = self._halves(y)
        for key in reversed(self.keys):
            left, right = right ^ _round(left, key, mask), left
        return self._join(left, right)

    def _walk(self, step, x):
        """Apply `step` until the value is inside [0, n) (cycle walking)."""
        if isinstance(x, int):
            x = step(x)
            while x >= self.n:
                x = step(x)
            return x
        x = step(x)
        outside = x >= np.uint64(self.n)
        while bool(outside.any()):
            x[outside] = step(x[outside])
            outside = x >= np.uint64(self.n)
        return x

    def forward(self, x):
        return self._walk(self._forward_once, x)

    def inverse(self, y):
        return self._walk(self._inverse_once, y)


# ---------------------------------------------------------------- rings

@dataclass(frozen=True)
class Ring:
    """A ring over n uint32 elements: how to build it, where a walk along it ends, and the
    next index of any element, all without the array itself."""

    pattern: str
    n: int
    seed: int = 0
    stride: int = 0  # elements (stride pattern)

    def __post_init__(self) -> None:
        if self.pattern not in PATTERNS:
            raise ValueError(f"unknown pattern {self.pattern!r}")
        if not 2 <= self.n <= MAX_ELEMENTS:
            raise ValueError(f"a ring needs 2 to {MAX_ELEMENTS} elements, not {self.n}")
        if self.pattern == "stride" and self.stride < 1:
            raise ValueError("a stride ring needs a stride of at least one element")

    @property
    def permutation(self) -> Feistel:
        return Feistel(self.n, self.seed)

    @property
    def cycle_length(self) -> int:
        """Elements the chase visits before it comes back: n for a random ring."""
        return self.n if self.pattern == "random" else self.n // math.gcd(self.n, self.stride % self.n or self.n)

    @property
    def working_set_bytes(self) -> int:
        return self.n * INDEX_BYTES

    def describe(self) -> str:
        if self.pattern == "random":
            return (f"random single cycle over {self.n} elements (a seed-{self.seed} Feistel visiting order "
                    f"closed into a ring)")
        return (f"fixed stride of {self.stride * INDEX_BYTES} B over {self.n} elements "
                f"(a cycle of {self.cycle_length})")

    def at(self, positions):
        """The index a chain from the ring's origin (at(0)) reaches after `positions` loads:
        an int, or a uint64 array of them. The closed form of a walk."""
        if isinstance(positions, (int, np.integer)):
            p = int(positions) % self.cycle_length
            return self.permutation.forward(p) if self.pattern == "random" else (p * self.stride) % self.n
        p = np.asarray(positions, dtype=np.uint64) % np.uint64(self.cycle_length)
        if self.pattern == "random":
            return self.permutation.forward(p.copy())
        return (p * np.uint64(self.stride % self.n)) % np.uint64(self.n)

    def next_of(self, indices):
        """next[i] for an int or a uint64 array of indices, from the ring's definition."""
        if isinstance(indices, (int, np.integer)):
            i = int(indices)
            if self.pattern == "stride":
                return (i + self.stride) % self.n
            return self.permutation.forward((self.permutation.inverse(i) + 1) % self.n)
        i = np.asarray(indices, dtype=np.uint64)
        if self.pattern == "stride":
            return (i + np.uint64(self.stride % self.n)) % np.uint64(self.n)
        return self.permutation.forward((self.permutation.inverse(i.copy()) + np.uint64(1)) % np.uint64(self.n))

    def build(self, xp=np, out=None, chunk: int = 1 << 24):
        """The next array (uint32) on `xp` (numpy, or cupy to build it on the GPU), into `out`
        when given; built `chunk` elements at a time so that temporaries stay small."""
        n = self.n
        out = xp.empty(n, dtype=xp.uint32) if out is None else out
        if self.pattern == "stride":
            for start in range(0, n, chunk):
                i = xp.arange(start, min(n, start + chunk), dtype=xp.uint64)
                out[start:start + len(i)] = ((i + np.uint64(self.stride % n)) % np.uint64(n)).astype(xp.uint32)
            return out
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            k = xp.arange(start, stop + 1, dtype=xp.uint64) % np.uint64(n)  # one past: the last's successor
            order = self.permutation.forward(k)
            out[order[:-1].astype(xp.int64)] = order[1:].astype(xp.uint32)
        return out


def ring_for(pattern: str, working_set: int, seed: int = 0, stride_bytes: int = 128) -> Ring:
    """The ring of a working set: its bytes / 4 elements (a stride in whole elements)."""
    n = working_set // INDEX_BYTES
    return Ring(pattern, n, seed, stride_bytes // INDEX_BYTES if pattern == "stride" else 0)


def spread(ring: Ring, chains: int) -> np.ndarray:
    """Each chain's starting position along the ring (loads from the origin), evenly apart,
    so that chains walk different parts of it."""
    c = np.arange(chains, dtype=np.uint64)
    return (c * np.uint64(ring.cycle_length)) // np.uint64(chains)


def walk(next_of, starts, steps: int):
    """The CPU's walk: `steps` dependent lookups next_of(i) from each start (an int or an
    array of them). `next_of` is an array's lookup or Ring.next_of."""
    if isinstance(starts, (int, np.integer)):
        index = int(starts)
        for _ in range(steps):
            index = int(next_of(index))
        return index
    index = np.asarray(starts, dtype=np.uint64).copy()
    for _ in range(steps):
        index = np.asarray(next_of(index), dtype=np.uint64)
    return index


def array_lookup(array: np.ndarray):
    """next_of for a materialised ring: one gather a step."""
    return lambda i: array[i] if isinstance(i, int) else array[i.astype(np.int64)].astype(np.uint64)


def walked_chains(chains: int, most: int = WALKED_CHAINS, seed: int = 0) -> np.ndarray:
    """Which chains the CPU walks step by step: all of a few, else the first, the last and
    random others."""
    if chains <= most:
        return np.arange(chains, dtype=np.int64)
    rng = np.random.default_rng(seed)
    picked = np.concatenate([[0, chains - 1], rng.choice(np.arange(1, chains - 1), most - 2, replace=False)])
    return np.unique(picked).astype(np.int64)


def single_cycle(next_array: np.ndarray, start: int = 0) -> bool:
    """Whether next_array is one cycle through every element (a walk from `start` comes back
    after exactly n loads, having seen each element once). A test of small rings."""
    n = len(next_array)
    seen = np.zeros(n, dtype=bool)
    index = start
    for _ in range(n):
        if seen[index]:
            return False
        seen[index] = True
        index = int(next_array[index])
    return index == start and bool(seen.all())


# ---------------------------------------------------------------- validation

def validate(final_got, steps_got, final_want, steps_want, chains=None, what: str = "") -> Validation:
    """The device's (or the NumPy chase's) final index and step count of each chain against
    the CPU's: every chain must end where the CPU's walk ends, after the same number of loads."""
    got = np.atleast_1d(np.asarray(final_got, dtype=np.uint64))
    want = np.atleast_1d(np.asarray(final_want, dtype=np.uint64))
    steps = np.atleast_1d(np.asarray(steps_got, dtype=np.uint64))
    chains = np.arange(len(got)) if chains is None else np.asarray(chains)
    prefix = f"{what}: " if what else ""
    if got.shape != want.shape:
        return Validation(False, len(want), f"{prefix}{got.size} final indices for {want.size} chains")
    wrong_steps = np.flatnonzero(steps != np.uint64(steps_want))
    if wrong_steps.size:
        first = int(wrong_steps[0])
        return Validation(False, len(got), f"{prefix}{wrong_steps.size} of {len(got)} chains took the wrong number "
                                           f"of loads; chain {int(chains[first])}: {int(steps[first])}, "
                                           f"want {int(steps_want)}")
    wrong = np.flatnonzero(got != want)
    if wrong.size:
        first = int(wrong[0])
        return Validation(False, len(got), f"{prefix}{wrong.size} of {len(got)} chains end at the wrong index; "
                                           f"chain {int(chains[first])}: {int(got[first])}, want {int(want[first])} "
                                           f"after {int(steps_want)} loads")
    return Validation(True, len(got), f"{prefix}{len(got)} chains end where the CPU's walk does after "
                                      f"{int(steps_want)} loads")


def combine(*checks: Validation) -> Validation:
    """Several checks as one: ok if all are, the first failure's detail otherwise."""
    failed = [c for c in checks if not c.ok]
    if failed:
        return Validation(False, sum(c.checked for c in checks), failed[0].detail)
    return Validation(True, sum(c.checked for c in checks), "; ".join(c.detail for c in checks))


# ---------------------------------------------------------------- sizes and steps

def sweep(smallest: int, largest: int, points_per_octave: int = 1, step: int = 1) -> list[int]:
    """Working sets (bytes) from `smallest` to `largest`: points_per_octave per doubling
    (each a multiple of 128 B), every `step`-th of them, always ending at `largest`."""
    if largest < smallest:
        return []
    sizes = []
    k = 0
    while True:
        size = int(round(smallest * 2 ** (k / points_per_octave) / 128)) * 128 or smallest
        if size > largest:
            break
        if not sizes or size > sizes[-1]:
            sizes.append(size)
        k += 1
    chosen = sizes[::max(1, step)]
    if chosen[-1] != largest and largest // 128 * 128 > chosen[-1]:
        chosen.append(largest // 128 * 128)
    return chosen


def round_steps(steps: float, least: int = UNROLL * 8, most: int = 1 << 30) -> int:
    """A step count for one launch: a multiple of UNROLL within [least, most]."""
    steps = int(min(max(steps, least), most))
    return max(UNROLL, steps // UNROLL * UNROLL)


def steps_for(seconds_per_step: float, launch_s: float) -> int:
    """Steps so that one launch (one timed call) lasts at least launch_s (timing's one formula)."""
    return calls_per_sample(seconds_per_step, launch_s, 1 << 30, fewest=UNROLL * 8, multiple=UNROLL,
                            unmeasured=1 << 20)


def warm_steps(ring: Ring, chains: int) -> int:
    """Steps each chain walks before timing: together the chains cover the ring (every
    element of a set up to 256 KiB, whatever the L1), at most WARM_STEPS."""
    return round_steps(min(WARM_STEPS, math.ceil(ring.cycle_length / max(1, chains)) + UNROLL), least=UNROLL)


def per_load_ns(stats, steps: int) -> dict:
    """A launch's Stats (seconds per launch) as ns per dependent load."""
    scale = 1e9 / steps
    return {"median": stats.median * scale, "best": stats.min * scale, "min": stats.min * scale,
            "max": stats.max * scale, "q25": stats.q25 * scale, "q75": stats.q75 * scale}


def to_cycles(ns: float | None, clock_mhz: float | None) -> float | None:
    """ns at an SM clock in MHz -> cycles."""
    if ns is None or not clock_mhz:
        return None
    return ns * clock_mhz / 1e3


# ---------------------------------------------------------------- the CPU path: the chase in NumPy

CPU_LOADED_CHAINS = 1024  # chains of the loaded chase on the CPU: one NumPy gather per step


def numpy_chase(next_array: np.ndarray, position, steps: int):
    """`steps` dependent loads from each chain's position: one chain in a Python loop over
    the NumPy array, several with one gather a step. Returns (where each stopped, the loads
    each did)."""
    if isinstance(position, (int, np.integer)):
        index, done = int(position), 0
        for _ in range(steps):
            index = int(next_array[index])
            done += 1
        return index, done
    index = np.asarray(position, dtype=np.int64)
    done = 0
    for _ in range(steps):
        index = next_array[index].astype(np.int64)
        done += 1
    return index, done


# ---------------------------------------------------------------- the latency curve

FLAT = 1.15  # a point within 15% of a plateau's level is on it
RISE = 1.30  # consecutive levels less than 30% apart are one level


@dataclass
class Level:
    name: str
    first_bytes: int  # the smallest working set on this level
    last_bytes: int  # the largest working set on it: a lower bound of the cache's capacity
    ns: float  # the median latency of its points
    cycles: float | None
    points: int


@dataclass
class Step:
    below: str  # the level it leaves
    above: str  # the level it reaches
    last_bytes: int  # the largest working set still on the lower level
    next_bytes: int  # the first working set above it: the capacity lies between the two
    ratio: float  # the upper level's latency over the lower's


@dataclass
class Curve:
    key: tuple  # (mode, pattern label, cache_op, memory)
    points: list[tuple[int, float, float | None]]  # (working set, ns, cycles)
    levels: list[Level] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)


def _median(values: list[float]) -> float:
    return float(np.median(values))


def find_levels(points: list[tuple[int, float]], flat: float = FLAT, rise: float = RISE) -> list[tuple[int, int]]:
    """The plateaus of a latency curve (working sets in increasing order), as (first, last)
    positions into `points`. A plateau is a run of points within `flat` of its median; a
    lone point between two plateaus is a transition, not a level; plateaus less than `rise`
    apart are one level (with the transitions between them)."""
    if not points:
        return []
    latency = [ns for _, ns in points]
    runs: list[list[int]] = [[0]]
    for i in range(1, len(points)):
        level = _median([latency[j] for j in runs[-1]])
        if level / flat <= latency[i] <= level * flat:
            runs[-1].append(i)
        else:
            runs.append([i])
    # A lone point inside the curve is a transition; the first and the last are levels even
    # alone (the smallest set is a level; the sweep ended on the last).
    kept = [run for number, run in enumerate(runs) if len(run) >= 2 or number in (0, len(runs) - 1)]
    merged: list[list[int]] = []
    for run in kept:
        if merged:
            lower = _median([latency[j] for j in merged[-1]])
            upper = _median([latency[j] for j in run])
            if upper < lower * rise:
                merged[-1] = merged[-1] + [j for j in range(merged[-1][-1] + 1, run[-1] + 1)]
                continue
        merged.append(list(run))
    return [(run[0], run[-1]) for run in merged]


def name_levels(levels: list[Level], caches: tuple[str, ...], llc_bytes: int | None) -> None:
    """Names for the levels, smallest first: the caches a chase can hit, in order, for levels
    that start within the last-level cache's size (the driver's figure, used only to name a
    level, never to place a step); "DRAM" for those that start beyond it. A second level of
    one name is numbered ("DRAM 2": beyond the TLBs' reach, often)."""
    used: dict[str, int] = {}
    cache_names = list(caches)
    for number, level in enumerate(levels):
        beyond = (llc_bytes is not None and level.first_bytes > llc_bytes and number > 0) or \
            (llc_bytes is None and number == len(levels) - 1 and len(levels) > len(caches))
        if beyond:
            base = "DRAM"
        elif cache_names:
            base = cache_names.pop(0)
        else:
            base = caches[-1]
        used[base] = used.get(base, 0) + 1
        level.name = base if used[base] == 1 else f"{base} {used[base]}"


def analyse_curve(key: tuple, points: list[tuple[int, float, float | None]], caches: tuple[str, ...],
                  llc_bytes: int | None) -> Curve:
    points = sorted(points)
    curve = Curve(key, points)
    spans = find_levels([(size, ns) for size, ns, _ in points])
    for first, last in spans:
        members = points[first:last + 1]
        cycles = [c for _, _, c in members if c is not None]
        curve.levels.append(Level("", members[0][0], members[-1][0], _median([ns for _, ns, _ in members]),
                                  _median(cycles) if cycles else None, len(members)))
    name_levels(curve.levels, caches, llc_bytes)
    for (_, last), lower, upper in zip(spans, curve.levels, curve.levels[1:]):
        curve.steps.append(Step(lower.name, upper.name, lower.last_bytes, points[last + 1][0],
                                upper.ns / lower.ns))
    return curve


def pattern_label(record: dict) -> str:
    if record.get("pattern") == "stride":
        return f"stride {record.get('stride_bytes')} B"
    return str(record.get("pattern"))


def curve_key(record: dict) -> tuple:
    return (record.get("mode"), pattern_label(record), record.get("cache_op"), record.get("memory"))


def curves(records: list[dict]) -> list[Curve]:
    """Every curve of a run's ok latency records (one per mode, pattern, cache operator and
    memory kind), with its levels and steps."""
    groups: dict[tuple, list[dict]] = {}
    for record in records:
        if record.get("family") == "latency" and record.get("status") == "ok":
            groups.setdefault(curve_key(record), []).append(record)
    out = []
    for key, members in groups.items():
        points = [(r["working_set_bytes"], r["latency_ns"]["median"], (r.get("cycles") or {}).get("median"))
                  for r in members]
        first = members[0]
        caches = tuple(first.get("caches") or CACHES.get(first.get("cache_op"), ("L1", "L2")))
        out.append(analyse_curve(key, points, caches, first.get("llc_bytes")))
    order = {"latency": 0, "loaded": 1}
    return sorted(out, key=lambda c: (c.key[3] != "device" and c.key[3] != "host", order.get(c.key[0], 2),
                                      str(c.key[1]), str(c.key[2]), str(c.key[3])))
