"""The NVFP4 GEMM without a GPU: the device layout against the PTX ISA's fragments, the CPU
reference (exact from the decoded values) and its checks, which must fail a kernel that reads the
buffers wrong in the ways a block-scaled kernel goes wrong, and the published Spark figure
landing on the measured NVFP4 GEMM row."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from smbench import compare, formats, fragments, reference, results
from smbench import targets as target_table
from smbench.families import gemm, registry
from smbench.families.gemm import scaled

from conftest import ROOT

NVFP4 = gemm.BY_KEY["nvfp4"]


def _words(rows: np.ndarray, start: int) -> np.ndarray:
    """Each row's four bytes from `start` read as one little-endian 32-bit word (as a register is
    loaded from shared memory)."""
    return np.ascontiguousarray(rows[:, start:start + 4]).view("<u4")[:, 0]


def test_the_device_layout_is_the_block_scaled_mma_s_fragments():
    """Four bytes of a packed row are the 4-bit fragment word the ISA places there (the bytes an
    8-bit m16n8k32 step reads, so ldmatrix serves NVFP4 as it serves FP8), and a scale row's word
    at byte 4 s is the scale operand of the K tile's step s: byte j, block j."""
    rng = np.random.default_rng(0)
    nonzero = np.array([c for c in range(16) if c != 8], dtype=np.uint16)  # -0 encodes back as +0's code
    a = scaled.with_scales(nonzero[rng.integers(0, 15, (16, 256))], scaled.RANDOM_SCALES[rng.integers(0, 27, (16, 16))],
                           256)
    b = scaled.with_scales(nonzero[rng.integers(0, 15, (8, 256))], scaled.RANDOM_SCALES[rng.integers(0, 27, (8, 16))],
                           256)
    (a_data, a_scales), (b_data, b_scales) = scaled.to_device(a), scaled.to_device(b)
    assert a_data.shape == (16, 128) and a_scales.shape == (16, 16)
    (a_values, a_blocks), (b_values, b_blocks) = scaled.split(a), scaled.split(b)
    for step in range(4):  # the four m16n8k64 steps of a 128-byte K tile
        k = slice(64 * step, 64 * step + 64)
        a_words = fragments.pack_a("b4", "e2m1", a_values[:, k], 4)
        b_words = fragments.pack_b("b4", "e2m1", b_values[:, k].T, 4)
        for lane in range(32):
            g, t = lane >> 2, lane & 3
            for register in range(4):  # rows g, g + 8; bytes 4 t and 16 + 4 t of the step
                row, byte = g + 8 * (register % 2), 32 * step + 4 * t + 16 * (register // 2)
                assert a_words[lane, register] == _words(a_data[row:row + 1], byte)[0]
            for register in range(2):
                assert b_words[lane, register] == _words(b_data[g:g + 1], 32 * step + 4 * t + 16 * register)[0]
        scale_words = fragments.pack_scales("ue4m3", a_blocks[:, 4 * step:4 * step + 4], b_blocks[:, 4 * step:4 * step + 4])
        a_row_words, b_row_words = _words(a_scales, 4 * step), _words(b_scales, 4 * step)
        for g in range(8):  # the lanes the {0, 0} selectors read: A's t = 0 and 1, B's t = 0
            assert scale_words[4 * g, 0] == a_row_words[g] and scale_words[4 * g + 1, 0] == a_row_words[g + 8]
            assert scale_words[4 * g, 1] == b_row_words[g]


def test_device_buffers_round_trip_and_pad_with_zeros():
    rng = np.random.default_rng(1)
    codes = gemm.random_operand(NVFP4, 5, 77, rng)  # K odd, not a multiple of 16
    assert codes.dtype == np.uint16
    data, scales = gemm.device_layout(NVFP4, codes)
    assert data.shape == (5, 48) and scales.shape == (5, 16)  # 39 and 5 bytes, rows of 16
    assert not data[:, 39:].any() and not (data[:, 38] >> 4).any() and not scales[:, 5:].any()
    assert np.array_equal(gemm.from_device(NVFP4, data, scales, 77), codes)
    assert data[0, 0] == (codes[0, 0] & 0xF) | (codes[0, 1] & 0xF) << 4  # element 2i in the low nibble
    assert gemm.leading_bytes(NVFP4, 77) == 48 and gemm.scale_pitch(NVFP4, 77) == 16


def test_nvfp4_inputs_decode_to_element_times_block_scale():
    rng = np.random.default_rng(2)
    codes = gemm.random_operand(NVFP4, 4, 64, rng)
    values = gemm.decode(NVFP4, codes)
    for (i, j), value in np.ndenumerate(values):
        element, scale = int(codes[i, j]) & 0xF, int(codes[i, j]) >> 4
        assert value == formats.decode("e2m1", element) * formats.decode("ue4m3", scale)
        assert scale == int(codes[i, j - j % 16]) >> 4  # one scale per block of 16
    assert np.abs(values).max() < 1 and len(np.unique(codes >> 4)) > 4
    assert set(np.unique(codes >> 4)) <= set(scaled.RANDOM_SCALES)


def test_the_reference_is_the_exact_product_of_the_decoded_values():
    """float64 sums of products of e2m1 x ue4m3 values lose nothing here: held against exact
    rational arithmetic."""
    rng = np.random.default_rng(3)
    a, b = gemm.random_operand(NVFP4, 3, 4099, rng), gemm.random_operand(NVFP4, 2, 4099, rng)
    ref = gemm.reference(NVFP4, a, b, np.arange(3))
    av, bv = gemm.decode(NVFP4, a), gemm.decode(NVFP4, b)
    for i in range(3):
        for j in range(2):
            exact = sum(Fraction(x) * Fraction(y) for x, y in zip(av[i], bv[j]))
            assert Fraction(ref.want[i, j]) == exact


def _device(a: np.ndarray, b: np.ndarray):
    return scaled.to_device(a), scaled.to_device(b)


def _values(data, scales, k, high_first=False, scale_shift=0):
    """A kernel's reading of one operand's device buffers, right or planted wrong."""
    data = data[:, :scaled.data_bytes(k)]
    pairs = (data >> 4, data & 0xF) if high_first else (data & 0xF, data >> 4)
    elements = np.stack(pairs, axis=-1).reshape(data.shape[0], -1)[:, :k]
    blocks = np.roll(scales[:, :scaled.blocks(k)], scale_shift, axis=1)
    return scaled.ELEMENTS.values[elements] * np.repeat(scaled.SCALES.values[blocks], 16, axis=1)[:, :k]


# A kernel reading NVFP4 wrong, in each way the issue names: block j's scale applied to block
# j + 1; the two elements of a byte swapped (in one operand: swapped in both, each product keeps
# its pair and the sum is the same, so no check can or need see it); A's scales used for B and B's
# for A; B read as K x N.
PLANTED = {
    "scale of the next block": lambda A, B, k: _values(*A, k, scale_shift=1) @ _values(*B, k, scale_shift=1).T,
    "nibbles swapped": lambda A, B, k: _values(*A, k, high_first=True) @ _values(*B, k).T,
    "A's and B's scales swapped": lambda A, B, k: _values(A[0], B[1], k) @ _values(B[0], A[1], k).T,
    "B transposed": lambda A, B, k: _values(*A, k) @ _values(*B, k),
}


@pytest.mark.parametrize("planted", list(PLANTED))
def test_the_checks_fail_a_kernel_that_reads_nvfp4_wrong(planted):
    """Square (M = N = K = 96: B's scales fit A's rows, B transposed has B's shape), exact and
    random inputs: the right reading passes both checks, each planted wrong one fails both."""
    m = n = k = 96
    rows = np.arange(m)
    for exact in (True, False):
        rng = np.random.default_rng(4 + exact)
        make = gemm.exact_operand if exact else gemm.random_operand
        a, b = make(NVFP4, m, k, rng), make(NVFP4, n, k, rng)
        A, B = _device(a, b)

        def check(got):
            if exact:
                return gemm.validate_exact(NVFP4, got, a, b, rows)
            return gemm.validate_random(NVFP4, got, gemm.reference(NVFP4, a, b, rows), 1)[0]

        right = _values(*A, k) @ _values(*B, k).T
        assert check(right).ok
        wrong = check(PLANTED[planted](A, B, k))
        assert not wrong.ok, (planted, exact, wrong.detail)


def test_the_exact_check_holds_nvfp4_inputs_to_13_bits():
    """The exact check's inputs (-1, 0, 1 in blocks scaled by 1 or 2), thinned at the suites' K
    (test_gemm_family: exact_density), pass it; unthinned ones reach past the 2^13 assumed of
    NVFP4's accumulation, which the check sees from the inputs (it does not assume their reach)."""
    assert NVFP4.exact_limit == 1 << 13 and NVFP4.exact_magnitude == 2
    rng = np.random.default_rng(6)
    k = 14336
    a = gemm.exact_operand(NVFP4, 64, k, rng, gemm.exact_density(NVFP4, k))
    b = gemm.exact_operand(NVFP4, 64, k, rng)
    got = gemm.decode(NVFP4, a) @ gemm.decode(NVFP4, b).T
    assert gemm.validate_exact(NVFP4, got, a, b, np.arange(64)).ok
    too_dense = gemm.exact_operand(NVFP4, 2, k, rng)  # no thinning: sums can pass 2^13
    checked = gemm.validate_exact(NVFP4, np.zeros((2, 64)), too_dense, b, np.arange(2))
    assert not checked.ok and "exact limit" in checked.detail


def test_nvfp4_is_planned_where_the_target_has_block_scales_and_keeps_a_stage_less():
    for target in target_table.all_targets():
        support, why = gemm.gate(NVFP4, target)
        assert (support == "native") == target.has("mma.block_scale"), target.name
        if support == "skipped":
            assert "sm_121a" in why and "block scales" in why
    spark = target_table.get("sm_121a")
    tile = gemm.choose_tile(NVFP4, spark, 4096)
    # The same tile (and build) as every other format on the Spark; its stages hold scales too.
    assert tile == gemm.choose_tile(gemm.BY_KEY["f16_f32acc"], spark, 4096) == gemm.Tile(128, 128, 2, 4, 3)
    assert gemm.stages(NVFP4, tile) == 2 and gemm.stages(NVFP4, gemm.SKINNY_TILE) == 3
    assert gemm.stages(NVFP4, tile) * (tile.bm + tile.bn) * (128 + 16) <= tile.shared_bytes
    assert gemm.tile_record(NVFP4, tile)["stages"] == 2 and gemm.tile_record(NVFP4, tile)["shared_bytes"] == 98304
    shape = gemm.Shape(4096, 14336, 4096, "llm")
    assert gemm.bytes_moved(NVFP4, shape) == (4096 + 14336) * (2048 + 256) + 4096 * 14336 * 4
    from smbench.families import peak

    assert peak.fallback_absent(NVFP4)["status"] == "absent" and NVFP4.cublas is None


def test_the_suites_ask_for_the_published_shape():
    from smbench import suites

    for name in ("quick", "full"):
        settings = suites.load(name).section("gemm")
        labels = {s.label for s in gemm.shapes(settings)}
        assert "4096x14336x4096" in labels and "nvfp4" in settings["formats"], name


def _nvfp4_record(m: int, n: int, k: int, tflops: float) -> dict:
    samples = [2.0 * m * n * k / (tflops * 1e12) * (1 + 0.01 * i) for i in range(8)]
    return {"family": "gemm", "benchmark": "nvfp4", "format": "nvfp4", "status": "ok", "label": NVFP4.label,
            "m": m, "n": n, "k": k, "shape": f"{m}x{n}x{k}", "shape_kind": "llm" if (m, n, k) != (k, k, k) else "square",
            "ops_unit": "TFLOP/s", "ops": 2.0 * m * n * k, "tflops": {"median": tflops}, "gbps": {"median": 1.0},
            "mma_peak": {}, "cublas": {}, "fallback": {}, "validation": {"ok": True},
            "time_s": {"median": samples[0], "samples": samples, "n": len(samples), "converged": True}}


def test_the_spark_s_nvfp4_gemm_figure_lands_on_the_measured_nvfp4_gemm_row():
    """The published 356 TFLOP/s (NVFP4 GEMM 4096 x 14336 x 4096, CUTLASS) meets a measured NVFP4
    GEMM of that shape, in compare and in the report, and no other NVFP4 GEMM."""
    from smbench import report

    spark = results.load(ROOT / "results" / reference.file_name("gb10"))
    published = next(r for r in spark["records"] if r["benchmark"] == "nvfp4_gemm")
    assert (published["format"], published["shape"]) == ("nvfp4", "4096x14336x4096")
    run = {"kind": "measured", "backend": "cuda", "device": {"name": "NVIDIA GB10"}, "status": "complete",
           "records": [_nvfp4_record(4096, 14336, 4096, 120.0), _nvfp4_record(8192, 8192, 8192, 150.0)]}
    tables = compare.build([("spark", run), ("gb10", spark)])
    table = next(t for t in tables if t.title.startswith("GEMM"))
    met = [(key, mine.value, theirs.value) for key, (mine, theirs) in zip(table.keys, table.entries)
           if mine is not None and theirs is not None]
    assert met == [(("nvfp4", "4096x14336x4096"), 120.0, 356)]
    frame, _ = report.device_table([("spark", run), ("gb10", spark)], registry()["gemm"].compare[0][1])
    row = frame[frame["figure"] == "nvfp4 / 4096x14336x4096"].iloc[0]
    assert row["spark"].startswith("120") and row["gb10"].startswith("356")
