"""Where each matrix element of an mma.sync sits in the warp's registers (PTX ISA, "Matrix
Fragments for mma.m16n8k*"), and packing whole tiles into fragment words and back.

g = lane / 4 (the group), t = lane % 4 (the thread in the group). A is 16 x K (row major
in the instruction's terms), B is K x 8, C and D are 16 x 8.
"""

from __future__ import annotations

import functools

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
        return formats.MINIFLOATS[name].encode_many(values)
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


@functools.lru_cache(maxsize=None)
def _positions(layout: str, operand: str) -> tuple[np.ndarray, np.ndarray]:
    """(rows, columns), each lanes x registers x elements: where every element of every
    register of an operand's fragment sits in its matrix. The position functions above are
    the one statement of the layout; this is their table, so that whole batches of tiles
    are packed with one gather instead of a Python loop per element."""
    registers, position = (4, a_position) if operand == "a" else (2, b_position)
    found = np.array([[[position(layout, lane, register, index) for index in range(PER_REGISTER[layout])]
                       for register in range(registers)] for lane in range(32)])
    return found[..., 0], found[..., 1]


def _operand(layout: str, name: str, matrices: np.ndarray, operand: str, bits: int, shift: int) -> np.ndarray:
    """Tiles (... x rows x columns) -> their fragment words (... x 32 lanes x registers)."""
    rows, columns = _positions(layout, operand)
    codes = _codes(name, matrices)[..., rows, columns]  # ... x lanes x registers x elements
    offsets = np.arange(PER_REGISTER[layout], dtype=np.uint64) * np.uint64(bits) + np.uint64(shift)
    return np.bitwise_or.reduce(codes << offsets, axis=-1).astype(np.uint32)


def pack_a(layout: str, name: str, a: np.ndarray, bits: int, shift: int = 0) -> np.ndarray:
    """A (16 x K) -> 32 lanes x 4 words; a stack of tiles (... x 16 x K) -> ... x 32 x 4."""
    return _operand(layout, name, a, "a", bits, shift)


def pack_b(layout: str, name: str, b: np.ndarray, bits: int, shift: int = 0) -> np.ndarray:
    """B (K x 8) -> 32 lanes x 2 words; a stack of tiles (... x K x 8) -> ... x 32 x 2."""
    return _operand(layout, name, b, "b", bits, shift)


def _unpack(layout: str, name: str, words: np.ndarray, shape, operand: str, bits: int, shift: int) -> np.ndarray:
    rows, columns = _positions(layout, operand)
    offsets = np.arange(PER_REGISTER[layout], dtype=np.uint64) * np.uint64(bits) + np.uint64(shift)
    codes = (np.asarray(words, dtype=np.uint64)[..., None] >> offsets) & np.uint64((1 << formats.bits(name)) - 1)
    out = np.zeros(shape)
    out[rows, columns] = _values(name, codes)
    return out


def unpack_a(layout: str, name: str, words: np.ndarray, bits: int, shift: int = 0) -> np.ndarray:
    return _unpack(layout, name, words, (M, LAYOUTS[layout]), "a", bits, shift)


def unpack_b(layout: str, name: str, words: np.ndarray, bits: int, shift: int = 0) -> np.ndarray:
    return _unpack(layout, name, words, (LAYOUTS[layout], N), "b", bits, shift)


@functools.lru_cache(maxsize=None)
def _d_positions() -> tuple[np.ndarray, np.ndarray]:
    found = np.array([[d_position(lane, element) for element in range(4)] for lane in range(32)])
    return found[..., 0], found[..., 1]


def pack_accumulator(accumulator: str, c: np.ndarray) -> np.ndarray:
    """C (16 x 8) -> 32 lanes x (4 words of f32, or 2 words of two f16); a stack of tiles
    (... x 16 x 8) -> ... x 32 x words."""
    kind = np.float32 if accumulator == "f32" else np.float16
    rows, columns = _d_positions()
    lanes = np.ascontiguousarray(np.asarray(c)[..., rows, columns].astype(kind))
    return lanes.view(np.uint32).reshape(*lanes.shape[:-2], 32, -1)


def unpack_accumulator(accumulator: str, words: np.ndarray) -> np.ndarray:
    """32 lanes x words -> D (16 x 8); a stack (... x 32 x words) -> ... x 16 x 8."""
    kind = np.float32 if accumulator == "f32" else np.float16
    words = np.ascontiguousarray(words, dtype=np.uint32)
    lanes = words.view(kind).reshape(*words.shape[:-2], 32, 4)
    rows, columns = _d_positions()
    d = np.zeros((*lanes.shape[:-2], M, N))
    d[..., rows, columns] = lanes
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


@functools.lru_cache(maxsize=None)
def _scale_table(operand: str, blocks: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(lanes, bytes, rows, blocks) of every scale the instruction reads: scale_position as a table."""
    found = [(lane, byte, *where) for lane in range(32) for byte in range(4)
             if (where := scale_position(operand, lane, byte, blocks)) is not None]
    return tuple(np.array(column, dtype=np.int64) for column in zip(*found))


def pack_scales(scale_format: str, a_scales: np.ndarray, b_scales: np.ndarray) -> np.ndarray:
    """A's scales (16 x blocks) and B's (8 x blocks) -> 32 lanes x 2 words (A's word, B's
    word), each scale's code in its byte; bytes the instruction does not read are 0. Stacks
    (... x 16 x blocks, ... x 8 x blocks) -> ... x 32 x 2."""
    a_scales, b_scales = np.asarray(a_scales), np.asarray(b_scales)
    blocks = a_scales.shape[-1]
    words = np.zeros((*a_scales.shape[:-2], 32, 2), dtype=np.uint64)
    for column, (operand, scales) in enumerate((("a", a_scales), ("b", b_scales))):
        lanes, places, rows, which = _scale_table(operand, blocks)
        codes = _codes(scale_format, scales)[..., rows, which] << (np.uint64(8) * places.astype(np.uint64))
        for byte in range(4):  # within one byte each lane appears once: |= by fancy index is safe
            mine = places == byte
            words[..., lanes[mine], column] |= codes[..., mine]
    return words.astype(np.uint32)


def unpack_scales(scale_format: str, words: np.ndarray, blocks: int) -> tuple[np.ndarray, np.ndarray]:
    """The scales the instruction reads from 32 lanes x 2 words: (A's 16 x blocks, B's 8 x blocks)."""
    out = {"a": np.full((M, blocks), np.nan), "b": np.full((N, blocks), np.nan)}
    words = np.asarray(words, dtype=np.uint64)
    for column, operand in enumerate("ab"):
        lanes, places, rows, which = _scale_table(operand, blocks)
        codes = (words[lanes, column] >> (np.uint64(8) * places.astype(np.uint64))) & np.uint64(0xFF)
        out[operand][rows, which] = _values(scale_format, codes)
    return out["a"], out["b"]
