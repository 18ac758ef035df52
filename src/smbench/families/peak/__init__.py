"""Compute peaks: tensor-core throughput per precision (mma.sync loops, kernels/mma.cu)
and CUDA-core throughput (FMA loops, kernels/fma.cu).

What is decided here, for every backend and testable without a GPU: the formats and
their instruction shapes, how many operations one instruction counts, which targets
have each format (from the target table), whether the compiled loop is intact (its
SASS holds at least chains x unroll of the instruction, so nothing was folded), the
inputs (exact ones for validation, random signs for timing), the CPU reference of
the accumulators, and what the device should reach (devices.SM_RATES x SMs x clock,
and the vendor's figure).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from smbench import devices, formats
from smbench import targets as target_table
from smbench.cases import Validation

MMA_FILE = "mma.cu"
FMA_FILE = "fma.cu"
# The kernels' compile-time defaults (SMBENCH_CHAINS / _UNROLL, SMBENCH_FMA_CHAINS / _UNROLL).
CHAINS, UNROLL = 4, 4
FMA_CHAINS, FMA_UNROLL = 8, 8
VALIDATION_ITERS = 8  # a multiple of both unrolls; small enough that every result is exact
STEP_WORD = 256  # in[256]: the operand step, 0 at run time (see kernels/mma.cu)
WORDS_PER_LANE = 8
UNSUPPORTED = 0x0BADF00D


@dataclass(frozen=True)
class Operand:
    """How A and B elements sit in a fragment register."""

    encoding: str  # a formats name
    container_bits: int  # bits one element takes (8 for FP6/FP4 under kind::f8f6f4)
    shift: int = 0  # where the value sits in its container (e2m1 under kind::f8f6f4: bits 2-5)


@dataclass(frozen=True)
class Format:
    key: str
    kernel: str
    group: str  # what the summary groups by: FP16, BF16, TF32, FP8, FP6, FP4, INT8, INT4, FP64, FP32, INT32
    label: str
    unit: str  # "tensor" or "cuda-core"
    rate_key: str  # devices.SM_RATES
    spec_keys: tuple[str, ...]  # devices peaks' `what`, most specific first
    accumulator: str  # f16, f32, s32, f64; the loop's type for the CUDA-core loops
    instruction: str  # the SASS class the loop must hold: HMMA, QMMA, OMMA.SF, FFMA, ...
    feature: str | None = None  # target-table feature; None: every target from sm_80
    shape: tuple[int, int, int] | None = None  # m, n, k of one mma
    operand: Operand | None = None
    scale: tuple[str, int] | None = None  # (scale format, scales per 32... as scale_vec: 1, 2 or 4)
    lanes: int = 1  # CUDA-core: values per register (2 for f16x2)

    @property
    def file(self) -> str:
        return MMA_FILE if self.unit == "tensor" else FMA_FILE

    @property
    def integer(self) -> bool:
        return self.accumulator == "s32"

    @property
    def ops_unit(self) -> str:
        return "TOPS" if self.integer else "TFLOP/s"

    @property
    def ops_per_instruction(self) -> int:
        """Per warp-wide mma (2 m n k), or per thread's FMA (2 per lane)."""
        if self.shape:
            m, n, k = self.shape
            return 2 * m * n * k
        return 2 * self.lanes

    @property
    def chains(self) -> int:
        return CHAINS if self.unit == "tensor" else FMA_CHAINS

    @property
    def unroll(self) -> int:
        return UNROLL if self.unit == "tensor" else FMA_UNROLL


def _mma(key, kernel, group, label, rate, spec, acc, instruction, feature, shape, encoding, bits=None, shift=0,
         scale=None) -> Format:
    return Format(key, kernel, group, label, "tensor", rate, spec, acc, instruction, feature, shape,
                  Operand(encoding, bits or formats.bits(encoding), shift), scale)


K16, K8, K32, K64 = (16, 8, 16), (16, 8, 8), (16, 8, 32), (16, 8, 64)
_F8F6F4 = "mma.f8f6f4.fp8"
_FP6FP4 = "mma.f8f6f4.fp6fp4"
_SCALED = "mma.block_scale"

