"""`smbench selftest` and `make gpu-check`, as far as a machine without a GPU allows: the
no-GPU message, the per-family judgement, the CPU run of the selftest suite, and the
gpu-check plan, time limits (SIGINT keeps what finished), file count and summary."""

from __future__ import annotations

import json

import pytest

from smbench import gpu_check, selftest, suites

from conftest import ROOT, _gpu_absent_reason, run_cli

NO_GPU = _gpu_absent_reason()


@pytest.mark.skipif(NO_GPU is None, reason="this machine has a GPU")
def test_selftest_without_a_gpu_is_one_line_and_exit_2():
    code, out, err = run_cli("selftest")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("smbench selftest: error: no usable GPU")
    assert "Traceback" not in err


def test_the_selftest_suite_runs_every_family_small():
    suite = suites.load("selftest")
    assert set(suites.names()) <= set(suite.data)
    assert suite.data["stream"]["largest_mib"] <= 1 and suite.timing("cuda").max_samples <= 2
    assert max(max(shape) for shape in suite.data["gemm"]["tails"]) < 1024
    assert suite.data["peak"]["formats"] == "all" and suite.data["gemm"]["formats"] == "all"


def test_selftest_on_the_cpu_reference_path_validates_every_family(tmp_path):
    code, out, err = run_cli("selftest", "--backend", "cpu", "--out", str(tmp_path))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[-1].startswith("selftest passed")
    for family in suites.names():
        assert any(line.split()[1:2] == [family] for line in lines), (family, out)
    assert all(len(line) <= 100 for line in lines)
    (path,) = tmp_path.glob("*-selftest-*.json")
    document = json.loads(path.read_text())
    assert document["status"] == "complete" and document["suite"] == "selftest"


def _record(family, status, reason="", **extra):
    return {"family": family, "benchmark": "b", "status": status, "reason": reason, **extra}


def test_a_failed_case_or_one_that_never_ran_fails_its_family():
    records = [_record("stream", "ok"), _record("peak", "ok"),
               _record("peak", "skipped", "needs sm_120a, sm_121a: sm_90 has no kind::f8f6f4"),
               _record("gemm", "failed", "validation failed: C[3, 7] = 2 (must be 3)", label="GEMM FP16"),
               _record("stream", "skipped", "not run: the CUDA context was lost 8 times")]
    outcomes = {o.family: o for o in selftest.judge(records)}
    assert outcomes["peak"].passed and sum(outcomes["peak"].skipped.values()) == 1
    assert not outcomes["gemm"].passed and not outcomes["stream"].passed
    for width in (80, 120):
        text = selftest.lines(list(outcomes.values()), width=width)
        assert any(line.startswith("FAIL gemm") for line in text)
        assert all(len(line) <= width for line in text)
        joined = " ".join(line.strip() for line in text)  # wrapped, never cut
        assert "C[3, 7] = 2 (must be 3)" in joined and "sm_90 has no kind::f8f6f4" not in joined
        assert "needs sm_120a, sm_121a" in joined


def test_gpu_check_fits_eight_minutes_and_eight_files(tmp_path):
    plan = gpu_check.steps(tmp_path)
    assert [s.name for s in plan] == ["preflight", "doctor", "prebuild", "selftest", "gpu tests", "quick run"]
    assert sum(s.limit_s + gpu_check.GRACE_S for s in plan) == gpu_check.TOTAL_S < 8 * 60
    # the setup steps share a log; a log per later step, two result files (selftest, quick
    # run), the JUnit XML, the summary
    logs = {s.log for s in plan}
    assert len(logs) + 2 + 1 + 1 <= gpu_check.MAX_FILES
    assert [s.log for s in plan[:3]] == [gpu_check.SETUP_LOG] * 3
    assert any("SMBENCH_REQUIRE_GPU" in dict(s.env) for s in plan)
    files = gpu_check.gpu_test_files()
    assert files[:2] == ["tests/test_gpu_stream.py", "tests/test_gpu_fault.py"]  # the first-contact proofs
    assert sorted(files) == sorted(f"tests/{p.name}" for p in (ROOT / "tests").glob("test_gpu*.py"))
    tests_step = next(s for s in plan if s.name == "gpu tests")
    assert tests_step.argv[-len(files):] == tuple(files)
    prebuild = next(s for s in plan if s.name == "prebuild")
    assert "selftest,quick" in prebuild.argv  # the builds of both steps that run after it


