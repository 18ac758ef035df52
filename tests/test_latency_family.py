"""The latency family without a GPU: rings, the CPU's walk, validation, the curve's steps,
the plan, the NumPy chase end to end through the CLI, and the chase kernels' SASS on every
target."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from rich.console import Console

from smbench import results, run, sass, suites
from smbench import targets as target_table
from smbench.backends.facts import MemoryKind
from smbench.cases import Case
from smbench.compile import compile_file, compile_source
from smbench.errors import SmbenchError
from smbench.families import latency
from smbench.families.latency import family, publish, view
from smbench.families.latency.sass_check import loop_loads
from smbench.timing import TimingPolicy

from conftest import KERNELS, run_cli_here

KIB, MIB, GIB = latency.KIB, latency.MIB, latency.GIB
FAST = TimingPolicy(warmup=0, min_samples=2, max_samples=3, budget_s=0.01)


# ---------------------------------------------------------------- rings

@pytest.mark.parametrize("n", [2, 3, 5, 64, 1000, 1024, 4097, 65536 + 7])
@pytest.mark.parametrize("seed", [0, 1, 12345])
def test_a_random_ring_is_one_cycle_through_every_element(n, seed):
    ring = latency.Ring("random", n, seed)
    array = ring.build()
    assert array.dtype == np.uint32 and len(array) == n
    assert latency.single_cycle(array) and latency.single_cycle(array, start=n - 1)
    assert ring.cycle_length == n
    order = ring.at(np.arange(n, dtype=np.uint64))
    assert len(np.unique(order)) == n and order.max() < n  # the visiting order is a permutation


def test_the_random_permutation_is_a_keyed_bijection_with_an_inverse():
    for n in (7, 1000, 1 << 16, (1 << 20) + 3):
        permutation = latency.Feistel(n, seed=3)
        x = np.arange(n, dtype=np.uint64)
        y = permutation.forward(x.copy())
        assert np.array_equal(np.sort(y), x)
        assert np.array_equal(permutation.inverse(y.copy()), x)
        assert permutation.forward(5) == int(y[5]) and permutation.inverse(int(y[5])) == 5  # ints agree with arrays
    a, b = latency.Ring("random", 4096, 1).build(), latency.Ring("random", 4096, 2).build()
    assert not np.array_equal(a, b)  # the seed keys the ring
    assert np.array_equal(a, latency.Ring("random", 4096, 1).build())  # and makes it again exactly


def test_a_random_ring_jumps_like_a_random_one():
    """Consecutive loads land far apart (a uniform random order: E|x - y| = n/3), so no
    cache line or page is reused by chance of the construction."""
    ring = latency.Ring("random", 1 << 20, 1)
    order = ring.at(np.arange(1 << 16, dtype=np.uint64)).astype(np.int64)
    jumps = np.abs(np.diff(order))
    assert 0.30 < jumps.mean() / ring.n < 0.36
    assert np.mean(jumps < 32) < 0.001  # almost never within the same 128-byte line


@pytest.mark.parametrize("n, stride", [(1024, 32), (1000, 32), (4096, 1), (4097, 1024)])
def test_a_stride_ring(n, stride):
    ring = latency.Ring("stride", n, stride=stride)
    array = ring.build()
    assert np.array_equal(array, (np.arange(n) + stride) % n)
    assert ring.cycle_length == n // math.gcd(n, stride)
    assert ring.working_set_bytes == 4 * n
    assert latency.ring_for("stride", 64 * KIB, stride_bytes=128) == latency.Ring("stride", 16384, 0, 32)


@pytest.mark.parametrize("pattern", latency.PATTERNS)
def test_the_cpu_walk_the_closed_form_and_the_definition_agree(pattern):
    ring = latency.ring_for(pattern, 256 * KIB, seed=7)
    array = ring.build()
    assert np.array_equal(ring.next_of(np.arange(ring.n, dtype=np.uint64)), array.astype(np.uint64))
    origin = latency.spread(ring, 37)
    starts = ring.at(origin)
    by_array = latency.walk(latency.array_lookup(array), starts, 500)
    by_definition = latency.walk(ring.next_of, starts, 500)
    assert np.array_equal(by_array, by_definition)
    assert np.array_equal(by_array, ring.at(origin + np.uint64(500)))
    assert latency.walk(ring.next_of, int(starts[3]), 500) == int(by_array[3])  # the one-chain path
    # the NumPy chase of the CPU path ends in the same places
    assert np.array_equal(latency.numpy_chase(array, starts.astype(np.int64), 500)[0], by_array)
    assert latency.numpy_chase(array, int(starts[3]), 500) == (int(by_array[3]), 500)


def test_chains_start_spread_along_the_ring():
    ring = latency.Ring("random", 1000, 1)
    origin = latency.spread(ring, 4)
    assert list(origin) == [0, 250, 500, 750]
    assert len(set(ring.at(origin).tolist())) == 4
    assert list(latency.walked_chains(5)) == [0, 1, 2, 3, 4]
    picked = latency.walked_chains(100_000)
    assert len(picked) == latency.WALKED_CHAINS and picked[0] == 0 and picked[-1] == 99_999


# ---------------------------------------------------------------- validation

def test_validation_passes_the_right_walk_and_catches_a_wrong_final_index_or_step_count():
    ring = latency.Ring("random", 5000, 1)
    starts = ring.at(latency.spread(ring, 8))
    want = latency.walk(ring.next_of, starts, 100)
    assert latency.validate(want, 100, want, 100).ok
    wrong = want.copy()
    wrong[5] = (wrong[5] + 1) % ring.n
    check = latency.validate(wrong, 100, want, 100, what="device")
    assert not check.ok and "chain 5" in check.detail and "1 of 8 chains end at the wrong index" in check.detail
    # a chain that took one load too few ends one element early: both the count and the index say so
    early = latency.walk(ring.next_of, starts, 99)
    assert not latency.validate(early, 100, want, 100).ok
    counted = latency.validate(want, np.array([100] * 7 + [99]), want, 100)
    assert not counted.ok and "wrong number of loads" in counted.detail and "chain 7: 99" in counted.detail
    assert not latency.combine(latency.validate(want, 100, want, 100), check).ok


def _cpu_case(pattern="random", mode="latency", size=64 * KIB):
    params = {"pattern": pattern, "mode": mode, "cache_op": "host", "memory": "host", "working_set": size,
              "chains_per_thread": 1, "seed": 1, "launch_ms": 0.2}
    if pattern == "stride":
        params["stride_bytes"] = 128
    return Case("latency", f"{mode} {pattern}", "test", params)


class _CpuRunner(run.Runner):
    name = "cpu"
    last_level_cache_bytes = 8 << 20
    info = {"name": "test CPU", "l2_bytes": 1 << 20, "l3_bytes": 8 << 20, "free_bytes": 8 << 30}


@pytest.mark.parametrize("pattern", latency.PATTERNS)
@pytest.mark.parametrize("mode", latency.MODES)
def test_the_cpu_chase_is_validated(pattern, mode):
    record = family.run_latency(_cpu_case(pattern, mode), _CpuRunner(), FAST)
    assert record["status"] == "ok", record
    assert record["validation"]["ok"] and record["validation"]["checked"] == (1 if mode == "latency" else 1024)
    assert record["latency_ns"]["median"] > 0 and record["cycles"] is None
    assert record["working_set_bytes"] == 64 * KIB and record["kernel"] == "numpy"
    assert record["total_steps"] >= record["steps_per_launch"] * 2


@pytest.mark.parametrize("mode", latency.MODES)
def test_a_broken_chase_fails_its_case(monkeypatch, mode):
    """A chase that does one load too few, or lands one element off, is a failed record."""
    real = latency.numpy_chase

    def one_short(array, position, steps):
        return real(array, position, steps - 1)

    def off_by_one(array, position, steps):
        index, done = real(array, position, steps)
        return (index + 1) % len(array), done

    for broken in (one_short, off_by_one):
        monkeypatch.setattr(latency, "numpy_chase", broken)
        record = family.run_latency(_cpu_case(mode=mode), _CpuRunner(), FAST)
        assert record["status"] == "failed" and record["reason"].startswith("validation failed"), record
        assert "latency_ns" not in record


# ---------------------------------------------------------------- the curve

def _curve(points, cache="ca", llc=50 * MIB, memory="device", mode="latency"):
    return latency.analyse_curve((mode, "random", cache, memory),
                                 [(size, ns, ns * 1.98) for size, ns in points],
                                 latency.CACHES[cache], llc)


H100_LIKE = [(4 * KIB, 20.1), (8 * KIB, 19.8), (16 * KIB, 20.0), (32 * KIB, 20.3), (64 * KIB, 19.9),
             (128 * KIB, 20.2), (256 * KIB, 60.0), (512 * KIB, 140.0), (1 * MIB, 150.0), (2 * MIB, 148.0),
             (4 * MIB, 152.0), (8 * MIB, 151.0), (16 * MIB, 155.0), (32 * MIB, 158.0), (64 * MIB, 300.0),
             (128 * MIB, 470.0), (256 * MIB, 480.0), (512 * MIB, 490.0), (1 * GIB, 500.0)]


def test_steps_are_found_on_a_three_level_curve():
    curve = _curve(H100_LIKE)
    assert [level.name for level in curve.levels] == ["L1", "L2", "DRAM"]
    l1, l2, dram = curve.levels
    assert (l1.first_bytes, l1.last_bytes, l1.points) == (4 * KIB, 128 * KIB, 6)
    assert (l2.first_bytes, l2.last_bytes) == (512 * KIB, 32 * MIB)
    assert (dram.first_bytes, dram.last_bytes) == (128 * MIB, 1 * GIB)
    assert l1.ns == pytest.approx(20.05, abs=0.2) and l2.ns == pytest.approx(151.0, abs=3)
    assert dram.ns == pytest.approx(485, abs=10) and dram.cycles == pytest.approx(dram.ns * 1.98)
    # the capacity lies between the last working set on a level and the first above it
    assert [(s.below, s.above, s.last_bytes, s.next_bytes) for s in curve.steps] == [
        ("L1", "L2", 128 * KIB, 256 * KIB), ("L2", "DRAM", 32 * MIB, 64 * MIB)]
    assert curve.steps[0].ratio == pytest.approx(151 / 20.05, rel=0.05)


def test_steps_come_from_the_curve_not_from_the_cache_size():
    """The same curve shifted by 4x steps 4x later, whatever L2 size the driver reports."""
    shifted = [(size * 4, ns) for size, ns in H100_LIKE]
    curve = _curve(shifted)
    assert [(s.last_bytes, s.next_bytes) for s in curve.steps] == [(512 * KIB, 1 * MIB), (128 * MIB, 256 * MIB)]
    assert [level.name for level in _curve(H100_LIKE, llc=None).levels] == ["L1", "L2", "DRAM"]


def test_a_curve_with_no_step_is_one_level():
    flat = [(4 * KIB << k, 20.0 * (1 + 0.03 * ((-1) ** k))) for k in range(12)]
    curve = _curve(flat)
    assert len(curve.levels) == 1 and curve.steps == [] and curve.levels[0].name == "L1"
    assert curve.levels[0].last_bytes == 4 * KIB << 11


def test_noise_and_a_lone_outlier_make_no_level():
    points = [(4 * KIB << k, ns) for k, ns in enumerate([20, 21, 19.5, 45, 20.5, 20, 150, 152, 149, 151])]
    curve = _curve(points)
    assert [level.name for level in curve.levels] == ["L1", "L2"]
    assert curve.levels[0].last_bytes == 4 * KIB << 5 and curve.steps[0].next_bytes == 4 * KIB << 6


def test_a_sweep_that_ends_on_a_new_level_shows_it():
    points = [(4 * KIB << (2 * k), ns) for k, ns in enumerate([20, 20, 150, 150, 150, 480])]
    curve = _curve(points, llc=2 * MIB)
    assert [level.name for level in curve.levels] == ["L1", "L2", "DRAM"]
    assert curve.levels[-1].points == 1


def test_level_names_follow_the_cache_operator_and_the_sweep_beyond_dram():
    bypassed = _curve([(s, ns) for s, ns in H100_LIKE if s >= 512 * KIB], cache="cg")
    assert [level.name for level in bypassed.levels] == ["L2", "DRAM"]
    tlb = H100_LIKE + [(2 * GIB, 800.0), (4 * GIB, 810.0)]
    assert [level.name for level in _curve(tlb).levels] == ["L1", "L2", "DRAM", "DRAM 2"]


def test_ns_and_cycles():
    from smbench.timing import summarize

    stats = summarize([2e-3, 2e-3, 3e-3])
    ns = latency.per_load_ns(stats, 100_000)
    assert ns["median"] == pytest.approx(20.0) and ns["best"] == ns["min"] == pytest.approx(20.0)
    assert latency.to_cycles(20.0, 1980.0) == pytest.approx(39.6)
    assert latency.to_cycles(20.0, None) is None
    assert latency.steps_for(20e-9, 1e-3) == 50_000 and latency.steps_for(1e-3, 1e-3) == 64
    assert latency.warm_steps(latency.Ring("random", 1000), 1) == 1008
    assert latency.warm_steps(latency.Ring("random", 1 << 24), 1) == latency.WARM_STEPS
    assert latency.warm_steps(latency.Ring("random", 1 << 24), 1 << 20) == 24


# ---------------------------------------------------------------- sizes, plans and suites

def test_the_sweep():
    assert latency.sweep(4 * KIB, 64 * KIB) == [4 * KIB, 8 * KIB, 16 * KIB, 32 * KIB, 64 * KIB]
    assert latency.sweep(4 * KIB, 16 * KIB, points_per_octave=2) == [4096, 5760, 8192, 11648, 16384]
    assert latency.sweep(4 * KIB, 100 * KIB, step=2) == [4 * KIB, 16 * KIB, 64 * KIB, 100 * KIB]
    assert all(size % 128 == 0 for size in latency.sweep(4 * KIB, GIB, 4))
    assert latency.sweep(8 * KIB, 4 * KIB) == []


class _GpuRunner(run.Runner):
    name = "cuda"
    home_memory = "device"
    last_level_cache_bytes = 50 * MIB

    def __init__(self, free=140 * GIB, unified=False, managed=True, mapped=True):
        super().__init__()
        self.info = {"name": "test GPU", "free_bytes": free, "unified_memory": unified}
        self.kinds = [MemoryKind(*kind) for kind in (
            ("device", True, "cudaMalloc"), ("managed", managed, "managed" if managed else "no managed"),
            ("managed-prefetch", managed, "prefetch"),
            ("pinned-mapped", mapped, "mapped" if mapped else "the device cannot map host memory"),
            ("pageable", False, "pageableMemoryAccess = 0"))]

    def memory_kinds(self):
        return self.kinds


def test_the_quick_plan_on_a_gpu_reaches_four_l2s_and_a_gib():
    suite = suites.load("quick")
    part = family.plan(suite, _GpuRunner())
    sizes = sorted({c.params["working_set"] for c in part.cases})
    assert sizes[0] == 4 * KIB and sizes[-1] >= max(4 * 50 * MIB, GIB)
    assert all(b == 4 * a for a, b in zip(sizes, sizes[1:]))
    assert {(c.params["pattern"], c.params["mode"]) for c in part.cases} == {
        ("random", "latency"), ("random", "loaded"), ("stride", "latency"), ("stride", "loaded")}
    loaded = [c for c in part.cases if c.params["mode"] == "loaded"]
    assert {c.params["chains_per_thread"] for c in loaded} == {4}
    # the other memory kinds last, one-thread random chases, no larger than their cap
    assert {c.params["memory"] for c in part.last} == {"managed", "pinned-mapped"}
    assert all(c.params["mode"] == "latency" and c.params["pattern"] == "random" for c in part.last)
    assert max(c.params["working_set"] for c in part.last) == 256 * MIB
    assert len({c.benchmark + c.label for c in part.cases + part.last}) == len(part.cases + part.last)


def test_a_memory_kind_the_device_lacks_is_one_skipped_row():
    suite = suites.load("quick")
    part = family.plan(suite, _GpuRunner(mapped=False))
    mapped = [c for c in part.last if c.params["memory"] == "pinned-mapped"]
    assert len(mapped) == 1 and mapped[0].skip
    record = run.run_case(mapped[0], _GpuRunner(mapped=False), FAST)
    assert record["status"] == "skipped" and "cannot map host memory" in record["reason"]


def test_the_sweep_is_capped_by_memory_and_by_the_cpu_path():
    suite = suites.load("quick")
    sizes, why = family.sizes(suite, _GpuRunner(free=2 * GIB, unified=True))
    assert sizes[-1] == 512 * MIB and "25% of 2.0 GiB free" in why
    assert family.sizes(suite, _GpuRunner())[0][-1] == GIB  # max(4 x 50 MiB, 1 GiB)
    cpu_sizes, why = family.sizes(suite, _CpuRunner())
    assert cpu_sizes[-1] == 8 * MIB and "CPU" in why


def test_the_suites_have_a_latency_section():
    full = family.sizes(suites.load("full"), _GpuRunner())[0]
    assert full[-1] >= GIB and len(full) > 2 * math.log2(full[-1] / full[0])  # two sizes per doubling
    selftest = suites.load("selftest")
    part = family.plan(selftest, _GpuRunner())
    assert {c.params["working_set"] for c in part.cases} == {64 * KIB}
    assert {(c.params["pattern"], c.params["mode"], c.params["cache_op"]) for c in part.cases} == {
        (p, m, c) for p in latency.PATTERNS for m in latency.MODES for c in latency.CACHE_OPS}


def test_bad_settings_are_refused(tmp_path):
    for text, message in (('[latency]\npatterns = ["zigzag"]\n', "patterns"),
                          ("[latency]\nstride_bytes = 6\n", "stride_bytes"),
                          ("[latency]\nchains = 3\n", "chains"),
                          ("[latency]\npoints_per_octave = 3\n", "points_per_octave")):
        path = tmp_path / "bad.toml"
        path.write_text(text)
        with pytest.raises(SmbenchError, match=message):
            suites.load(str(path))


def test_the_loader_checks_what_the_latency_readers_index():
    record = {"family": "latency", "benchmark": "latency random", "status": "ok", "mode": "latency",
              "pattern": "random", "memory": "device", "working_set_bytes": 4096,
              "validation": {"ok": True, "checked": 1, "detail": ""}, "latency_ns": {"median": 20.0}}
    document = {"schema": results.SCHEMA, "kind": "measured", "suite": "t", "backend": "cuda", "status": "complete",
                "provenance": {}, "device": {}, "records": [record]}
    results.validate_document(document)
    for broken in ({"latency_ns": {"median": "fast"}}, {"latency_ns": None}, {"cycles": {"median": "x"}}):
        with pytest.raises(SmbenchError, match="latency_ns|cycles"):
            results.validate_document({**document, "records": [{**record, **broken}]})


# ---------------------------------------------------------------- end to end on the CPU path

@pytest.fixture(scope="module")
def cpu_result(tmp_path_factory):
    out = tmp_path_factory.mktemp("latency-run")
    code, stdout, stderr = run_cli_here("run", "--backend", "cpu", "--only", "latency", "--suite", "quick",
                                        "--out", str(out), env={"COLUMNS": "80"})
    assert code == 0, stderr
    files = sorted(out.glob("*.json"))
    assert len(files) == 1
    return files[0], stdout, out


def test_the_cli_runs_the_quick_latency_suite_on_the_cpu(cpu_result):
    path, stdout, _ = cpu_result
    document = results.load(path)
    assert document["status"] == "complete"
    records = document["records"]
    assert records and all(r["family"] == "latency" for r in records)
    assert all(r["status"] == "ok" and r["validation"]["ok"] for r in records), \
        [r.get("reason") for r in records if r["status"] != "ok"]
    assert {r["working_set_bytes"] for r in records} == {4 * KIB, 16 * KIB, 64 * KIB, 256 * KIB, MIB, 4 * MIB,
                                                         8 * MIB}
    for record in records:
        assert record["latency_ns"]["median"] > 0 and record["time_s"]["n"] >= 2
        assert record["clock_source"] and record["cycles"] is None
    assert "latency: dependent loads" in stdout and "steps at" in stdout
    assert max(len(line) for line in stdout.splitlines() if "│" in line or "┃" in line) <= 80


def test_compare_export_plot_and_rerun_take_the_latency_file(cpu_result, tmp_path):
    path, _, _ = cpu_result
    code, out, err = run_cli_here("compare", str(path), str(path), "--format", "md")
    assert code == 0 and "Load latency, ns per dependent load" in out and "random / host / 4 KiB" in out, err
    for fmt in ("csv", "md"):
        code, out, err = run_cli_here("export", str(path), "--format", fmt)
        assert code == 0 and "latency" in out, err
    code, out, err = run_cli_here("plot", str(path), "--out", str(tmp_path / "plots"))
    assert code == 0 and (tmp_path / "plots" / "latency_vs_size.png").is_file(), err
    code, out, err = run_cli_here("report", str(path), "--out", str(tmp_path / "report"))
    assert code == 0, err
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert "| latency | latency random, " in markdown and "latency_vs_size" in markdown
    code, out, err = run_cli_here("rerun", str(path), "--out", str(tmp_path / "rerun"))
    assert code == 0 and "Traceback" not in err, err
    again = results.load(next((tmp_path / "rerun").glob("*.json")))
    assert len(again["records"]) == len(results.load(path)["records"])


def test_the_latency_figure_report_lines_and_table(cpu_result, tmp_path):
    path, _, _ = cpu_result
    document = results.load(path)
    written = publish.plots([("cpu", document)], tmp_path)
    assert sorted(p.name for p in written) == ["latency_vs_size.png", "latency_vs_size.svg"]
    assert all(p.stat().st_size > 1000 for p in written)
    assert publish.plots([("empty", {**document, "records": []})], tmp_path / "none") == []
    lines = publish.report_lines("cpu", document)
    assert lines and all(line.startswith("cpu: latency") for line in lines)
    assert any("random, cache" in line and " ns" in line for line in lines)
    console = Console(width=80, record=True, color_system=None)
    view.view(document["records"], console)
    text = console.export_text()
    assert "random" in text and "stride 128 B" in text and "loaded random" in text
    assert max(len(line) for line in text.splitlines() if "│" in line or "┃" in line) <= 80  # tables


def test_report_lines_name_levels_with_the_published_anchors():
    records = []
    for size, ns in H100_LIKE:
        records.append({"family": "latency", "status": "ok", "mode": "latency", "pattern": "random", "cache_op": "ca",
                        "memory": "device", "working_set_bytes": size, "latency_ns": {"median": ns},
                        "cycles": {"median": ns * 1.98}, "clock_mhz": 1980.0, "caches": ["L1", "L2"],
                        "llc_bytes": 50 * MIB})
    records.append({**records[-1], "memory": "managed", "latency_ns": {"median": 700.0}})
    lines = publish.report_lines("H100", {"records": records})
    assert lines[0] == ("H100: latency random, L1: 20.1 ns, 40 cycles (working sets 4 KiB to 128 KiB; steps to L2 "
                        "(7.5x) between 128 KiB and 256 KiB); V100 (Jia et al., arXiv 1804.06826): ~28 cycles")
    assert "~28 cycles" in lines[0] and "~193 cycles" in lines[1] and "~400+ cycles" in lines[2]
    assert any("managed memory at 1 GiB: 700.0 ns" in line for line in lines)
    console = Console(width=80, record=True, color_system=None)
    view.view(records, console)
    text = console.export_text()
    assert re.search(r"│ random │ L1 +│ 128 KiB │ +20\.1 │ +40 │ +256 KiB │", text), text
    assert re.search(r"│ managed │ 1 GiB │ 700\.0 │ +990 │ +1\.40x │", text), text
    # A narrow terminal keeps the chase, its levels and their ns whole and says what it left out.
    console = Console(width=44, record=True, color_system=None)
    view.view(records, console)
    narrow = console.export_text()
    assert re.search(r"│ random │ L1 +│ 128 KiB │ +20\.1 │ +40 │", narrow), narrow
    assert "Not shown at 44 columns: steps" in narrow
    assert max(len(line) for line in narrow.splitlines()) <= 44


# ---------------------------------------------------------------- the kernels' machine code

ALL = [t.name for t in target_table.all_targets()]
CHASES = [latency.kernel_name(cache, k) for cache in latency.CACHE_OPS for k in latency.CHAINS_PER_THREAD]


@pytest.fixture(scope="module")
def listings(builtin_matrix):
    """Every target's cubin of latency.cu: (summaries, cuobjdump text); the compile matrix built
    it as the run does (builtin_matrix), so these are cache hits."""
    out = {}
    for target in ALL:
        result = compile_file(KERNELS / latency.KERNEL_FILE, target)
        assert result.ok, f"{target}: {result.log}"
        out[target] = (sass.summarize(result.cubin), sass.run_cuobjdump(result.cubin))
    return out


@pytest.mark.needs_sass
@pytest.mark.parametrize("target", ALL)
def test_every_chase_kernel_is_a_loop_of_dependent_loads_on_every_target(listings, target):
    summaries, text = listings[target]
    for name in CHASES:
        kernel = summaries[name]
        assert kernel.local_bytes == 0 and kernel.spill_instructions == 0 and kernel.stack_bytes == 0, name
        chains = int(name.rsplit("_c", 1)[1])
        loads = loop_loads(text, name)
        assert loads.loads and len(loads.loads) % (latency.UNROLL * chains) == 0, (name, loads)
        want = "LDG.E" if "_ca_" in name else "LDG.E.STRONG.GPU"  # cached in L1, or L1 bypassed
        assert set(loads.loads) == {want}, (name, loads.loads)
        assert loads.all_dependent, (name, loads.detail)
    touch = summaries["latency_touch"]
    assert touch.local_bytes == 0 and any("LDG.E" in loop["histogram"] for loop in touch.loops)


@pytest.mark.needs_sass
def test_the_sass_check_catches_loads_that_do_not_depend_on_each_other():
    source = (KERNELS / latency.KERNEL_FILE).read_text()
    # Each load's address from the loop's counters, not from the last load's value:
    independent = source.replace("index[k] = smbench_load_next<L1>(next, index[k]);",
                                 "index[k] ^= smbench_load_next<L1>(next, (unsigned)(s * 8 + u + k));")
    assert independent != source
    result = compile_source(independent, "sm_90", source_name="latency.cu", source_dir=KERNELS)
    assert result.ok, result.log
    loads = loop_loads(sass.run_cuobjdump(result.cubin), "latency_chase_ca_c1")
    assert loads.loads and not loads.all_dependent and "not from a loaded value" in loads.detail


# ---------------------------------------------------------------- the GPU path, with NumPy standing in

class _FakeStream:
    def __init__(self, non_blocking=False):
        self.ptr = 0

    def synchronize(self):
        pass


def _fake_cupy():
    from types import SimpleNamespace

    runtime = SimpleNamespace(deviceSynchronize=lambda: None, memPrefetchAsync=lambda *args: None)
    pool = SimpleNamespace(free_all_blocks=lambda: None)
    cuda = SimpleNamespace(runtime=runtime, Stream=_FakeStream, get_current_stream=lambda: _FakeStream(),
                           Device=lambda: SimpleNamespace(id=0))
    return SimpleNamespace(asarray=np.asarray, asnumpy=lambda a: np.array(a), zeros=np.zeros, empty=np.empty,
                           arange=np.arange, uint32=np.uint32, uint64=np.uint64, int64=np.int64, cuda=cuda,
                           get_default_memory_pool=lambda: pool)


class _FakeKernel:
    """latency_chase_<cache>_c<K> in NumPy: each chain from position[c], `steps` loads,
    written back, steps_done[c] += steps, thread 0's cycles. `short` loads fewer."""

    def __init__(self, short=0):
        self.short, self.total, self.last_steps = short, 0, 0

    def __call__(self, grid, block, args, stream=None):
        array, position, steps_done, cycles, steps = args
        steps = int(steps)
        index = position.astype(np.int64)
        for _ in range(steps - self.short):
            index = array[index].astype(np.int64)
        position[:] = index.astype(np.uint32)
        steps_done += np.uint64(steps)
        cycles[0] = steps * 60
        self.total += steps
        self.last_steps = steps


