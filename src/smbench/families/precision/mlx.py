"""The numerics probes through MLX's matmul (mx.addmm: D = C + A B), and the same fit.

MLX's FP16 and BF16 matmuls return C in the inputs' type, which hides how they add: the fit
needs a wider output. The probes therefore go through MLX's float32 addmm on FP16 and BF16
values (exact in float32), which answers how MLX's matmul adds and rounds its products (the
fit finds the block, the bits kept and the rounding). Each probe is row 0 and column 0 of a
whole 32 x 32 tile (zeros elsewhere), so it runs in the GEMM kernel a real matmul uses: a
1 x K by K x 1 product would take MLX's matrix-vector path instead, which adds in another
order. What the FP16 and BF16 matmuls themselves accumulate in is asked directly, in the
same tile: 1 and 16 terms of half a unit in the last place of 1, the 1 first, in the middle
and last; a sum kept in the input type loses the small terms one by one where they come
after the 1; kept wider, or the small ones added together first, they survive. The answer is
stated as what it is consistent with."""

from __future__ import annotations

import numpy as np

from smbench.backends import mlx as backend
from smbench.cases import NO_KERNEL, Skip
from smbench.families import precision
from smbench.families.precision import probes
from smbench.families.precision.part import Devices, Formats

FORMATS = ("f16_f32acc", "bf16_f32acc")
# Not a tensor core: the published NVIDIA models are not held against this, and the rows say
# what answered (the numerics table's label, the verdict line).
THROUGH = "MLX f32 matmul"
NOT_A_TENSOR_CORE = ("not a tensor core: MLX's float32 matmul on these values (the fitted model says how it "
                     "adds); the native {input} matmul is probed apart (the record's device line)")
MLX_TYPES = {"f16": "float16", "bf16": "bfloat16"}


def _significant_bits(input_format: str) -> int:
    """The format's significant bits, from the probes' table of what each format holds."""
    return probes.facts(input_format).mantissa_bits + 1
TERMS = 16


TILE = 32  # rows and columns of the tile each probe sits in (MLX's GEMM kernel, not its gemv)


def _tiles(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(P, K) rows of A and columns of B as row 0 / column 0 of P tiles (P x 32 x K, P x K x 32)."""
    problems, k = a.shape
    tile_a = np.zeros((problems, TILE, k), dtype=np.float32)
    tile_b = np.zeros((problems, k, TILE), dtype=np.float32)
    tile_a[:, 0, :], tile_b[:, :, 0] = a, b
    return tile_a, tile_b


def addmm(c: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per problem, float32 C + A B through mx.addmm on whole tiles: a (P, K), b (P, K), c (P,) -> (P,)."""
    mx = backend.mx()
    tile_a, tile_b = _tiles(a, b)
    tile_c = np.zeros((len(c), TILE, TILE), dtype=np.float32)
    tile_c[:, 0, 0] = c
    d = mx.addmm(mx.array(tile_c), mx.array(tile_a), mx.array(tile_b))
    return backend.to_numpy(d)[:, 0, 0].astype(np.float64)


def device(fmt: precision.Format, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    return addmm(c, a, b)


def gemm(fmt: precision.Format, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A random GEMM (16 x K by K x 8) through mx.matmul in float32 on the format's values."""
    mx = backend.mx()
    return backend.to_numpy(mx.matmul(mx.array(a.astype(np.float32)), mx.array(b.astype(np.float32)))).astype(
        np.float64)


def native_accumulator(input_format: str) -> tuple[str, list[float]]:
    """(what MLX's own matmul in this type is consistent with, its answers with the 1 first,
    in the middle and last), each answer D[0, 0] of a whole tile in the input type."""
    mx = backend.mx()
    kind = getattr(mx, MLX_TYPES[input_format])
    bits = _significant_bits(input_format)
    half_unit = 2.0 ** -bits  # half a unit in the last place of 1
    answers = []
    for where in (0, TERMS // 2, TERMS):
        row = np.full(TERMS + 1, half_unit, dtype=np.float32)
        row[where] = 1.0
        tile_a, tile_b = _tiles(row[None, :], np.ones((1, TERMS + 1), dtype=np.float32))
        d = mx.matmul(mx.array(tile_a).astype(kind), mx.array(tile_b).astype(kind))
        answers.append(float(backend.to_numpy(d.astype(mx.float32))[0, 0, 0]))
    wide = 1.0 + TERMS * half_unit
    if all(x == wide for x in answers):
        verdict = (f"consistent with a sum kept wider than {input_format} (the {TERMS} small terms survive "
                   f"wherever the 1 is: f32-like), or with the small terms added together first")
    elif answers[0] == 1.0:
        verdict = f"consistent with a sum kept in {input_format} (small terms after the 1 are lost)"
    else:
        verdict = f"neither a sum in {input_format} nor a wider one gives these answers"
    return verdict, answers


def formats(settings: dict) -> Formats:
    return Formats(frozenset(FORMATS), {"precision_mlx": f"through MLX: {', '.join(FORMATS)} (the formats MLX has "
                                                         f"types for)"})


def devices(runner, fmt: precision.Format, settings: dict) -> Devices:
    """MLX's float32 addmm on the format's values: no tensor core, said so in the verdict."""
    if fmt.key not in FORMATS:
        raise Skip(f"MLX multiplies f32, f16 and bf16: {fmt.label} is a tensor-core format it has no type for")
    verdict, got = native_accumulator(fmt.input_format)
    how = (f"mx.addmm in float32 on {fmt.input_format} values, each probe in a {TILE} x {TILE} tile "
           f"({runner.info['device']}, MLX {runner.info['mlx_version']}); MLX's own {fmt.input_format} matmul: "
           f"{verdict}: 1 and {TERMS} x 2^-{_significant_bits(fmt.input_format)} gave "
           f"{', '.join(repr(x) for x in got)} (the 1 first, in the middle, last)")
    return Devices(device, gemm, how, NO_KERNEL, through=THROUGH, through_verdict=NOT_A_TENSOR_CORE)
