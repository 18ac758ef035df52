"""The compute-peak family without a GPU: SASS per target, operation counts, gating, the
expectation arithmetic for GB10 and RTX 5090 (shared/facts.md), and validation on the
CPU reference."""

import json
import types

import numpy as np
import pytest

from smbench import devices, sass
from smbench import targets as target_table
from smbench.families.peak import cpu
from smbench.families.peak.part import Loop
from smbench.compile import compile_file
from smbench.families import peak
from smbench.timing import TimingPolicy

from conftest import KERNELS, run_cli_here

QUICK = TimingPolicy(warmup=0, min_samples=2, max_samples=3, budget_s=0.01)


@pytest.fixture(scope="module")
def summaries(builtin_matrix):
    """target -> kernel -> SASS summary, for both kernel files (fma.cu: the compile matrix built it
    as the run does, so those are cache hits)."""
    found = {}
    for target in target_table.all_targets():
        found[target.name] = {}
        for name in (peak.MMA_FILE, peak.FMA_FILE):
            result = compile_file(KERNELS / name, target.name)
            assert result.ok, (name, target.name, result.log)
            found[target.name].update(sass.summarize(result.cubin))
    return found


@pytest.mark.parametrize("target", [t.name for t in target_table.all_targets()])
@pytest.mark.needs_sass
def test_every_loop_holds_its_instruction_where_the_target_has_it(summaries, target):
    for fmt in peak.FORMATS:
        support, why = peak.gate(fmt, target_table.get(target))
        kernel = summaries[target][fmt.kernel]
        if support == "skipped":
            assert not kernel.tensor_instructions and "needs sm_" in why
            continue
        assert peak.loop_intact(fmt, kernel.histogram, emulated=support == "emulated")[0], (fmt.key, target)
        assert kernel.spill_instructions == 0 and kernel.local_bytes == 0, (fmt.key, target)
        if fmt.unit == "cuda-core":
            assert kernel.count(fmt.instruction) >= fmt.chains * fmt.unroll
        elif support == "native":
            opcode = kernel.tensor_instructions[0]
            assert opcode.startswith(fmt.instruction + "."), (fmt.key, target, opcode)
        else:  # emulated: FP16 HMMA for FP8, s8 IMMA for s4
            assert kernel.tensor_instructions[0].split(".")[0] in ("HMMA", "IMMA"), (fmt.key, target)


@pytest.mark.needs_sass
def test_the_spark_target_runs_every_format_natively_but_int4(summaries):
    spark = target_table.get("sm_121a")
    support = {f.key: peak.gate(f, spark)[0] for f in peak.FORMATS}
    assert support.pop("s4") == "emulated"
    assert set(support.values()) == {"native"}
    assert summaries["sm_121a"]["mma_nvfp4_f32acc"].tensor_instructions == ["OMMA.SF.16864.F32.E2M1.E2M1.UE4M3.4X"]
    assert summaries["sm_121a"]["mma_e4m3_f16acc_sm89"].tensor_instructions == ["QMMA.16832.F16.E4M3.E4M3"]
    assert summaries["sm_121a"]["fma_bf16x2"].count("HFMA2") >= 64


def test_gating_rows_name_the_targets_that_have_the_format():
    hopper, plain_spark = target_table.get("sm_90a"), target_table.get("sm_121")
    support, why = peak.gate(peak.BY_KEY["nvfp4"], hopper)
    assert support == "skipped" and why.startswith("needs sm_120a, sm_120f, sm_121a, sm_121f")
    support, why = peak.gate(peak.BY_KEY["f8f6f4_e2m1_f32acc"], plain_spark)
    assert support == "skipped" and "sm_121a" in why and "sm_121 has no" in why
    assert peak.gate(peak.BY_KEY["e4m3_f32acc"], hopper)[0] == "emulated"
    assert peak.gate(peak.BY_KEY["e4m3_f32acc"], plain_spark)[0] == "native"
    assert peak.gate(peak.BY_KEY["e4m3_f32acc"], target_table.get("sm_80"))[0] == "skipped"
    assert peak.gate(peak.BY_KEY["fp64"], target_table.get("sm_80"))[0] == "native"


def test_fallback_exists_only_for_what_compute_80_ptx_can_hold():
    assert peak.fallback_compiles(peak.BY_KEY["f16_f32acc"]) and peak.fallback_compiles(peak.BY_KEY["fp32"])
    assert peak.fallback_compiles(peak.BY_KEY["s4"])
    assert not peak.fallback_compiles(peak.BY_KEY["e4m3_f32acc"])
    assert not peak.fallback_compiles(peak.BY_KEY["nvfp4"])


