"""`smbench run` on the CPU reference path: plan, validation, records, result files, interrupts."""

import json
import re

import pytest

from smbench import results, run, suites
from smbench.families.stream import cpu
from smbench.errors import SmbenchError
from smbench.families.stream.family import run_stream

from conftest import run_cli, run_cli_here

TINY = """
description = "tiny: three kernels, five sizes"
[stream]
operations = ["copy", "triad", "dot"]
dtypes = ["f32"]
widths = [16]
size_step = 4
[transfer]
sizes_mib = [1]
[launch]
[timing]
warmup = 1
min_samples = 3
max_samples = 20
budget_s = 0.02
[cpu]
largest_mib = 4
budget_s = 0.02
"""


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    return suites.load(str(path))


def test_cpu_run_validates_every_case_and_writes_a_file_that_loads(tiny, tmp_path):
    runner = run.CpuRunner()
    path, records = run.execute(tiny, runner, {"stream", "transfer", "launch"}, tmp_path / "out")
    document = results.load(path)
    assert document["status"] == "complete" and document["backend"] == "cpu"
    assert document["provenance"]["smbench_version"] and document["device"]["name"].startswith("CPU reference")
    stream_records = [r for r in document["records"] if r["family"] == "stream"]
    sizes = sorted({r["working_set"] for r in stream_records})
    # every 4x from 32 KiB, ending exactly at the CPU cap of 4 MiB
    assert sizes == [32 << 10, 128 << 10, 512 << 10, 2 << 20, 4 << 20]
    for record in stream_records:
        assert record["status"] == "ok" and record["validation"]["ok"], record
        assert record["gbps"]["median"] > 0 and record["time_s"]["n"] >= 3
        assert record["bytes_moved"] == {"copy": 2, "triad": 3, "dot": 2}[record["benchmark"]] * record["elements"] * 4
    # The families the CPU path has no part for: one skipped row each, in the family's own words.
    skipped = [r for r in document["records"] if r["status"] == "skipped"]
    assert sorted(r["family"] for r in skipped) == ["launch", "transfer"]
    reasons = {r["family"]: r["reason"] for r in skipped}
    assert reasons["transfer"].startswith("cudaMemcpy copies (host<->device, device-to-device) need a GPU: ")
    assert reasons["launch"].startswith("kernel launches need a GPU: ") and "launch has none" in reasons["launch"]


def test_a_wrong_result_is_a_failed_record_not_a_figure(tiny, tmp_path, monkeypatch):
    original = cpu.run_once

    def broken(case):
        value = original(case)
        if case.op == "triad":
            case.arrays["a"][7] += 1  # one wrong element
        return value

    monkeypatch.setattr(cpu, "run_once", broken)
    path, records = run.execute(tiny, run.CpuRunner(), {"stream"}, tmp_path)
    triads = [r for r in records if r["benchmark"] == "triad"]
    assert triads and all(r["status"] == "failed" for r in triads)
    assert all("gbps" not in r and "index 7" in r["reason"] for r in triads)
    assert all(r["status"] == "ok" for r in records if r["benchmark"] != "triad")
    assert results.load(path)["status"] == "complete"


def test_a_case_that_raises_is_a_row_and_the_run_goes_on(tiny, tmp_path, monkeypatch):
    def explode(*args):
        raise MemoryError("cannot allocate")

    monkeypatch.setattr(cpu, "prepare", explode)
    _, records = run.execute(tiny, run.CpuRunner(), {"stream"}, tmp_path)
    assert records and all(r["status"] == "failed" and r["reason"] == "MemoryError: cannot allocate" for r in records)


def test_an_interrupted_run_keeps_what_finished(tiny, tmp_path):
    def interrupt_at_fourth(case, number, total):
        if number == 3:
            raise KeyboardInterrupt

    with pytest.raises(run.RunInterrupted) as stop:
        run.execute(tiny, run.CpuRunner(), {"stream"}, tmp_path, interrupt_at_fourth)
    (path,) = tmp_path.glob("*.json")
    document = results.load(path)
    assert document["status"] == "interrupted" and len(document["records"]) == 3
    assert stop.value.path == path and stop.value.records == 3


