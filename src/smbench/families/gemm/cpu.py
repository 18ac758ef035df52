"""The GEMM family on the CPU reference path: the same shapes, inputs and checks as on
the GPU, computed by NumPy (and, for small shapes, by the tensor-core emulator).

NumPy's GEMM stands in for the device: f32 accumulation through the host's BLAS, f16
accumulation as the kernel does it (each mma's K block added, then rounded to f16),
int8 exactly. Its figure is the host's, labelled so; what the path proves is that the
inputs, the exact check, the error bound and the records work, on any machine.
"""

from __future__ import annotations

import contextlib
import time

import numpy as np

from smbench import emulate, formats
from smbench.cases import NO_KERNEL
from smbench import host_timing
from smbench.families import gemm, peak
from smbench.families.gemm import scaled
from smbench.families.gemm.part import HeldTo, Outcome
from smbench.families.peak.part import Rate
from smbench.timing import TimingPolicy, measure

FORMATS = None  # the family's formats, every one in NumPy
PLAN_NOTES: dict = {}


def operands(fmt: gemm.Format, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stored codes -> the values NumPy multiplies (float32 where the device accumulates in
    f32, float64 otherwise), decoded once, outside the timing."""
    av, bv = gemm.decode(fmt, a), gemm.decode(fmt, b)
    if fmt.accumulator == "f32":
        return av.astype(np.float32), bv.astype(np.float32)
    return av, bv


def numpy_gemm(fmt: gemm.Format, av: np.ndarray, bv: np.ndarray) -> np.ndarray:
    """C = A B^T from decoded operands (bv holds B's columns as rows), in C's type."""
    if fmt.integer:
        return (av @ bv.T).astype(np.int32)  # float64 holds every int8 product sum exactly
    if fmt.accumulator == "f16":
        c = np.zeros((av.shape[0], bv.shape[0]))
        for start in range(0, av.shape[1], fmt.k):
            block = av[:, start:start + fmt.k] @ bv[:, start:start + fmt.k].T
            c = formats.round_to("f16", c + block)
        return c.astype(np.float16)
    return av @ bv.T


def emulated_gemm(fmt: gemm.Format, a: np.ndarray, b: np.ndarray, model: emulate.Model) -> np.ndarray:
    """C as a chain of emulated mma along K (K padded with zeros to whole mma, as the
    kernel's zero-filled tail does); a block-scaled format's elements and scales apart, as the
    mma takes them (its scales padded with ones: they scale zeros)."""
    pad = -a.shape[1] % fmt.k
    if fmt.scale:
        (av, a_scales), (bv, b_scales) = scaled.split(a), scaled.split(b)
        scales = tuple(np.pad(s, ((0, 0), (0, (a.shape[1] + pad) // fmt.scale_block - s.shape[1])),
                              constant_values=1.0) for s in (a_scales, b_scales))
    else:
        av, bv, scales = gemm.decode(fmt, a), gemm.decode(fmt, b), None
    if pad:
        av = np.pad(av, ((0, 0), (0, pad)))
        bv = np.pad(bv, ((0, 0), (0, pad)))
    return emulate.gemm(av, bv.T, model, fmt.encoding, fmt.k, fmt.accumulator, scales)


def held_to(runner, fmt: gemm.Format, policy: TimingPolicy) -> HeldTo:
    return HeldTo(Rate(None, "the CPU path has no mma.sync peak"), peak.BY_KEY[fmt.peak_key].spec_keys)


def run_case(runner, fmt: gemm.Format, shape: gemm.Shape, policy: TimingPolicy, settings: dict) -> Outcome:
    with runner.sampler() as sampler:
        outcome = _run(fmt, shape, policy, settings)
    outcome.telemetry = sampler.summary
    return outcome


def _run(fmt: gemm.Format, shape: gemm.Shape, policy: TimingPolicy, settings: dict) -> Outcome:
    cap = settings["cpu_max_gflop"]
    if shape.ops / 1e9 > cap:
        return Outcome("skipped", f"{shape.ops / 1e9:.1f} GFLOP: the CPU path runs GEMMs up to {cap:g} GFLOP "
                                  f"([gemm] cpu_max_gflop)", dict(NO_KERNEL))
    rng = np.random.default_rng(gemm.SEED)
    rows = gemm.check_rows(shape.m, rng)
    density = gemm.exact_density(fmt, shape.k)
    a, b = (gemm.exact_operand(fmt, shape.m, shape.k, rng, density),
            gemm.exact_operand(fmt, shape.n, shape.k, rng))
    exact = gemm.validate_exact(fmt, numpy_gemm(fmt, *operands(fmt, a[rows], b)), a, b, rows)
    fields = {"support": "reference", "instruction": "numpy", "tile": None, "splits": 1,
              "validation": {"exact": exact.to_dict()}, **NO_KERNEL}
    outcome = Outcome(fields=fields)
    if not exact.ok:
        return outcome.failed(f"validation failed: {exact.detail}")
    a, b = gemm.random_operand(fmt, shape.m, shape.k, rng), gemm.random_operand(fmt, shape.n, shape.k, rng)
    values = operands(fmt, a, b)
    ref = gemm.reference(fmt, a, b, rows)
    checked, errors = gemm.validate_random(fmt, numpy_gemm(fmt, values[0][rows], values[1]), ref, 1)
    fields["validation"]["random"] = checked.to_dict()
    fields["error"] = errors
    if not checked.ok:
        return outcome.failed(f"validation failed: {checked.detail}")
    emulator = fields["emulator"] = emulator_check(fmt, shape, a, b, ref, settings)
    if emulator["status"] == "failed":  # the checks would refuse a real tensor core's arithmetic
        return outcome.failed(f"the emulated tensor core ({emulator['model']}) fails the check: "
                              f"{emulator['validation']['detail']}")

    limit, threads = one_blas_thread()
    # On one BLAS thread the GEMM runs in this thread, so this thread's CPU time is its cost:
    # time the host spent on other programs (which wall time counts) is left out, and sampling
    # stops when the median settles (smbench.host_timing). A BLAS on several threads: wall time.
    on_thread = threads == "one thread"

    def sample() -> float:
        start = time.perf_counter()
        numpy_gemm(fmt, *values)
        return time.perf_counter() - start

    with limit:
        outcome.stats = (host_timing.measure(host_timing.timed(lambda: numpy_gemm(fmt, *values)), policy,
                                             policy.host_interval) if on_thread else measure(sample, policy))
    timed_in = "this thread's CPU time" if on_thread else "wall time"
    fields["support_note"] = f"host NumPy, BLAS on {threads}, timed in {timed_in}: a reference, not a GPU's figure"
    outcome.cublas = {"status": "not run", "reason": "cuBLAS is a GPU library"}
    outcome.fallback = {"status": "not run", "reason": "the sm_80 fallback is a GPU measurement"}
    return outcome


def one_blas_thread():
    """(a context that holds the host BLAS to one thread, how many it runs on). A BLAS that
    splits a small GEMM over every core waits at a barrier for each of them: with any other
    load on the host one call took 16 ms instead of 45 us, and the same case swung 350x
    from run to run. One thread gives up the host's peak for a figure that repeats."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext(), "as many threads as it starts (threadpoolctl is not installed)"
    return threadpool_limits(1, "blas"), "one thread"


def emulator_check(fmt: gemm.Format, shape: gemm.Shape, a, b, ref: gemm.Reference, settings: dict) -> dict:
    """The emulated tensor core (the suite's model) on the same random inputs, held to the
    same error bound: the bound must admit a real tensor core's arithmetic."""
    from smbench import tensor_core_models

    if fmt.integer:
        return {"status": "not run", "reason": "integer mma is exact: nothing to emulate"}
    if shape.m * shape.n * shape.k > settings["cpu_emulate_max"]:
        return {"status": "not run", "reason": f"M x N x K above {settings['cpu_emulate_max']} "
                                               f"([gemm] cpu_emulate_max): the emulator is slow"}
    name = settings["emulator_model"]
    model, _ = tensor_core_models.stand_in(name, fmt.encoding, fmt.accumulator)
    got = emulated_gemm(fmt, a[ref.rows], b, model)
    checked, errors = gemm.validate_random(fmt, got, ref, 1)
    return {"status": "ok" if checked.ok else "failed", "model": name, "validation": checked.to_dict(),
            "error": errors}
