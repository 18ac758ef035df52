"""GPU tests of the GEMM family: every format the GPU has, on odd sizes and both tiles,
exactly against the integer product and within the error bound of float64; split K;
the compute_80 build; cuBLAS beside it; `smbench run --only gemm` end to end.

Run with `make test-gpu` on a machine with a GPU; they skip, with the reason, elsewhere.
"""

import json

import numpy as np
import pytest

from smbench import targets as target_table
from smbench.families import gemm, peak

from conftest import run_cli

pytestmark = pytest.mark.gpu

# Each edge of the tiles: M and N one past a tile and far from one, K not a multiple of
# the K tile or of 16 bytes; M <= 16 takes the skinny tile.
ODD = [(1, 1, 1), (5, 77, 300), (16, 200, 4099), (127, 255, 77), (257, 129, 1000), (300, 520, 136)]


@pytest.fixture(scope="module")
def gpu():
    from smbench.backends import cuda
    from smbench.families.gemm import cuda as cuda_gemm

    facts = cuda.device_facts()
    return cuda_gemm, facts, target_table.get(cuda.native_target(facts))


def _run(cuda_gemm, fmt, target, facts, m, n, k, exact: bool, splits: int | None = None):
    tile = gemm.choose_tile(fmt, target, m, cuda_gemm.shared_limit())
    splits = splits or gemm.split_k(fmt, tile, m, n, k, facts.sm_count)
    kernel = cuda_gemm.load(target.name, fmt, tile)
    rng = np.random.default_rng(m * 7 + n * 3 + k)
    if exact:
        a = gemm.exact_operand(fmt, m, k, rng, gemm.exact_density(fmt, k))
        b = gemm.exact_operand(fmt, n, k, rng)
    else:
        a, b = gemm.random_operand(fmt, m, k, rng), gemm.random_operand(fmt, n, k, rng)
    operands = cuda_gemm.Operands.upload(fmt, a, b)
    c, launch = kernel.prepare(m, n, k, splits)
    launch(operands)
    return kernel, cuda_gemm.result_rows(c, np.arange(m)), a, b


@pytest.mark.parametrize("m,n,k", ODD)
@pytest.mark.parametrize("key", list(gemm.BY_KEY))
def test_every_format_on_odd_sizes(gpu, key, m, n, k):
    cuda_gemm, facts, target = gpu
    fmt = gemm.BY_KEY[key]
    support, why = gemm.gate(fmt, target)
    kernel, got, a, b = _run(cuda_gemm, fmt, target, facts, m, n, k, exact=True)
    if support == "skipped":
        assert kernel.unsupported(), f"{fmt.kernel} ran on {target.name}, which the table says lacks it"
        pytest.skip(why)
    checked = gemm.validate_exact(fmt, got, a, b, np.arange(m))
    assert checked.ok, checked.detail
    _, got, a, b = _run(cuda_gemm, fmt, target, facts, m, n, k, exact=False)
    checked, _ = gemm.validate_random(fmt, got, gemm.reference(fmt, a, b, np.arange(m)), 1)
    assert checked.ok, checked.detail


@pytest.mark.parametrize("splits", [2, 3, 7])
@pytest.mark.parametrize("key", [f.key for f in gemm.FORMATS if f.splittable])
def test_split_k_adds_every_slice(gpu, key, splits):
    cuda_gemm, facts, target = gpu
    fmt = gemm.BY_KEY[key]
    if gemm.gate(fmt, target)[0] == "skipped":
        pytest.skip(gemm.gate(fmt, target)[1])
    _, got, a, b = _run(cuda_gemm, fmt, target, facts, 9, 300, 2000, exact=True, splits=splits)
    assert gemm.validate_exact(fmt, got, a, b, np.arange(9)).ok
    _, got, a, b = _run(cuda_gemm, fmt, target, facts, 9, 300, 2000, exact=False, splits=splits)
    assert gemm.validate_random(fmt, got, gemm.reference(fmt, a, b, np.arange(9)), splits)[0].ok


@pytest.mark.parametrize("key", [f.key for f in gemm.FORMATS if peak.fallback_compiles(f)])
def test_the_compute_80_build_validates(gpu, key):
    cuda_gemm, facts, target = gpu
    fmt = gemm.BY_KEY[key]
    tile = gemm.choose_tile(fmt, target, 257, cuda_gemm.shared_limit())
    kernel, built = cuda_gemm.load_fallback(target.portable_real, fmt, tile, target.name)
    if built.sass is not None:
        assert cuda_gemm.summary_of(built.sass[fmt.kernel])["main_loop_ok"]
    rng = np.random.default_rng(0)
    for exact in (True, False):
        make = gemm.exact_operand if exact else gemm.random_operand
        a, b = make(fmt, 257, 300, rng), make(fmt, 129, 300, rng)
        c, launch = kernel.prepare(257, 129, 300, 1)
        launch(cuda_gemm.Operands.upload(fmt, a, b))
        got = cuda_gemm.result_rows(c, np.arange(257))
        checked = gemm.validate_exact(fmt, got, a, b, np.arange(257)) if exact else \
            gemm.validate_random(fmt, got, gemm.reference(fmt, a, b, np.arange(257)), 1)[0]
        assert checked.ok, checked.detail


@pytest.mark.parametrize("key", [f.key for f in gemm.FORMATS if f.cublas])
def test_cublas_computes_the_same_product(gpu, key):
    """The call's layout and types are right: cuBLAS gives the exact product too."""
    cuda_gemm, facts, target = gpu
    fmt = gemm.BY_KEY[key]
    rng = np.random.default_rng(1)
    a, b = gemm.exact_operand(fmt, 64, 200, rng), gemm.exact_operand(fmt, 48, 200, rng)
    library = cuda_gemm.Cublas(fmt, 64, 48, 200)
    library.launch(cuda_gemm.Operands.upload(fmt, a, b))
    assert gemm.validate_exact(fmt, cuda_gemm.result_rows(library.c, np.arange(64)), a, b, np.arange(64)).ok


@pytest.mark.cli
def test_run_only_gemm_on_the_gpu(tmp_path):
    suite = tmp_path / "gemm.toml"
    suite.write_text('[gemm]\nformats = "all"\nsquares = [1024]\ndecode_m = [1]\ndecode_nk = [[4096, 4096]]\n'
                     'tails = [[127, 255, 77]]\n[timing]\nwarmup = 1\nmin_samples = 3\nmax_samples = 20\n'
                     'budget_s = 0.1\n[peak]\nlaunch_ms = 1\n')
    code, out, err = run_cli("run", "--suite", str(suite), "--backend", "cuda", "--only", "gemm",
                             "--out", str(tmp_path))
    assert code == 0, err
    document = json.loads(next(tmp_path.glob("*.json")).read_text())
    records = [r for r in document["records"] if r["family"] == "gemm"]
    assert len(records) == 3 * len(gemm.BY_KEY)
    assert not [r for r in records if r["status"] == "failed"], out
    f16 = next(r for r in records if r["benchmark"] == "f16_f32acc" and r["shape"] == "1024x1024x1024")
    assert f16["status"] == "ok" and f16["percent_of_mma_peak"] and f16["sass"]["main_loop_ok"]
    assert f16["cublas"]["status"] == "ok" and f16["cublas"]["ours_over_cublas"] > 0
    assert f16["fallback"]["status"] == "ok"
