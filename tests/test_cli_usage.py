"""The command line as a new user meets it: a typo is one line naming the nearest word, one
option name for an output path, a description in every --help, device names where a
target is asked for."""

from __future__ import annotations

import pytest
from conftest import run_cli_here


@pytest.mark.parametrize("argv, said", [
    (["--set", "stream.largst_mib=3"],
     "--set 'stream.largst_mib=3': [stream] has no setting 'largst_mib' (did you mean 'largest_mib'?)"),
    (["--set", "timing.warmpu=2"], "--set 'timing.warmpu=2': [timing] has no setting 'warmpu' (did you mean 'warmup'?)"),
    (["--set", "timming.warmup=3"], "--set 'timming.warmup=3': no section [timming] (did you mean 'timing'?)"),
    (["--only", "strem"], "unknown family 'strem' (did you mean 'stream'?)"),
    (["--suite", "quik"], "unknown suite 'quik' (did you mean 'quick'?)"),
])
@pytest.mark.parametrize("command", ["run", "bench"])
def test_a_typo_is_one_line_naming_the_nearest(command, argv, said, tmp_path):
    if command == "bench" and argv[0] == "--only":
        return  # bench runs every family: it has no --only
    code, out, err = run_cli_here(command, "--backend", "cpu", *argv, "--out", str(tmp_path / "never"))
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"smbench {command}: error: {said}")
    assert not (tmp_path / "never").exists()  # bad input costs nothing, not even a directory


AXPY = """__global__ void axpy(float a, const float *x, float *y, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = a * x[i] + y[i];
}
extern "C" __global__ void plain(float *y) { y[0] = 1; }
"""


def test_compat_takes_a_device_where_a_target_is_asked_for(tmp_path):
    """gb10 is sm_121 by the device table (compute capability 12.1) and the target table."""
    source = tmp_path / "axpy.cu"
    source.write_text(AXPY)
    code, out, err = run_cli_here("compat", str(source), "--targets", "gb10,sm_80", "--format", "csv")
    assert code == 0, err
    assert {line.split(",")[2] for line in out.splitlines()[1:]} == {"sm_121", "sm_80"}
    assert err.splitlines()[0] == "smbench compat: gb10 = sm_121 (sm_121a: its arch-specific instructions)"
    code, _, err = run_cli_here("compat", str(source), "--targets", "voodoo")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "--targets voodoo: not a target (sm_80," in err and "nor a device in smbench's table (gb10," in err


def test_compat_shows_cpp_kernels_as_written_and_keeps_the_symbol(tmp_path):
    source = tmp_path / "axpy.cu"
    source.write_text(AXPY)
    code, out, err = run_cli_here("compat", str(source), "--targets", "sm_80", "--format", "md")
    assert code == 0, err
    assert "| `axpy(float, float const*, float*, int)` | ok" in out and "| `plain` | ok" in out
    assert "axpy.cu:axpy(float, float const*, float*, int) [_Z4axpyfPKfPfi]" in out  # searchable by its symbol
    code, out, _ = run_cli_here("compat", str(source), "--targets", "sm_80", "--format", "csv")
    assert "axpy.cu,_Z4axpyfPKfPfi,sm_80,ok" in out  # the data keep the symbol the loader knows


def test_demangling_falls_back_to_the_symbol_with_a_note(monkeypatch):
    from smbench import compat_view, demangle
    from smbench.compat import Cell, CompatReport

    assert demangle.demangle("_Z4axpyfPKfPfi") == "axpy(float, float const*, float*, int)"
    assert demangle.short("_Z5scaleILi4EEvPf") == "void scale<4>" and demangle.demangle("plain") == "plain"
    assert demangle.demangle("_Znot_a_name") == "_Znot_a_name"
    monkeypatch.setattr(demangle, "_runtime", lambda: (None, None, "no C++ runtime with __cxa_demangle (x)"))
    demangle.demangle.cache_clear()
    try:
        report = CompatReport(["a.cu"], ["sm_80"], [Cell("a.cu", "_Z4axpyfPKfPfi", "sm_80", "ok")], (13, 5), None,
                              {}, {}, [], 0, 0)
        lines = compat_view.details(report)
    finally:
        demangle.demangle.cache_clear()
    assert lines[0] == "a.cu:_Z4axpyfPKfPfi"
    assert lines[-1] == "note: no C++ runtime with __cxa_demangle (x)"


def _subcommands() -> dict:
    from smbench import cli

    parser = cli.build_parser()
    return next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction").choices


def test_every_subcommand_has_a_description_in_its_help():
    missing = [name for name, sub in _subcommands().items() if not (sub.description or "").strip()]
    assert not missing, missing


def test_every_output_path_is_out_and_the_old_spelling_still_works(tmp_path):
    """One name, --out, for what a subcommand writes (a file or a directory); --output and -o
    where they were."""
    for name, sub in _subcommands().items():
        flags = {flag for action in sub._actions for flag in action.option_strings}
        if flags & {"--output", "-o", "--out"}:
            assert "--out" in flags, name
    code, _, err = run_cli_here("targets", "--format", "csv", "--output", str(tmp_path / "a.csv"))
    assert code == 0, err
    code, _, err = run_cli_here("targets", "--format", "csv", "--out", str(tmp_path / "b.csv"))
    assert code == 0, err
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text() != ""


def test_selftest_on_the_cpu_path_says_no_gpu_kernel_ran(monkeypatch, tmp_path):
    """'176 kernels ran' was printed where the CPU reference path ran every case and no kernel."""
    from smbench import run, selftest

    records = [{"family": "stream", "benchmark": "copy", "status": "ok"}] * 3
    monkeypatch.setattr(run, "execute", lambda *args, **kwargs: (tmp_path / "r.json", records))
    code, lines, _ = selftest.run("cpu", tmp_path, width=120)
    assert code == 0
    assert lines[-1] == "selftest passed: 3 cases ran on the CPU reference path (no GPU kernel) and validated"
    assert not any("kernels ran" in line for line in lines)


def test_the_bench_screen_promises_only_what_it_prints():
    """No '% of the clock-based peak' on the CPU path, which has no SM clock; a cache level's
    name ending in a number is kept apart from its figure ('cache 2: 239.9 ns', not 'cache 2 239.9 ns')."""
    import json

    from conftest import ROOT

    from smbench import headlines

    document = json.loads((ROOT / "results" / "cpu-reference-quick-x86_64-2cpu.json").read_text(encoding="utf-8"))
    lines = dict(line for line in headlines.family_lines(document) if line[0])
    import re

    assert "clock-based" not in lines["tensor"] and re.search(r"FP16 \d\.\d+", lines["tensor"])
    assert re.search(r"cache: [\d.]+ ns; cache 2: [\d.]+ ns", lines["latency"])
    peak = next(r for r in document["records"] if r["family"] == "peak" and r["status"] == "ok")
    document["records"] = [{**peak, "percent_of_clock_peak": 91.5}]
    (tensor,) = [text for label, text in headlines.family_lines(document) if label == "tensor"]
    assert "(% of the clock-based peak)" in tensor and "(92%)" in tensor