class _FakeBackend:
    """The pieces of smbench.backends.cuda the latency family uses, over NumPy arrays; each
    launch "takes" 2 us per load (so that cycles come out at 60 / 2000 ns = 30 MHz)."""

    def __init__(self, short=0):
        from smbench.backends.cuda import time_calls

        self.chase, self.touched = _FakeKernel(short), []
        self.time_calls = time_calls
        backend = self

        class Timer:
            def __init__(self, stream):
                self.closed = False

            def sample(self, launch, reps, blocking=True, work=True):
                for _ in range(reps):
                    launch()
                return backend.chase.last_steps * 2e-6

            def close(self):
                self.closed = True

        self.DeviceTimer = Timer

    def _cupy(self):
        return _fake_cupy()

    def load(self, kernel_file, target, options=()):
        from types import SimpleNamespace

        functions = {"latency_touch": lambda grid, block, args, stream=None: self.touched.append(args[1])}
        module = SimpleNamespace(get_function=lambda name: functions.get(name, self.chase))
        return SimpleNamespace(module=module, provenance={"target": target, "compile_options": [],
                                                          "kernel_source_hash": "fake"})

    def allocate(self, kind, elements, dtype):
        from types import SimpleNamespace

        array = np.zeros(elements, dtype=dtype)
        return SimpleNamespace(array=array, host=None if kind == "device" else array, release=None)

    def release(self, allocations):
        allocations.clear()

    def blocks_per_sm(self, function, facts, block):
        return 1