def test_the_preflight_names_every_missing_module_in_one_line():
    modules = {"numpy": "everything", "smbench_no_such_module": "a planted step", "os.path": "paths"}
    missing = gpu_check.missing_modules(modules)
    assert list(missing) == ["smbench_no_such_module"]
    line = gpu_check.preflight_line(missing)
    assert "\n" not in line and line.startswith("preflight: missing Python modules: smbench_no_such_module "
                                                "(a planted step: ModuleNotFoundError")
    assert gpu_check.preflight_line({}).startswith("preflight: ok")


def test_a_step_whose_module_is_missing_is_not_run_and_the_last_step_gets_the_time_left(tmp_path, monkeypatch):
    def steps(out):
        return [gpu_check.Step("doctor", ("-c", "print('fast')"), 5, "setup.log"),
                gpu_check.Step("needs", ("-c", "print('never')"), 5, "needs.log", needs=("smbench_no_such_module",)),
                gpu_check.Step("quick run", ("-c", "print('last')"), 5, "run.log")]

    monkeypatch.setattr(gpu_check, "steps", steps)
    monkeypatch.setattr(gpu_check, "TOTAL_S", 100)
    seen = []
    real = gpu_check.run_step
    monkeypatch.setattr(gpu_check, "run_step", lambda step, out, root, limit_s=None: seen.append((step.name, limit_s))
                        or real(step, out, root, limit_s=limit_s))
    out = tmp_path / "check"
    assert gpu_check.main(["--out", str(out)]) == 1  # a step not run is not a pass
    assert seen[0] == ("doctor", 5) and seen[1][0] == "quick run" and 85 < seen[1][1] <= 95
    summary = (out / "summary.txt").read_text()
    assert "needs      not run: smbench_no_such_module missing" in summary
    assert not (out / "needs.log").exists()


def test_a_step_past_its_limit_is_interrupted_and_keeps_what_it_wrote(tmp_path):
    script = ("import signal, sys, time\n"
              "def stop(*_):\n"
              "    print('finished the file as interrupted', flush=True)\n"
              "    sys.exit(130)\n"
              "signal.signal(signal.SIGINT, stop)\n"
              "print('case 1 done', flush=True)\n"
              "time.sleep(60)\n")
    step = gpu_check.Step("slow", ("-c", script), 1, "slow.log")
    outcome = gpu_check.run_step(step, tmp_path, ROOT)
    assert outcome.code is None and outcome.seconds < 1 + gpu_check.GRACE_S + 1
    log = (tmp_path / "slow.log").read_text()
    assert "case 1 done" in log and "finished the file as interrupted" in log and "SIGINT" in log
    assert "stopped at its 1 s limit" in outcome.status


def test_gpu_check_end_to_end_with_stand_in_steps(tmp_path, monkeypatch, capsys):
    def steps(out):
        write_json = ("import json, sys; json.dump({'status': 'complete', 'records': "
                      "[{'family': 'stream', 'status': 'ok'}, {'family': 'gemm', 'status': 'failed'}]}, "
                      f"open({str(out / 'run.json')!r}, 'w'))")
        return [gpu_check.Step("doctor", ("-c", "print('doctor ok')"), 10, "doctor.log"),
                gpu_check.Step("quick run", ("-c", write_json + "; sys.exit(1)"), 10, "run.log")]

    monkeypatch.setattr(gpu_check, "steps", steps)
    out = tmp_path / "check"
    assert gpu_check.main(["--out", str(out)]) == 1
    summary = (out / "summary.txt").read_text()
    assert "doctor" in summary and "exit 1" in summary and "stream 1 ok" in summary and "gemm 1 failed" in summary
    assert len(list(out.iterdir())) <= gpu_check.MAX_FILES
    assert "gpu-check summary" in capsys.readouterr().out
    # a directory that is not empty is refused: what comes back must be this run's
    assert gpu_check.main(["--out", str(out)]) == 2


def test_make_gpu_check_runs_the_module_with_the_machines_own_python():
    makefile = (ROOT / "Makefile").read_text()
    rule = makefile[makefile.index("\ngpu-check:"):].split("\n\n")[0]
    assert "PYTHONPATH=src python3 -m smbench.gpu_check --out" in rule and ".venv" not in rule
