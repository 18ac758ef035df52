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


def test_doctor_without_a_gpu_says_cpu_path():
    gpu_checks = doctor.check_gpus()
    if gpu_checks[0].status == "warn":  # no driver on this machine
        assert any("CPU reference path" in c.detail for c in gpu_checks)


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