class _FakeGpuRunner(_GpuRunner):
    target = "sm_90"

    def __init__(self, short=0):
        from types import SimpleNamespace

        super().__init__()
        self.backend = _FakeBackend(short)
        self.facts = SimpleNamespace(sm_count=2)
        self.info["sm_clock_max_mhz"] = 1980.0

    def sampler(self):
        from smbench.telemetry import Summary

        class Sampler:
            summary = Summary(False, "no NVML here")

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return None

        return Sampler()


def _gpu_case(pattern="random", mode="latency", memory="device", cache="ca", size=64 * KIB):
    suite = suites.load("selftest")
    return family.one_case(suite, pattern, mode, cache, size, memory)


@pytest.mark.parametrize("pattern", latency.PATTERNS)
@pytest.mark.parametrize("mode", latency.MODES)
@pytest.mark.parametrize("memory", ["device", "pinned-mapped"])
def test_the_gpu_path_validates_counts_and_times_every_chain(pattern, mode, memory):
    runner = _FakeGpuRunner()
    record = family.run_latency(_gpu_case(pattern, mode, memory), runner, FAST)
    assert record["status"] == "ok", record
    chains = 1 if mode == "latency" else 2 * 256 * 8  # selftest: 8 chains a thread, 2 SMs of one 256-thread block
    assert record["chains"] == chains and record["kernel"] == f"latency_chase_ca_c{1 if mode == 'latency' else 8}"
    assert record["validation"]["ok"] and "every chain" in record["validation"]["detail"]
    assert "step-by-step walk" in record["validation"]["detail"] and "after timing" in record["validation"]["detail"]
    assert record["latency_ns"]["median"] == pytest.approx(2000.0)
    assert record["clock64_cycles"] == 60 and record["clock_mhz"] == pytest.approx(30.0)
    assert record["cycles"]["median"] == pytest.approx(60.0) and "clock64" in record["clock_source"]
    assert record["total_steps"] == runner.backend.chase.total  # the host counted every load it launched
    assert runner.backend.touched == [record["elements"]]  # the whole array read once before the chase
    assert record["built"].startswith("on the GPU") and record["kernel_source_hash"] == "fake"
    assert record["loads_per_s"] == pytest.approx(chains / 2e-6)


def test_a_broken_gpu_chase_fails_its_case():
    record = family.run_latency(_gpu_case(mode="loaded"), _FakeGpuRunner(short=1), FAST)
    assert record["status"] == "failed" and "validation failed" in record["reason"], record
    assert "end at the wrong index" in record["reason"] and "latency_ns" not in record


def test_a_ring_built_wrong_on_the_device_fails_its_case(monkeypatch):
    real = latency.Ring.build

    def corrupt(self, xp=np, out=None, chunk=1 << 24):
        built = real(self, xp, out, chunk)
        built[0] = (built[0] + 1) % self.n  # element 0 is always among those compared
        return built

    monkeypatch.setattr(latency.Ring, "build", corrupt)
    record = family.run_latency(_gpu_case(), _FakeGpuRunner(), FAST)
    assert record["status"] == "failed" and "differs from its definition" in record["reason"], record
