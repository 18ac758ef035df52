"""The GEMM family's GPU path on the host side, without a GPU: operands drawn by
cupy.random (a NumPy stand-in here), only the checked rows and columns read back, and the
checks that see every warp tile. A kernel stand-in computes C; planted wrong ones must fail."""

import re
import types

import numpy as np
import pytest

from smbench.backends import cuda
from smbench.families import gemm
from smbench.families.gemm import cuda as cuda_gemm
from smbench.telemetry import NoTelemetry
from smbench.timing import TimingPolicy, summarize

from numpy_cupy import NumpyCupy

POLICY = TimingPolicy(warmup=0, min_samples=2, max_samples=2, budget_s=0.01)
SETTINGS = {"cublas": False, "fallback": False}


class FakeKernel:
    """Gemm's interface; C = A B^T in C's type, with `spoil` applied to it (a planted bug)."""

    def __init__(self, fmt, spoil=None):
        self.fmt, self.spoil, self.launches = fmt, spoil, 0
        self.module = types.SimpleNamespace(provenance={"target": "sm_90a"})

    def prepare(self, m, n, k, splits):
        c = np.zeros((m, n), dtype=self.fmt.output_dtype)

        def launch(operands, stream=None):
            self.launches += 1  # the device's buffers read as the kernel reads them
            a = gemm.decode(self.fmt, gemm.from_device(self.fmt, operands.a, operands.a_scales, k))
            b = gemm.decode(self.fmt, gemm.from_device(self.fmt, operands.b, operands.b_scales, k))
            product = a @ b.T
            if self.spoil:
                self.spoil(product)
            c[:] = product.astype(self.fmt.output_dtype)
        return c, launch

    def unsupported(self):
        return False


@pytest.fixture
def gpu(monkeypatch):
    fake = NumpyCupy()
    monkeypatch.setattr(cuda, "_cupy", lambda: fake)
    monkeypatch.setattr(cuda_gemm, "shared_limit", lambda: None)
    monkeypatch.setattr(cuda_gemm, "_sass_summary", lambda target, fmt, tile: {"checked": False, "reason": "stand-in"})
    monkeypatch.setattr(cuda_gemm, "time_launch", lambda launch, policy: summarize([1e-3, 1e-3]))
    runner = types.SimpleNamespace(target="sm_90a", facts=types.SimpleNamespace(sm_count=132), info={},
                                   sampler=lambda: NoTelemetry("stand-in"))
    return fake, runner


def _run(gpu, monkeypatch, key, shape, spoil=None):
    fake, runner = gpu
    if gemm.BY_KEY[key].scale:  # block scales: a Spark's target
        runner = types.SimpleNamespace(**{**vars(runner), "target": "sm_121a"})
    kernel = FakeKernel(gemm.BY_KEY[key], spoil)
    monkeypatch.setattr(cuda_gemm, "load", lambda target, fmt, tile: kernel)
    return cuda_gemm.run_case(runner, gemm.BY_KEY[key], shape, POLICY, SETTINGS), kernel


@pytest.mark.parametrize("key", ["f16_f32acc", "bf16_f32acc", "s8", "e4m3_f32acc", "nvfp4"])
def test_operands_drawn_on_the_device_validate_from_what_is_read_back(gpu, monkeypatch, key):
    outcome, kernel = _run(gpu, monkeypatch, key, gemm.Shape(700, 520, 96, "square"))
    assert outcome.status not in ("failed", "skipped"), outcome.reason
    assert outcome.fields["validation"]["inputs"] == "drawn on the GPU (cuRAND)"
    exact, random = outcome.fields["validation"]["exact"], outcome.fields["validation"]["random"]
    assert exact["ok"] and random["ok"] and kernel.launches == 2
    # Every checked row times every checked column: strata of 32 rows and columns between the
    # 64 at each end, no more read back.
    rows = 128 + len(range(64, 700 - 64, 32))
    cols = 128 + len(range(64, 520 - 64, 32))
    assert exact["checked"] == rows * cols and "columns" in exact["detail"]


@pytest.mark.parametrize("where", [(96, 1024), (600, 1424)])
def test_a_warp_tile_left_unwritten_anywhere_fails(gpu, monkeypatch, where):
    """Planted: one 32 x 32 warp tile of C never written, in a stratum drawn at random."""
    row, col = where

    def spoil(c):
        c[row:row + 32, col:col + 32] = 0.0

    outcome, _ = _run(gpu, monkeypatch, "f16_f32acc", gemm.Shape(1024, 1536, 64, "square"), spoil)
    assert outcome.status == "failed" and "differ from the exact product" in outcome.reason
    r, c = (int(x) for x in re.search(r"C\[(\d+), (\d+)\]", outcome.reason).groups())
    assert row <= r < row + 32 and col <= c < col + 32  # the first wrong element named is in that tile


def test_a_skinny_warp_tile_of_16_columns_is_seen_too(gpu, monkeypatch):
    def spoil(c):
        c[:, 4000:4016] += 1.0  # one 16 x 16 warp tile of the skinny tile, off by one

    outcome, _ = _run(gpu, monkeypatch, "f16_f32acc", gemm.Shape(16, 14336, 64, "decode"), spoil)
    assert outcome.status == "failed" and "C[" in outcome.reason