FORMATS: tuple[Format, ...] = (
    _mma("f16_f16acc", "mma_f16_f16acc", "FP16", "FP16 -> FP16 acc, m16n8k16", "f16_f16acc", ("f16_f16acc", "f16"),
         "f16", "HMMA", "mma.f16", K16, "f16"),
    _mma("f16_f32acc", "mma_f16_f32acc", "FP16", "FP16 -> FP32 acc, m16n8k16", "f16_f32acc", ("f16_f32acc", "f16"),
         "f32", "HMMA", "mma.f16", K16, "f16"),
    _mma("bf16_f32acc", "mma_bf16_f32acc", "BF16", "BF16 -> FP32 acc, m16n8k16", "bf16_f32acc",
         ("bf16_f32acc", "bf16"), "f32", "HMMA", "mma.bf16", K16, "bf16"),
    _mma("tf32", "mma_tf32_f32acc", "TF32", "TF32 -> FP32 acc, m16n8k8", "tf32", ("tf32",), "f32", "HMMA",
         "mma.tf32", K8, "tf32"),
    _mma("s8", "mma_s8_s32acc", "INT8", "INT8 -> INT32 acc, m16n8k32", "int8", ("int8",), "s32", "IMMA", "mma.s8",
         K32, "s8"),
    _mma("s4", "mma_s4_s32acc", "INT4", "INT4 -> INT32 acc, m16n8k64", "int4", ("int4",), "s32", "IMMA", "mma.s4",
         K64, "s4"),
    _mma("f64", "mma_f64_f64acc", "FP64", "FP64 (DMMA), m8n8k4", "fp64_tensor", ("fp64_tensor",), "f64", "DMMA",
         "mma.f64", (8, 8, 4), "f64"),
    _mma("e4m3_f32acc", "mma_e4m3_f32acc_sm89", "FP8", "FP8 e4m3 -> FP32 acc, m16n8k32 (sm_89 form)", "fp8_f32acc",
         ("fp8_f32acc", "fp8"), "f32", "QMMA", "mma.fp8", K32, "e4m3"),
    _mma("e5m2_f32acc", "mma_e5m2_f32acc_sm89", "FP8", "FP8 e5m2 -> FP32 acc, m16n8k32 (sm_89 form)", "fp8_f32acc",
         ("fp8_f32acc", "fp8"), "f32", "QMMA", "mma.fp8", K32, "e5m2"),
    _mma("e4m3_f16acc", "mma_e4m3_f16acc_sm89", "FP8", "FP8 e4m3 -> FP16 acc, m16n8k32 (sm_89 form)", "fp8_f16acc",
         ("fp8_f16acc", "fp8"), "f16", "QMMA", "mma.fp8", K32, "e4m3"),
    _mma("f8f6f4_e4m3_f32acc", "mma_e4m3_f32acc_f8f6f4", "FP8", "FP8 e4m3 -> FP32 acc, kind::f8f6f4", "fp8_f32acc",
         ("fp8_f32acc", "fp8"), "f32", "QMMA", _F8F6F4, K32, "e4m3"),
    _mma("f8f6f4_e5m2_f32acc", "mma_e5m2_f32acc_f8f6f4", "FP8", "FP8 e5m2 -> FP32 acc, kind::f8f6f4", "fp8_f32acc",
         ("fp8_f32acc", "fp8"), "f32", "QMMA", _F8F6F4, K32, "e5m2"),
    _mma("f8f6f4_e4m3_f16acc", "mma_e4m3_f16acc_f8f6f4", "FP8", "FP8 e4m3 -> FP16 acc, kind::f8f6f4", "fp8_f16acc",
         ("fp8_f16acc", "fp8"), "f16", "QMMA", _F8F6F4, K32, "e4m3"),
    _mma("f8f6f4_e3m2_f32acc", "mma_e3m2_f32acc_f8f6f4", "FP6", "FP6 e3m2 -> FP32 acc, kind::f8f6f4",
         "f8f6f4_f32acc", ("fp6",), "f32", "QMMA", _FP6FP4, K32, "e3m2", 8, 0),
    _mma("f8f6f4_e2m3_f32acc", "mma_e2m3_f32acc_f8f6f4", "FP6", "FP6 e2m3 -> FP32 acc, kind::f8f6f4",
         "f8f6f4_f32acc", ("fp6",), "f32", "QMMA", _FP6FP4, K32, "e2m3", 8, 0),
    _mma("f8f6f4_e2m1_f32acc", "mma_e2m1_f32acc_f8f6f4", "FP4", "FP4 e2m1 -> FP32 acc, kind::f8f6f4",
         "f8f6f4_f32acc", (), "f32", "QMMA", _FP6FP4, K32, "e2m1", 8, 2),
    _mma("mxf8f6f4_e4m3", "mma_mxf8f6f4_e4m3_x1_f32acc", "FP8", "MXFP8 e4m3, ue8m0 per 32, kind::mxf8f6f4",
         "mxf8f6f4", ("mxfp8",), "f32", "QMMA.SF", _SCALED, K32, "e4m3", scale=("ue8m0", 1)),
    _mma("mxf8f6f4_e2m1", "mma_mxf8f6f4_e2m1_x1_f32acc", "FP4", "FP4 e2m1 in 8 bits, ue8m0 per 32, "
         "kind::mxf8f6f4", "mxf8f6f4", (), "f32", "QMMA.SF", _SCALED, K32, "e2m1", 8, 2, scale=("ue8m0", 1)),
    _mma("mxf4", "mma_mxf4_e2m1_x2_f32acc", "FP4", "MXFP4 e2m1, ue8m0 per 32, kind::mxf4", "fp4_block_scaled",
         ("fp4",), "f32", "OMMA.SF", _SCALED, K64, "e2m1", scale=("ue8m0", 2)),
    _mma("mxf4nvf4_x2", "mma_mxf4nvf4_e2m1_x2_f32acc", "FP4", "FP4 e2m1, ue8m0 per 32, kind::mxf4nvf4",
         "fp4_block_scaled", ("fp4",), "f32", "OMMA.SF", _SCALED, K64, "e2m1", scale=("ue8m0", 2)),
    _mma("nvfp4", "mma_nvfp4_f32acc", "FP4", "NVFP4 e2m1, ue4m3 per 16, kind::mxf4nvf4", "fp4_block_scaled",
         ("fp4",), "f32", "OMMA.SF", _SCALED, K64, "e2m1", scale=("ue4m3", 4)),
    Format("fp32", "fma_f32", "FP32", "FP32 FFMA", "cuda-core", "fp32", ("fp32",), "f32", "FFMA"),
    Format("fp16x2", "fma_f16x2", "FP16", "FP16x2 HFMA2", "cuda-core", "fp16x2", ("fp16x2",), "f16", "HFMA2",
           lanes=2),
    Format("bf16x2", "fma_bf16x2", "BF16", "BF16x2 HFMA2.BF16", "cuda-core", "bf16x2", ("bf16x2",), "bf16",
           "HFMA2", lanes=2),
    Format("fp64", "fma_f64", "FP64", "FP64 DFMA", "cuda-core", "fp64", ("fp64",), "f64", "DFMA"),
    Format("int32", "mad_s32", "INT32", "INT32 IMAD", "cuda-core", "int32", ("int32",), "s32", "IMAD"),
)

