"""GEMM: a tiled mma.sync GEMM per format (kernels/gemm.cu), against float64 and cuBLAS.

C (M x N, row-major) = A (M x K, row-major) x B (K x N, column-major): both operands
K-contiguous, the layout mma.sync fragments want (cuBLAS calls it "TN").

What is decided here, for every backend and testable without a GPU: the formats, the
tile shape per target (it must fit the target's shared memory), split K for problems
too small to fill the GPU, the shapes a suite asks for, the inputs (exactly
representable in the format; small integers for the exact check), the error bound a
result must meet against float64, and the figures of merit (TFLOP/s, % of the
measured mma.sync peak and of the spec peak, bandwidth for skinny problems).
"""

from __future__ import annotations

import contextlib
import functools
import math
from dataclasses import dataclass

import numpy as np

from smbench import formats
from smbench import targets as target_table
from smbench.errors import SmbenchError
from smbench.cases import Validation
from smbench.families.gemm import scaled

KERNEL_FILE = "gemm.cu"
K_TILE_BYTES = 128  # the kernel's K tile (BK_BYTES in gemm.cu: bytes of K per stage)
MAX_SPLITS = 16
SEED = 0  # of the inputs: a rerun multiplies the same matrices


@dataclass(frozen=True)
class Format:
    key: str
    kernel: str
    label: str
    encoding: str  # formats name of A and B
    element_bytes: int
    accumulator: str  # f32, f16 or s32: also C's type
    k: int  # K of one mma
    feature: str
    peak_key: str  # families.peak format whose loop rate this GEMM is held to
    # cuBLAS (cublasGemmEx) types: (A/B data type, C data type, compute type), or None.
    cublas: tuple[int, int, int] | None
    cublas_missing: str = ""
    # Significant bits the accumulation is sure to keep: 24 for f32 and 11 for f16, but
    # FP8 with an f32 accumulator may keep as few as 13 (DeepSeek-V3's report for Hopper;
    # the precision family measures it): the error bound and the exact check allow for it.
    accumulation_bits: int = 24
    elements_per_byte: int = 1  # 2 for FP4 packed two per byte
    # Block scales (NVFP4): their format and how many elements of K share one; None: unscaled.
    # A scaled operand is host codes of smbench.families.gemm.scaled on the host, two buffers
    # (packed elements, scales) on the device.
    scale: str | None = None
    scale_block: int = 0

    @property
    def unit_roundoff(self) -> float:
        return 0.0 if self.integer else 2.0 ** -self.accumulation_bits

    @property
    def exact_limit(self) -> int:
        """The largest integer every partial sum may reach and stay exact."""
        return (1 << 31) - 1 if self.integer else 1 << self.accumulation_bits

    @property
    def integer(self) -> bool:
        return self.accumulator == "s32"

    @property
    def group(self) -> str:
        return {"f32": "FP32", "f16": "FP16", "bf16": "BF16", "s8": "INT8", "e4m3": "FP8", "e2m1": "FP4"}[self.encoding]

    @property
    def ops_unit(self) -> str:
        return "TOPS" if self.integer else "TFLOP/s"

    @property
    def output_dtype(self):
        # bf16 (an MLX GEMM's C): its codes, two bytes each (NumPy has no bf16).
        return {"f32": np.float32, "f16": np.float16, "s32": np.int32, "bf16": np.uint16}[self.accumulator]

    @property
    def storage_dtype(self):
        """How A and B are held on the host: their codes (bf16 and e4m3 have no NumPy type; a
        block-scaled element, its code and its scale's: smbench.families.gemm.scaled)."""
        if self.scale:
            return np.uint16
        return {"f32": np.float32, "f16": np.float16, "bf16": np.uint16, "s8": np.int8,
                "e4m3": np.uint8}[self.encoding]

    @property
    def splittable(self) -> bool:
        """Split K adds the slices in the accumulator's type, which an f16-accumulating GEMM
        would not do."""
        return self.accumulator != "f16"

    @property
    def exact_magnitude(self) -> float:
        """The largest |value| among the exact check's inputs: 1 (-1, 0, 1), or 2 where block
        scales of 1 and 2 multiply them."""
        return scaled.EXACT_MAGNITUDE if self.scale else 1.0


# cudaDataType and cublasComputeType_t values (library_types.h, cublas_api.h).
CUDA_R_16F, CUDA_R_32F, CUDA_R_8I, CUDA_R_32I, CUDA_R_16BF = 2, 0, 3, 10, 14
COMPUTE_16F, COMPUTE_32F, COMPUTE_32I = 64, 68, 72
_NO_FP8 = "cuBLAS multiplies FP8 only through cublasLt, which CuPy does not expose"
_NO_NVFP4 = "cuBLAS multiplies NVFP4 only through cublasLt's block-scaled matmul, which CuPy does not expose"

