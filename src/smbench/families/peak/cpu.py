"""The peak family on the CPU reference path: one warp's worth of each loop in NumPy, enough
to exercise unpacking, the arithmetic and validation; its operations per second are
NumPy's, labelled so."""

from __future__ import annotations


import numpy as np

from smbench import formats
from smbench.cases import NO_KERNEL
from smbench.families import peak
from smbench import host_timing
from smbench.families.peak.part import Loop
from smbench.timing import TimingPolicy

PEAK_ITERS = 64  # every validation sum is still exact after 64 iterations (tests check it)


def _unpack(operand, words: np.ndarray) -> np.ndarray:
    """32-bit fragment words -> element values, decoded from their codes."""
    if operand.encoding == "f64":
        pairs = words.reshape(-1, 2).astype(np.uint64)
        return (pairs[:, 0] | (pairs[:, 1] << np.uint64(32))).view(np.float64).astype(np.float64)
    bits = operand.container_bits
    width = formats.bits(operand.encoding)
    mask = np.uint64((1 << width) - 1)
    shifted = [((words.astype(np.uint64) >> np.uint64(i * bits + operand.shift)) & mask) for i in range(32 // bits)]
    codes = np.stack(shifted, axis=1).ravel()
    table = {int(c): formats.decode(operand.encoding, int(c)) for c in np.unique(codes)}
    return np.array([table[int(c)] for c in codes])


def mma_loop(fmt, words: np.ndarray, iters: int) -> np.ndarray:
    """One warp's mma loop: A and B rebuilt from the fragment words (in whatever element
    order; the validation inputs are uniform), D += A @ B per chain and iteration, rounded
    to the accumulator each step. Returns the values in the order the kernel writes them."""
    m, n, k = fmt.shape
    lanes = words[:32 * peak.WORDS_PER_LANE].reshape(32, peak.WORDS_PER_LANE)
    a_words = lanes[:, 0:2] if fmt.operand.encoding == "f64" else lanes[:, 0:4]
    b_words = lanes[:, 4:6]
    scale = 1.0
    if fmt.scale:
        scale = formats.decode(fmt.scale[0], int(lanes[0, 6]) & 0xFF)
    a = _unpack(fmt.operand, a_words.ravel()).reshape(m, k) * scale
    b = _unpack(fmt.operand, b_words.ravel()).reshape(k, n) * scale
    product = a @ b
    chains = []
    for _ in range(fmt.chains):
        d = np.zeros((m, n))
        for _ in range(iters):
            d = d + product
            if fmt.accumulator in ("f16", "f32"):
                d = formats.round_to(fmt.accumulator, d)
        if fmt.accumulator == "s32":
            d = ((d.astype(np.int64) + 2**31) % 2**32 - 2**31).astype(np.float64)
        chains.append(d.ravel().reshape(32, -1))
    return np.stack(chains, axis=1).ravel().astype(peak.output_dtype(fmt))


def fma_loop(fmt, values: np.ndarray, iters: int, threads: int = 32) -> np.ndarray:
    """The CUDA-core loop for `threads` threads: x = x * y + z per chain and lane, in the
    loop's type (bf16 rounded after every step)."""
    lanes = fmt.lanes
    if fmt.accumulator == "bf16":
        decoded = np.array([formats.decode("bf16", int(c)) for c in values])
        y, z, x = decoded[0], decoded[lanes], np.tile(decoded[2 * lanes:], threads)
        for _ in range(iters):
            x = formats.round_to("bf16", x * y + z)  # an FMA rounds once; float64 holds x * y + z exactly
        return np.array([formats.encode("bf16", float(v)) for v in x], dtype=np.uint16)
    # NumPy rounds the multiply and the add separately where the GPU fuses them; with the
    # validation inputs (y = 1) both are exact, so the two agree.
    y, z, x = values[0], values[lanes], np.tile(values[2 * lanes:], threads)
    for _ in range(iters):
        x = (x * y + z).astype(values.dtype)
    return x.astype(peak.output_dtype(fmt))


def peak_case(fmt, policy: TimingPolicy) -> Loop:
    """One warp, PEAK_ITERS iterations: the time per loop and its validation."""
    iters, threads = PEAK_ITERS, 32
    if fmt.unit == "tensor":
        words = peak.mma_inputs(fmt)
        run = lambda: mma_loop(fmt, words, iters)  # noqa: E731
    else:
        values = peak.fma_inputs(fmt)
        run = lambda: fma_loop(fmt, values, iters, threads)  # noqa: E731
    output: list = [None]
    # In this thread's CPU time, until the median settles (smbench.host_timing).
    stats = host_timing.measure(host_timing.timed(run, output), policy, policy.host_interval)
    return Loop(support="reference", instruction="numpy", validation=peak.validate(fmt, output[0], iters, threads),
                provenance=NO_KERNEL, stats=stats, iters=iters, threads=threads,
                launch={"backend": "numpy", "warps": threads // 32},
                fallback={"status": "not run", "reason": "the sm_80 fallback is a GPU measurement"})


def run_case(runner, fmt, policy: TimingPolicy, settings: dict) -> Loop:
    """One warp's loop in NumPy, as run_peak reads a loop."""
    with runner.sampler() as sampler:
        loop = peak_case(fmt, policy)
    loop.telemetry = sampler.summary
    return loop