BY_KEY: dict[str, Format] = {f.key: f for f in FORMATS}


# ---------------------------------------------------------------- gating

def targets_with(feature: str, level: str | None = None) -> list[str]:
    return [t.name for t in target_table.all_targets()
            if t.support(feature) is not None and (level is None or t.support(feature) == level)]


def gate(fmt: Format, target: target_table.Target) -> tuple[str, str]:
    """("native" | "emulated" | "skipped", why). A format the target lacks is a row that
    says which targets have it, never an error."""
    if fmt.feature is None:
        return "native", "CUDA cores: every target from sm_80"
    return gate_feature(fmt.feature, fmt.group, target)


def gate_feature(feature: str, group: str, target: target_table.Target) -> tuple[str, str]:
    """The same for any kernel built on a target-table feature (the GEMM family's too)."""
    support = target.support(feature)
    if support is None:
        return "skipped", (f"needs {', '.join(targets_with(feature, target_table.NATIVE))}: "
                           f"{target.name} has no {target_table.FEATURES[feature]}")
    if support == target_table.EMULATED:
        return "emulated", f"{target.name} has no native {group} path: ptxas emulates it with other instructions"
    return "native", ""


def fallback_compiles(fmt) -> bool:
    """Whether the kernel exists in compute_80 PTX (what software shipping only sm_80 carries)."""
    return fmt.feature is None or target_table.get(target_table.FALLBACK_PTX_TARGET).has(fmt.feature)


def fallback_absent(fmt) -> dict | None:
    """The fallback entry of a format compute_80 PTX cannot hold (peak loops and GEMMs alike),
    or None when it can."""
    if fallback_compiles(fmt):
        return None
    return {"status": "absent", "reason": f"{target_table.FALLBACK_PTX_TARGET} has no "
                                          f"{target_table.FEATURES[fmt.feature]}: software shipping only sm_80 "
                                          f"code cannot use this format"}


