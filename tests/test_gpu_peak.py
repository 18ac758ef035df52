"""GPU tests of the compute-peak family: every loop validated on the device, timed, its
compute_80 build too; `smbench run --only peak` end to end.

Run with `make test-gpu` on a machine with a GPU; they skip, with the reason, elsewhere.
"""

import json

import pytest

from smbench import targets as target_table
from smbench.families import peak
from smbench.timing import TimingPolicy

from conftest import run_cli

pytestmark = pytest.mark.gpu

QUICK = TimingPolicy(warmup=1, min_samples=3, max_samples=10, budget_s=0.05)


@pytest.fixture(scope="module")
def gpu():
    from smbench.backends import cuda
    from smbench.families.peak import cuda as cuda_peak

    facts = cuda.device_facts()
    return cuda, cuda_peak, facts, target_table.get(cuda.native_target(facts))


@pytest.mark.parametrize("key", list(peak.BY_KEY))
def test_every_loop_the_gpu_has_validates_and_times(gpu, key):
    cuda, cuda_peak, facts, target = gpu
    fmt = peak.BY_KEY[key]
    support, why = peak.gate(fmt, target)
    module = cuda.load(fmt.file, target.name)
    validation, unsupported = cuda_peak.validate(module, fmt)
    if support == "skipped":
        assert unsupported, f"{fmt.kernel} ran on {target.name}, which the table says lacks it"
        pytest.skip(why)
    assert validation.ok, validation.detail
    timed = cuda_peak.time_loop(module, fmt, facts, QUICK, 0.001)
    assert timed.grid >= facts.sm_count and timed.iters % fmt.unroll == 0 and timed.stats.median > 0


@pytest.mark.parametrize("key", [f.key for f in peak.FORMATS if peak.fallback_compiles(f)])
def test_the_compute_80_build_validates_through_the_driver_jit(gpu, key):
    cuda, cuda_peak, facts, target = gpu
    fmt = peak.BY_KEY[key]
    fallback = cuda_peak.load_fallback(fmt.file, target.portable_real)
    if fallback.sass is not None:
        assert peak.loop_intact(fmt, fallback.sass[fmt.kernel].histogram)[0]
    validation, unsupported = cuda_peak.validate(fallback.module, fmt)
    assert not unsupported and validation.ok, validation.detail


@pytest.mark.cli
def test_run_only_peak_on_the_gpu(tmp_path):
    suite = tmp_path / "peak.toml"
    suite.write_text('[peak]\nformats = "all"\nlaunch_ms = 1\nfallback = true\n'
                     '[timing]\nwarmup = 1\nmin_samples = 3\nmax_samples = 20\nbudget_s = 0.1\n')
    code, out, err = run_cli("run", "--suite", str(suite), "--backend", "cuda", "--only", "peak",
                             "--out", str(tmp_path))
    assert code == 0, err
    document = json.loads(next(tmp_path.glob("*.json")).read_text())
    records = {r["benchmark"]: r for r in document["records"]}
    assert set(records) == set(peak.BY_KEY)
    assert not [r for r in records.values() if r["status"] == "failed"], out
    for record in records.values():
        if record["status"] == "ok":
            assert record["validation"]["ok"] and record["tflops"]["median"] > 0
            assert record["expected"]["clock_mhz"], "no SM clock: neither telemetry nor the driver gave one"
    assert records["f16_f32acc"]["status"] == "ok"
    assert records["f16_f32acc"]["fallback"]["status"] == "ok"
