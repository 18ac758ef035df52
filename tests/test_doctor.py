import json

from smbench import doctor, toolchain
from smbench.errors import SmbenchError

from conftest import run_cli


def test_doctor_reports_every_area_with_a_status():
    code, out, err = run_cli("doctor", "--format", "json")
    checks = {c["name"]: c for c in json.loads(out)}
    for name in ("python", "platform", "packages", "nvrtc", "nvrtc sm_121", "cuda headers", "cuobjdump",
                 "nvdisasm", "nvjitlink", "cuda driver", "nvml", "cache"):
        assert name in checks, name
    assert all(c["status"] in ("ok", "warn", "fail") for c in checks.values())
    assert checks["nvrtc sm_121"]["status"] == "ok"
    # ok where there are CUDA headers (the wheels or a toolkit); a warning, not a crash, where none
    assert checks["cuda headers"]["status"] == ("ok" if toolchain.cuda_headers().dirs else "warn")
    # each tool's line says where it came from, or why it is missing and what that costs
    for name in ("cuobjdump", "nvdisasm"):
        found = toolchain.find_binary_utility(name)
        assert checks[name]["status"] == ("ok" if found else "warn")
        assert (f"from {found.via}" if found else "not found") in checks[name]["detail"]
    assert code == (1 if any(c["status"] == "fail" for c in checks.values()) else 0)


def test_doctor_table_has_one_line_per_check():
    code, out, _ = run_cli("doctor")
    lines = [line for line in out.splitlines() if line.strip()]
    assert all(line.split()[0] in ("ok", "warn", "fail") for line in lines)
    assert any(line.startswith("ok") and "nvrtc" in line for line in lines)


def test_missing_nvrtc_is_a_fail_line(monkeypatch):
    def broken():
        raise SmbenchError("NVRTC could not be loaded (test); pip install nvidia-cuda-nvrtc")

    monkeypatch.setattr(toolchain, "nvrtc_version", broken)
    checks = doctor.check_nvrtc()
    assert checks[0].status == "fail" and "nvidia-cuda-nvrtc" in checks[0].detail


def test_old_nvrtc_fails_the_sm121_check(monkeypatch):
    monkeypatch.setattr(toolchain, "nvrtc_version", lambda: (12, 8))
    monkeypatch.setattr(toolchain, "nvrtc_supported_archs", lambda: (75, 80, 86, 89, 90, 100, 120))
    checks = {c.name: c for c in doctor.check_nvrtc()}
    assert checks["nvrtc sm_121"].status == "fail" and "12.9" in checks["nvrtc sm_121"].detail
    assert checks["targets"].status == "warn" and "sm_121a" in checks["targets"].detail


def test_a_crashing_check_is_a_line_not_a_crash(monkeypatch):
    def explode():
        raise RuntimeError("boom")

    monkeypatch.setattr(doctor, "check_cache", explode)
    checks = doctor.run_checks()
    assert checks[-1].status == "fail" and "boom" in checks[-1].detail


def test_no_driver_means_the_cpu_path(monkeypatch):
    from smbench import gpuinfo

    monkeypatch.setattr(gpuinfo, "driver_version", lambda: (None, "libcuda.so not found"))
    checks = doctor.check_gpus()
    assert [c.status for c in checks] == ["warn", "warn"]
    assert "libcuda.so not found" in checks[0].detail and "CPU reference path" in checks[1].detail


def fake_gpu(major, minor, name):
    from smbench.gpuinfo import GpuInfo

    return GpuInfo(index=0, name=name, major=major, minor=minor, sm_count=48, memory_bytes=128 * 2**30,
                   sm_clock_mhz=2418.0, memory_clock_mhz=4266.0, bus_width_bits=256, l2_bytes=24 * 2**20,
                   integrated=True)


