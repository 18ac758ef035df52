"""NVFP4 operands of the GEMM family: e2m1 elements, one ue4m3 scale per 16 of them along K.

On the host an operand is one array of codes, rows x K, uint16: each element's e2m1 code in
bits 0-3 and its block's ue4m3 scale code in bits 4-10. Every element of a block of 16 holds
its block's scale, so the family's generic code (drawing, decoding, the exact check, the
float64 reference, reading rows back) treats it as any other format: rows and K chunks that
start at a multiple of 16 slice it without splitting a block. Decoded, an element is its e2m1
value times its scale: at most 2 x 4 significant bits, exact in float32 and float64.

On the device (kernels/gemm.cu) the same operand is two buffers, rows padded to 16 bytes (the
kernel's cp.async copies 16-byte chunks): the elements, packed two per byte along K, element
2i in the low nibble and 2i + 1 in the high one (mma.sync's 4-bit fragments hold eight
consecutive elements of K per 32-bit word, the first in the lowest bits: smbench.fragments,
layout "b4"; so four bytes of a row, read as one little-endian word, are a fragment word); and
the scales, one byte per block of 16 in K order (a 32-bit word of a row: the four blocks of one
m16n8k64 step, byte j the scale of block j, as the block-scaled mma reads its scale operand).
"""

from __future__ import annotations

import numpy as np

from smbench import formats

BLOCK = 16  # elements of K per scale (NVFP4)
SCALE_SHIFT = 4  # where the scale code sits in a host code
ELEMENTS, SCALES = formats.MINIFLOATS["e2m1"], formats.MINIFLOATS["ue4m3"]
# A host code -> its value: VALUES[scale << 4 | element] = ue4m3(scale) x e2m1(element).
VALUES = np.outer(SCALES.values, ELEMENTS.values).ravel()

# Random inputs: every e2m1 code, and normal ue4m3 scales up to 1/6 (2^-6 ... 0.15625), so that
# |element x scale| <= 6 x 0.15625 < 1 as every float format's random inputs are, with the scales'
# mantissas in play (a kernel that read ue4m3 as a power of two would be caught).
RANDOM_SCALES = np.array([c for c in range(1 << SCALES.bits) if 2.0**-6 <= SCALES.values[c] <= 1 / 6],
                         dtype=np.uint16)
# The exact check: elements -1, 0 and 1, scales 1 and 2 (every product an integer, every block's
# scale in play: a scale read from the wrong block, row or operand changes the integer product).
EXACT_SCALES = np.array([SCALES.encode(1.0), SCALES.encode(2.0)], dtype=np.uint16)
EXACT_MAGNITUDE = 2.0  # the largest |element x scale| of the exact check's inputs


def blocks(k: int) -> int:
    return -(-k // BLOCK)


def data_bytes(k: int) -> int:
    """Bytes of one row's elements, two per byte (an odd K's last high nibble is zero)."""
    return -(-k // 2)


def pitch(nbytes: int) -> int:
    return -(-nbytes // 16) * 16


def with_scales(elements, scale_codes, k: int, xp=np):
    """Element codes (rows x k, 0..15) and their blocks' scale codes (rows x blocks(k)) -> host codes."""
    rows = elements.shape[0]
    spread = xp.zeros((rows, blocks(k) * BLOCK), dtype=np.uint16)
    spread.reshape(rows, blocks(k), BLOCK)[...] = scale_codes.astype(np.uint16)[:, :, None]
    # NumPy-typed scalars: uint16 stays uint16 under every promotion rule (CuPy's included).
    return elements.astype(np.uint16) | (spread[:, :k] << np.uint16(SCALE_SHIFT))


def random_codes(rows: int, k: int, rng, xp=np):
    """rows x k random host codes: any e2m1 element, a random scale of RANDOM_SCALES per block.
    `rng` and `xp` as for gemm.random_operand (NumPy, or cuRAND and CuPy on the GPU)."""
    elements = rng.integers(0, 1 << ELEMENTS.bits, (rows, k), dtype=np.int32)
    picks = rng.integers(0, len(RANDOM_SCALES), (rows, blocks(k)), dtype=np.int32)
    return with_scales(elements, xp.asarray(RANDOM_SCALES)[picks], k, xp)


def exact_scales(elements, rng, xp=np):
    """Element codes of -1, 0, 1 (rows x k) -> host codes, each block scaled by 1 or 2 at random."""
    rows, k = elements.shape
    picks = rng.integers(0, len(EXACT_SCALES), (rows, blocks(k)), dtype=np.int32)
    return with_scales(elements, xp.asarray(EXACT_SCALES)[picks], k, xp)


def element_codes(codes):
    return codes & np.uint16((1 << SCALE_SHIFT) - 1)


def scale_codes(codes):
    """rows x blocks: each block's scale code (read from its first element)."""
    return codes[:, ::BLOCK] >> np.uint16(SCALE_SHIFT)


def decode(codes, dtype=np.float64) -> np.ndarray:
    return VALUES.astype(dtype)[codes]


def split(codes) -> tuple[np.ndarray, np.ndarray]:
    """(the elements' e2m1 values, rows x k; each block's scale, rows x blocks): the two halves
    the block-scaled mma multiplies, as the emulator takes them."""
    return ELEMENTS.values[element_codes(codes)], SCALES.values[scale_codes(codes)]


def to_device(codes, xp=np):
    """Host codes (rows x k) -> (packed elements, rows x pitch(data_bytes(k)) uint8; scales, rows x
    pitch(blocks(k)) uint8), zero past K: the two buffers kernels/gemm.cu reads."""
    rows, k = codes.shape
    nibbles = xp.zeros((rows, 2 * data_bytes(k)), dtype=np.uint8)
    nibbles[:, :k] = element_codes(codes).astype(np.uint8)
    data = xp.zeros((rows, pitch(data_bytes(k))), dtype=np.uint8)
    data[:, :data_bytes(k)] = nibbles[:, 0::2] | (nibbles[:, 1::2] << np.uint8(4))
    scales = xp.zeros((rows, pitch(blocks(k))), dtype=np.uint8)
    scales[:, :blocks(k)] = scale_codes(codes).astype(np.uint8)
    return data, scales


def from_device(data: np.ndarray, scales: np.ndarray, k: int) -> np.ndarray:
    """The device's two buffers (rows read back to the host) -> host codes, rows x k: what the
    kernel multiplies, decoded as to_device encodes it."""
    data = np.asarray(data, dtype=np.uint8)[:, :data_bytes(k)]
    nibbles = np.stack([data & 0xF, data >> 4], axis=-1).reshape(data.shape[0], -1)[:, :k]
    return with_scales(nibbles, np.asarray(scales, dtype=np.uint8)[:, :blocks(k)], k)
