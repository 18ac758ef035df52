"""The mlx backend through mlx[cpu] (MLX's CPU device on Linux): run end to end, validation
that catches a wrong or never-computed result, the Metal kernels skipped with the reason,
'mlx-cpu: not Apple hardware' in every view, compare and report beside a CPU file and the
published M4 Max, and the one-line error without MLX."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli_here

mx = pytest.importorskip("mlx.core", reason="MLX is not installed (pip install 'smbench[mlx]')")

TINY = ["--set", "stream.largest_mib=1", "--set", "stream.operations=['copy', 'triad', 'dot', 'write']",
        "--set", "gemm.squares=[64]", "--set", "gemm.shapes=[]", "--set", "gemm.decode_m=[1]",
        "--set", "gemm.decode_nk=[[256, 128]]", "--set", "gemm.tails=[[33, 65, 17]]",
        "--set", "precision.formats=['f16_f32acc']", "--set", "timing.budget_s=0.02",
        "--set", "timing.max_samples=8", "--set", "timing.min_samples=3", "--set", "timing.warmup=1"]


@pytest.fixture(scope="module")
def mlx_file(tmp_path_factory):
    out = tmp_path_factory.mktemp("mlx")
    code, stdout, stderr = run_cli_here("run", "--backend", "mlx", "--only", "stream,gemm,precision,launch,peak,latency",
                                        "--out", str(out), *TINY)
    assert code == 0, stderr + stdout
    path = next(out.glob("*.json"))
    return path, json.loads(path.read_text()), stdout


@pytest.fixture(scope="module")
def cpu_file(tmp_path_factory):
    out = tmp_path_factory.mktemp("cpu")
    code, _, stderr = run_cli_here("run", "--backend", "cpu", "--only", "stream", "--out", str(out), *TINY)
    assert code == 0, stderr
    return next(out.glob("*.json"))


def by_family(document, family, status=None):
    return [r for r in document["records"] if r["family"] == family and (status is None or r["status"] == status)]


def test_run_mlx_end_to_end(mlx_file):
    _, document, stdout = mlx_file
    assert document["backend"] == "mlx" and document["device"]["metal"] is False
    assert "not Apple hardware" in document["device"]["name"] and document["expected_bandwidth"] is None
    streams = by_family(document, "stream", "ok")
    assert {r["benchmark"] for r in streams} == {"copy", "triad", "dot", "write"}
    assert all(r["validation"]["ok"] and r["kernel"].startswith("mlx_") for r in streams)
    gemms = by_family(document, "gemm", "ok")
    assert {r["benchmark"] for r in gemms} == {"mlx_f32", "mlx_f16", "mlx_bf16"}
    assert {r["kernel"] for r in gemms} == {"mx.matmul f32", "mx.matmul f16", "mx.matmul bf16"}  # rerun tells them apart
    assert all(r["validation"]["exact"]["ok"] and r["validation"]["random"]["ok"] for r in gemms)
    # int8: MLX's own refusal is the reason, not a crash
    assert all("inexact" in r["reason"] for r in by_family(document, "gemm", "skipped"))
    (precision,) = by_family(document, "precision", "ok")
    assert precision["fit"] and "f32-like" in precision["device"] and "32 x 32 tile" in precision["device"]
    assert precision["through"] == "MLX f32 matmul" and precision["behaves"]["kind"] == "none"
    (launch,) = by_family(document, "launch", "ok")
    assert 0 < launch["queued_us"]["median"] and launch["validation"]["ok"]
    # families without an MLX part: one skipped row each, with the reason
    for family in ("peak", "latency"):
        (row,) = by_family(document, family)
        assert row["status"] == "skipped" and "has none" in row["reason"] and "launch" in row["reason"]
    assert "mlx-cpu: not Apple hardware" in stdout


def test_metal_kernels_skipped_with_the_reason_off_macos(mlx_file):
    _, document, _ = mlx_file
    metal = [r for r in by_family(document, "stream") if r["kernel"].startswith("metal_")]
    assert metal and all(r["status"] == "skipped" and "only on macOS with Metal" in r["reason"] for r in metal)


def test_stream_validation_catches_a_wrong_and_a_repeated_result():
    from smbench.families.stream import mlx as part

    inputs = part.prepare("triad", "f32", 4096)
    call = part.mlx_call("triad", "f32", inputs, 4096)
    outputs = [call(i) for i in range(3)]
    assert part.validate("triad", "f32", 4096, outputs, "mlx").ok
    wrong = outputs[:2] + [outputs[2] + mx.array(np.float32(0.125))]
    checked = part.validate("triad", "f32", 4096, wrong, "mlx")
    assert not checked.ok and "timed call 3 of 3" in checked.detail
    # Lazy evaluation: a call handing back one array again did no work, though its values are right.
    same = [outputs[0]] * 3
    checked = part.validate("triad", "f32", 4096, same, "mlx")
    assert not checked.ok and "distinct" in checked.detail


@pytest.mark.parametrize("op", ["scale", "add", "triad"])
def test_each_elementwise_operation_is_one_fused_kernel(op):
    """triad as b + s * c unfused is a multiply and an add through a full-size temporary;
    compiled, MLX's graph is one node (here MLX's CPU device JIT-compiles it with g++)."""
    from smbench.backends import mlx as backend
    from smbench.families.stream import mlx as part

    call = part.mlx_call(op, "f32", part.prepare(op, "f32", 4096), 4096)
    (primitive,) = backend.primitives(call(0))
    assert primitive.startswith("Compiled") or op == "add"
    assert part.timed_graph(op, call)["fused"]
    assert backend.primitives(mx.array([1.0]) + mx.array([2.0]) * mx.array([3.0])) == ["Multiply", "Add"]


def test_a_dot_of_a_tenth_of_the_arrays_fails_and_a_whole_one_passes():
    """The reviewer's repro: one inner product of the first tenth once passed a bound grown
    with n. Now each 4096-term row's partial is checked, on either path."""
    from smbench.families.stream import mlx as part

    n = 1 << 20
    x = part.prepare("dot", "f32", n)
    truncated = [mx.inner(x["a"][:n // 10], x["b"][:n // 10])]
    assert not part.validate("dot", "f32", n, truncated, "metal").ok
    assert not part.validate("dot", "f32", n, truncated, "mlx").ok
    call = part.mlx_call("dot", "f32", x, n)
    assert part.validate("dot", "f32", n, [call(0), call(1)], "mlx").ok
    # the right number of partials, a tenth of the rows left out: caught row by row
    short = mx.concatenate([call(0)[: n // 4096 * 9 // 10], mx.zeros((n // 4096 - n // 4096 * 9 // 10,))])
    checked = part.validate("dot", "f32", n, [short], "mlx")
    assert not checked.ok and "row sums beyond" in checked.detail


def test_small_sizes_take_many_calls_per_sample_and_large_ones_hold_two():
    from smbench.backends import mlx as backend
    from smbench.families.stream import mlx as part
    from smbench.timing import TimingPolicy

    n = 1 << 14
    call = part.mlx_call("triad", "f32", part.prepare("triad", "f32", n), n)
    reps = backend.reps_for(backend.pilot_seconds(call))
    assert reps > backend.FEWEST_PER_SAMPLE
    kept = []
    backend.time_calls(call, reps, TimingPolicy(warmup=0, min_samples=2, max_samples=2), kept,
                       window=backend.in_flight(n * 4))
    assert len(kept) == reps and part.validate("triad", "f32", n, kept, "mlx").ok
    assert backend.reps_for(10.0) == backend.FEWEST_PER_SAMPLE and backend.in_flight(1 << 30) == 2


def test_time_calls_evaluates_every_output_inside_the_sample_holding_a_window():
    from smbench.backends import mlx as backend
    from smbench.timing import TimingPolicy

    made = []

    def call(i):
        out = mx.arange(1000) * (i + 1)
        made.append(out)
        return out

    kept = []
    policy = TimingPolicy(warmup=0, min_samples=2, max_samples=2)
    backend.time_calls(call, 4, policy, kept)  # by default every output is held
    assert [int(k[1].item()) for k in kept] == [1, 2, 3, 4]
    made.clear()
    backend.time_calls(call, 6, policy, kept, window=2)
    assert [int(k[1].item()) for k in kept] == [5, 6]
    # the dropped calls were computed too (their graphs are gone: evaluated arrays keep none)
    assert all(backend.primitives(m) == [] for m in made)


def test_gemm_validation_catches_a_wrong_product():
    from smbench.families import gemm
    from smbench.families.gemm import mlx as part

    fmt = part.BY_KEY["mlx_f16"]
    rng = np.random.default_rng(0)
    a, b = gemm.random_operand(fmt, 32, 64, rng), gemm.random_operand(fmt, 16, 64, rng)
    ref = gemm.reference(fmt, a, b, np.arange(32))
    good = part.product(fmt, part.to_mlx(fmt, a), part.to_mlx(fmt, b))
    assert part.validate_timed(fmt, [good], ref)[0].ok
    checked, _ = part.validate_timed(fmt, [good, good * 1.5], ref)
    assert not checked.ok


def test_views_say_mlx_cpu_is_not_apple_hardware(mlx_file, cpu_file, tmp_path):
    path, _, _ = mlx_file
    code, out, err = run_cli_here("compare", str(path), str(cpu_file))
    assert code == 0, err
    assert "mlx-cpu: not Apple hardware" in out and "CPU path (host NumPy)" in out
    code, _, err = run_cli_here("report", str(path), str(cpu_file), "--against", "m4max", "--out", str(tmp_path))
    assert code == 0, err
    report = (tmp_path / "report.md").read_text()
    assert "mlx-cpu: not Apple hardware" in report and "m4max" in report
    assert "mlx-cpu: not Apple hardware, not a GPU" in report  # its row of the device table
    from smbench import plots, report as report_module

    document = json.loads(path.read_text())
    assert report_module.on_host_cpu(document) and not report_module.measured_gpu(document)
    assert "not Apple hardware" in plots.display_label("mine", document)


def test_a_metal_file_is_hardware():
    from smbench import origin

    document = {"kind": "measured", "backend": "mlx", "device": {"metal": True, "name": "Apple M4 Max"}}
    assert origin.not_hardware(document) == ""
    assert origin.not_hardware({**document, "device": {"metal": False}}) == origin.MLX_CPU


def test_metal_runner_matches_the_device_table(monkeypatch):
    from smbench import run
    from smbench.backends import mlx as backend

    monkeypatch.setattr(backend, "use_device", lambda: None)
    monkeypatch.setattr(backend, "device_info", lambda: {
        "metal": True, "chip": "Apple M4 Max", "name": "Apple M4 Max (40-core GPU)", "device": "gpu",
        "l2_bytes": None, "free_bytes": 1 << 36, "mlx_version": "x", "memory_kinds": [("unified", True, "")]})
    runner = run.MlxRunner()
    assert runner.spec.key == "m4max" and runner.dram_bandwidth.value == 546 and not runner.figures_are_host_cpu
    # The binned chip (32-core GPU) is held to its own, lower bandwidth, not the 40-core one's.
    monkeypatch.setattr(backend, "device_info", lambda: {
        "metal": True, "chip": "Apple M4 Max", "name": "Apple M4 Max (32-core GPU)", "device": "gpu",
        "l2_bytes": None, "free_bytes": 1 << 36, "mlx_version": "x", "memory_kinds": [("unified", True, "")]})
    runner = run.MlxRunner()
    assert runner.spec.key == "m4max-32c" and runner.dram_bandwidth.value == 410


def test_missing_mlx_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlx", None)
    monkeypatch.setitem(sys.modules, "mlx.core", None)
    code, out, err = run_cli_here("run", "--backend", "mlx", "--only", "stream", "--out", "/tmp/smbench-never")
    assert code != 0 and "pip install 'smbench[mlx]'" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_macos_install_leaves_out_every_cuda_wheel():
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())["project"]
    mac = {"platform_system": "Darwin", "sys_platform": "darwin", "platform_machine": "arm64",
           "python_version": "3.12", "extra": "mlx"}
    kept = [r.name for r in map(Requirement, project["dependencies"] + project["optional-dependencies"]["mlx"])
            if r.marker is None or r.marker.evaluate(mac)]
    assert "mlx" in kept and not [n for n in kept if n.startswith(("cupy", "nvidia", "cuda"))]


def test_an_older_mlx_without_a_chip_name_takes_macos_s(monkeypatch):
    """MLX before mx.device_info names only an architecture (applegpu_g16s), which matches no
    device-table row: macOS's own name for the chip is taken instead."""
    from smbench.backends import mlx as backend

    monkeypatch.setattr(backend, "on_metal", lambda: True)
    monkeypatch.setattr(backend, "_raw_info", lambda: {"architecture": "applegpu_g16s", "memory_size": 1 << 36})
    monkeypatch.setattr(backend, "_chip_from_macos", lambda: "Apple M4 Max")
    monkeypatch.setattr(backend, "gpu_cores", lambda: 40)
    info = backend.device_info()
    assert info["chip"] == "Apple M4 Max" and info["name"] == "Apple M4 Max (40-core GPU)"