def test_operations_per_instruction_follow_the_shape():
    assert peak.BY_KEY["f16_f32acc"].ops_per_instruction == 2 * 16 * 8 * 16 == 4096
    assert peak.BY_KEY["tf32"].ops_per_instruction == 2048
    assert peak.BY_KEY["e4m3_f32acc"].ops_per_instruction == 8192
    assert peak.BY_KEY["nvfp4"].ops_per_instruction == peak.BY_KEY["s4"].ops_per_instruction == 16384
    assert peak.BY_KEY["f64"].ops_per_instruction == 2 * 8 * 8 * 4
    assert peak.BY_KEY["fp32"].ops_per_instruction == 2 and peak.BY_KEY["fp16x2"].ops_per_instruction == 4
    # One launch: per warp (tensor) or per thread (CUDA cores), every chain, every iteration.
    assert peak.total_ops(peak.BY_KEY["f16_f32acc"], 256, 100) == 8 * 4 * 100 * 4096
    assert peak.total_ops(peak.BY_KEY["fp16x2"], 256, 100) == 256 * 8 * 100 * 4
    assert peak.BY_KEY["s8"].ops_unit == "TOPS" and peak.BY_KEY["nvfp4"].ops_unit == "TFLOP/s"


def test_rtx5090_expectations_match_the_whitepaper():
    """RTX 5090: 170 SMs at the 2407 MHz boost reproduce the vendor figures of shared/facts.md."""
    spec = devices.by_key("rtx5090")
    cases = {"f16_f16acc": 419, "f16_f32acc": 209.5, "bf16_f32acc": 209.5, "e4m3_f16acc": 838,
             "e4m3_f32acc": 419, "nvfp4": 1676, "fp32": 104.8}
    for key, vendor in cases.items():
        expected = peak.expectation(peak.BY_KEY[key], "12.0", 170, spec, 2407, None)
        assert expected.clock_peak == pytest.approx(vendor, rel=0.002), key
        assert expected.spec.value == vendor and expected.spec.kind == "V", key
        assert expected.clock_source.startswith("median SM clock")


def test_gb10_expectations_and_the_half_rate_question():
    """GB10: 48 SMs. The FP4 spec (500 dense) and the FP32 spec (31) both imply a clock of
    about 2.5 GHz at the sm_12x rates; at that clock a GeForce-like half-rate BF16 with FP32
    accumulate is about 62 TFLOP/s, full rate about 125."""
    spec = devices.by_key("gb10")
    clock = 500e12 / (48 * 4096) / 1e6  # MHz implied by the FP4 figure
    nvfp4 = peak.expectation(peak.BY_KEY["nvfp4"], "12.1", 48, spec, clock, None)
    assert nvfp4.clock_peak == pytest.approx(500) and nvfp4.spec.value == 500
    fp32 = peak.expectation(peak.BY_KEY["fp32"], "12.1", 48, spec, clock, None)
    assert fp32.clock_peak == pytest.approx(31, rel=0.02) and fp32.spec.value == 31
    bf16 = peak.expectation(peak.BY_KEY["bf16_f32acc"], "12.1", 48, spec, clock, None)
    assert bf16.clock_peak == pytest.approx(62.5) and "assumed for GB10" in bf16.rate.source
    assert bf16.spec is None  # the only BF16 figure for the GB10 is a measurement (M), never the spec
    # Every GB10 rate is the GeForce SM's, assumed: each verdict says so.
    assert peak.judge(60, bf16)["verdict"] == "normal (assumed rate)"
    assert peak.judge(125, bf16)["verdict"] == "twice expected (assumed rate)"
    assert peak.judge(31, bf16)["verdict"] == "half rate (assumed rate)"
    assert peak.judge(20, bf16)["verdict"] == "low (assumed rate)"
    judged = peak.judge(450, nvfp4)
    assert judged["percent_of_spec"] == pytest.approx(90) and judged["verdict"] == "normal (assumed rate)"
    assert judged["verdict_basis"].startswith("clock-based peak at a rate assumed for this GPU")


def test_expectation_without_rate_or_clock():
    unknown = peak.expectation(peak.BY_KEY["bf16x2"], "12.1", 48, devices.by_key("gb10"), 2500, None)
    assert unknown.rate is None and unknown.clock_peak is None and unknown.spec is None
    assert peak.judge(1.0, unknown) == {"percent_of_spec": None, "percent_of_clock_peak": None,
                                        "verdict": "no expectation", "verdict_basis": "none"}
    driver_clock = peak.expectation(peak.BY_KEY["fp32"], "9.0", 132, devices.by_key("h100-sxm"), None, 1980)
    assert driver_clock.clock_source.startswith("the driver's maximum")
    assert driver_clock.clock_peak == pytest.approx(66.9, rel=0.001)
    assert driver_clock.spec.value == 67


