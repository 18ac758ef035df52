"""The CPU's check of a chase walks each sampled chain along its whole path at once (every
step checked against the ring's next_of); where a step does not follow next_of, the
step-by-step walk decides. A planted ring whose next_of disagrees with its positions must
get the step-by-step answer, not the closed form's."""

import dataclasses

import numpy as np
import pytest

from smbench.families import latency
from smbench.families.latency import cuda as latency_cuda


@pytest.mark.parametrize("pattern", ["random", "stride"])
def test_the_path_at_once_is_the_step_by_step_walk(pattern):
    ring = latency.ring_for(pattern, 3 << 20, seed=2)
    starts = np.asarray(ring.at(latency.spread(ring, 32)), dtype=np.uint64)
    assert np.array_equal(latency_cuda.walk_verified(ring, starts, 2048), latency.walk(ring.next_of, starts, 2048))


@dataclasses.dataclass(frozen=True)
class DetourRing(latency.Ring):
    """next_of sends one index elsewhere: positions and next_of disagree there."""

    detour: int = 0

    def next_of(self, indices):
        out = np.array(super().next_of(indices), dtype=np.uint64, copy=True)
        out[np.asarray(indices, dtype=np.uint64) == np.uint64(self.detour)] = np.uint64(0)
        return out


def test_a_step_that_leaves_the_path_gets_the_step_by_step_answer():
    honest = latency.ring_for("random", 1 << 16, seed=3)
    start = np.asarray(honest.at(np.array([100], dtype=np.uint64)), dtype=np.uint64)
    on_path = int(honest.at(150))  # 50 loads in
    ring = DetourRing("random", honest.n, honest.seed, 0, detour=on_path)
    fast = latency_cuda.walk_verified(ring, start, 300)
    assert np.array_equal(fast, latency.walk(ring.next_of, start, 300))
    assert not np.array_equal(fast, latency_cuda.walk_verified(honest, start, 300))
