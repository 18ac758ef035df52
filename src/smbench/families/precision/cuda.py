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

WARPS_PER_BLOCK = 4
UNSUPPORTED = 0x0BADF00D


def run_tiles(fmt: precision.Format, target: str, tiles: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
              scales: list | None = None) -> list:
    """Each tile (A 16 x K*steps, B K*steps x 8, C 16 x 8) as one warp's chain of mma along
    K; returns each D (16 x 8). `scales`: per tile, (A's 16 x blocks, B's 8 x blocks) block
    scales (block-scaled kinds; None: all 1)."""
    cupy = cuda._cupy()
    module = cuda.load(precision.KERNEL_FILE, target).module
    function = module.get_function(fmt.kernel)
    steps = tiles[0][0].shape[1] // fmt.k
    problems = len(tiles)
    padded = -(-problems // WARPS_PER_BLOCK) * WARPS_PER_BLOCK
    registers = 4 if fmt.accumulator == "f32" else 2
    a = np.zeros((padded, steps, 32, 4), dtype=np.uint32)
    b = np.zeros((padded, steps, 32, 2), dtype=np.uint32)
    c = np.zeros((padded, 32, registers), dtype=np.uint32)
    for index, (ta, tb, tc) in enumerate(tiles):
        for step in range(steps):
            columns = slice(step * fmt.k, (step + 1) * fmt.k)
            a[index, step] = fragments.pack_a(fmt.layout, fmt.input_format, ta[:, columns], fmt.container_bits,
                                              fmt.shift)
            b[index, step] = fragments.pack_b(fmt.layout, fmt.input_format, tb[columns], fmt.container_bits,
                                              fmt.shift)
        c[index] = fragments.pack_accumulator(fmt.accumulator, tc)
    words = np.zeros((padded, 32, 2), dtype=np.uint32)
    if fmt.scale:
        for index in range(problems):
            given = None if scales is None else scales[index]
            words[index] = fragments.pack_scales(fmt.scale, *(given or precision.tile_scales(fmt)))
    scale_words = cupy.asarray(words.ravel())
    d = cupy.zeros(c.size, dtype=cupy.uint32)
    status = cupy.zeros(1, dtype=cupy.uint32)
    function((padded // WARPS_PER_BLOCK,), (32 * WARPS_PER_BLOCK,),
             (cupy.asarray(a.ravel()), cupy.asarray(b.ravel()), cupy.asarray(c.ravel()), d, scale_words, np.int32(steps),
              status))
    cupy.cuda.runtime.deviceSynchronize()
    if int(status[0]) == UNSUPPORTED:
        raise SmbenchError(f"{fmt.kernel} is not supported on {target}")
    words = cupy.asnumpy(d).reshape(padded, 32, registers)
    return [fragments.unpack_accumulator(fmt.accumulator, words[i]) for i in range(problems)]


def device(target: str) -> precision.Device:
    """Probes on the GPU: D[0, 0] of each problem."""
    def run(fmt: precision.Format, a: np.ndarray, b: np.ndarray, c: np.ndarray, scales=None) -> np.ndarray:
        tiles = [precision.tile(fmt, x, y, z) for x, y, z in zip(a, b, c)]
        scale_tiles = None if scales is None else [precision.tile_scales(fmt, sa, sb) for sa, sb in zip(*scales)]
        return np.array([d[0, 0] for d in run_tiles(fmt, target, tiles, scale_tiles)])
    return run


def gemm(target: str):
    """A random GEMM (16 x K by K x 8) as one warp's chain of mma on the GPU."""
    def run(fmt: precision.Format, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return run_tiles(fmt, target, [(a, b, np.zeros((precision.M, precision.N)))])[0]
    return run


def devices(runner, fmt: precision.Format, settings: dict):
    """(probe device, GEMM device, what answers, kernel provenance), gated by the target
    table: a format the GPU lacks is a skipped row that names the targets that have it."""
    target = target_table.get(runner.target)
    if not target.has(fmt.feature):
        raise Skip(f"needs {', '.join(peak.targets_with(fmt.feature, target_table.NATIVE))}: {runner.target} has "
                   f"no {target_table.FEATURES[fmt.feature]}")
    how = "the GPU" + (" (emulated: ptxas builds this format from other instructions)"
                       if target.support(fmt.feature) == target_table.EMULATED else "")
    return device(runner.target), gemm(runner.target), how, cuda.load(precision.KERNEL_FILE, runner.target).provenance