def test_published_measurements_are_never_the_spec():
    # The GB10's BF16 figure is someone's measurement (M): the spec column stays empty.
    assert devices.spec_peak(devices.by_key("gb10"), ("bf16_f32acc", "bf16")) is None


@pytest.mark.parametrize("key", [f.key for f in peak.FORMATS])
def test_cpu_reference_loop_validates(key):
    fmt = peak.BY_KEY[key]
    loop = cpu.peak_case(fmt, QUICK)
    stats, validation, threads = loop.stats, loop.validation, loop.threads
    assert validation.ok, validation.detail
    assert validation.checked == peak.output_count(fmt, threads) and stats.median > 0


@pytest.mark.parametrize("key", ["f16_f16acc", "nvfp4", "s4", "f64", "f8f6f4_e3m2_f32acc", "bf16x2"])
def test_a_corrupted_accumulator_fails_validation(key):
    fmt = peak.BY_KEY[key]
    if fmt.unit == "tensor":
        raw = cpu.mma_loop(fmt, peak.mma_inputs(fmt), peak.VALIDATION_ITERS)
    else:
        raw = cpu.fma_loop(fmt, peak.fma_inputs(fmt), peak.VALIDATION_ITERS)
    assert peak.validate(fmt, raw, peak.VALIDATION_ITERS, 32).ok
    raw = raw.copy()
    raw[-1] = raw[0] + (1 if fmt.accumulator == "bf16" else 0.5 if fmt.accumulator != "s32" else 1)
    result = peak.validate(fmt, raw, peak.VALIDATION_ITERS, 32)
    assert not result.ok and "1 of" in result.detail
    assert not peak.validate(fmt, raw[:-1], peak.VALIDATION_ITERS, 32).ok  # a short output too


def test_validation_inputs_decode_to_the_values_and_scales():
    """The words the GPU reads, unpacked as the PTX ISA lays them out (e2m1 in bits 2-5 of its
    byte under kind::f8f6f4, packed two per byte under mxf4), give back a, b and the scales."""
    for fmt in (f for f in peak.FORMATS if f.unit == "tensor"):
        words = peak.mma_inputs(fmt).reshape(-1)[:256].reshape(32, 8)
        a, b, scale = peak.validation_values(fmt)
        a_words = words[:, 0:2] if fmt.operand.encoding == "f64" else words[:, 0:4]
        assert set(cpu._unpack(fmt.operand, a_words.ravel())) == {a}, fmt.key
        assert set(cpu._unpack(fmt.operand, words[:, 4:6].ravel())) == {b}, fmt.key
        if fmt.scale:
            assert {int(w) & 0xFF for w in words[:, 6:8].ravel()} == {peak.formats.encode(fmt.scale[0], scale)}
    assert peak.mma_inputs(peak.BY_KEY["f8f6f4_e2m1_f32acc"])[0] == 0x0C0C0C0C  # 1.5 = 0b0011, at bits 2-5
    assert peak.mma_inputs(peak.BY_KEY["f8f6f4_e3m2_f32acc"])[0] == 0x0E0E0E0E  # 1.5 = 0b0_011_10, bits 0-5
    assert peak.mma_inputs(peak.BY_KEY["f8f6f4_e2m3_f32acc"])[4] == 0x30303030  # -2 = 0b1_10_000, bits 0-5
    assert peak.mma_inputs(peak.BY_KEY["mxf4"])[0] == 0x33333333
    assert peak.mma_inputs(peak.BY_KEY["nvfp4"])[peak.STEP_WORD] == 0  # the operand step


def test_timing_inputs_keep_an_f16_accumulator_finite():
    """An f16 sum stops growing once each step is under half its spacing (2^-11 of its value):
    with steps of at most k x max|a| x max|b| it stays under that x 2^12, whatever the count."""
    for fmt in (f for f in peak.FORMATS if f.unit == "tensor" and f.accumulator == "f16"):
        words = peak.mma_inputs(fmt, timing=True)[:256].reshape(32, 8)[:, :6].ravel()  # A and B words
        values = cpu._unpack(fmt.operand, words)
        step = fmt.shape[2] * np.abs(values).max() ** 2
        assert step * 2**12 < 65504, fmt.key
        assert len(set(values)) == 2  # random signs
        # The same stagnation, run: 2^15 steps of the largest contribution in f16.
        total = np.float16(0)
        for _ in range(2**15):
            total = np.float16(total + np.float16(step))
        assert np.isfinite(total) and total < step * 2**12


