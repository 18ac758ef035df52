"""The GEMM family through MLX: mx.matmul on the suite's shapes, in each type MLX multiplies.

MLX's formats are its own (C has A's type: no f32 output from f16 inputs), so they are rows
of this module, built from gemm.Format so that the same inputs, exact check and float64 error
bound as the CUDA GEMMs apply. How MLX adds is not documented: the error bound assumes C's
own precision for the running sum and a rounding every MMA_K products (Apple's simdgroup
matrices are 8 x 8), looser than an f32 accumulation needs, so it holds either way.
Integer types: mx.matmul is asked, and its refusal (MLX multiplies inexact types only) is
the skipped row's reason.
"""

from __future__ import annotations

import numpy as np

from smbench.backends import mlx as backend
from smbench.cases import NO_KERNEL, Skip
from smbench.families import gemm
from smbench.families.gemm.part import HeldTo, Outcome
from smbench.families.peak.part import Rate
from smbench.timing import TimingPolicy

MMA_K = 8
_SIGNIFICANT_BITS = {"f32": 24, "f16": 11, "bf16": 8, "s8": 0}

# MLX's own formats, planned over the suite's shapes instead of [gemm] formats (CUDA's).
BY_KEY = {f.key: f for f in (gemm.Format(f"mlx_{name}", "mx.matmul", f"{label} (mx.matmul, C in {name})", name, size,
                                         "s32" if name == "s8" else name, MMA_K, "mlx", "", None,
                                         accumulation_bits=_SIGNIFICANT_BITS[name])
                             for name, label, size in (("f32", "FP32", 4), ("f16", "FP16", 2), ("bf16", "BF16", 2),
                                                       ("s8", "INT8", 1)))}
FORMATS = BY_KEY
PLAN_NOTES = {"gemm_mlx": "mx.matmul in every type MLX has (f32, f16, bf16; int8 asked and refused or run); "
                          "[gemm] formats names CUDA formats and is not read"}
MLX_TYPE = {"f32": "float32", "f16": "float16", "bf16": "bfloat16", "s8": "int8"}
SPEC_KEYS = {"f32": ("fp32",), "f16": ("fp16", "f16"), "bf16": ("bf16",), "s8": ("int8",)}


def to_mlx(fmt: gemm.Format, codes: np.ndarray):
    """Stored operand codes -> an MLX array of the format's type (bf16 through its codes)."""
    mx = backend.mx()
    if fmt.encoding == "bf16":
        return mx.array(codes.astype(np.uint16)).view(mx.bfloat16)
    return mx.array(codes)


def product(fmt: gemm.Format, a, b):
    """C = A B^T through mx.matmul (B's rows are its columns: a transposed view, no copy)."""
    return backend.mx().matmul(a, b.T)


def held_to(runner, fmt: gemm.Format, policy: TimingPolicy) -> HeldTo:
    return HeldTo(Rate(None, "no mma.sync loop on Apple silicon"), SPEC_KEYS[fmt.encoding])


def run_case(runner, fmt: gemm.Format, shape: gemm.Shape, policy: TimingPolicy, settings: dict) -> Outcome:
    """One format on one shape: exact check, float64 bound on random inputs, timed."""
    fields = {"kernel": f"mx.matmul {fmt.encoding}", "accumulator": f"not documented by MLX; C in {fmt.encoding}",
              "layout": "A row-major (M x K), B as K x N through a transposed view", "instruction": "mx.matmul",
              "tile": None, "splits": 1, **NO_KERNEL, "cublas": NO_CUBLAS, "fallback": NO_FALLBACK,
              "mma_peak": {"tflops": None, "source": "no mma.sync loop on Apple silicon"}}
    try:
        outcome = measure(fmt, shape, runner, policy, settings)
    except Skip as why:
        return Outcome("skipped", str(why), fields)
    outcome.fields = {**fields, **outcome.fields}
    outcome.cublas, outcome.fallback = NO_CUBLAS, NO_FALLBACK
    if outcome.status == "ok":
        outcome.fields["support_note"] = f"mx.matmul on {runner.info['device']}, MLX {runner.info['mlx_version']}"
    return outcome


NO_CUBLAS = {"status": "not run", "reason": "cuBLAS is a CUDA library"}
NO_FALLBACK = {"status": "not run", "reason": "the sm_80 fallback is a CUDA build"}


