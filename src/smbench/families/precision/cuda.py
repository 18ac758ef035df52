"""Numerics probes on the GPU: problems packed into fragment words (smbench.fragments),
one warp per problem, through kernels/precision.cu; D read back and unpacked.

Block-scaled kinds: each problem's scales packed into the words kernels/precision.cu
passes to the mma, by smbench.fragments.pack_scales (the PTX ISA's layout for the
{byte-id 0, thread-id 0} selectors the kernels use); the CPU path's fragment device reads
the same words. A chain of steps (the GEMMs) reuses one problem's scales for every step.
"""

from __future__ import annotations

import numpy as np

from smbench import fragments
from smbench import targets as target_table
from smbench.backends import cuda
from smbench.cases import Skip
from smbench.errors import SmbenchError
from smbench.families import peak, precision
from smbench.families.precision.part import Devices, Formats

WARPS_PER_BLOCK = 4
UNSUPPORTED = 0x0BADF00D


def run_tiles(fmt: precision.Format, target: str, tiles: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
              scales: list | None = None) -> list:
    """Each tile (A 16 x K*steps, B K*steps x 8, C 16 x 8) as one warp's chain of mma along
    K; returns each D (16 x 8). `scales`: per tile, (A's 16 x blocks, B's 8 x blocks) block
    scales (block-scaled kinds; None: all 1)."""
    stacked = None
    if fmt.scale and scales is not None:
        given = [s or precision.tile_scales(fmt) for s in scales]
        stacked = np.array([s[0] for s in given]), np.array([s[1] for s in given])
    return list(run_stacks(fmt, target, *(np.array([t[i] for t in tiles]) for i in range(3)), stacked))


def run_stacks(fmt: precision.Format, target: str, a: np.ndarray, b: np.ndarray, c: np.ndarray,
               scales=None) -> np.ndarray:
    """Stacks of tiles (P x 16 x K*steps, P x K*steps x 8, P x 16 x 8; scales P x 16 x blocks
    and P x 8 x blocks or None) through the kernel: D, P x 16 x 8."""
    cupy = cuda._cupy()
    module = cuda.load(precision.KERNEL_FILE, target).module
    function = module.get_function(fmt.kernel)
    problems, steps = len(c), a.shape[-1] // fmt.k
    padded = -(-problems // WARPS_PER_BLOCK) * WARPS_PER_BLOCK
    a_words, b_words, c_words, scale_words = precision.pack_problems(fmt, a, b, c, scales)
    registers = c_words.shape[-1]

    def whole_blocks(words: np.ndarray) -> np.ndarray:  # the last block's spare warps get zeros
        out = np.zeros((padded, *words.shape[1:]), dtype=np.uint32)
        out[:problems] = words
        return out.ravel()

    if scale_words is None:
        scale_words = np.zeros((problems, 32, 2), dtype=np.uint32)
    d = cupy.zeros(padded * 32 * registers, dtype=cupy.uint32)
    status = cupy.zeros(1, dtype=cupy.uint32)
    function((padded // WARPS_PER_BLOCK,), (32 * WARPS_PER_BLOCK,),
             (cupy.asarray(whole_blocks(a_words)), cupy.asarray(whole_blocks(b_words)),
              cupy.asarray(whole_blocks(c_words)), d, cupy.asarray(whole_blocks(scale_words)), np.int32(steps), status))
    cupy.cuda.runtime.deviceSynchronize()
    if int(status[0]) == UNSUPPORTED:
        raise SmbenchError(f"{fmt.kernel} is not supported on {target}")
    words = cupy.asnumpy(d).reshape(padded, 32, registers)[:problems]
    return fragments.unpack_accumulator(fmt.accumulator, words)


def device(target: str) -> precision.Device:
    """Probes on the GPU: D[0, 0] of each problem."""
    def run(fmt: precision.Format, a: np.ndarray, b: np.ndarray, c: np.ndarray, scales=None) -> np.ndarray:
        stacks = precision.tiles(fmt, a, b, c)
        return run_stacks(fmt, target, *stacks, precision.stacked_scales(fmt, len(c), scales))[:, 0, 0]
    return run


def gemm(target: str):
    """A random GEMM (16 x K by K x 8) as one warp's chain of mma on the GPU."""
    def run(fmt: precision.Format, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return run_stacks(fmt, target, a[None], b[None], np.zeros((1, precision.M, precision.N)))[0]
    return run


def builds(case, runner) -> list[cuda.Build]:
    """What a case compiles (smbench.prebuild): precision.cu for the device's target, where
    the target has the format."""
    fmt = precision.BY_KEY[case.params["format"]]
    return [cuda.Build(precision.KERNEL_FILE, runner.target, read_sass=False)] if target_table.get(runner.target).has(fmt.feature) \
        else []


def formats(settings: dict) -> Formats:
    return Formats()  # every format asked; devices() skips those the target lacks


def devices(runner, fmt: precision.Format, settings: dict) -> Devices:
    """The GPU's mma, gated by the target table: a format the GPU lacks is a skipped row that
    names the targets that have it."""
    target = target_table.get(runner.target)
    if not target.has(fmt.feature):
        raise Skip(f"needs {', '.join(peak.targets_with(fmt.feature, target_table.NATIVE))}: {runner.target} has "
                   f"no {target_table.FEATURES[fmt.feature]}")
    how = "the GPU" + (" (emulated: ptxas builds this format from other instructions)"
                       if target.support(fmt.feature) == target_table.EMULATED else "")
    return Devices(device(runner.target), gemm(runner.target), how,
                   cuda.load(precision.KERNEL_FILE, runner.target).provenance)