FORMATS: tuple[Format, ...] = (
    Format("f16_f32acc", "gemm_f16_f32acc", "FP16 -> FP32 acc", "f16", 2, "f32", 16, "mma.f16", "f16_f32acc",
           (CUDA_R_16F, CUDA_R_32F, COMPUTE_32F)),
    Format("bf16_f32acc", "gemm_bf16_f32acc", "BF16 -> FP32 acc", "bf16", 2, "f32", 16, "mma.bf16", "bf16_f32acc",
           (CUDA_R_16BF, CUDA_R_32F, COMPUTE_32F)),
    Format("f16_f16acc", "gemm_f16_f16acc", "FP16 -> FP16 acc", "f16", 2, "f16", 16, "mma.f16", "f16_f16acc",
           (CUDA_R_16F, CUDA_R_16F, COMPUTE_16F), accumulation_bits=11),
    Format("s8", "gemm_s8_s32acc", "INT8 -> INT32 acc", "s8", 1, "s32", 32, "mma.s8", "s8",
           (CUDA_R_8I, CUDA_R_32I, COMPUTE_32I)),
    Format("e4m3_f32acc", "gemm_e4m3_f32acc_sm89", "FP8 e4m3 -> FP32 acc (sm_89 form)", "e4m3", 1, "f32", 32,
           "mma.fp8", "e4m3_f32acc", None, _NO_FP8, 13),
    Format("f8f6f4_e4m3_f32acc", "gemm_e4m3_f32acc_f8f6f4", "FP8 e4m3 -> FP32 acc (kind::f8f6f4)", "e4m3", 1, "f32",
           32, "mma.f8f6f4.fp8", "f8f6f4_e4m3_f32acc", None, _NO_FP8, 13),
    # NVFP4: mma.sync m16n8k64 kind::mxf4nvf4 scale_vec::4X (OMMA on sm_120a/f, sm_121a/f). No
    # published model says how many bits its f32 accumulation keeps: it is held to FP8's 13.
    Format("nvfp4", "gemm_nvfp4_f32acc", "NVFP4 (e2m1, ue4m3 per 16) -> FP32 acc", "e2m1", 1, "f32", 64,
           "mma.block_scale", "nvfp4", None, _NO_NVFP4, 13, elements_per_byte=2, scale="ue4m3",
           scale_block=scaled.BLOCK),
)

BY_KEY: dict[str, Format] = {f.key: f for f in FORMATS}


# ---------------------------------------------------------------- tiles

@dataclass(frozen=True)
class Tile:
    """A block tile (bm x bn), its warps, and how many K tiles are in flight."""

    bm: int
    bn: int
    warps_m: int
    warps_n: int
    stages: int

    @property
    def name(self) -> str:
        return f"{self.bm}x{self.bn}, {self.warps_m}x{self.warps_n} warps, {self.stages} stages"

    @property
    def threads(self) -> int:
        return 32 * self.warps_m * self.warps_n

    @property
    def warp_tile(self) -> tuple[int, int]:
        return self.bm // self.warps_m, self.bn // self.warps_n

    @property
    def shared_bytes(self) -> int:
        """Dynamic shared memory: every stage holds a K tile of A's rows and of B's columns."""
        return (self.bm + self.bn) * K_TILE_BYTES * self.stages

    def options(self) -> list[str]:
        return [f"-DSMBENCH_GEMM_BM={self.bm}", f"-DSMBENCH_GEMM_BN={self.bn}",
                f"-DSMBENCH_GEMM_WARPS_M={self.warps_m}", f"-DSMBENCH_GEMM_WARPS_N={self.warps_n}",
                f"-DSMBENCH_GEMM_STAGES={self.stages}"]

    def to_dict(self) -> dict:
        return {"bm": self.bm, "bn": self.bn, "warps_m": self.warps_m, "warps_n": self.warps_n,
                "stages": self.stages, "threads": self.threads, "shared_bytes": self.shared_bytes}


# Tiles for M > SKINNY_MAX_M, best first; the first that fits the target's shared memory
# is used. A 64 x 64 warp tile reads 4 KB of shared memory per 32 mma where 64 x 32 reads
# 3 KB per 16: on Hopper's mma.sync rate the smaller one is as much shared-memory bound
# as tensor bound, so the wide tile leads where it fits.
LARGE_TILES = (Tile(128, 256, 2, 4, 4), Tile(128, 256, 2, 4, 3), Tile(128, 128, 2, 4, 4), Tile(128, 128, 2, 4, 3),
               Tile(64, 128, 2, 4, 4))
# ptxas's FP8 emulation (F2FP unpacks, HMMA into a zero accumulator, FADD) needs registers
# a larger warp tile does not leave: it spills from 64 x 32 on.
EMULATED_WARP_TILE = (32, 32)
# Decode-shaped problems (M <= 16): one m16 row of tiles, narrow in N so that there are
# many blocks; the GEMM is a stream over B.
SKINNY_TILE = Tile(16, 64, 1, 4, 4)
SKINNY_MAX_M = 16