def _loop_opcodes(fmt: Format, histogram: dict[str, int]) -> dict[str, int]:
    """The kernel's opcodes of the class its loop is made of: tensor instructions of any class
    for an mma (an emulated one becomes HMMA or IMMA), the format's own for the CUDA cores."""
    from smbench import sass

    if fmt.unit == "tensor":
        return {op: n for op, n in histogram.items() if sass.is_tensor(op)}
    return {op: n for op, n in histogram.items() if op.split(".")[0] == fmt.instruction}


def loop_instruction(fmt: Format, histogram: dict[str, int]) -> str:
    """The opcode the loop is made of: the most frequent of its class."""
    opcodes = _loop_opcodes(fmt, histogram)
    return max(opcodes, key=opcodes.get) if opcodes else ""


def loop_instructions(fmt: Format, histogram: dict[str, int]) -> int:
    """Instructions of the loop's class in the kernel, plus, for an mma, the calls of an
    emulation routine ptxas did not inline (s4 on sm_90 and later: each call is one mma)."""
    found = sum(_loop_opcodes(fmt, histogram).values())
    if fmt.unit == "tensor" and found:
        found += sum(n for op, n in histogram.items() if op.split(".")[0] == "CALL")
    return found


# Tensor instructions one emulated mma becomes: FP8 m16n8k32 is two FP16 HMMA.16816 (after
# an F2FP unpack). s4 on sm_90 and later is one call of a routine of s8 IMMA.
EMULATION_FACTOR = {"mma.fp8": 2, "mma.f8f6f4.fp8": 2, "mma.s4": 1}


def loop_intact(fmt: Format, histogram: dict[str, int], emulated: bool = False) -> tuple[bool, str]:
    """A loop is timed only if its body still holds chains x unroll instructions (times what
    one emulated mma becomes): fewer means ptxas merged or hoisted work, and the time would
    not be the instruction's."""
    factor = EMULATION_FACTOR.get(fmt.feature, 1) if emulated else 1
    found, needed = loop_instructions(fmt, histogram), fmt.chains * fmt.unroll * factor
    if found >= needed:
        return True, f"{found} {fmt.instruction if fmt.unit != 'tensor' else 'tensor'} instructions >= {needed}"
    return False, (f"ptxas folded the loop: {found} instructions where {needed} were expected "
                   f"(chains x unroll{' x emulation' if factor > 1 else ''}); its time would not be this "
                   f"instruction's")


def total_ops(fmt: Format, threads: int, iters: int) -> float:
    """Operations one launch performs: per warp (tensor) or per thread (CUDA cores), each
    chain issues one instruction per iteration."""
    issuers = threads // 32 if fmt.unit == "tensor" else threads
    return float(issuers) * fmt.chains * iters * fmt.ops_per_instruction


# ---------------------------------------------------------------- inputs

# Validation values: products and sums exact in every accumulator for VALIDATION_ITERS.
_VALIDATE = {"float": (1.5, -2.0), "s8": (3, -2), "s4": (3, -2)}
_VALIDATE_SCALE = 2.0  # both scales: the result must show their product, 4
# Timing values (random signs). Under an f16 accumulator each mma adds at most k x 2^-12
# (<= 2^-6); round-to-nearest stops the sum growing once that is under half its spacing,
# near 2^-6 x 2^11 = 32, so however many iterations run it stays far from f16's 65504.
_TIMING = {"f16acc": (2.0**-6, 2.0**-6), "float": (1.5, 2.0), "s8": (3, 2), "s4": (3, 2)}


def _kind(fmt: Format) -> str:
    return fmt.operand.encoding if fmt.operand.encoding in ("s8", "s4") else "float"


def validation_values(fmt: Format) -> tuple[float, float, float]:
    a, b = _VALIDATE[_kind(fmt)]
    return a, b, (_VALIDATE_SCALE if fmt.scale else 1.0)


def _pack(operand: Operand, codes: np.ndarray) -> np.ndarray:
    """Element codes (registers x elements per register) -> 32-bit words."""
    per_word = 32 // operand.container_bits
    codes = codes.reshape(-1, per_word).astype(np.uint64)
    words = np.zeros(len(codes), dtype=np.uint64)
    for i in range(per_word):
        words |= (codes[:, i] << np.uint64(operand.shift)) << np.uint64(i * operand.container_bits)
    return words.astype(np.uint32)


