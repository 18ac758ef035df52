"""The numerics probes through MLX's matmul (mx.addmm: D = C + A B), and the same fit.

MLX's FP16 and BF16 matmuls return C in the inputs' type, which hides how they add: the fit
needs a wider output. The probes therefore go through MLX's float32 addmm on FP16 and BF16
values (exact in float32), which answers how MLX's matmul adds and rounds its products (the
fit finds the block, the bits kept and the rounding). What the FP16 and BF16 matmuls
themselves accumulate in is asked directly: 1 + 16 terms of half a unit in the last place of
1 sums to 1 when the running sum is kept in the input type, and to 1 + 8 units when it is
kept wider, which C in the input type still shows."""

from __future__ import annotations

import numpy as np

from smbench.backends import mlx as backend
from smbench.cases import NO_KERNEL, Skip
from smbench.families import precision

FORMATS = ("f16_f32acc", "bf16_f32acc")
_TYPES = {"f16": ("float16", 11), "bf16": ("bfloat16", 8)}  # MLX type, significant bits
TERMS = 16


def addmm(c: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per problem, float32 C + A B through mx.addmm: a (P, K), b (P, K), c (P,) -> (P,)."""
    mx = backend.mx()
    d = mx.addmm(mx.array(c.astype(np.float32))[:, None, None], mx.array(a.astype(np.float32))[:, None, :],
                 mx.array(b.astype(np.float32))[:, :, None])
    return backend.to_numpy(d).reshape(-1).astype(np.float64)


def device(fmt: precision.Format, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    return addmm(c, a, b)


def gemm(fmt: precision.Format, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A random GEMM (16 x K by K x 8) through mx.matmul in float32 on the format's values."""
    mx = backend.mx()
    return backend.to_numpy(mx.matmul(mx.array(a.astype(np.float32)), mx.array(b.astype(np.float32)))).astype(
        np.float64)


def native_accumulator(input_format: str) -> tuple[str, float]:
    """(what MLX's own matmul in this type accumulates in, the probe's answer)."""
    mx = backend.mx()
    name, bits = _TYPES[input_format]
    kind = getattr(mx, name)
    half_unit = 2.0 ** -bits  # half a unit in the last place of 1
    a = np.array([[1.0] + [half_unit] * TERMS], dtype=np.float32)
    got = float(backend.to_numpy(mx.matmul(mx.array(a).astype(kind), mx.ones((TERMS + 1, 1), dtype=kind)))[0, 0])
    wide = 1.0 + TERMS * half_unit
    if got == wide:
        return f"wider than {input_format} (the {TERMS} small terms survive: f32-like)", got
    if got == 1.0:
        return f"{input_format} (the {TERMS} small terms are lost one by one)", got
    return f"neither {input_format} nor wider gives this answer", got


def devices(runner, fmt: precision.Format, settings: dict):
    """(probe device, GEMM device, what answers, kernel provenance)."""
    if fmt.key not in FORMATS:
        raise Skip(f"MLX multiplies f32, f16 and bf16: {fmt.label} is a tensor-core format it has no type for")
    verdict, got = native_accumulator(fmt.input_format)
    how = (f"mx.addmm in float32 on {fmt.input_format} values ({runner.info['device']}, MLX "
           f"{runner.info['mlx_version']}); MLX's own {fmt.input_format} matmul accumulates in {verdict}: "
           f"1 + {TERMS} x 2^-{_TYPES[fmt.input_format][1]} gave {got!r}")
    return device, gemm, how, NO_KERNEL
