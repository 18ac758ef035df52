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
    assert checks["cuda headers"]["status"] == "ok"
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