def test_the_file_is_valid_after_every_record(tiny, tmp_path):
    seen = []

    def check(case, number, total):
        files = list(tmp_path.glob("*.json"))
        if files:
            seen.append(len(results.load(files[0])["records"]))

    run.execute(tiny, run.CpuRunner(), {"stream"}, tmp_path, check)
    assert seen == list(range(len(seen)))


def test_unknown_family_and_empty_plan(tiny, tmp_path):
    with pytest.raises(SmbenchError, match="unknown family 'nonesuch'"):
        run.execute(tiny, run.CpuRunner(), {"nonesuch"}, tmp_path)


def test_builtin_suites_load():
    assert {"quick", "full"} <= set(suites.available())
    quick = suites.load("quick")
    assert quick.timing("cuda").budget_s == 0.5 and quick.timing("cpu").budget_s == 0.25
    assert quick.timing("cpu").host_interval == 0.05  # the CPU path stops when the median is known to +-5%
    with pytest.raises(SmbenchError, match="unknown suite"):
        suites.load("nonesuch")


@pytest.mark.parametrize("text, message", [
    ("[stream]\noperations = ['stencil']\n", "operations = ['stencil'] should be \"all\" or a non-empty list of copy"),
    ("[stream]\noperations = 'copy'\n", "should be \"all\" or a non-empty list of"),
    ("[stream]\nwidths = [32]\n", "should be \"all\" or a non-empty list of 4, 8, 16"),
    ("[stream]\nsize_step = 0\n", "should be a power of two"),
    ("[stream]\nsize_step = 3\n", "should be a power of two"),
    ("[stream]\nsize_step = 'x'\n", "should be a power of two"),
    ("[stream]\ndtypes = ['f64']\nwidths = [4]\n", "no width applies to f64"),
    ("stream = 5\n", "[stream] should be a table"),
    ("[stream]\ncolour = 'red'\n", "has no setting 'colour'"),
    ("[timing]\nmin_samples = 1\n", "min_samples = 1 should be a whole number >= 2"),
    ("[timing]\nmin_samples = 2.5\n", "min_samples = 2.5 should be"),
    ("[timing]\nwarmup = 1.5\n", "warmup = 1.5 should be"),
    ("[timing]\nnoise_target = nan\n", "noise_target = nan should be"),
    ("[timing]\nbudget_s = -1\n", "budget_s = -1 should be"),
    ("[timing]\nmin_samples = 50\nmax_samples = 10\n", "min_samples <= max_samples"),
    ("[cpu]\nlargest_mib = 0\n", "largest_mib = 0 should be"),
    ("[cpu]\nlargest_mib = 1.5\n", "largest_mib = 1.5 should be"),
    ("[transfer]\nsizes_mib = [-1]\n", "sizes_mib = [-1] should be"),
    ("[launch]\nenabled = 'no'\n", "[launch] has no setting 'enabled' (it has none: the section alone runs it)"),
    ("[timming]\nwarmup = 1\n", "no section [timming] (did you mean 'timing'?)"),
    ("[gemm]\nsquare = [64]\n", "has no setting 'square' (did you mean 'squares'?)"),
    ("[stream\n", "not valid TOML"),
])
def test_bad_suites_are_clear_errors(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(SmbenchError, match=re.escape(message)):
        suites.load(str(path))
    code, _, err = run_cli_here("run", "--backend", "cpu", "--suite", str(path), "--out", str(tmp_path / "out"))
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_cli_run_on_the_cpu_path(tmp_path):
    suite = tmp_path / "tiny.toml"
    suite.write_text(TINY)
    code, out, err = run_cli("run", "--backend", "cpu", "--suite", str(suite), "--out", str(tmp_path / "r"))
    assert code == 0, err
    assert "triad f32 16B" in out and "0 failed" in out  # the memory table labels kernels by operation
    (path,) = (tmp_path / "r").glob("*.json")
    assert results.load(path)["status"] == "complete" and str(path) in err


@pytest.mark.parametrize("args, message", [
    (["--suite", "nonesuch"], "unknown suite"),
    (["--only", "nonesuch"], "unknown family"),
    (["--backend", "gpu"], "invalid choice"),
])
def test_cli_run_bad_input(args, message, tmp_path):
    code, _, err = run_cli("run", "--backend", "cpu", *args, "--out", str(tmp_path))
    assert code == 2 and message in err and len(err.strip().splitlines()) <= 2 and "Traceback" not in err


def test_cli_cuda_backend_without_a_gpu_is_a_clear_error(tmp_path):
    from smbench.backends import cuda

    if cuda.available()[0]:
        pytest.skip("this machine has a GPU")
    code, _, err = run_cli("run", "--backend", "cuda", "--out", str(tmp_path))
    assert code == 2 and "no usable GPU" in err and "Traceback" not in err


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.pop("records"), "missing field 'records'"),
    (lambda d: d.update(schema="smbench.compat/1"), "a compat matrix"),
    (lambda d: d.update(status="done"), "field 'status'"),
    (lambda d: d["records"].append({"family": "stream"}), "lacks a str field 'benchmark'"),
    (lambda d: d["records"][0].pop("validation"), "carries no validation"),
    (lambda d: d.update(device=[]), "field 'device' should be dict"),
])
def test_malformed_result_files_are_rejected_with_the_field_named(tiny, tmp_path, mutate, message):
    path, _ = run.execute(tiny, run.CpuRunner(), {"stream"}, tmp_path)
    document = json.loads(path.read_text())
    mutate(document)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(document))
    with pytest.raises(SmbenchError, match=message):
        results.load(bad)