def test_a_spark_is_described_with_its_targets(monkeypatch):
    from smbench import gpuinfo

    monkeypatch.setattr(gpuinfo, "driver_version", lambda: ((13, 0), ""))
    monkeypatch.setattr(gpuinfo, "list_gpus", lambda: ([fake_gpu(12, 1, "NVIDIA GB10")], ""))
    checks = {c.name: c for c in doctor.check_gpus()}
    spark = checks["gpu 0"]
    assert spark.status == "ok"
    for text in ("NVIDIA GB10", "compute capability 12.1", "48 SMs", "128.0 GiB", "SM clock 2418 MHz",
                 "256-bit bus", "unified memory", "sm_121, sm_121a, sm_121f"):
        assert text in spark.detail, text


def test_a_gpu_outside_the_table_and_an_old_driver_are_flagged(monkeypatch):
    from smbench import gpuinfo

    monkeypatch.setattr(gpuinfo, "driver_version", lambda: ((12, 8), ""))
    monkeypatch.setattr(gpuinfo, "list_gpus", lambda: ([fake_gpu(7, 5, "Tesla T4")], ""))
    monkeypatch.setattr(toolchain, "nvrtc_version", lambda: (13, 5))
    checks = {c.name: c for c in doctor.check_gpus()}
    assert checks["cuda driver"].status == "fail" and "older than NVRTC 13" in checks["cuda driver"].detail
    assert checks["gpu 0"].status == "warn" and "none in the table" in checks["gpu 0"].detail


def test_old_pathfinder_is_a_warning(monkeypatch):
    monkeypatch.setattr(doctor, "_version", lambda name: "1.8.0" if name == "cuda-pathfinder" else "1.0")
    checks = {c.name: c for c in doctor.check_packages()}
    assert checks["pathfinder"].status == "warn" and "1.8.1" in checks["pathfinder"].detail
    monkeypatch.setattr(doctor, "_version", lambda name: "1.10.0")
    assert "pathfinder" not in {c.name for c in doctor.check_packages()}


def test_missing_cuobjdump_is_a_warning_that_says_what_is_lost(monkeypatch):
    monkeypatch.setattr(toolchain, "find_binary_utility", lambda name: None)
    checks = {c.name: c for c in doctor.check_tools()}
    assert checks["cuobjdump"].status == "warn" and checks["nvdisasm"].status == "warn"
    assert "cuobjdump not found" in checks["cuobjdump"].detail and "'unchecked'" in checks["cuobjdump"].detail
    for place in ("cuda.pathfinder", "$CUDA_HOME/bin", "$CUDA_PATH/bin", "PATH", "/usr/local/cuda/bin"):
        assert place in checks["cuobjdump"].detail, place


def test_a_system_cuobjdump_older_than_nvrtc_is_noted(monkeypatch, tmp_path):
    tool = tmp_path / "cuobjdump"
    tool.write_text("#!/bin/sh\necho 'Cuda compilation tools, release 13.0, V13.0.88'\necho 'Build cuda_13.0'\n")
    tool.chmod(0o755)
    monkeypatch.setattr(toolchain, "find_binary_utility", lambda name: toolchain.Located(tool, "PATH"))
    monkeypatch.setattr(toolchain, "nvrtc_version", lambda: (13, 5))
    check = {c.name: c for c in doctor.check_tools()}["cuobjdump"]
    assert check.status == "ok" and "from PATH" in check.detail and "release 13.0" in check.detail
    assert "older than NVRTC 13.5" in check.detail


def test_headers_that_do_not_compile_the_probe_but_do_compile_smbench_kernels_warn(monkeypatch):
    from smbench import compile as nvrtc_compile

    real = nvrtc_compile.compile_source

    def probe_fails(source, arch, **kwargs):
        result = real(source, arch, **kwargs)
        if kwargs.get("source_name") == "header_probe.cu":
            result.ok, result.log = False, 'mma.h(55): catastrophic error: cannot open source file "crt/mma.h"'
        return result

    monkeypatch.setattr(nvrtc_compile, "compile_source", probe_fails)
    (check,) = doctor.check_headers()
    assert check.status == "warn" and "crt/mma.h" in check.detail and "smbench's own kernels compile" in check.detail
