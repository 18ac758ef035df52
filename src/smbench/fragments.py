"""Where each matrix element of an mma.sync sits in the warp's registers (PTX ISA, "Matrix
Fragments for mma.m16n8k*"), and packing whole tiles into fragment words and back.

g = lane / 4 (the group), t = lane % 4 (the thread in the group). A is 16 x K (row major
in the instruction's terms), B is K x 8, C and D are 16 x 8.
"""

from __future__ import annotations

import numpy as np

from smbench import formats

M, N = 16, 8

# Layout kinds by element width and K: 16-bit (f16/bf16) m16n8k16, tf32 m16n8k8, 8-bit
# containers (FP8, and FP6/FP4 under kind::f8f6f4) m16n8k32, packed 4-bit m16n8k64.
LAYOUTS = {"b16": 16, "tf32": 8, "b8": 32, "b4": 64}
PER_REGISTER = {"b16": 2, "tf32": 1, "b8": 4, "b4": 8}


def a_position(layout: str, lane: int, register: int, index: int) -> tuple[int, int]:
    """(row, column of A) held by this lane's A register and element index."""
    g, t = lane >> 2, lane & 3
    if layout == "tf32":
        return g + 8 * (register % 2), t + 4 * (register // 2)
    if layout == "b16":
        return g + 8 * (register % 2), t * 2 + index + 8 * (register // 2)
    width = PER_REGISTER[layout]  # 4 (8-bit) or 8 (4-bit) elements per register
    return g + 8 * (register % 2), t * width + index + (K_HALF[layout]) * (register // 2)


K_HALF = {"b8": 16, "b4": 32}


def b_position(layout: str, lane: int, register: int, index: int) -> tuple[int, int]:
    """(row k, column n of B) held by this lane's B register and element index."""
    g, t = lane >> 2, lane & 3
    if layout == "tf32":
        return t + 4 * register, g
    if layout == "b16":
        return t * 2 + index + 8 * register, g
    width = PER_REGISTER[layout]
    return t * width + index + K_HALF[layout] * register, g


def d_position(lane: int, element: int) -> tuple[int, int]:
    """(row, column of C/D) of accumulator element 0..3 of a lane (f32: one per register;
    f16: two per register, element = register * 2 + half)."""
    g, t = lane >> 2, lane & 3
    return g + 8 * (element // 2), t * 2 + element % 2


def _codes(name: str, values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if name in formats.MINIFLOATS:
        encode = formats.MINIFLOATS[name].encode
        return np.array([encode(v) for v in values.ravel()], dtype=np.uint64).reshape(values.shape)
    if name == "f16":
        return values.astype(np.float16).view(np.uint16).astype(np.uint64)
    words = values.astype(np.float32).view(np.uint32).astype(np.uint64)
    return words >> np.uint64(16) if name == "bf16" else words


def _values(name: str, codes: np.ndarray) -> np.ndarray:
    codes = np.asarray(codes, dtype=np.uint64)
    if name in formats.MINIFLOATS:
        return formats.MINIFLOATS[name].values[codes.astype(np.int64)]
    if name == "f16":
        return codes.astype(np.uint16).view(np.float16).astype(np.float64)
    if name == "bf16":
        codes = codes << np.uint64(16)
    return codes.astype(np.uint32).view(np.float32).astype(np.float64)


def _operand(layout: str, name: str, matrix: np.ndarray, registers: int, position, bits: int,
             shift: int) -> np.ndarray:
    codes = _codes(name, matrix)
    words = np.zeros((32, registers), dtype=np.uint64)
    for lane in range(32):
        for register in range(registers):
            for index in range(PER_REGISTER[layout]):
                row, column = position(layout, lane, register, index)
                words[lane, register] |= (codes[row, column] << np.uint64(shift)) << np.uint64(index * bits)
    return words.astype(np.uint32)


def pack_a(layout: str, name: str, a: np.ndarray, bits: int, shift: int = 0) -> np.ndarray:
    """A (16 x K) -> 32 lanes x 4 words."""
    return _operand(layout, name, a, 4, a_position, bits, shift)


def pack_b(layout: str, name: str, b: np.ndarray, bits: int, shift: int = 0) -> np.ndarray:
    """B (K x 8) -> 32 lanes x 2 words."""
    return _operand(layout, name, b, 2, b_position, bits, shift)


def _unpack(layout: str, name: str, words: np.ndarray, shape, registers: int, position, bits: int,
            shift: int) -> np.ndarray:
    width = formats.bits(name)
    mask = np.uint64((1 << width) - 1)
    out = np.zeros(shape)
    for lane in range(32):
        for register in range(registers):
            word = np.uint64(words[lane, register])
            for index in range(PER_REGISTER[layout]):
                code = (word >> np.uint64(index * bits + shift)) & mask
                out[position(layout, lane, register, index)] = _values(name, np.array([code]))[0]
    return out


def unpack_a(layout: str, name: str, words: np.ndarray, bits: int, shift: int = 0) -> np.ndarray:
    return _unpack(layout, name, words, (M, LAYOUTS[layout]), 4, a_position, bits, shift)


def unpack_b(layout: str, name: str, words: np.ndarray, bits: int, shift: int = 0) -> np.ndarray:
    return _unpack(layout, name, words, (LAYOUTS[layout], N), 2, b_position, bits, shift)


def pack_accumulator(accumulator: str, c: np.ndarray) -> np.ndarray:
    """C (16 x 8) -> 32 lanes x (4 words of f32, or 2 words of two f16)."""
    kind = np.float32 if accumulator == "f32" else np.float16
    lanes = np.zeros((32, 4), dtype=kind)
    for lane in range(32):
        for element in range(4):
            lanes[lane, element] = c[d_position(lane, element)]
    return lanes.view(np.uint32).reshape(32, -1)


def unpack_accumulator(accumulator: str, words: np.ndarray) -> np.ndarray:
    kind = np.float32 if accumulator == "f32" else np.float16
    lanes = np.ascontiguousarray(words, dtype=np.uint32).view(kind).reshape(32, 4)
    d = np.zeros((M, N))
    for lane in range(32):
        for element in range(4):
            d[d_position(lane, element)] = lanes[lane, element]
    return d


# Block scales (mma.sync ... .block_scale, PTX ISA "Block Scaling for mma.sync"): each lane
# passes one 32-bit scale word for A and one for B, and the selectors {byte-id, thread-id}
# say which lanes and bytes the instruction reads. The kernels (kernels/mma_ops.cuh) use
# {0, 0} for both, so: for A, the lanes with t = 0 and t = 1 of each group give the scales of
# rows g and g + 8; for B, the lane with t = 0 gives column g's; byte j of the word is the
# scale of K block j (scale_vec::1X: one block of 32, byte 0; 2X: two of 32, bytes 0-1; 4X:
# four of 16, bytes 0-3). The hardware reads no other lane or byte.

def scale_position(operand: str, lane: int, byte: int, blocks: int) -> tuple[int, int] | None:
    """(row of A, or column of B, K block) whose scale this lane's scale word holds in this
    byte under the {0, 0} selectors; None where the instruction reads nothing."""
    g, t = lane >> 2, lane & 3
    if byte >= blocks:
        return None
    if operand == "a":
        return (g + 8 * t, byte) if t < 2 else None
    return (g, byte) if t == 0 else None


def pack_scales(scale_format: str, a_scales: np.ndarray, b_scales: np.ndarray) -> np.ndarray:
    """A's scales (16 x blocks) and B's (8 x blocks) -> 32 lanes x 2 words (A's word, B's
    word), each scale's code in its byte; bytes the instruction does not read are 0."""
    blocks = a_scales.shape[1]
    words = np.zeros((32, 2), dtype=np.uint64)
    for column, (operand, scales) in enumerate((("a", a_scales), ("b", b_scales))):
        codes = _codes(scale_format, scales)
        for lane in range(32):
            for byte in range(4):
                where = scale_position(operand, lane, byte, blocks)
                if where is not None:
                    words[lane, column] |= codes[where] << np.uint64(8 * byte)
    return words.astype(np.uint32)


def unpack_scales(scale_format: str, words: np.ndarray, blocks: int) -> tuple[np.ndarray, np.ndarray]:
    """The scales the instruction reads from 32 lanes x 2 words: (A's 16 x blocks, B's 8 x blocks)."""
    out = {"a": np.full((M, blocks), np.nan), "b": np.full((N, blocks), np.nan)}
    for column, operand in enumerate("ab"):
        for lane in range(32):
            for byte in range(4):
                where = scale_position(operand, lane, byte, blocks)
                if where is not None:
                    code = (int(words[lane, column]) >> (8 * byte)) & 0xFF
                    out[operand][where] = _values(scale_format, np.array([code]))[0]
    return out["a"], out["b"]
