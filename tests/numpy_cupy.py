"""A stand-in for the parts of CuPy that the families' host-side GPU code calls, backed by
NumPy: arrays are NumPy arrays (so 'device' data can be inspected), cupy.random draws with
NumPy, and the runtime's calls answer as a GPU would. Kernels are not run here: a test gives
each one its own NumPy stand-in. Used by the tests of the GPU paths' host side and by
benchmarks/gpu_host_cost.py."""

from __future__ import annotations

import types

import numpy as np


class RandomState:
    """cupy.random.RandomState(seed): uniform, randint and random_sample with a dtype."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)

    def uniform(self, low=0.0, high=1.0, size=None, dtype=np.float64):
        return self.rng.uniform(low, high, size).astype(dtype)

    def randint(self, low, high=None, size=None, dtype=np.int64):
        return self.rng.integers(low, high, size, dtype=dtype)

    def random_sample(self, size=None, dtype=np.float64):
        return self.rng.random(size, dtype=dtype)


class NumpyCupy:
    """`cupy` as the host-side code uses it. `free` is what memGetInfo reports free."""

    float16, float32, float64 = np.float16, np.float32, np.float64
    int8, int32, uint8, uint32, uint64 = np.int8, np.int32, np.uint8, np.uint32, np.uint64

    def __init__(self, free: int = 80 << 30, random_state=RandomState):
        self.synchronized = 0
        fake = self

        def synchronize():
            fake.synchronized += 1

        runtime = types.SimpleNamespace(deviceSynchronize=synchronize, memGetInfo=lambda: (free, free),
                                        hostAlloc=None, freeHost=lambda pointer: None)
        self.cuda = types.SimpleNamespace(runtime=runtime)
        self.random = types.SimpleNamespace(RandomState=random_state)

    @staticmethod
    def asarray(value, dtype=None):
        return np.asarray(value, dtype=dtype)

    @staticmethod
    def asnumpy(value):
        return np.array(value)  # a copy, as a device-to-host copy is

    zeros, empty, where, ascontiguousarray = (staticmethod(np.zeros), staticmethod(np.empty), staticmethod(np.where),
                                              staticmethod(np.ascontiguousarray))

    @staticmethod
    def get_default_memory_pool():
        return types.SimpleNamespace(free_all_blocks=lambda: None)
