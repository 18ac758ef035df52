"""The numerics family's GPU path on the host side, without a GPU: whole stacks of probes
packed into the words kernels/precision.cu reads (one gather, not a loop per element), laid
out per warp and step as the kernel indexes them, and D read back. A kernel stand-in reads
the flat buffers exactly as precision.cu does and runs the emulator on what it unpacks."""

import types

import numpy as np
import pytest

from smbench import emulate, fragments, tensor_core_models
from smbench.backends import cuda
from smbench.families import precision
from smbench.families.precision import cuda as cuda_precision

from numpy_cupy import NumpyCupy


def kernel_stand_in(fmt, model):
    """precision.cu's probe<Op>: warp w runs problem w, `steps` mma from c; flat layouts
    a[((w * steps + s) * 32 + lane) * 4 + r], b[... * 2 + r], c/d[(w * 32 + lane) * R + r],
    scales[(w * 32 + lane) * 2 + 0/1]."""
    def launch(grid, block, args):
        a, b, c, d, scales, steps, status = args
        warps, steps = grid[0] * block[0] // 32, int(steps)
        registers = c.size // (warps * 32)
        a, b = a.reshape(warps, steps, 32, 4), b.reshape(warps, steps, 32, 2)
        c, scales = c.reshape(warps, 32, registers), scales.reshape(warps, 32, 2)
        out = d.reshape(warps, 32, registers)
        for w in range(warps):
            acc = fragments.unpack_accumulator(fmt.accumulator, c[w])
            scale_tiles = fragments.unpack_scales(fmt.scale, scales[w], fmt.k // fmt.scale_block) if fmt.scale else None
            for s in range(steps):
                ta = fragments.unpack_a(fmt.layout, fmt.input_format, a[w, s], fmt.container_bits, fmt.shift)
                tb = fragments.unpack_b(fmt.layout, fmt.input_format, b[w, s], fmt.container_bits, fmt.shift)
                acc = emulate.mma(ta, tb, acc, model, fmt.input_format, fmt.accumulator, scale_tiles)
            out[w] = fragments.pack_accumulator(fmt.accumulator, acc)
    return launch


@pytest.fixture
def gpu(monkeypatch):
    fake = NumpyCupy()
    monkeypatch.setattr(cuda, "_cupy", lambda: fake)
    return fake


def _module(monkeypatch, fmt, model):
    module = types.SimpleNamespace(get_function=lambda name: kernel_stand_in(fmt, model))
    monkeypatch.setattr(cuda, "load", lambda file, target: types.SimpleNamespace(module=module, provenance={}))


@pytest.mark.parametrize("key", ["f16_f32acc", "f16_f16acc", "tf32_f32acc", "e4m3_f32acc", "e2m1_f32acc",
                                 "nvfp4_f32acc"])
def test_probes_packed_as_stacks_answer_as_the_emulator(gpu, monkeypatch, key):
    fmt = precision.BY_KEY[key]
    model = tensor_core_models.stand_in("H100", fmt.input_format, fmt.accumulator)[0]
    _module(monkeypatch, fmt, model)
    rng = np.random.default_rng(3)
    problems = 7  # not a whole number of 4-warp blocks: the last block has spare warps
    a = precision.random_operands(fmt, (problems, fmt.k), rng)
    b = precision.random_operands(fmt, (problems, fmt.k), rng)
    c = precision.random_operands(fmt, (problems, 1), rng)[:, 0] if fmt.accumulator == "f16" else \
        rng.standard_normal(problems).astype(np.float32).astype(np.float64)
    scales = None
    if fmt.scale:
        blocks = fmt.k // fmt.scale_block
        scales = (2.0 ** rng.integers(-2, 3, (problems, blocks)), 2.0 ** rng.integers(-2, 3, (problems, blocks)))
    got = cuda_precision.device("sm_121a")(fmt, a, b, c, scales)
    want = precision.emulator_device(model)(fmt, a, b, c, scales)
    assert np.array_equal(got, want, equal_nan=True)


def test_a_gemm_chains_steps_along_k(gpu, monkeypatch):
    fmt = precision.BY_KEY["bf16_f32acc"]
    model = tensor_core_models.stand_in("H100", fmt.input_format, fmt.accumulator)[0]
    _module(monkeypatch, fmt, model)
    rng = np.random.default_rng(4)
    a, b = precision.random_operands(fmt, (16, 64), rng), precision.random_operands(fmt, (64, 8), rng)
    got = cuda_precision.gemm("sm_90a")(fmt, a, b)
    assert np.array_equal(got, emulate.gemm(a, b, model, fmt.input_format, fmt.k, fmt.accumulator))


def test_a_misplaced_fragment_element_changes_the_answer(gpu, monkeypatch):
    """Planted: the stand-in reads A's registers 0 and 1 swapped; the answers must differ
    from the emulator's, or the comparison above could not see a layout error."""
    fmt = precision.BY_KEY["f16_f32acc"]
    model = tensor_core_models.stand_in("H100", fmt.input_format, fmt.accumulator)[0]
    honest = kernel_stand_in(fmt, model)

    def swapped(grid, block, args):
        a = args[0].reshape(-1, 4).copy()
        a[:, [0, 1]] = a[:, [1, 0]]
        honest(grid, block, (a.ravel(), *args[1:]))

    module = types.SimpleNamespace(get_function=lambda name: swapped)
    monkeypatch.setattr(cuda, "load", lambda file, target: types.SimpleNamespace(module=module, provenance={}))
    rng = np.random.default_rng(5)
    a, b = precision.random_operands(fmt, (16, 32), rng), precision.random_operands(fmt, (32, 8), rng)
    assert not np.array_equal(cuda_precision.gemm("sm_90a")(fmt, a, b),
                              emulate.gemm(a, b, model, fmt.input_format, fmt.k, fmt.accumulator))
