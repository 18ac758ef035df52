"""GPU tests of the numerics family: the probe kernels answer exactly where the answer is
certain, every format the GPU has gets a fitted model, `smbench run --only precision` runs.

Run with `make test-gpu` on a machine with a GPU; they skip, with the reason, elsewhere.
"""

import json

import numpy as np
import pytest

from smbench import targets as target_table
from smbench.families import precision

from conftest import run_cli

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def target():
    from smbench.backends import cuda

    return target_table.get(cuda.native_target(cuda.device_facts()))


@pytest.mark.parametrize("key", list(precision.BY_KEY))
def test_probes_fit_a_model_for_every_format_the_gpu_has(target, key):
    from smbench.families.precision import cuda as cuda_precision

    fmt = precision.BY_KEY[key]
    if not target.has(fmt.feature):
        pytest.skip(f"{target.name} has no {fmt.feature}")
    device = cuda_precision.device(target.name)
    ones = np.ones((2, fmt.k))
    # Exact whatever the arithmetic: K x (1 x 1), and 1 x 1 + 2 in the accumulator.
    assert list(device(fmt, ones, ones, np.array([0.0, 2.0]))) == [fmt.k, fmt.k + 2]
    fitted = precision.fit(fmt, device)
    assert fitted.model is not None, fitted.parameters
    rows = precision.gemm_errors(fmt, cuda_precision.gemm(target.name), fitted.model, [fmt.k * 4])
    assert rows and rows[0]["device_median_rel_error"] < 0.5


def test_a_whole_tile_matches_float64_where_it_is_exact(target):
    """Small integers: every product and sum exact in any model; checks the fragment layouts."""
    from smbench.families.precision import cuda as cuda_precision

    fmt = precision.BY_KEY["f16_f32acc"]
    rng = np.random.default_rng(3)
    a, b = rng.integers(-4, 5, (16, 32)).astype(float), rng.integers(-4, 5, (32, 8)).astype(float)
    c = rng.integers(-8, 9, (16, 8)).astype(float)
    d = cuda_precision.run_tiles(fmt, target.name, [(a, b, c)])[0]
    np.testing.assert_array_equal(d, a @ b + c)


@pytest.mark.cli
def test_run_only_precision_on_the_gpu(tmp_path):
    suite = tmp_path / "numerics.toml"
    suite.write_text('[precision]\nformats = "all"\ngemm_ks = [256]\n')
    code, out, err = run_cli("run", "--suite", str(suite), "--backend", "cuda", "--only", "precision",
                             "--out", str(tmp_path))
    assert code == 0, err
    records = json.loads(next(tmp_path.glob("*.json")).read_text())["records"]
    assert {r["status"] for r in records} <= {"ok", "skipped"} and any(r["status"] == "ok" for r in records)


@pytest.mark.parametrize("key", ["f16_f32acc", "f16_f16acc", "bf16_f32acc", "tf32_f32acc"])
def test_hopper_matches_the_published_h100_model(target, key):
    """On sm_90 (the H200 the project is checked on) mma.sync f16, bf16 and tf32 answer every
    probe as Khattak & Mikaitis's H100 model does, and agree with it bit for bit on random GEMMs."""
    from smbench import emulate
    from smbench.families.precision import cuda as cuda_precision

    if not target.name.startswith("sm_90"):
        pytest.skip(f"{target.name} is not Hopper")
    fmt = precision.BY_KEY[key]
    fitted = precision.fit(fmt, cuda_precision.device(target.name))
    kind, like = precision.likeness(fitted.published)
    assert kind == "like" and "H100" in [p["gpu"] for p in like], precision.verdict(fitted.published)
    published = emulate.published_model("H100", fmt.input_format, fmt.accumulator)
    rows = precision.gemm_errors(fmt, cuda_precision.gemm(target.name), fitted.model, [fmt.k * 16, 1024],
                                 published=published)
    assert all(r["bit_identical"] == 1.0 and r["published_identical"] == 1.0 for r in rows), rows


def test_block_scales_reach_the_rows_columns_and_blocks_the_isa_says(target):
    """Distinct power-of-two scales per row, column and K block on small integers: every
    product and sum exact in any model, so D must be float64's (checks fragments.pack_scales)."""
    from smbench.families.precision import cuda as cuda_precision

    for key in ("nvfp4_f32acc", "mxf4_f32acc", "mxf8_e4m3_f32acc"):
        fmt = precision.BY_KEY[key]
        if not target.has(fmt.feature):
            pytest.skip(f"{target.name} has no {fmt.feature}")
        blocks = fmt.k // fmt.scale_block
        rng = np.random.default_rng(4)
        a = rng.choice([-2.0, -1.0, 0.0, 1.0, 2.0], (16, fmt.k))
        b = rng.choice([-1.0, 0.0, 1.0], (fmt.k, 8))
        sa, sb = 2.0 ** rng.integers(-2, 3, (16, blocks)), 2.0 ** rng.integers(-2, 3, (8, blocks))
        owner = np.arange(fmt.k) // fmt.scale_block
        d = cuda_precision.run_tiles(fmt, target.name, [(a, b, np.zeros((16, 8)))], [(sa, sb)])[0]
        np.testing.assert_array_equal(d, (a * sa[:, owner]) @ (b * sb[:, owner].T), err_msg=key)


@pytest.mark.parametrize("key", ["nvfp4_f32acc", "mxf4_f32acc"])
def test_the_fit_decides_where_the_block_scale_enters(target, key):
    """On a target with block-scaled mma (sm_120a/121a): the scale probes decide whether each
    product is scaled exactly or each block sum after its narrowing (either answer), and the
    fitted model, that answer included, gives the GPU's bits on random rows with random scales."""
    from smbench.families.precision import cuda as cuda_precision

    fmt = precision.BY_KEY[key]
    if not target.has(fmt.feature):
        pytest.skip(f"{target.name} has no {fmt.feature}")
    device = cuda_precision.device(target.name)
    fitted = precision.fit(fmt, device)
    found = fitted.parameters["scale_entry"]
    assert fitted.model is not None and found["determined"], found
    assert fitted.model.scale_entry == found["value"]
    rng = np.random.default_rng(9)
    a, b = precision.random_operands(fmt, (64, fmt.k), rng), precision.random_operands(fmt, (64, fmt.k), rng)
    blocks = fmt.k // fmt.scale_block
    from smbench import formats
    held = [v for v in formats.MINIFLOATS[fmt.scale].values if np.isfinite(v) and 0.25 <= v <= 8]
    scales = rng.choice(held, (64, blocks)), rng.choice(held, (64, blocks))
    c = np.zeros(64)
    assert np.array_equal(device(fmt, a, b, c, scales), precision.emulator_device(fitted.model)(fmt, a, b, c, scales))