def test_truncated_and_missing_result_files(tmp_path):
    truncated = tmp_path / "t.json"
    truncated.write_text('{"schema": "smbench.result/1", "rec')
    with pytest.raises(SmbenchError, match="not valid JSON"):
        results.load(truncated)
    with pytest.raises(SmbenchError, match="no such file"):
        results.load(tmp_path / "absent.json")


def test_summary_of_a_gpu_result_names_verdicts_and_the_copy_engine_ratio():
    """The summary a person reads, from a GPU-shaped document (no GPU needed to render it)."""
    import io

    from rich.console import Console

    from smbench import run_view

    def stream_record(kernel, size, gbps, verdict):
        return {"family": "stream", "benchmark": kernel.split("_")[1], "kernel": kernel, "memory": "device",
                "status": "ok", "working_set_bytes": size, "gbps": {"median": gbps, "best": gbps},
                "percent_of_expected": 100 * gbps / 3350, "verdict": verdict, "validation": {"ok": True}}

    document = {"device": {"name": "NVIDIA H100 80GB HBM3"}, "suite": "quick", "backend": "cuda",
                "status": "complete", "expected_bandwidth": {"gbps": 3350, "kind": "V", "source": "datasheet"},
                "records": [
                    stream_record("stream_copy_f32_v16", 32 << 10, 900.0, "cache"),
                    stream_record("stream_copy_f32_v16", 1 << 30, 3050.0, "normal"),
                    stream_record("stream_triad_f32_v16", 1 << 30, 2100.0, "low"),
                    {"family": "transfer", "benchmark": "d2d", "host": "device", "status": "ok", "bytes": 256 << 20,
                     "bytes_moved": 512 << 20, "gbps": {"median": 3000.0, "best": 3010.0}, "validation": {"ok": True}},
                    {"family": "stream", "benchmark": "read", "kernel": "stream_read_f32_v16", "memory": "pageable",
                     "status": "skipped", "reason": "the device cannot access pageable host memory"},
                ]}
    console = Console(file=io.StringIO(), width=200)
    run_view.render(document, console)
    text = console.file.getvalue()
    assert "expected DRAM bandwidth 3350 GB/s" in text
    assert "3050.0" in text and "91%" in text and "normal" in text and "low" in text
    assert "900.0 (32 KiB)" not in text and "3050.0 (1 GiB)" in text  # best over sizes
    assert "copy f32 16B at 1 GiB: 1.02x cudaMemcpy device-to-device" in text  # an older file: gbps was 2N
    # Today's records count the bytes copied (nvbandwidth's count) and keep read + written beside it.
    document["records"][3].update({"bytes_moved": 256 << 20, "counting": "bytes copied, once",
                                   "gbps": {"median": 1500.0, "best": 1505.0},
                                   "gbps_read_write": {"median": 3000.0, "best": 3010.0}})
    console = Console(file=io.StringIO(), width=200)
    run_view.render(document, console)
    text = console.file.getvalue()
    assert "cudaMemcpy d2d (copied)" in text and "1500.0" in text and "nvbandwidth's count" in text
    assert "copy f32 16B at 1 GiB: 1.02x cudaMemcpy device-to-device (3000.0 GB/s read + written" in text
    assert "skipped 1: the device cannot access pageable host memory" in text