def _codes(encoding: str, magnitude: float, count: int, signs: np.ndarray | None) -> np.ndarray:
    if signs is None:
        return np.full(count, formats.encode(encoding, magnitude), dtype=np.uint64)
    positive, negative = formats.encode(encoding, abs(magnitude)), formats.encode(encoding, -abs(magnitude))
    return np.where(signs[:count] < 0, negative, positive).astype(np.uint64)


def mma_inputs(fmt: Format, timing: bool = False, seed: int = 0) -> np.ndarray:
    """The 257 words a mma loop reads: 32 lanes x (4 A, 2 B, 2 scale words), then step = 0.
    Validation: every A element a, every B element b, every scale s. Timing: the same
    magnitudes (smaller under an f16 accumulator) with random signs."""
    operand = fmt.operand
    words = np.zeros(32 * WORDS_PER_LANE + 1, dtype=np.uint32)
    lanes = words[:32 * WORDS_PER_LANE].reshape(32, WORDS_PER_LANE)
    if timing:
        a, b = _TIMING["f16acc" if fmt.accumulator == "f16" else _kind(fmt)]
        scale = 1.0
    else:
        a, b, scale = validation_values(fmt)
    rng = np.random.default_rng(seed) if timing else None
    if operand.encoding == "f64":
        for lane in range(32):
            sign_a = -1 if rng is not None and rng.random() < 0.5 else 1
            sign_b = -1 if rng is not None and rng.random() < 0.5 else 1
            for column, value in ((0, sign_a * a), (4, sign_b * b)):
                code = formats.encode("f64", value)
                lanes[lane, column], lanes[lane, column + 1] = code & 0xFFFFFFFF, code >> 32
        return words
    per_word = 32 // operand.container_bits
    for lane in range(32):
        signs = rng.choice([-1, 1], size=6 * per_word) if rng is not None else None
        lanes[lane, 0:4] = _pack(operand, _codes(operand.encoding, a, 4 * per_word, signs))
        lanes[lane, 4:6] = _pack(operand, _codes(operand.encoding, b, 2 * per_word,
                                                 None if signs is None else signs[4 * per_word:]))
    if fmt.scale:
        code = formats.encode(fmt.scale[0], scale)
        lanes[:, 6:8] = code * 0x01010101  # every scale byte the same: any byte/thread selector reads it
    return words


def fma_inputs(fmt: Format) -> np.ndarray:
    """y = 1, z = 1, chain c starts at c (its second lane at c + 16): every chain ends at its
    start + iters exactly. Returned as the loop type's array (uint16 codes for bf16)."""
    starts = np.arange(fmt.chains, dtype=np.float64)
    if fmt.lanes == 2:
        values = np.concatenate([[1, 1, 1, 1], np.stack([starts, starts + 16], axis=1).ravel()])
    else:
        values = np.concatenate([[1, 1], starts])
    if fmt.accumulator == "bf16":
        return np.array([formats.encode("bf16", v) for v in values], dtype=np.uint16)
    return values.astype(_NUMPY[fmt.accumulator])


_NUMPY = {"f16": np.float16, "f32": np.float32, "f64": np.float64, "s32": np.int32, "bf16": np.uint16}


def output_dtype(fmt: Format):
    return _NUMPY[fmt.accumulator]


def output_count(fmt: Format, threads: int) -> int:
    """Values the kernel writes: per thread, every chain's accumulator registers (an f16
    accumulator: 2 registers of 2 halves; FP64 DMMA: 2 doubles; else 4), or every chain's
    lanes for the CUDA-core loops."""
    if fmt.unit == "cuda-core":
        return threads * fmt.chains * fmt.lanes
    per_chain = {"f16": 4, "f64": 2}.get(fmt.accumulator, 4)
    return threads * fmt.chains * per_chain


# ---------------------------------------------------------------- the CPU reference

def _matrices(fmt: Format) -> tuple[np.ndarray, np.ndarray]:
    """The A (m x k) and B (k x n) matrices the validation inputs hold, scales applied,
    decoded from the very codes the GPU reads."""
    m, n, k = fmt.shape
    a, b, scale = validation_values(fmt)
    decoded_a = formats.decode(fmt.operand.encoding, formats.encode(fmt.operand.encoding, a))
    decoded_b = formats.decode(fmt.operand.encoding, formats.encode(fmt.operand.encoding, b))
    decoded_scale = formats.decode(fmt.scale[0], formats.encode(fmt.scale[0], scale)) if fmt.scale else 1.0
    return np.full((m, k), decoded_a * decoded_scale), np.full((k, n), decoded_b * decoded_scale)