def refusal(fmt: gemm.Format) -> str:
    """MLX's own error when it will not multiply this type ('' when it does)."""
    mx = backend.mx()
    tiny = mx.zeros((2, 2), dtype=getattr(mx, MLX_TYPE[fmt.encoding]))
    try:
        backend.evaluate(mx.matmul(tiny, tiny))
    except Exception as exc:  # noqa: BLE001 - MLX says why in its message
        return str(exc).splitlines()[0]
    return ""


def measure(fmt: gemm.Format, shape: gemm.Shape, runner, policy, settings: dict) -> Outcome:
    refused = refusal(fmt)
    if refused:
        raise Skip(f"mx.matmul does not multiply {fmt.encoding}: {refused}")
    if runner.figures_are_host_cpu and shape.ops / 1e9 > settings["cpu_max_gflop"]:
        raise Skip(f"{shape.ops / 1e9:.1f} GFLOP: on MLX's CPU device GEMMs run up to {settings['cpu_max_gflop']:g} "
                   f"GFLOP ([gemm] cpu_max_gflop)")
    need = gemm.footprint(fmt, shape) + backend.per_sample(shape.m * shape.n * 4) * shape.m * shape.n * 4
    if need > runner.info["free_bytes"]:
        raise Skip(f"needs about {need / 2**30:.1f} GiB; {runner.info['free_bytes'] / 2**30:.1f} GiB is free to use")
    rng = np.random.default_rng(gemm.SEED)
    rows = gemm.check_rows(shape.m, rng)
    a, b = (gemm.exact_operand(fmt, shape.m, shape.k, rng, gemm.exact_density(fmt, shape.k)),
            gemm.exact_operand(fmt, shape.n, shape.k, rng))
    got = backend.to_numpy(product(fmt, to_mlx(fmt, a[rows]), to_mlx(fmt, b)))
    exact = gemm.validate_exact(fmt, got, a, b, rows)
    fields = {"validation": {"exact": exact.to_dict()}}
    outcome = Outcome(fields=fields)
    if not exact.ok:
        return outcome.failed(f"validation failed: {exact.detail}")
    a, b = gemm.random_operand(fmt, shape.m, shape.k, rng), gemm.random_operand(fmt, shape.n, shape.k, rng)
    ref = gemm.reference(fmt, a, b, rows)
    xa, xb = to_mlx(fmt, a), to_mlx(fmt, b)
    backend.evaluate([xa, xb])
    reps = backend.per_sample(shape.m * shape.n * np.dtype(fmt.output_dtype).itemsize, most=16)
    kept: list = []
    with runner.sampler() as sampler:
        stats = backend.time_calls(lambda i: product(fmt, xa, xb), reps, policy, kept)
    checked, errors = validate_timed(fmt, kept, ref)
    fields["validation"]["random"] = checked.to_dict()
    fields.update(error=errors, calls_per_sample=reps)
    outcome.telemetry = sampler.summary
    if not checked.ok:
        return outcome.failed(f"validation failed: {checked.detail}")
    outcome.stats = stats
    return outcome


def validate_timed(fmt: gemm.Format, outputs: list, ref: gemm.Reference):
    """The last timed sample's outputs: each its own array; the last within the float64 bound
    on the checked rows, each other equal to it there (the same product, computed again)."""
    from smbench.cases import Validation

    if not outputs or len({id(o) for o in outputs}) != len(outputs):
        return Validation(False, 0, f"{len(outputs)} timed calls returned {len({id(o) for o in outputs})} distinct "
                                    f"arrays: a call that hands back an earlier result did no work"), {}
    mx = backend.mx()
    index = mx.array(ref.rows.astype(np.int32))
    last = backend.to_numpy(outputs[-1][index])
    checked, errors = gemm.validate_random(fmt, last, ref, 1)
    if not checked.ok:
        return checked, errors
    for number, output in enumerate(outputs[:-1]):
        got = backend.to_numpy(output[index])
        if not np.array_equal(got, last, equal_nan=True):
            again, _ = gemm.validate_random(fmt, got, ref, 1)
            if not again.ok:
                return Validation(False, again.checked, f"timed call {number + 1} of {len(outputs)}: {again.detail}",
                                  again.max_abs_error, again.tolerance), errors
    checked.detail += f"; {len(outputs)} timed outputs of the last sample checked"
    return checked, errors
