"""The GEMM family without a GPU: the kernel's machine code on every target the issue
names, the tile choice against each target's shared memory, the inputs, the exact check
and the error bound, split K, and the CPU path on odd sizes."""

from __future__ import annotations

import json
import math
import time
import types

import numpy as np
import pytest

from smbench import sass, suites, tensor_core_models
from smbench import targets as target_table
from smbench.families.gemm import cpu as cpu_gemm
from smbench.compile import compile_file
from smbench.errors import SmbenchError
from smbench.families import gemm
from smbench.paths import kernels_dir
from smbench.run import CpuRunner
from smbench.timing import TimingPolicy

SASS_TARGETS = ("sm_80", "sm_90", "sm_120a", "sm_121a")
LARGE_M = 4096
# The tensor instruction each format's main loop must be made of, where the target has it.
INSTRUCTION = {"f16_f32acc": "HMMA.16816.F32", "bf16_f32acc": "HMMA.16816.F32.BF16", "f16_f16acc": "HMMA.16816.F16",
               "s8": "IMMA.16832.S8.S8", "nvfp4": "OMMA.SF.16864.F32.E2M1.E2M1.UE4M3.4X"}
# Shared memory the driver keeps per block (cudaDevAttrReservedSharedMemoryPerBlock); cuobjdump
# shows it as a kernel's SHARED from sm_90 on. It comes on top of the per-block limit.
RESERVED_SHARED = 1024
POLICY = TimingPolicy(warmup=0, min_samples=2, max_samples=3, budget_s=0.05)
SETTINGS = {"cpu_max_gflop": 1.0, "cpu_emulate_max": 1 << 22, "emulator_model": "H100"}


@pytest.fixture(scope="module", params=SASS_TARGETS)
def built(request):
    """target -> {tile: kernel summaries} for every tile the family picks on that target, built
    as the run builds it (gemm.build_options: the tile, and the kernels of the formats it gets)."""
    target = target_table.get(request.param)
    tiles = {gemm.choose_tile(fmt, target, m): fmt for fmt in gemm.FORMATS for m in (1, LARGE_M)}
    summaries = {}
    for tile, fmt in tiles.items():
        result = compile_file(kernels_dir() / gemm.KERNEL_FILE, target.name,
                              options=gemm.build_options(fmt, target, tile))
        assert result.ok, result.log
        summaries[tile] = sass.summarize(result.cubin)
    return target, summaries


def _default_tiles(target, fmt):
    return {gemm.choose_tile(fmt, target, m) for m in (1, LARGE_M)}