def test_run_cpu_only_peak_writes_validated_records(tmp_path):
    code, out, err = run_cli_here("run", "--backend", "cpu", "--only", "peak", "--out", str(tmp_path))
    assert code == 0, err
    assert "compute peaks" in out and ("NVFP4" in out or "nvfp4" in out)  # label, or its key when narrow
    document = json.loads(next(tmp_path.glob("*.json")).read_text())
    records = [r for r in document["records"] if r["family"] == "peak"]
    assert {r["benchmark"] for r in records} == set(peak.BY_KEY)
    for record in records:
        assert record["status"] == "ok" and record["validation"]["ok"]
        assert record["tflops"]["median"] > 0 and record["verdict"] == "no expectation"
        assert record["ops"] == peak.total_ops(peak.BY_KEY[record["benchmark"]], record["threads"], record["iters"])


def test_suite_peak_settings_are_checked(tmp_path):
    suite = tmp_path / "bad.toml"
    suite.write_text('[peak]\nformats = ["f16_f32acc", "fp3"]\n')
    code, out, err = run_cli_here("run", "--suite", str(suite), "--backend", "cpu", "--only", "peak",
                                  "--out", str(tmp_path))
    assert code == 2 and "formats" in err and "Traceback" not in err
    suite.write_text('[peak]\nformats = ["nvfp4", "fp32"]\n[timing]\nmin_samples = 2\nbudget_s = 0.01\n')
    code, out, err = run_cli_here("run", "--suite", str(suite), "--backend", "cpu", "--only", "peak",
                                  "--out", str(tmp_path))
    assert code == 0, err
    document = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert [r["benchmark"] for r in document["records"]] == ["nvfp4", "fp32"]


def test_emulated_loops_need_every_emulated_instruction():
    """FP8 on sm_90 is two HMMA per mma: a loop with half of them was folded."""
    fmt = peak.BY_KEY["e4m3_f32acc"]
    needed = fmt.chains * fmt.unroll
    assert peak.loop_intact(fmt, {"HMMA.16816.F32": 2 * needed}, emulated=True)[0]
    ok, why = peak.loop_intact(fmt, {"HMMA.16816.F32": needed}, emulated=True)
    assert not ok and "emulation" in why
    assert peak.loop_intact(peak.BY_KEY["s4"], {"IMMA.16832.S8.S8": 2, "CALL.ABS.NOINC": needed}, emulated=True)[0]
    assert not peak.loop_intact(peak.BY_KEY["s4"], {"CALL.ABS.NOINC": needed})[0]  # calls but no tensor code


def test_hopper_verdicts_name_the_wgmma_rate_and_emulation():
    h100 = devices.by_key("h100-sxm")
    f16 = peak.expectation(peak.BY_KEY["f16_f32acc"], "9.0", 132, h100, 1830, None)
    assert f16.clock_peak == pytest.approx(989, rel=0.001) and f16.rate.path == "wgmma"
    assert peak.judge(600, f16)["verdict"] == "below the wgmma rate"
    assert peak.judge(900, f16)["verdict"] == "normal"
    fp8 = peak.expectation(peak.BY_KEY["e4m3_f32acc"], "9.0", 132, h100, 1830, None)
    judged = peak.judge(500, fp8, emulated=True)
    assert judged["verdict"] == "emulated" and judged["percent_of_clock_peak"] == pytest.approx(25.3, abs=0.1)
    dmma = peak.expectation(peak.BY_KEY["f64"], "9.0", 132, h100, 1980, None)
    assert dmma.rate.path == "mma.sync" and peak.judge(20, dmma)["verdict"] == "low"
    assert peak.judge(30, dmma)["verdict"] == "half rate"


def test_the_professional_blackwell_part_has_no_half_rate_expectation():
    pro = devices.by_key("rtx-pro-6000")
    assert peak.expectation(peak.BY_KEY["bf16_f32acc"], "12.0", 188, pro, 2600, None).rate is None
    fp4 = peak.expectation(peak.BY_KEY["nvfp4"], "12.0", 188, pro, 2600, None)
    assert fp4.rate.per_sm_per_clock == 4096 and fp4.spec.value == 2000
    assert peak.expectation(peak.BY_KEY["bf16_f32acc"], "12.0", 170, devices.by_key("rtx5090"), 2407,
                            None).rate.per_sm_per_clock == 512