def choose_tile(fmt: Format, target: target_table.Target, m: int, shared_limit: int | None = None) -> Tile:
    """The tile for this format, target and M. `shared_limit` is the device's own opt-in
    limit when there is one, else the target table's."""
    if m <= SKINNY_MAX_M:
        return SKINNY_TILE
    limit = shared_limit if shared_limit is not None else target.shared_per_block
    emulated = target.support(fmt.feature) == target_table.EMULATED
    for tile in LARGE_TILES:
        if emulated and (tile.warp_tile[0] > EMULATED_WARP_TILE[0] or tile.warp_tile[1] > EMULATED_WARP_TILE[1]):
            continue
        if tile.shared_bytes <= limit:
            return tile
    raise SmbenchError(f"no GEMM tile fits {limit} bytes of shared memory per block")


def kernel_mask(fmt: Format, target: target_table.Target, tile: Tile, shared_limit: int | None = None) -> int:
    """The kernels (bits in FORMATS order, as gemm.cu numbers them) that a build with this tile
    holds: every format the target has that gets this tile (M of the skinny tile's class or of
    the large tiles'), and `fmt` itself. A build of one tile then compiles no body it never runs,
    and every format that shares the tile shares the build."""
    m = 1 if tile == SKINNY_TILE else SKINNY_MAX_M + 1
    mask = 1 << FORMATS.index(fmt)
    for index, other in enumerate(FORMATS):
        if target.support(other.feature) is not None and choose_tile(other, target, m, shared_limit) == tile:
            mask |= 1 << index
    return mask


def build_options(fmt: Format, target: target_table.Target, tile: Tile, shared_limit: int | None = None) -> list[str]:
    """NVRTC options of the build that runs `fmt` with `tile` on `target`: the tile, and which
    kernels it holds (SMBENCH_GEMM_ONLY)."""
    return tile.options() + [f"-DSMBENCH_GEMM_ONLY={kernel_mask(fmt, target, tile, shared_limit):#x}u"]


def compat_variants(target: target_table.Target) -> list[tuple[list[str], list[str]]]:
    """gemm.cu as `target` builds it, for `smbench compat`: one build per tile the formats get
    with a large M, each holding the kernels of the formats that get it, [(extra options,
    kernels)]. Built with the file's default tile, compat would show registers and spills the
    run never has (FP8 on sm_90a spilled in 128 x 128; the run takes 64 x 128)."""
    groups: dict[Tile, list[Format]] = {}
    for fmt in FORMATS:
        groups.setdefault(choose_tile(fmt, target, SKINNY_MAX_M + 1), []).append(fmt)
    variants = []
    for tile, chosen in groups.items():
        mask = sum(1 << FORMATS.index(fmt) for fmt in chosen)
        variants.append((tile.options() + [f"-DSMBENCH_GEMM_ONLY={mask:#x}u"], [fmt.kernel for fmt in chosen]))
    variants[0][1].extend(REDUCE_KERNELS)  # the split-K reduction, tile-independent: from the first build
    return variants


REDUCE_KERNELS = ["gemm_reduce_f32", "gemm_reduce_s32"]