def test_an_nvfp4_kernel_that_reads_a_scale_from_the_wrong_block_fails(gpu, monkeypatch):
    """Planted: the stand-in applies block j's scale to block j + 1 (operands drawn on the device)."""
    def shifted(fmt, data, scales, k):
        return real(fmt, data, None if scales is None else np.roll(scales[:, :-(-k // 16)], 1, axis=1), k)

    real = gemm.from_device
    monkeypatch.setattr(gemm, "from_device", shifted)  # the stand-in's reading of the buffers
    monkeypatch.setattr(cuda_gemm.Operands, "sample", lambda self, rows, cols: (  # the host's, right
        real(self.fmt, self.a[rows], self.a_scales[rows], self.k),
        real(self.fmt, self.b[cols], self.b_scales[cols], self.k)))
    outcome, _ = _run(gpu, monkeypatch, "nvfp4", gemm.Shape(300, 200, 96, "square"))
    assert outcome.status == "failed" and "differ from the exact product" in outcome.reason


@pytest.mark.parametrize("key", ["f16_f32acc", "nvfp4"])
def test_the_launch_passes_the_kernel_s_parameters_in_order(monkeypatch, key):
    """gemm.cu's SMBENCH_GEMM_PARAMS, one argument each, the scales (NVFP4) where SA, SB and lds are."""
    from conftest import KERNELS

    source = (KERNELS / gemm.KERNEL_FILE).read_text()
    declared = re.search(r"#define SMBENCH_GEMM_PARAMS\s*\\\n(.*?)\n\n", source, re.S).group(1)
    names = [part.split()[-1].lstrip("*") for part in re.sub(r"\\\n", " ", declared).split(",")]
    assert names[:3] == ["A", "B", "C"] and names[-1] == "status"
    fake = NumpyCupy()
    monkeypatch.setattr(cuda, "_cupy", lambda: fake)
    fmt = gemm.BY_KEY[key]
    seen = []
    kernel = object.__new__(cuda_gemm.Gemm)
    kernel.fmt, kernel.tile, kernel.status = fmt, gemm.SKINNY_TILE, np.zeros(1, dtype=np.uint32)
    kernel.function = lambda grid, block, args, **options: seen.append(args)
    rng = np.random.default_rng(0)
    operands = cuda_gemm.Operands.upload(fmt, gemm.random_operand(fmt, 3, 77, rng), gemm.random_operand(fmt, 5, 77, rng))
    _, launch = kernel.prepare(3, 5, 77, 1)
    launch(operands)
    args = dict(zip(names, seen[0]))
    assert len(seen[0]) == len(names) and args["A"] is operands.a and args["status"] is kernel.status
    assert args["k_bytes"] == gemm.k_bytes(fmt, 77) and args["lda"] == gemm.leading_bytes(fmt, 77)
    if fmt.scale:
        assert args["SA"] is operands.a_scales and args["SB"] is operands.b_scales and args["lds"] == 16
    else:
        assert args["SA"] == 0 and args["SB"] == 0 and args["lds"] == 0


def test_stratified_rows_cover_every_32_rows_and_columns_every_16():
    rng = np.random.default_rng(0)
    rows, cols = gemm.check_rows(8192, rng), gemm.check_columns(14336, rng, 16)
    assert set(range(64)) <= set(rows) and set(range(8192 - 64, 8192)) <= set(rows)
    assert set(rows // 32) == set(range(8192 // 32)) and set(cols // 16) == set(range(14336 // 16))
    assert set(gemm.check_columns(14336, rng, 17) // 32) == set(range(14336 // 32))  # not skinny: 32 wide
    assert len(rows) == 64 + 64 + (8192 - 128) // 32 and np.all(np.diff(rows) > 0)
    assert list(gemm.check_rows(200, rng)) == list(range(200))


def test_a_failed_device_draw_falls_back_to_the_host_and_says_so(gpu, monkeypatch):
    fake, _ = gpu

    class Broken:
        def __init__(self, seed):
            raise AttributeError("module 'cupy.random' has no attribute 'RandomState'")

    fake.random = types.SimpleNamespace(RandomState=Broken)
    outcome, _ = _run(gpu, monkeypatch, "bf16_f32acc", gemm.Shape(300, 200, 80, "tail"))
    assert outcome.fields["validation"]["exact"]["ok"] and outcome.fields["validation"]["random"]["ok"]
    assert outcome.fields["validation"]["inputs"].startswith("drawn on the host (drawing on the GPU failed: AttributeError")


def test_device_inputs_that_break_the_checks_premises_are_refused():
    f16, s8 = gemm.BY_KEY["f16_f32acc"], gemm.BY_KEY["s8"]
    ones = np.ones((2, 8), dtype=np.float16)
    assert gemm.inputs_wrong(f16, ones, -ones, exact=True) == ""
    assert "not -1, 0 or 1" in gemm.inputs_wrong(f16, ones * 2, ones, exact=True)
    assert "every random input" in gemm.inputs_wrong(f16, ones, ones, exact=False)
    assert "outside [-1, 1]" in gemm.inputs_wrong(f16, ones * 3, ones / 2, exact=False)
    assert gemm.inputs_wrong(s8, np.arange(16, dtype=np.int8).reshape(2, 8), np.ones((2, 8), np.int8), False) == ""