def test_result_files_never_collide_and_are_readable(tiny, tmp_path):
    import os
    import stat

    first, _ = run.execute(tiny, run.CpuRunner(), {"launch"}, tmp_path)
    second, _ = run.execute(tiny, run.CpuRunner(), {"launch"}, tmp_path)  # same second, same process
    assert first != second and first.exists() and second.exists()
    assert str(os.getpid()) in first.name
    assert stat.S_IMODE(first.stat().st_mode) & 0o044  # not private to the owner


def test_a_full_disk_mid_run_is_one_line_and_keeps_the_last_whole_file(tiny, tmp_path, monkeypatch):
    from smbench import results as results_module

    real_add = results_module.ResultWriter.add
    calls = []

    def add(self, record):
        calls.append(1)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        real_add(self, record)

    monkeypatch.setattr(results_module.ResultWriter, "add", add)
    with pytest.raises(SmbenchError, match="No space left on device"):
        run.execute(tiny, run.CpuRunner(), {"stream"}, tmp_path)
    (path,) = tmp_path.glob("*.json")
    assert len(results.load(path)["records"]) == 2


class FakeCudaRunner(run.Runner):
    """The planning side of a CUDA runner, for device facts given as data."""

    name = "cuda"
    home_memory = "device"

    def __init__(self, facts, free_bytes):
        super().__init__()
        self.facts = facts
        self.last_level_cache_bytes = facts.l2_bytes
        self.info = {"free_bytes": free_bytes, "unified_memory": facts.integrated}

    def memory_kinds(self):
        from smbench.backends.facts import memory_kinds

        return memory_kinds(self.facts)


@pytest.mark.parametrize("device, free, pageable", [("H100_SXM", 79 << 30, False), ("GB10", 100 << 30, True)])
def test_plan_for_a_gpu_from_its_facts(device, free, pageable):
    import device_data

    facts = getattr(device_data, device)
    suite = suites.load("quick")
    cases, notes = run.plan(suite, FakeCudaRunner(facts, free), {"stream", "transfer", "launch"})
    stream_cases = [c for c in cases if c.family == "stream"]
    device_sizes = sorted({c.params["working_set"] for c in stream_cases if c.params["memory"] == "device"})
    assert device_sizes[0] == 32 << 10 and device_sizes[-1] >= max(4 * facts.l2_bytes, 1 << 30)
    kinds = {(c.params["memory"], not c.skip) for c in stream_cases if c.params["memory"] != "device"}
    assert ("pageable", pageable) in kinds and ("managed-prefetch", True) in kinds and ("pinned-mapped", True) in kinds
    assert {c.benchmark for c in cases if c.family == "transfer"} == {"h2d", "d2h", "d2d"}
    assert [c.family for c in cases].count("launch") == 1
    if facts.integrated:
        assert "unified memory" in notes["sweep_cap"]
    record = run.run_case([c for c in stream_cases if c.skip][0], None, None) if not pageable else None
    if record:
        assert record["status"] == "skipped" and "pageableMemoryAccess = 0" in record["reason"]