def k_bytes(fmt: Format, k: int) -> int:
    """Bytes of one row of A (column of B) in memory: its elements (FP4 two to a byte)."""
    return -(-k // fmt.elements_per_byte) * fmt.element_bytes


def scale_bytes(fmt: Format, k: int) -> int:
    """Bytes of one row's block scales (one byte per block); 0 for an unscaled format."""
    return -(-k // fmt.scale_block) if fmt.scale else 0


def scale_pitch(fmt: Format, k: int) -> int:
    """Row pitch of the scales in bytes, a multiple of 16 as the elements' (0: no scales)."""
    return -(-scale_bytes(fmt, k) // 16) * 16


def stages(fmt: Format, tile: Tile) -> int:
    """K tiles in flight for this format in the tile's shared memory. A block-scaled format's
    stage also holds the K tile's scales (16 bytes a row beside 128 of elements), so its kernel
    keeps as many stages as the tile's shared memory holds (gemm.cu: Pipeline<Op>::kStages):
    one build's tile serves every format, the scaled one with a stage less (128 x 128 with 3
    stages on the Spark: 2 for NVFP4)."""
    per_row = K_TILE_BYTES + scale_bytes(fmt, K_TILE_BYTES * fmt.elements_per_byte)
    return tile.stages * K_TILE_BYTES // per_row


def tile_record(fmt: Format, tile: Tile) -> dict:
    """The tile as a record holds it, with the stages this format's kernel keeps."""
    return {**tile.to_dict(), "stages": stages(fmt, tile)}


def split_k(fmt: Format, tile: Tile, m: int, n: int, k: int, sm_count: int) -> int:
    """Slices of K for a problem with fewer output tiles than SMs: enough that about two
    blocks run per SM, each slice keeping at least `stages` K tiles to pipeline."""
    tiles = math.ceil(m / tile.bm) * math.ceil(n / tile.bn)
    k_tiles = math.ceil(k_bytes(fmt, k) / K_TILE_BYTES)
    if not fmt.splittable or tiles >= sm_count:
        return 1
    return max(1, min(MAX_SPLITS, k_tiles // stages(fmt, tile), math.ceil(2 * sm_count / tiles)))


def grid(tile: Tile, m: int, n: int, splits: int) -> tuple[int, int, int]:
    """One block per output tile (the kernel orders them in groups), times the K slices."""
    return math.ceil(m / tile.bm) * math.ceil(n / tile.bn), 1, splits


def leading_bytes(fmt: Format, k: int) -> int:
    """Row pitch of A and B in bytes: K elements rounded up to 16 bytes (cp.async copies
    16-byte chunks from 16-byte-aligned addresses). The padding is never read as data:
    the kernel zero-fills everything past K."""
    return -(-k_bytes(fmt, k) // 16) * 16


# ---------------------------------------------------------------- shapes

@dataclass(frozen=True)
class Shape:
    m: int
    n: int
    k: int
    kind: str  # square, llm, decode, tail

    @property
    def label(self) -> str:
        return f"{self.m}x{self.n}x{self.k}"

    @property
    def ops(self) -> float:
        return 2.0 * self.m * self.n * self.k


def shapes(settings: dict) -> list[Shape]:
    """The suite's shapes in a stable order, each once (the first kind that names it wins)."""
    found: dict[tuple[int, int, int], Shape] = {}
    for size in settings.get("squares", []):
        found.setdefault((size, size, size), Shape(size, size, size, "square"))
    for m, n, k in settings.get("shapes", []):
        found.setdefault((m, n, k), Shape(m, n, k, "llm"))
    for n, k in settings.get("decode_nk", []):
        for m in settings.get("decode_m", []):
            found.setdefault((m, n, k), Shape(m, n, k, "decode"))
    for m, n, k in settings.get("tails", []):
        found.setdefault((m, n, k), Shape(m, n, k, "tail"))
    return list(found.values())


# Bytes per element of the larger operand that drawing it on the GPU holds besides the operand
# (a float32 uniform, or int32 picks and a mask): at most two 4-byte temporaries.
DRAW_BYTES = 8


def footprint(fmt: Format, shape: Shape, splits: int = 1) -> int:
    """Device bytes one case needs at most: A and B (and their scales), and three C with their
    split-K slices (ours, cuBLAS's, the compute_80 build's), and the temporaries of drawing an
    operand (for a scaled format, also its host codes before they are packed)."""
    pitch = leading_bytes(fmt, shape.k) + scale_pitch(fmt, shape.k)
    out = np.dtype(fmt.output_dtype).itemsize
    draw = DRAW_BYTES + (np.dtype(fmt.storage_dtype).itemsize if fmt.scale else 0)
    return ((shape.m + shape.n) * pitch + 3 * shape.m * shape.n * out + 2 * splits * shape.m * shape.n * 4
            + draw * max(shape.m, shape.n) * shape.k)


def bytes_moved(fmt: Format, shape: Shape) -> int:
    """The least a GEMM must move to and from memory: A and B (and their scales) read once, C
    written once."""
    return ((shape.m + shape.n) * (k_bytes(fmt, shape.k) + scale_bytes(fmt, shape.k))
            + shape.m * shape.n * np.dtype(fmt.output_dtype).itemsize)


# ---------------------------------------------------------------- inputs

# e4m3 codes of magnitude <= 1 (and their negatives): the random FP8 operands.
_E4M3_UNIT = np.array([c for c in range(256) if abs(formats.decode("e4m3", c)) <= 1.0
                       and not math.isnan(formats.decode("e4m3", c))], dtype=np.uint8)
_E4M3_VALUES = np.array([formats.decode("e4m3", int(c)) for c in range(256)])


def decode(fmt: Format, codes: np.ndarray, dtype=np.float64) -> np.ndarray:
    """Stored operands -> their values, as float64 (or float32: every format here fits it)."""
    if fmt.scale:
        return scaled.decode(codes, dtype)
    if fmt.encoding in ("f16", "f32", "s8"):
        return codes.astype(dtype)
    if fmt.encoding == "bf16":
        return (codes.astype(np.uint32) << 16).view(np.float32).astype(dtype, copy=False)
    return _E4M3_VALUES.astype(dtype)[codes]


def random_operand(fmt: Format, rows: int, k: int, rng, xp=np) -> np.ndarray:
    """rows x k stored operand, values spread over (-1, 1) (s8: the whole range), each
    exactly representable: what the reference multiplies is what the GPU reads. `rng` is a
    NumPy Generator, or anything with its uniform/integers/random (the GPU path draws on the
    device with cuda's DeviceRandom, xp = cupy, and the host reads back what it checks)."""
    if fmt.scale:
        return scaled.random_codes(rows, k, rng, xp)
    if fmt.encoding in ("f16", "f32"):
        return rng.uniform(-1, 1, (rows, k)).astype(fmt.storage_dtype)
    if fmt.encoding == "bf16":
        return (rng.uniform(-1, 1, (rows, k)).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
    if fmt.encoding == "s8":
        return rng.integers(-128, 128, (rows, k), dtype=np.int8)
    return xp.asarray(_E4M3_UNIT)[rng.integers(0, len(_E4M3_UNIT), (rows, k), dtype=np.int32)]


_UNIT_CODES = {"f32": (1.0, -1.0), "f16": (0x3C00, 0xBC00), "bf16": (0x3F80, 0xBF80), "s8": (1, -1), "e4m3": (0x38, 0xB8),
               "e2m1": (0x2, 0xA)}


def exact_density(fmt: Format, k: int) -> float:
    """How many of A's entries are nonzero in the exact check: 2/3, or fewer when K is so
    long that sums of K terms +-1 (+-4 where block scales of 2 multiply them) could pass the
    accumulator's exact limit (f16: 2048)."""
    return min(2 / 3, fmt.exact_limit / (2 * k * fmt.exact_magnitude**2))


def exact_operand(fmt: Format, rows: int, k: int, rng, density: float = 2 / 3, xp=np) -> np.ndarray:
    """rows x k operand of -1, 0 and 1 (nonzero with probability `density`), a block-scaled
    format's blocks scaled by 1 or 2 at random: every product and partial sum is a small
    integer. `rng` and `xp` as for random_operand."""
    one, minus_one = _UNIT_CODES[fmt.encoding]
    table = xp.asarray(np.array([minus_one, 0, one]).astype(np.uint16 if fmt.encoding == "f16" else fmt.storage_dtype))
    if density >= 2 / 3:  # -1, 0 and 1 equally likely
        pick = rng.integers(0, 3, (rows, k), dtype=np.int8)
    else:
        pick = xp.where(rng.random((rows, k), dtype=np.float32) < density,
                        rng.integers(0, 2, (rows, k), dtype=np.int8) * 2, 1).astype(np.int8)
    codes = table[pick]
    if fmt.scale:
        return scaled.exact_scales(codes, rng, xp)
    return codes.view(np.float16) if fmt.encoding == "f16" else codes


def inputs_wrong(fmt: Format, a: np.ndarray, b: np.ndarray, exact: bool) -> str:
    """Why operand rows drawn elsewhere (on the GPU) are not what the checks assume, or '':
    the exact check needs -1, 0 and 1 only (times 1 or 2 where block scales multiply them); the
    random one finite values within (-1, 1) (s8: any) that are not all equal. The reference
    always multiplies the values read back, so this guards the checks' premises, not their
    arithmetic."""
    values = np.concatenate([decode(fmt, a).ravel(), decode(fmt, b).ravel()])
    if exact:
        allowed = (-2.0, -1.0, 0.0, 1.0, 2.0) if fmt.scale else (-1.0, 0.0, 1.0)
        stray = values[~np.isin(values, allowed)]
        named = [f"{v:g}" for v in allowed]
        return (f"an exact-check input is {stray[0]!r}, not {', '.join(named[:-1])} or {named[-1]}"
                if stray.size else "")
    if not np.all(np.isfinite(values)):
        return "a random input is not finite"
    if not fmt.integer and np.max(np.abs(values), initial=0.0) > 1:
        return f"a random input is {values[np.argmax(np.abs(values))]!r}, outside [-1, 1]"
    if values.size > 16 and np.all(values == values[0]):
        return f"every random input read back is {values[0]!r}"
    return ""


def padded(fmt: Format, operand, xp=np):
    """An unscaled operand (rows x K) in a buffer whose rows are leading_bytes long, zero padded
    (xp: NumPy on the host, CuPy for an operand drawn on the device)."""
    rows, k = operand.shape
    pitch = leading_bytes(fmt, k) // fmt.element_bytes
    if pitch == k:
        return xp.ascontiguousarray(operand)
    out = xp.zeros((rows, pitch), dtype=operand.dtype)
    out[:, :k] = operand
    return out


def device_layout(fmt: Format, operand, xp=np) -> tuple:
    """An operand (rows x K) as the kernel reads it: (elements, scales), rows leading_bytes and
    scale_pitch long, zero padded; scales None for an unscaled format."""
    if fmt.scale:
        return scaled.to_device(operand, xp)
    return padded(fmt, operand, xp), None


def from_device(fmt: Format, data: np.ndarray, scales: np.ndarray | None, k: int) -> np.ndarray:
    """Rows of device_layout's buffers read back to the host -> the operand's rows (K elements,
    the padding left out): the inverse of device_layout, so that the reference multiplies what
    the kernel read."""
    if fmt.scale:
        return scaled.from_device(data, scales, k)
    return np.asarray(data)[:, :k]


# ---------------------------------------------------------------- validation

def error_bound(fmt: Format, k: int, splits: int, magnitude: np.ndarray) -> np.ndarray:
    """Largest error allowed in each element of C against the float64 product.

    The products are exact (the inputs are exactly representable, and the tensor cores
    multiply exactly); the error comes from adding. Each mma adds its K-block into the
    accumulator and rounds once, or truncates, so the chain along K rounds about K / k
    times, and split K adds one rounding per slice. Each rounding is at most one unit in
    the last place of the running sum, and no running sum exceeds sum |a| |b|; twice that
    allows for the bits the fused block sum itself drops before it is rounded:

        |C - C64| <= 2 (ceil(K / k) + splits) u sum_k |a_ik| |b_kj|,   u = 2^-accumulation_bits

    plus the last rounding of C to its own type. It is a worst-case bound, far above the
    typical error (and loose for f16 accumulation over long K); the exact check, not this
    bound, is what catches a misplaced tile."""
    u = fmt.unit_roundoff
    roundings = math.ceil(k / fmt.k) + splits
    return 2 * roundings * u * magnitude + u * magnitude


EDGE = 64  # rows (columns) at each end of C that are always checked: the edge tiles
# Between them, one random row in every ROW_STRATUM and one random column in every COLUMN_STRATUM:
# the smallest warp tile of a tile with more than 16 rows is 32 x 32, the skinny tile's is
# 16 x 16 (and its M <= 16 rows are all checked), all aligned as the strata are.
ROW_STRATUM, COLUMN_STRATUM = 32, 16


def check_rows(m: int, rng: np.random.Generator, limit: int = 256, stratum: int = ROW_STRATUM) -> np.ndarray:
    """The rows (columns, with stratum=COLUMN_STRATUM) of C checked against float64: all of a
    small C; of a large one the first and last EDGE (the edge tiles, where the tails are) and
    one random index in every `stratum` between. So every warp tile has checked elements,
    whatever the tile: one written to the wrong place or not at all cannot go unchecked, as it
    could when rows were drawn at random (about 1 in 8 tile rows of an 8192^3 C had none)."""
    if m <= limit:
        return np.arange(m)
    starts = np.arange(EDGE, m - EDGE, stratum)
    widths = np.minimum(stratum, m - EDGE - starts)
    middle = starts + (rng.random(len(starts)) * widths).astype(np.int64)
    return np.concatenate([np.arange(EDGE), middle, np.arange(m - EDGE, m)])


def check_columns(n: int, rng: np.random.Generator, m: int) -> np.ndarray:
    """The columns of C checked: strata of COLUMN_STRATUM where M takes the skinny tile (its
    warp tiles are 16 columns wide), of ROW_STRATUM otherwise (32 columns at least)."""
    return check_rows(n, rng, stratum=COLUMN_STRATUM if m <= SKINNY_MAX_M else ROW_STRATUM)


# Columns of K decoded at a time: temporaries of a few MB stay under glibc's mmap threshold
# (32 MB) and are reused rather than faulted in afresh, which cost more than the arithmetic
# (an 8192^3 case's sample decoded whole took ~1 s of page faults on the 2-core machine).
K_CHUNK = 1024


def _chunks(k: int):
    return (slice(start, min(k, start + K_CHUNK)) for start in range(0, k, K_CHUNK))


@functools.lru_cache(maxsize=None)
def _blas():
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # not on every GPU machine's own Python: the checks run as BLAS likes
        return None
    return ThreadpoolController()


def _one_blas_thread():
    """The checks' products are small (hundreds of rows and columns, K a chunk at a time): one
    BLAS thread does them about as fast, and does not spin at a barrier for a core the host
    gave to something else (on 2 shared cores that made the same checks take 3 s or 19 s)."""
    controller = _blas()
    return controller.limit(limits=1, user_api="blas") if controller is not None else contextlib.nullcontext()


def _exact_product(fmt: Format, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, float]:
    """(a @ b.T of small integers (-1/0/1, times block scales of 1 or 2), a bound on sum |a||b|:
    the fewer nonzeros of any row of a or b times the largest |a| and |b|), through float32
    BLAS a chunk of K at a time: every partial sum is an integer within 4 K < 2^24 (checked), exact
    in float32."""
    want = np.zeros((a.shape[0], b.shape[0]), dtype=np.float32)
    nonzero_a, nonzero_b = np.zeros(a.shape[0], dtype=np.int64), np.zeros(b.shape[0], dtype=np.int64)
    largest_a = largest_b = 0.0
    with _one_blas_thread():
        for part in _chunks(a.shape[1]):
            av, bv = decode(fmt, a[:, part], np.float32), decode(fmt, b[:, part], np.float32)
            want += av @ bv.T
            nonzero_a += np.count_nonzero(av, axis=1)
            nonzero_b += np.count_nonzero(bv, axis=1)
            largest_a = max(largest_a, float(np.abs(av).max(initial=0.0)))
            largest_b = max(largest_b, float(np.abs(bv).max(initial=0.0)))
    most = min(int(nonzero_a.max(initial=0)), int(nonzero_b.max(initial=0)))
    return want.astype(np.float64), most * largest_a * largest_b


def _reach(fmt: Format, a: np.ndarray, b: np.ndarray) -> float:
    """The largest sum |a| |b| over K (exactly: integers within K, in float32), a chunk at a time."""
    total = np.zeros((a.shape[0], b.shape[0]), dtype=np.float32)
    with _one_blas_thread():
        for part in _chunks(a.shape[1]):
            total += np.abs(decode(fmt, a[:, part], np.float32)) @ np.abs(decode(fmt, b[:, part], np.float32)).T
    return float(total.max(initial=0.0))


def _reference_sums(fmt: Format, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(a @ b.T in float64, |a| @ |b|.T), a chunk of K at a time. The magnitude, the error
    bound's scale, goes through float32 BLAS: a sum of K nonnegative terms in float32 is within
    K 2^-24 of the true one, so it is raised by K 2^-23 to stay an upper bound."""
    want = np.zeros((a.shape[0], b.shape[0]))
    magnitude = np.zeros((a.shape[0], b.shape[0]), dtype=np.float32)
    with _one_blas_thread():
        for part in _chunks(a.shape[1]):
            av, bv = decode(fmt, a[:, part]), decode(fmt, b[:, part])
            want += av @ bv.T
            magnitude += np.abs(av).astype(np.float32) @ np.abs(bv).astype(np.float32).T
    return want, magnitude.astype(np.float64) * (1 + a.shape[1] * 2.0**-23)


def _where(rows: np.ndarray, cols: np.ndarray | None, i: int, j: int) -> str:
    return f"C[{int(rows[i])}, {int(cols[j]) if cols is not None else j}]"


def _checked(got: np.ndarray, rows: np.ndarray, cols: np.ndarray | None) -> str:
    return f"{got.size} values ({len(rows)} rows x {got.shape[1]}" + (" columns)" if cols is not None else ")")


def validate_exact(fmt: Format, got: np.ndarray, a: np.ndarray, b: np.ndarray, rows: np.ndarray,
                   cols: np.ndarray | None = None, sampled: bool = False) -> Validation:
    """C from -1/0/1 inputs against the integer product, element for element, at the checked
    rows and columns (cols None: every column). Exact whatever the order of the additions,
    because no partial sum can pass sum |a| |b|, which is checked to be within the
    accumulator's exact limit. `a` and `b` are the whole operands, or with sampled=True only
    A's checked rows and B's checked columns (the GPU path reads back no more)."""
    a_rows = a if sampled else a[rows]
    b_cols = b if sampled or cols is None else b[cols]
    if a_rows.shape[1] * fmt.exact_magnitude**2 >= 2**24:
        raise SmbenchError(f"K = {a_rows.shape[1]}: the exact check holds K x {fmt.exact_magnitude**2:g} "
                           f"under 2^24")
    want, most = _exact_product(fmt, a_rows, b_cols)
    # sum |a| |b| over K is at most the fewer nonzeros of the two vectors times the largest
    # magnitudes: only where that bound passes the limit is the product of magnitudes needed.
    reach = float(most)
    if reach > fmt.exact_limit and want.size:
        reach = _reach(fmt, a_rows, b_cols)
    if reach > fmt.exact_limit:
        return Validation(False, 0, f"the exact check's inputs reach {reach:g}, past the exact limit "
                          f"{fmt.exact_limit} of the accumulation")
    got = got.astype(np.float64)
    if got.shape != want.shape:
        return Validation(False, int(got.size), f"C has shape {got.shape}, expected {want.shape}")
    wrong = np.argwhere(got != want)
    if len(wrong):
        i, j = (int(x) for x in wrong[0])
        return Validation(False, int(got.size), f"{len(wrong)} of {got.size} values differ from the exact product; "
                          f"{_where(rows, cols, i, j)} = {got[i, j]:g}, expected {want[i, j]:g}",
                          float(np.max(np.abs(got - want))), 0.0)
    inputs = "-1/0/1 inputs" + (" in blocks scaled by 1 or 2" if fmt.scale else "")
    return Validation(True, int(got.size), f"{_checked(got, rows, cols)} equal the exact product of {inputs}", 0.0, 0.0)


def normwise_tolerance(fmt: Format, k: int, splits: int) -> float:
    """Largest normwise relative error ||C - C64||_F / ||C64||_F a correct GEMM may show.

    The elementwise bound above is a worst case; for f16 accumulation or FP8 over a long K
    it is so loose that a C of zeros would meet it. This one has power: with n = ceil(K / k)
    + splits roundings of the running sum, 2 n u covers an accumulation that truncates by up
    to a unit in the last place every time (its error grows linearly), 10 sqrt(n) u one that
    rounds to nearest (it grows like sqrt(n)) with a wide margin. Capped at 1/2: a C of zeros
    always fails; one half its size fails wherever the accumulation allows telling (not for
    f16 accumulation beyond K of about 4000, where truncation alone may lose that much)."""
    if fmt.integer:
        return 0.0
    n = math.ceil(k / fmt.k) + splits
    return min(0.5, (2 * n + 10 * math.sqrt(n)) * fmt.unit_roundoff)


@dataclass
class Reference:
    """The float64 product at the checked rows and columns, and sum |a| |b| for their bound:
    computed once per set of inputs, then held against every result made from them (ours,
    cuBLAS's, the compute_80 build's, the emulator's)."""

    want: np.ndarray
    magnitude: np.ndarray
    rows: np.ndarray
    k: int
    cols: np.ndarray | None = None  # None: every column


def reference(fmt: Format, a: np.ndarray, b: np.ndarray, rows: np.ndarray, cols: np.ndarray | None = None,
              sampled: bool = False) -> Reference:
    """`a` and `b` whole, or with sampled=True only A's checked rows and B's checked columns."""
    want, magnitude = _reference_sums(fmt, a if sampled else a[rows], b if sampled or cols is None else b[cols])
    return Reference(want, magnitude, rows, a.shape[1], cols)


def validate_random(fmt: Format, got: np.ndarray, ref: Reference, splits: int) -> tuple[Validation, dict]:
    """C's checked rows from random inputs against float64: every element within error_bound,
    and the normwise error within normwise_tolerance; also the error figures."""
    want, rows = ref.want, ref.rows
    got = got.astype(np.float64)
    if got.shape != want.shape:
        return Validation(False, int(got.size), f"C has shape {got.shape}, expected {want.shape}"), {}
    errors = np.abs(got - want)
    bound = error_bound(fmt, ref.k, splits, ref.magnitude)
    tolerance = normwise_tolerance(fmt, ref.k, splits)
    figures = {**error_figures(got, want), "normwise_tolerance": tolerance}
    over = np.argwhere(~(errors <= bound))  # NaN fails too
    # The largest absolute error and the bound of that element (the bound varies by element).
    at = np.unravel_index(int(np.nanargmax(errors)), errors.shape) if errors.size and not np.isnan(errors).all() \
        else None
    largest, its_bound = (float(errors[at]), float(bound[at])) if at is not None else (0.0, 0.0)
    if len(over):
        i, j = (int(x) for x in over[0])
        return Validation(False, int(got.size), f"{len(over)} of {got.size} values outside the error bound; "
                          f"{_where(rows, ref.cols, i, j)} = {got[i, j]!r}, float64 {want[i, j]!r}, bound "
                          f"{bound[i, j]:.3g}", largest, its_bound), figures
    if not figures["normwise_relative"] <= tolerance:
        return Validation(False, int(got.size), f"normwise relative error {figures['normwise_relative']:.3g} "
                          f"above {tolerance:.3g} (every element within the worst-case bound, but the result as a "
                          f"whole is wrong)", largest, its_bound), figures
    worst = float(np.max(errors / np.where(bound > 0, bound, 1))) if errors.size else 0.0
    return Validation(True, int(got.size), f"{got.size} values within the error bound of float64 (worst at "
                      f"{100 * worst:.1f}% of its bound); normwise error {figures['normwise_relative']:.2g} "
                      f"<= {tolerance:.2g}", largest, its_bound), figures


def error_figures(got: np.ndarray, want: np.ndarray) -> dict:
    """Normwise relative error (Frobenius) and the largest elementwise one over nonzero
    references: comparable between our kernel and cuBLAS on the same inputs."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    norm = float(np.linalg.norm(want))
    nonzero = want != 0
    return {"normwise_relative": float(np.linalg.norm(got - want)) / norm if norm else 0.0,
            "max_relative": float(np.max(np.abs(got[nonzero] - want[nonzero]) / np.abs(want[nonzero])))
            if nonzero.any() else 0.0}


# ---------------------------------------------------------------- figures of merit

def figures(fmt: Format, shape: Shape, seconds: float, mma_peak: float | None, spec_peak: float | None,
            expected_gbps: float | None) -> dict:
    """TFLOP/s (TOPS), % of the measured mma.sync loop and of the spec peak, and the
    bandwidth the minimum traffic implies (the figure of merit for skinny M)."""
    tflops = shape.ops / seconds / 1e12
    gbps = bytes_moved(fmt, shape) / seconds / 1e9
    return {"tflops": tflops, "percent_of_mma_peak": 100 * tflops / mma_peak if mma_peak else None,
            "percent_of_spec": 100 * tflops / spec_peak if spec_peak else None, "gbps": gbps,
            "percent_of_bandwidth": 100 * gbps / expected_gbps if expected_gbps else None}


def gate(fmt: Format, target: target_table.Target) -> tuple[str, str]:
    """("native" | "emulated" | "skipped", why), by the target table, as for the peak loops."""
    from smbench.families import peak

    return peak.gate_feature(fmt.feature, fmt.group, target)


# The loop body the SASS must show: the format's tensor instruction (an emulated one is
# HMMA), the shared-memory fragment loads and the asynchronous copies.
def main_loop_check(histogram: dict[str, int]) -> tuple[bool, str]:
    from smbench import sass

    tensor = sum(n for op, n in histogram.items() if sass.is_tensor(op))
    ldsm = sum(n for op, n in histogram.items() if op.startswith("LDSM"))
    ldgsts = sum(n for op, n in histogram.items() if op.startswith("LDGSTS"))
    ok = tensor > 0 and ldsm > 0 and ldgsts > 0
    return ok, f"main loop: {tensor} tensor, {ldsm} LDSM, {ldgsts} LDGSTS instructions"