def reference_accumulators(fmt: Format, iters: int) -> np.ndarray:
    """One chain's D (m x n) after `iters` mma, computed in float64 and rounded to the
    accumulator after every step, as the hardware keeps it."""
    a, b = _matrices(fmt)
    product = a @ b
    d = np.zeros_like(product)
    for _ in range(iters):
        d = d + product
        if fmt.accumulator in ("f16", "f32"):
            d = formats.round_to(fmt.accumulator, d)
    return d


def expected_values(fmt: Format, iters: int, threads: int) -> np.ndarray:
    """What every output value must be, in the order the kernel writes them."""
    if fmt.unit == "tensor":
        d = reference_accumulators(fmt, iters)
        # Uniform inputs give a uniform D, so every register of every lane holds d[0, 0],
        # whatever the fragment layout; a non-uniform D would mean a wrong reference.
        assert np.all(d == d.flat[0]), "validation inputs must give a uniform accumulator"
        return np.full(output_count(fmt, threads), d.flat[0])
    start = fma_inputs(fmt)
    starts = (np.array([formats.decode("bf16", int(c)) for c in start]) if fmt.accumulator == "bf16"
              else start.astype(np.float64))[2 * fmt.lanes:]
    return np.tile(starts + iters, threads)


def as_values(fmt: Format, raw: np.ndarray) -> np.ndarray:
    """The kernel's output as float64 values (bf16 comes back as 16-bit codes)."""
    if fmt.accumulator == "bf16":
        return (raw.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    return raw.astype(np.float64)


def validate(fmt: Format, raw: np.ndarray, iters: int, threads: int) -> Validation:
    """Every output value against the CPU reference, exactly: the inputs are chosen so
    that every product and every partial sum is representable."""
    got = as_values(fmt, np.asarray(raw))
    want = expected_values(fmt, iters, threads)
    if got.shape != want.shape:
        return Validation(False, int(got.size), f"{got.size} values, expected {want.size}")
    wrong = np.nonzero(got != want)[0]
    error = float(np.nanmax(np.abs(got - want))) if got.size else 0.0
    if len(wrong):
        first = int(wrong[0])
        return Validation(False, int(got.size), f"{len(wrong)} of {got.size} values wrong; value {first} is "
                          f"{got[first]!r}, expected {want[first]!r}", error, 0.0)
    return Validation(True, int(got.size), f"all {got.size} accumulators equal the CPU reference "
                      f"({want[0]:g} after {iters} iterations)", 0.0, 0.0)


# ---------------------------------------------------------------- expectations

# Under this many nanoseconds of timed loop the kernel's own clock is not used (a %globaltimer
# that ticks in microseconds would make it coarse).
KERNEL_CLOCK_MIN_NS = 50_000
KERNEL_CLOCK_SOURCE = ("the loop's own clock: clock64() cycles over %globaltimer ns of block 0's first thread, "
                       "over every timed launch")


def kernel_clock(cycles: int, ns: int) -> dict | None:
    """The SM clock (MHz) that clock64() cycles over %globaltimer nanoseconds give (see
    kernels/smbench_clock.cuh), or None where too little was timed (or nothing: a stub)."""
    if ns < KERNEL_CLOCK_MIN_NS or cycles <= 0:
        return None
    return {"mhz": cycles / ns * 1e3, "cycles": cycles, "ns": ns, "source": KERNEL_CLOCK_SOURCE}


@dataclass
class Expectation:
    spec: devices.Figure | None
    rate: devices.Rate | None
    clock_mhz: float | None
    clock_source: str
    clock_peak: float | None  # T(FL)OP/s from rate x SMs x clock

    def to_dict(self) -> dict:
        return {
            "spec": None if self.spec is None else {"value": self.spec.value, "unit": self.spec.unit,
                                                   "kind": self.spec.kind, "source": self.spec.source},
            "rate": None if self.rate is None else {"per_sm_per_clock": self.rate.per_sm_per_clock,
                                                   "kind": self.rate.kind, "source": self.rate.source},
            "clock_mhz": self.clock_mhz, "clock_source": self.clock_source, "clock_peak": self.clock_peak}


def expectation(fmt: Format, compute_capability: str | None, sm_count: int | None, spec_row,
                measured_clock_mhz: float | None, max_clock_mhz: float | None,
                clock_source: str = "median SM clock during the run (NVML)") -> Expectation:
    """The spec peak (the device row's vendor figure) and the clock-based peak: the rate per
    SM per clock x SMs x the SM clock of the timed work (the loop's own, else telemetry's
    clock_mhz; clock_source says which), or the driver's maximum without either."""
    rate = devices.sm_rate(compute_capability, fmt.rate_key, spec_row)
    if measured_clock_mhz:
        clock, source = measured_clock_mhz, clock_source
    elif max_clock_mhz:
        clock, source = max_clock_mhz, "the driver's maximum SM clock (no telemetry)"
    else:
        clock, source = None, "no clock known"
    peak = devices.clock_peak(rate, sm_count, clock) if rate and sm_count and clock else None
    return Expectation(devices.spec_peak(spec_row, fmt.spec_keys), rate, clock, source, peak)


# A peak loop is "normal" within this band of what the clock and SM count allow: a
# throughput loop on an idle GPU should reach it; well outside, something is off.
PEAK_NORMAL_LOW = 0.80
PEAK_NORMAL_HIGH = 1.05


def peak_verdict(ratio: float | None) -> str:
    """normal, or where the figure sits: half / twice the expected rate are named, since
    "does FP32 accumulate run at half rate?" is the question users bring."""
    if ratio is None:
        return "no expectation"
    if PEAK_NORMAL_LOW <= ratio <= PEAK_NORMAL_HIGH:
        return "normal"
    if 0.42 <= ratio <= 0.55:
        return "half rate"
    if 1.8 <= ratio <= 2.1:
        return "twice expected"
    return "suspicious-high" if ratio > PEAK_NORMAL_HIGH else "low"



# The words judge() adds to the shared ones (normal, low, suspicious-high, no expectation), and
# their colours on a terminal: a named shortfall is a caution, not a failure.
VERDICT_STYLES = {"half rate": "yellow", "twice expected": "magenta", "emulated": "yellow",
                  **{f"below the {rate.path} rate": "yellow" for rates in devices.SM_RATES.values()
                     for rate in rates.values() if rate.path != "mma.sync"}}

def judge(measured: float, expected: Expectation, emulated: bool = False) -> dict:
    """% of the spec peak, % of the clock-based peak, and the verdict (against the
    clock-based peak where there is one: it is what this GPU at this clock allows).

    Two cases are named rather than called low: an emulated format (the figures are the
    native format's, which the emulation cannot reach), and a rate only another
    instruction reaches (Hopper's wgmma: the mma.sync loop falls short by design)."""
    spec = 100 * measured / expected.spec.value if expected.spec else None
    clock = 100 * measured / expected.clock_peak if expected.clock_peak else None
    basis = clock if clock is not None else spec
    verdict = peak_verdict(None if basis is None else basis / 100)
    rate = expected.rate
    if emulated:
        verdict = "emulated"
    elif verdict in ("low", "half rate") and rate is not None and rate.path != "mma.sync" and clock is not None:
        verdict = f"below the {rate.path} rate"
    judged = {"percent_of_spec": spec, "percent_of_clock_peak": clock, "verdict": verdict,
              "verdict_basis": "clock-based peak" if clock is not None else ("spec peak" if spec is not None
                                                                             else "none")}
    if clock is not None and rate is not None and rate.assumed and verdict != "no expectation":
        # The rate was carried over from another GPU (GB10 from the GeForce SM): the verdict is a
        # comparison with that assumption, and says so wherever it is shown.
        judged["verdict"] = f"{verdict} {ASSUMED_MARK}"
        judged["verdict_basis"] = f"clock-based peak at a rate assumed for this GPU: {rate.source}"
    return judged


ASSUMED_MARK = "(assumed rate)"


def verdict_word(verdict: str) -> str:
    """The verdict without its assumed-rate mark (for styles and tallies)."""
    return verdict.replace(f" {ASSUMED_MARK}", "")


# ---------------------------------------------------------------- within a run

def measured_rates(runner) -> dict[str, float]:
    """The loop rates (T(FL)OP/s by format key) measured so far in this run: what a GEMM of
    each format is held to."""
    return runner.shared.setdefault("peak", {})