@pytest.mark.needs_sass
def test_main_loop_holds_mma_ldmatrix_and_cp_async(built):
    target, summaries = built
    for fmt in gemm.FORMATS:
        support, _ = gemm.gate(fmt, target)
        for tile in _default_tiles(target, fmt):
            kernel = summaries[tile][fmt.kernel]
            loop = kernel.main_loop()
            if support == "skipped":
                assert not kernel.tensor_instructions, (target.name, fmt.key)
                continue
            ok, detail = gemm.main_loop_check(loop)
            assert ok, (target.name, fmt.key, tile.name, detail)
            tensor = {op: n for op, n in loop.items() if sass.is_tensor(op)}
            if fmt.encoding == "e4m3":
                want = "HMMA" if support == "emulated" else "QMMA.16832.F32.E4M3.E4M3"
                assert all(op.startswith(want) for op in tensor), (target.name, fmt.key, tensor)
            else:
                assert set(tensor) == {INSTRUCTION[fmt.key]}, (target.name, fmt.key, tensor)
            # Every mma of a K tile is in the loop: warp tile / (16 x 8) per 32 bytes of K,
            # 4 steps per tile (twice that where FP8 is emulated through FP16).
            wm, wn = tile.warp_tile
            per_tile = (wm // 16) * (wn // 8) * (gemm.K_TILE_BYTES // 32)
            assert sum(tensor.values()) == per_tile * (2 if support == "emulated" else 1), (target.name, fmt.key)
            # One 16-byte copy per chunk of A's and B's K tile, spread over the block's threads;
            # NVFP4's scales one more chunk per row of A and B.
            scale_chunks = math.ceil((tile.bm + tile.bn) / tile.threads) if fmt.scale else 0
            assert loop["LDGSTS.E.128"] == (tile.bm + tile.bn) * 8 // tile.threads + scale_chunks, (target.name, fmt.key)
            assert any(op.startswith("BAR") for op in loop)


@pytest.mark.needs_sass
def test_no_spills_and_tiles_fit_shared_memory(built):
    target, summaries = built
    for fmt in gemm.FORMATS:
        if gemm.gate(fmt, target)[0] == "skipped":
            continue
        for tile in _default_tiles(target, fmt):
            kernel = summaries[tile][fmt.kernel]
            assert kernel.spill_instructions == 0 and kernel.local_bytes == 0, (target.name, fmt.key, tile.name)
            # No static shared memory beyond the driver's reserve; the tiles are dynamic.
            assert kernel.shared_bytes <= RESERVED_SHARED and tile.shared_bytes <= target.shared_per_block


def test_tile_choice_for_every_target():
    for target in target_table.all_targets():
        for fmt in gemm.FORMATS:
            for m in (1, 16, 17, LARGE_M):
                tile = gemm.choose_tile(fmt, target, m)
                assert (tile == gemm.SKINNY_TILE) == (m <= gemm.SKINNY_MAX_M)
                assert tile.shared_bytes == tile.stages * (tile.bm + tile.bn) * 128 <= target.shared_per_block
                if m > gemm.SKINNY_MAX_M:
                    # The first tile of the ranked list that fits, and none before it fits.
                    earlier = gemm.LARGE_TILES[:gemm.LARGE_TILES.index(tile)]
                    emulated = target.support(fmt.feature) == target_table.EMULATED
                    assert all(t.shared_bytes > target.shared_per_block
                               or (emulated and t.warp_tile > gemm.EMULATED_WARP_TILE) for t in earlier)
    # The 64 x 64 warp tile where shared memory allows, never for an emulated format.
    f16, fp8 = gemm.BY_KEY["f16_f32acc"], gemm.BY_KEY["e4m3_f32acc"]
    assert gemm.choose_tile(f16, target_table.get("sm_90"), LARGE_M) == gemm.Tile(128, 256, 2, 4, 4)
    assert gemm.choose_tile(f16, target_table.get("sm_80"), LARGE_M) == gemm.Tile(128, 256, 2, 4, 3)
    assert gemm.choose_tile(fmt=fp8, target=target_table.get("sm_90"), m=LARGE_M) == gemm.Tile(64, 128, 2, 4, 4)
    spark = target_table.get("sm_121a")
    assert spark.shared_per_block == 99 * 1024
    assert gemm.choose_tile(fp8, spark, LARGE_M) == gemm.Tile(128, 128, 2, 4, 3)
    # A device that reports less than its target's table value gets a smaller tile, or a clear error.
    assert gemm.choose_tile(f16, target_table.get("sm_90"), LARGE_M, shared_limit=150 * 1024).stages == 3
    with pytest.raises(SmbenchError, match="no GEMM tile fits"):
        gemm.choose_tile(f16, spark, LARGE_M, shared_limit=48 * 1024)


def test_split_k_only_where_the_grid_is_small():
    f32, f16acc, tile = gemm.BY_KEY["f16_f32acc"], gemm.BY_KEY["f16_f16acc"], gemm.SKINNY_TILE
    assert gemm.split_k(f32, tile, 1, 14336, 4096, 132) == 1  # 224 tiles fill 132 SMs
    splits = gemm.split_k(f32, tile, 1, 4096, 4096, 132)  # 64 tiles
    assert 1 < splits <= gemm.MAX_SPLITS and 64 * splits >= 132
    k_tiles = math.ceil(gemm.k_bytes(f32, 256) / gemm.K_TILE_BYTES)
    assert gemm.split_k(f32, tile, 1, 64, 256, 132) <= k_tiles // tile.stages
    assert gemm.split_k(f16acc, tile, 1, 4096, 4096, 132) == 1  # an f16 sum is never split
    assert gemm.grid(tile, 1, 4096, splits) == (64, 1, splits)


def test_leading_dimension_and_padding():
    f16, s8 = gemm.BY_KEY["f16_f32acc"], gemm.BY_KEY["s8"]
    assert gemm.leading_bytes(f16, 77) == 160 and gemm.leading_bytes(s8, 77) == 80
    assert gemm.leading_bytes(f16, 64) == 128
    operand = gemm.random_operand(s8, 3, 77, np.random.default_rng(0))
    stored = gemm.padded(s8, operand)
    assert stored.shape == (3, 80) and np.array_equal(stored[:, :77], operand) and not stored[:, 77:].any()


@pytest.mark.parametrize("key", list(gemm.BY_KEY))
def test_inputs_are_exactly_what_the_reference_multiplies(key):
    from smbench import formats

    fmt = gemm.BY_KEY[key]
    rng = np.random.default_rng(1)
    codes = gemm.random_operand(fmt, 64, 100, rng)
    values = gemm.decode(fmt, codes)
    assert np.all(np.isfinite(values)) and values.std() > 0
    # Each value is the one formats.py (the emulator's encoder) gives for that code.
    for code, value in list(zip(codes.ravel()[:300], values.ravel()[:300])):
        raw = int(code.view(np.uint16)) if fmt.encoding == "f16" else int(code)
        if fmt.scale:  # an e2m1 element times its block's ue4m3 scale (smbench.families.gemm.scaled)
            assert formats.decode("e2m1", raw & 0xF) * formats.decode(fmt.scale, raw >> 4) == value
        elif fmt.encoding == "s8":
            assert value == raw
        else:
            assert formats.decode(fmt.encoding, raw % (1 << (8 * fmt.element_bytes))) == value
    if not fmt.integer:
        assert np.all(np.abs(values) <= 1)
    exact = gemm.decode(fmt, gemm.exact_operand(fmt, 64, 100, rng))
    assert set(np.unique(exact)) == ({-2.0, -1.0, 0.0, 1.0, 2.0} if fmt.scale else {-1.0, 0.0, 1.0})
    sparse = gemm.decode(fmt, gemm.exact_operand(fmt, 200, 3000, rng, density=0.1))
    assert 0.05 < np.count_nonzero(sparse) / sparse.size < 0.15


@pytest.mark.parametrize("key,density,fill", [("f16_f16acc", 2048 / (2 * 14336), 1 / 4),
                                               ("nvfp4", 8192 / (2 * 14336 * 4), 1 / 8)], ids=["f16_f16acc", "nvfp4"])
def test_exact_density_keeps_sums_within_the_accumulator(key, density, fill):
    """f16: 2048; NVFP4: 2^13 (the bits assumed of its accumulation), its inputs up to 2 (block
    scales of 1 and 2), so a quarter the density."""
    fmt, f32 = gemm.BY_KEY[key], gemm.BY_KEY["f16_f32acc"]
    assert gemm.exact_density(f32, 14336) == pytest.approx(2 / 3)
    assert gemm.exact_density(fmt, 14336) == pytest.approx(density)
    rng = np.random.default_rng(2)
    k = 14336
    a = gemm.exact_operand(fmt, 128, k, rng, gemm.exact_density(fmt, k))
    b = gemm.exact_operand(fmt, 128, k, rng)
    reach = np.abs(gemm.decode(fmt, a)) @ np.abs(gemm.decode(fmt, b)).T
    # Within the limit, yet dense enough that every K tile carries nonzero products.
    assert reach.max() <= fmt.exact_limit and reach.mean() > fmt.exact_limit * fill
    assert (np.abs(gemm.decode(fmt, a)).reshape(128, -1, 64).sum(axis=(0, 2)) > 0).all()


def test_exact_check_fails_a_wrong_tile_and_too_dense_inputs():
    fmt = gemm.BY_KEY["f16_f32acc"]
    rng = np.random.default_rng(3)
    a, b = gemm.exact_operand(fmt, 40, 300, rng), gemm.exact_operand(fmt, 24, 300, rng)
    rows = np.arange(40)
    right = gemm.decode(fmt, a) @ gemm.decode(fmt, b).T
    assert gemm.validate_exact(fmt, right, a, b, rows).ok
    # One K tile (64 f16 elements) left out, as a pipeline bug would.
    wrong = right - gemm.decode(fmt, a)[:, 64:128] @ gemm.decode(fmt, b)[:, 64:128].T
    checked = gemm.validate_exact(fmt, wrong, a, b, rows)
    assert not checked.ok and "differ from the exact product" in checked.detail
    f16acc = gemm.BY_KEY["f16_f16acc"]
    dense_a, dense_b = gemm.exact_operand(f16acc, 2, 4096, rng), gemm.exact_operand(f16acc, 2, 4096, rng)
    dense_a[:] = np.float16(1)
    dense_b[:] = np.float16(1)
    too_dense = gemm.validate_exact(f16acc, np.full((2, 2), 4096.0), dense_a, dense_b, np.arange(2))
    assert not too_dense.ok and "exact limit" in too_dense.detail


def test_error_bound_admits_real_arithmetic_and_rejects_a_lost_tile():
    fmt = gemm.BY_KEY["bf16_f32acc"]
    rng = np.random.default_rng(4)
    a, b = gemm.random_operand(fmt, 32, 1000, rng), gemm.random_operand(fmt, 16, 1000, rng)
    rows = np.arange(32)
    av, bv = gemm.decode(fmt, a), gemm.decode(fmt, b)
    f32 = (av.astype(np.float32) @ bv.astype(np.float32).T)
    assert gemm.validate_random(fmt, f32, gemm.reference(fmt, a, b, rows), 1)[0].ok
    lost = av @ bv.T - av[:, :64] @ bv[:, :64].T
    checked, _ = gemm.validate_random(fmt, lost, gemm.reference(fmt, a, b, rows), 1)
    assert not checked.ok and "outside the error bound" in checked.detail
    nan = f32.copy()
    nan[3, 4] = np.nan
    assert not gemm.validate_random(fmt, nan, gemm.reference(fmt, a, b, rows), 1)[0].ok
    # s8 is held to the exact answer.
    s8 = gemm.BY_KEY["s8"]
    a8, b8 = gemm.random_operand(s8, 4, 300, rng), gemm.random_operand(s8, 4, 300, rng)
    exact = gemm.decode(s8, a8) @ gemm.decode(s8, b8).T
    assert gemm.validate_random(s8, exact, gemm.reference(s8, a8, b8, np.arange(4)), 1)[0].ok
    assert not gemm.validate_random(s8, exact + 1, gemm.reference(s8, a8, b8, np.arange(4)), 1)[0].ok


# Every model the precision family knows, on the formats it is a model of: a 13-bit
# accumulation is a finding about FP8 (and f16 accumulation keeps fewer bits anyway).
@pytest.mark.parametrize("key,k", [("f16_f16acc", 4096), ("f16_f16acc", 14336), ("e4m3_f32acc", 8192),
                                   ("e4m3_f32acc", 14336), ("f16_f32acc", 8192)])
def test_random_check_has_power_at_long_k(key, k):
    """Where the worst-case bound is loose (f16 accumulation, FP8), the normwise check still
    fails a C of zeros, and one half its size wherever truncation cannot lose that much; it
    passes an accumulation that truncates every step."""
    fmt = gemm.BY_KEY[key]
    rng = np.random.default_rng(6)
    a, b = gemm.random_operand(fmt, 8, k, rng), gemm.random_operand(fmt, 24, k, rng)
    rows = np.arange(8)
    exact = gemm.decode(fmt, a) @ gemm.decode(fmt, b).T
    wrongs = [np.zeros_like(exact)] + ([exact / 2] if not (key == "f16_f16acc" and k > 4096) else [])
    for wrong in wrongs:
        checked, _ = gemm.validate_random(fmt, wrong, gemm.reference(fmt, a, b, rows), 1)
        assert not checked.ok, checked.detail
    model = tensor_core_models.stand_in("V100", fmt.encoding, fmt.accumulator)[0].with_(block=None)
    emulated = cpu_gemm.emulated_gemm(fmt, a, b, model)
    assert gemm.validate_random(fmt, emulated, gemm.reference(fmt, a, b, rows), 1)[0].ok


@pytest.mark.parametrize("key,model", [(key, gpu) for key in ("f16_f32acc", "bf16_f32acc", "f16_f16acc", "e4m3_f32acc")
                                       for gpu in tensor_core_models.GPUS])
def test_error_bound_admits_every_emulated_tensor_core(key, model):
    fmt = gemm.BY_KEY[key]
    rng = np.random.default_rng(5)
    a, b = gemm.random_operand(fmt, 8, 200, rng), gemm.random_operand(fmt, 8, 200, rng)
    got = cpu_gemm.emulated_gemm(fmt, a, b, tensor_core_models.stand_in(model, fmt.encoding, fmt.accumulator)[0])
    checked, _ = gemm.validate_random(fmt, got, gemm.reference(fmt, a, b, np.arange(8)), 1)
    assert checked.ok, checked.detail


@pytest.mark.parametrize("key", list(gemm.BY_KEY))
@pytest.mark.parametrize("m,n,k", [(1, 1, 1), (127, 255, 77), (33, 65, 1000), (17, 9, 4099)])
def test_cpu_path_on_odd_sizes(key, m, n, k):
    outcome = cpu_gemm.run_case(CpuRunner(), gemm.BY_KEY[key], gemm.Shape(m, n, k, "tail"), POLICY, SETTINGS)
    assert outcome.status not in ("failed", "skipped"), outcome.reason
    assert outcome.fields["validation"]["exact"]["ok"] and outcome.fields["validation"]["random"]["ok"]
    assert outcome.stats.median > 0
    if not gemm.BY_KEY[key].integer and m * n * k <= SETTINGS["cpu_emulate_max"]:
        assert outcome.fields["emulator"]["status"] == "ok", outcome.fields["emulator"]


def test_cpu_path_catches_a_broken_gemm(monkeypatch):
    real = cpu_gemm.numpy_gemm

    def drops_the_last_k(fmt, av, bv):  # the tail a kernel's last, partial K tile holds
        return real(fmt, av[:, :-1], bv[:, :-1])

    monkeypatch.setattr(cpu_gemm, "numpy_gemm", drops_the_last_k)
    outcome = cpu_gemm.run_case(CpuRunner(), gemm.BY_KEY["s8"], gemm.Shape(37, 41, 300, "tail"), POLICY, SETTINGS)
    assert outcome.status == "failed" and "differ from the exact product" in outcome.reason


def test_cpu_path_skips_what_it_cannot_afford():
    outcome = cpu_gemm.run_case(CpuRunner(), gemm.BY_KEY["f16_f32acc"], gemm.Shape(4096, 4096, 4096, "square"), POLICY, SETTINGS)
    assert outcome.status == "skipped" and "cpu_max_gflop" in outcome.reason


def test_shapes_from_settings():
    shapes = gemm.shapes({"squares": [512, 512], "shapes": [[512, 512, 512], [4096, 14336, 4096]],
                          "decode_m": [1, 16], "decode_nk": [[14336, 4096]], "tails": [[1, 14336, 4096], [3, 5, 7]]})
    assert [(s.label, s.kind) for s in shapes] == [("512x512x512", "square"), ("4096x14336x4096", "llm"),
                                                   ("1x14336x4096", "decode"), ("16x14336x4096", "decode"),
                                                   ("3x5x7", "tail")]


def test_figures_of_merit():
    fmt, shape = gemm.BY_KEY["f16_f32acc"], gemm.Shape(1, 4096, 4096, "decode")
    merit = gemm.figures(fmt, shape, 1e-4, mma_peak=100.0, spec_peak=200.0, expected_gbps=273.0)
    assert merit["tflops"] == pytest.approx(2 * 4096 * 4096 / 1e-4 / 1e12)
    assert merit["percent_of_mma_peak"] == pytest.approx(100 * merit["tflops"] / 100)
    assert merit["gbps"] == pytest.approx((4096 * 4096 * 2 + 4096 * 2 + 4096 * 4) / 1e-4 / 1e9)
    assert merit["percent_of_bandwidth"] == pytest.approx(100 * merit["gbps"] / 273)
    assert merit["percent_of_spec"] == pytest.approx(100 * merit["tflops"] / 200)
    assert gemm.figures(fmt, shape, 1e-4, None, None, None)["percent_of_spec"] is None


def test_gating_follows_the_target_table():
    assert gemm.gate(gemm.BY_KEY["e4m3_f32acc"], target_table.get("sm_80"))[0] == "skipped"
    assert gemm.gate(gemm.BY_KEY["e4m3_f32acc"], target_table.get("sm_90"))[0] == "emulated"
    assert gemm.gate(gemm.BY_KEY["f8f6f4_e4m3_f32acc"], target_table.get("sm_121"))[0] == "skipped"
    assert gemm.gate(gemm.BY_KEY["f8f6f4_e4m3_f32acc"], target_table.get("sm_121a"))[0] == "native"
    from smbench.families import peak

    assert peak.fallback_compiles(gemm.BY_KEY["s8"]) and not peak.fallback_compiles(gemm.BY_KEY["e4m3_f32acc"])
    assert peak.fallback_absent(gemm.BY_KEY["s8"]) is None
    assert "sm_80 has no" in peak.fallback_absent(gemm.BY_KEY["e4m3_f32acc"])["reason"]


def test_run_gemm_on_the_cpu(tmp_path, capsys):
    from smbench.cli import main

    suite = tmp_path / "tiny.toml"
    suite.write_text('[gemm]\nformats = ["f16_f16acc", "s8"]\nsquares = [64]\ntails = [[5, 7, 300]]\n'
                     'decode_m = [1]\ndecode_nk = [[96, 200]]\n[timing]\nmin_samples = 2\nbudget_s = 0.05\n'
                     '[cpu]\nbudget_s = 0.05\n')
    assert main(["run", "--backend", "cpu", "--suite", str(suite), "--only", "gemm", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "GEMM (CPU path: NumPy)" in out and "1x96x200" in out
    document = json.loads(next(tmp_path.glob("*.json")).read_text())
    records = [r for r in document["records"] if r["family"] == "gemm"]
    assert len(records) == 6 and all(r["status"] == "ok" for r in records)
    assert records[0]["layout"].startswith("A row-major")
    assert records[0]["mma_peak"]["tflops"] is None and records[0]["cublas"]["status"] == "not run"


def test_bad_gemm_settings_exit_2(tmp_path, capsys):
    from smbench.cli import main

    suite = tmp_path / "bad.toml"
    suite.write_text('[gemm]\nshapes = [[1, 2]]\n')
    assert main(["run", "--backend", "cpu", "--suite", str(suite), "--only", "gemm", "--out", str(tmp_path)]) == 2
    assert "[gemm] shapes" in capsys.readouterr().err


def _measured_gemm_record(m, n, k, kind, tflops, cublas=None, loop=None):
    fmt = gemm.BY_KEY["f16_f32acc"]
    return {"family": "gemm", "benchmark": fmt.key, "status": "ok", "label": fmt.label, "shape_kind": kind, "m": m, "n": n,
            "k": k, "shape": f"{m}x{n}x{k}", "ops_unit": "TFLOP/s", "tflops": {"median": tflops},
            "gbps": {"median": 200.0}, "percent_of_bandwidth": 73.0 if m <= 16 else None,
            "mma_peak": {"tflops": loop}, "percent_of_mma_peak": 100 * tflops / loop if loop else None,
            "percent_of_spec": None, "cublas": {"status": "ok", "tflops": cublas,
                                                "ours_over_cublas": tflops / cublas} if cublas else {},
            "fallback": {"status": "ok", "native_over_fallback": 1.0}}


def test_report_lines_and_plot_for_gemm(tmp_path):
    from smbench.families.gemm import publish

    document = {"kind": "measured", "records": [
        _measured_gemm_record(512, 512, 512, "square", 100.0, 150.0, 600.0),
        _measured_gemm_record(8192, 8192, 8192, "square", 450.0, 700.0, 600.0),
        _measured_gemm_record(1, 14336, 4096, "decode", 1.0), _measured_gemm_record(16, 14336, 4096, "decode", 9.0)]}
    lines = publish.report_lines("H100", document)
    assert len(lines) == 2  # the largest square and the largest decode shape
    assert "8192x8192x8192: 450 TFLOP/s; 75% of its mma.sync loop (600)" in lines[0]
    assert "cuBLAS 700 (ours / cuBLAS 0.64)" in lines[0]
    assert "16x14336x4096" in lines[1] and "73% of the expected bandwidth" in lines[1]
    paths = publish.gemm_vs_size([("H100", document)], tmp_path)
    assert {p.suffix for p in paths} == {".png", ".svg"} and all(p.stat().st_size > 0 for p in paths)
    assert publish.gemm_vs_size([("cpu", {"kind": "measured", "records": []})], tmp_path / "none") == []


class _FakeGpuRunner:
    """What run_gemm needs from a GPU backend, with a canned outcome."""

    name = "cuda"

    def __init__(self, outcome):
        from smbench import devices

        self.outcome, self.suite = outcome, suites.load("quick")
        self.dram_bandwidth, self.spec = devices.expected_bandwidth("NVIDIA H100 80GB HBM3", "9.0")

    def part(self, family):
        from smbench.families import peak
        from smbench.families.gemm.part import HeldTo
        from smbench.families.peak.part import Rate

        return types.SimpleNamespace(
            FORMATS=None, PLAN_NOTES={}, run_case=lambda runner, fmt, shape, policy, settings: self.outcome,
            held_to=lambda runner, fmt, policy: HeldTo(Rate(600.0, "the peak family's mma.sync loop, earlier in this "
                                                                   "run"), peak.BY_KEY[fmt.peak_key].spec_keys))


def test_run_gemm_holds_the_figure_to_the_loop_cublas_and_the_fallback():
    from smbench.cases import Case
    from smbench.families.gemm.family import run_gemm
    from smbench.telemetry import Summary
    from smbench.timing import summarize

    from smbench.families.gemm.part import Outcome

    seconds = 2 * 8192**3 / 450e12
    outcome = Outcome(fields={"support": "native", "instruction": "HMMA.16816.F32",
                              "tile": gemm.Tile(128, 256, 2, 4, 4).to_dict(), "splits": 1,
                              "validation": {"exact": {"ok": True}, "random": {"ok": True}}},
                      stats=summarize([seconds, seconds]), telemetry=Summary(False, "fake"),
                      cublas={"status": "ok", "tflops": 600.0}, fallback={"status": "ok", "tflops": 225.0})
    case = Case("gemm", "f16_f32acc", "x", {"format": "f16_f32acc", "m": 8192, "n": 8192, "k": 8192,
                                            "shape": "8192x8192x8192", "shape_kind": "square"})
    record = run_gemm(case, _FakeGpuRunner(outcome), POLICY)
    assert record["status"] == "ok" and record["tflops"]["median"] == pytest.approx(450)
    assert record["percent_of_mma_peak"] == pytest.approx(75)
    assert record["percent_of_spec"] == pytest.approx(100 * 450 / 989)
    assert record["percent_of_bandwidth"] == pytest.approx(100 * record["gbps"]["median"] / 3350)
    assert record["cublas"]["ours_over_cublas"] == pytest.approx(0.75)
    assert record["fallback"]["native_over_fallback"] == pytest.approx(2.0)
    failed = run_gemm(case, _FakeGpuRunner(Outcome("failed", "validation failed: x", {"tile": None})), POLICY)
    assert failed["status"] == "failed" and failed["reason"] == "validation failed: x"


def test_export_and_rerun_tell_gemm_shapes_apart():
    from smbench import frames, rerun

    small, large = (_measured_gemm_record(512, 512, 512, "square", 100.0),
                    _measured_gemm_record(8192, 8192, 8192, "square", 450.0))
    document = {"kind": "measured", "backend": "cuda", "device": {"name": "H100"}, "records": [small, large]}
    exported = frames.rows(document)
    assert [(r["metric"], r["value"], r["shape"]) for r in exported] == [("TFLOP/s", 100.0, "512x512x512"),
                                                                         ("TFLOP/s", 450.0, "8192x8192x8192")]
    assert rerun.key(small) != rerun.key(large)


def test_compare_lines_gemms_up_across_files():
    from smbench import compare
    from smbench.timing import summarize

    def measured(tflops):
        record = _measured_gemm_record(4096, 4096, 4096, "square", tflops)
        seconds = 2 * 4096**3 / (tflops * 1e12)
        record.update({"ops": 2.0 * 4096**3, "time_s": summarize([seconds * f for f in (0.99, 1.0, 1.01)] * 4)
                       .to_dict()})
        return {"kind": "measured", "records": [record]}

    tables = {t.title: t for t in compare.build([("spark", measured(50.0)), ("h100", measured(400.0))])}
    table = tables["GEMM, TFLOP/s (TOPS for INT8)"]
    assert table.rows == [["f16_f32acc / 4096x4096x4096", 50.0, 400.0, pytest.approx(8.0),
                           table.rows[0][-1]]] and table.rows[0][-1].startswith("differs")


def test_a_gemm_record_missing_a_field_is_a_clear_error(tmp_path, capsys):
    from smbench import results
    from smbench.cli import main

    suite = tmp_path / "tiny.toml"
    suite.write_text('[gemm]\nformats = ["s8"]\ntails = [[5, 7, 30]]\n[timing]\nmin_samples = 2\nbudget_s = 0.05\n')
    assert main(["run", "--backend", "cpu", "--suite", str(suite), "--only", "gemm", "--out", str(tmp_path)]) == 0
    written = next(tmp_path.glob("*-tiny-*.json"))
    document = json.loads(written.read_text())
    assert results.validate_document(document)  # a real run's records pass
    del document["records"][0]["shape"]
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(document))
    capsys.readouterr()
    assert main(["compare", str(broken), str(written)]) == 2
    assert "records[0].shape should be a str in a GEMM record" in capsys.readouterr().err


def test_the_kernel_and_the_family_agree_on_the_k_tile():
    """gemm.py sizes shared memory and split K from K_TILE_BYTES; the kernel has it as BK_BYTES."""
    import re

    source = (kernels_dir() / gemm.KERNEL_FILE).read_text()
    assert int(re.search(r"constexpr int BK_BYTES = (\d+);", source).group(1)) == gemm.K_TILE_BYTES


def test_the_cpu_gemm_is_timed_on_one_blas_thread_in_its_own_cpu_time(monkeypatch):
    """The CPU path's GEMM swung 20-350x between identical runs: a BLAS splitting a small GEMM
    over both cores waits for whichever the host gave to another program. It now runs on one
    BLAS thread and is timed in that thread's CPU time: time the host spends elsewhere (here
    a sleep inside each call) is not the GEMM's."""
    from threadpoolctl import threadpool_info

    seen = []
    real = cpu_gemm.numpy_gemm

    def slowed(fmt, av, bv):
        seen.append(max(pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"))
        time.sleep(0.02)
        return real(fmt, av, bv)

    monkeypatch.setattr(cpu_gemm, "numpy_gemm", slowed)
    outcome = cpu_gemm.run_case(CpuRunner(), gemm.BY_KEY["bf16_f32acc"], gemm.Shape(64, 64, 64, "square"), POLICY,
                                SETTINGS)
    assert outcome.stats.median < 0.01, outcome.stats.median  # the 20 ms sleeps are not counted
    assert seen and set(seen[-outcome.stats.n:]) == {1}
    assert "one thread" in outcome.fields["support_note"] and "not a GPU" in outcome.fields["support_note"]


def test_the_gemm_figure_says_host_numpy_when_only_the_cpu_path_drew_it(monkeypatch, tmp_path):
    """Its title spoke of smbench's mma.sync GEMM and cuBLAS over a CPU run's NumPy points."""
    from smbench.families.gemm import publish

    titles = []
    monkeypatch.setattr(publish, "save", lambda figure, out, name: titles.append(figure.axes[0].get_title()) or [])
    record = _measured_gemm_record(512, 512, 512, "square", 0.1)
    cpu = {"kind": "measured", "backend": "cpu", "device": {"name": "CPU"}, "records": [record]}
    gpu = {"kind": "measured", "backend": "cuda", "device": {"name": "H100"}, "records": [record]}
    mlx_cpu = {"kind": "measured", "backend": "mlx", "device": {"name": "mlx-cpu", "metal": False}, "records": [record]}
    publish.gemm_vs_size([("cpu", cpu)], tmp_path)
    publish.gemm_vs_size([("cpu", cpu), ("H100", gpu)], tmp_path)
    publish.gemm_vs_size([("cpu", cpu), ("mlx", mlx_cpu)], tmp_path)
    assert "(host NumPy; not a GPU)" in titles[0] and "mma.sync" not in titles[0]
    assert "smbench's mma.sync GEMM" in titles[1]
    assert "(host NumPy, mlx-cpu: not Apple hardware; not a GPU)" in titles[2]


def test_each_tile_build_holds_the_kernels_of_the_formats_that_get_it():
    """sm_90a: FP8 (emulated) takes the 64 x 128 tile, the rest 128 x 256; the skinny tile
    every format the target has. The kernel's bit numbers are FORMATS' order."""
    import re

    source = (kernels_dir() / gemm.KERNEL_FILE).read_text()
    bits = {name: int(bit) for name, bit in re.findall(r"SMBENCH_GEMM_KERNEL\((\w+), \w+, \w+, (\d+)\)", source)}
    assert bits == {fmt.kernel: index for index, fmt in enumerate(gemm.FORMATS)}
    hopper = target_table.get("sm_90a")
    f16, fp8, f8f6f4 = gemm.BY_KEY["f16_f32acc"], gemm.BY_KEY["e4m3_f32acc"], gemm.BY_KEY["f8f6f4_e4m3_f32acc"]
    wide, narrow = gemm.choose_tile(f16, hopper, LARGE_M), gemm.choose_tile(fp8, hopper, LARGE_M)
    assert gemm.kernel_mask(f16, hopper, wide) == 0b1111
    assert gemm.kernel_mask(fp8, hopper, narrow) == 0b10000
    assert gemm.kernel_mask(f16, hopper, gemm.SKINNY_TILE) == 0b11111  # no kind::f8f6f4 on sm_90a
    assert gemm.kernel_mask(f8f6f4, hopper, gemm.SKINNY_TILE) == 0b111111  # asked for: its bit too
    spark = target_table.get("sm_121a")
    assert gemm.kernel_mask(f16, spark, gemm.choose_tile(f16, spark, LARGE_M)) == 0b1111111  # NVFP4 too
    assert gemm.build_options(fp8, hopper, narrow)[-1] == "-DSMBENCH_GEMM_ONLY=0x10u"
