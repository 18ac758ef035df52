"""What gpu-check makes before anything is timed (smbench.prebuild), and the order its runs
take: the builds each case needs, as the run makes them, for an H200 planned here; the
memory kinds before the collectives."""

import pytest

from smbench import prebuild, run, suites
from smbench import targets as target_table
from smbench.backends.cuda import Build
from smbench.errors import SmbenchError
from smbench.families import collectives as co, gemm

from device_data import GB10, H200

GIB = 1 << 30


def _plan(name, facts=H200):
    suite = suites.load(name)
    runner = prebuild.planned_runner(suite, facts, 100 * GIB)
    run.prepare_runner(runner, suite)
    cases, _ = run.plan(suite, runner, set(suites.names()))
    return runner, cases


def test_the_quick_suite_on_an_h200_needs_thirteen_builds():
    runner, cases = _plan("quick")
    builds = prebuild.builds_for(cases, runner)
    assert len(builds) == len(set(builds)) == 13
    assert builds[0] == Build("timing.cu", "sm_90a", read_sass=False)
    native = {(b.kernel_file, b.options) for b in builds if b.target == "sm_90a"}
    fallback = {(b.kernel_file, b.options) for b in builds if b.assemble_for}
    assert {b.assemble_for for b in builds if b.assemble_for} == {"sm_90"}
    assert {b.target for b in builds if b.assemble_for} == {"compute_80"}
    # Each GEMM tile the run builds, with the kernels of the formats that get it; FP8 (emulated
    # on sm_90a) alone in the 64 x 128 tile, and absent from sm_80, so it has no fallback.
    masks = {opts[-1] for f, opts in native if f == gemm.KERNEL_FILE}
    assert masks == {"-DSMBENCH_GEMM_ONLY=0xfu", "-DSMBENCH_GEMM_ONLY=0x10u", "-DSMBENCH_GEMM_ONLY=0x1fu"}
    assert not any(opts and opts[-1].endswith("0x10u") for f, opts in fallback)
    assert ("mma.cu", ()) in fallback and ("fma.cu", ()) in fallback  # the peak loops' fallbacks
    assert {b.kernel_file for b in builds if not b.read_sass} == {"timing.cu", "stream.cu", "precision.cu",
                                                                 "latency.cu"}


def test_a_run_makes_the_same_builds_as_prebuild(monkeypatch):
    """The cache keys must agree: the GEMM's load and SASS read use the options prebuild made."""
    from smbench.families.gemm import cuda as cuda_gemm

    runner, cases = _plan("quick")
    monkeypatch.setattr(cuda_gemm, "shared_limit", lambda: None)
    made = set(prebuild.builds_for(cases, runner))
    hopper = target_table.get("sm_90a")
    for case in (c for c in cases if c.family == "gemm"):
        fmt = gemm.BY_KEY[case.params["format"]]
        if gemm.gate(fmt, hopper)[0] == "skipped":
            continue
        tile = gemm.choose_tile(fmt, hopper, case.params["m"], None)
        assert Build(gemm.KERNEL_FILE, "sm_90a", cuda_gemm.options("sm_90a", fmt, tile)) in made


def test_a_spark_plan_builds_for_sm_121a_and_its_fallbacks_for_sm_121():
    runner, cases = _plan("quick", GB10)
    builds = prebuild.builds_for(cases, runner)
    assert {b.target for b in builds if not b.assemble_for} == {"sm_121a"}
    assert {b.assemble_for for b in builds if b.assemble_for} == {"sm_121"}


@pytest.mark.parametrize("name", ["selftest", "quick"])
def test_the_memory_kinds_come_before_the_collectives(name):
    _, cases = _plan(name)
    families = [c.family for c in cases]
    kinds = [i for i, c in enumerate(cases) if c.params.get("memory") not in (None, "device", "host")]
    first_collective = families.index("collectives")
    assert kinds and max(kinds) < first_collective and set(families[first_collective:]) == {"collectives"}


def test_without_last_before_the_memory_kinds_come_last_of_all():
    suite = suites.load("quick")
    del suite.data["order"]
    runner = prebuild.planned_runner(suite, H200, 100 * GIB)
    cases, _ = run.plan(suite, runner, set(suites.names()))
    assert cases[-1].params.get("memory") not in (None, "device") and cases[0].family == "stream"


def test_last_before_must_name_families():
    with pytest.raises(SmbenchError, match=r"\[order\] last_before"):
        suites.check({"order": {"last_before": ["colectives"]}}, "mine.toml")


def test_the_selftest_checks_each_collective_at_one_size():
    _, cases = _plan("selftest")
    collectives = [c for c in cases if c.family == "collectives"]
    # Each collective, type and placement once (no size sweep), every collective and type there.
    keys = [(c.params["collective"], c.params["dtype"], c.params["placement"]) for c in collectives]
    assert collectives and len(keys) == len(set(keys))
    assert {c.params["bytes"] for c in collectives} == {1024}
    assert {k[0] for k in keys} == set(co.COLLECTIVES) and {k[1] for k in keys} == set(co.DTYPES)


def test_a_build_is_made_once_and_a_failing_one_says_why():
    made = prebuild.make_all([Build("timing.cu", "sm_90a", read_sass=False),
                              Build("fma.cu", "compute_80", assemble_for="sm_90"),
                              Build("timing.cu", "sm_90a", ("-Dvolatile=(",))], jobs=2)
    assert [bool(m.error) for m in made] == [False, False, True]
    assert made[2].error.startswith("does not compile")
    again = prebuild.make(Build("timing.cu", "sm_90a", read_sass=False))  # from the cache now
    assert not again.error and again.seconds < made[0].seconds + 1