class _FakeRunner:
    """What run_peak needs from a backend, with a canned outcome for the loop."""

    name = "cuda"

    def __init__(self, outcome):
        from smbench import suites
        from smbench.telemetry import Summary

        self.outcome = Loop(**{"telemetry": Summary(False, "fake"), "launch": {"grid": 1, "block": 256}, **outcome})
        self.shared = {}  # run_peak leaves each loop's rate here for the GEMM family
        self.info = {"compute_capability": "9.0", "sm_count": 132, "sm_clock_max_mhz": 1830}
        self.spec = devices.by_key("h100-sxm")
        self.suite = suites.load("quick")

    def part(self, family):
        assert family == "peak"
        return types.SimpleNamespace(run_case=lambda runner, fmt, policy, settings: self.outcome)


def _outcome(fmt, support, fallback):
    from smbench.timing import summarize

    iters, threads = 1024, 132 * 256 * 4
    seconds = peak.total_ops(fmt, threads, iters) / 500e12  # 500 T(FL)OP/s
    return {"support": support, "instruction": "HMMA.16816.F32", "iters": iters, "threads": threads,
            "validation": peak.Validation(True, 1, "ok"), "stats": summarize([seconds] * 3), "fallback": fallback}


def test_run_peak_records_emulation_and_the_fallback_ratio():
    from smbench.cases import Case
    from smbench.families.peak.family import run_peak

    fmt = peak.BY_KEY["e4m3_f32acc"]
    runner = _FakeRunner(_outcome(fmt, "emulated", {"status": "absent", "reason": "not in sm_80"}))
    record = run_peak(Case("peak", fmt.key, "x", {"format": fmt.key}), runner, QUICK)
    assert record["status"] == "ok" and record["verdict"] == "emulated"
    assert record["tflops"]["median"] == pytest.approx(500)
    assert record["expected"]["clock_source"].startswith("the driver's maximum")
    fmt = peak.BY_KEY["f16_f32acc"]
    runner = _FakeRunner(_outcome(fmt, "native", {"status": "ok", "tflops": 250.0}))
    record = run_peak(Case("peak", fmt.key, "x", {"format": fmt.key}), runner, QUICK)
    assert record["fallback"]["native_over_fallback"] == pytest.approx(2.0)
    assert peak.measured_rates(runner)[fmt.key] == record["tflops"]["median"]  # what a GEMM of the format is held to
    assert record["verdict"] == "below the wgmma rate" and record["percent_of_clock_peak"] == pytest.approx(50.6,
                                                                                                           abs=0.1)
    failed = _FakeRunner({"status": "failed", "reason": "ptxas folded the loop"})
    record = run_peak(Case("peak", fmt.key, "x", {"format": fmt.key}), failed, QUICK)
    assert record["status"] == "failed" and "folded" in record["reason"]


@pytest.mark.parametrize("real", ["sm_90", "sm_121"])
@pytest.mark.needs_sass
def test_the_compute_80_build_keeps_every_loop_intact(real):
    """The fallback the GPU runs: compute_80 PTX assembled for the GPU (nvJitLink, as the
    driver's JIT would). Its loops must be as intact as the native ones to be compared."""
    from smbench.compile import assemble_ptx

    for name in (peak.MMA_FILE, peak.FMA_FILE):
        ptx = compile_file(KERNELS / name, "compute_80")
        assert ptx.ok
        assembled = assemble_ptx(ptx.ptx, real)
        assert assembled["ok"], assembled["log"]
        kernels = sass.summarize(assembled["cubin"])
        for fmt in (f for f in peak.FORMATS if f.file == name and peak.fallback_compiles(f)):
            emulated = fmt.feature is not None and target_table.get(real).support(fmt.feature) == target_table.EMULATED
            assert peak.loop_intact(fmt, kernels[fmt.kernel].histogram, emulated)[0], (fmt.key, real)


def test_report_states_each_peak_verdict():
    from smbench.families.peak.publish import report_lines as peak_verdict_lines
    from smbench.cases import Case
    from smbench.families.peak.family import run_peak

    fmt = peak.BY_KEY["f16_f32acc"]
    record = run_peak(Case("peak", fmt.key, "x", {"format": fmt.key}),
                      _FakeRunner(_outcome(fmt, "native", {"status": "absent"})), QUICK)
    lines = peak_verdict_lines("h100", {"records": [record]})
    # ~: the stand-in stats did not converge (summarize's default), and the line says so
    assert lines == ["h100: FP16 -> FP32 acc, m16n8k16: 500~ TFLOP/s (noise 0%) = 51% of the clock-based peak (989.4 at 1830 "
                     "MHz); 51% of the vendor's 989: below the wgmma rate"]
