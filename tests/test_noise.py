"""Issue 27, noise you can see: one definition of noise, the median's interval, and verdicts that
follow the test. Each claim has a planted case that must fail: two clearly different sample sets
called "within noise", identical ones called "differs", a non-converged figure shown unmarked."""

from __future__ import annotations

import csv
import io
import json
import math
import re

import numpy as np
import pytest

from smbench import compare, frames, noise, reference, report, results, rerun
from smbench.timing import summarize

from conftest import ROOT, run_cli_here

RESULTS = ROOT / "results"
CPU_RUN = RESULTS / "cpu-reference-quick-x86_64-2cpu.json"


# ---------------------------------------------------------------- one definition

def test_noise_is_the_interquartile_range_over_the_median_everywhere():
    samples = [1.0, 1.1, 0.9, 1.05, 3.0, 1.02, 0.98, 1.01]
    q1, median, q3 = np.percentile(samples, [25, 50, 75])
    assert noise.relative_iqr(samples) == pytest.approx((q3 - q1) / median)
    assert summarize(samples).noise == pytest.approx(noise.relative_iqr(samples))  # the file's
    record = {"family": "stream", "benchmark": "copy", "status": "ok", "gbps": {"median": 1 / median},
              "bytes_moved": 1, "time_s": summarize(samples).to_dict()}
    row = frames.rows({"records": [record], "device": {}, "kind": "measured", "backend": "cpu"})[0]
    assert row["noise"] == pytest.approx(noise.relative_iqr(samples))  # export's
    entry = compare.Entry(1 / median, [1 / t for t in samples], timing=record["time_s"])
    assert entry.spread.noise == pytest.approx(noise.relative_iqr(samples))  # compare's and the report's


def test_an_old_file_s_stdev_over_mean_is_moved_aside_on_load(tmp_path):
    document = json.loads(CPU_RUN.read_text())
    timing = next(r for r in document["records"] if r["family"] == "stream" and r["status"] == "ok")["time_s"]
    for key in ("rel_stdev", "median_ci95"):
        timing.pop(key, None)
    timing["noise"] = 9.5  # what an older smbench wrote: stdev / mean
    path = tmp_path / "old.json"
    path.write_text(json.dumps(document))
    loaded = next(r for r in results.load(path)["records"] if r["family"] == "stream" and r["status"] == "ok")["time_s"]
    assert loaded["rel_stdev"] == 9.5 and loaded["noise"] == pytest.approx(noise.relative_iqr(loaded["samples"]))
    assert loaded["median_ci95"] is not None


@pytest.mark.parametrize("n, low, high", [(6, 1, 6), (10, 2, 9), (20, 6, 15), (100, 40, 61)])
def test_the_median_interval_is_the_order_statistic_one(n, low, high):
    """Conover's table: the 95% interval of the median is [X(low), X(high)] (1-based)."""
    samples = list(range(1, n + 1))[::-1]
    found = noise.median_interval(samples)
    assert found[:2] == (low, high) and found[2] >= 0.95
    exact = 1 - 2 * sum(math.comb(n, i) for i in range(low)) / 2 ** n
    assert found[2] == pytest.approx(exact)


def test_too_few_samples_give_an_interval_that_says_its_lower_coverage():
    low, high, coverage = noise.median_interval([3.0, 1.0, 2.0, 5.0, 4.0])
    assert (low, high) == (1.0, 5.0) and coverage == pytest.approx(1 - 2 / 32) and coverage < 0.95
    assert noise.median_interval([1.0]) is None


# ---------------------------------------------------------------- verdicts follow the test

def _issue_case():
    """Issue 27's case: a 1.37x difference on wide samples, once called 'within noise (p=6.1e-16)'."""
    rng = np.random.default_rng(27)
    base = list(np.abs(rng.normal(1.0, 0.45, 60)) + 0.2)
    return base, [x * 1.37 for x in base[::-1]]


def test_two_clearly_different_sample_sets_are_never_within_noise():
    a, b = _issue_case()
    found = noise.difference(a, b)
    assert found.p < noise.ALPHA and found.beyond
    verdict = found.verdict()
    assert verdict.startswith("differs") and "within noise" not in verdict
    assert found.ratio == pytest.approx(float(np.median(b)) / float(np.median(a)))
    assert found.low <= 1.37 <= found.high and found.low > 1  # the interval holds the true ratio, not 1
    assert compare.differs(a, b) == (True, found.p)


def test_identical_sample_sets_are_never_differs():
    a, _ = _issue_case()
    found = noise.difference(a, list(a))
    assert found.p == 1.0 and not found.beyond and found.verdict().startswith("within noise")
    assert found.low <= 1 <= found.high
    shuffled = list(np.random.default_rng(1).permutation(a))
    assert noise.difference(a, shuffled).verdict().startswith("within noise")


def test_the_interval_excludes_one_exactly_when_the_test_rejects():
    rng = np.random.default_rng(5)
    for shift in (1.0, 1.01, 1.03, 1.06, 1.1, 1.3):
        a = list(rng.lognormal(0, 0.05, 40))
        b = list(np.array(rng.lognormal(0, 0.05, 40)) * shift)
        found = noise.difference(a, b)
        assert found.beyond == (not found.low <= 1 <= found.high) or abs(found.p - noise.ALPHA) < 0.003, shift


def _measured(scale: float = 1.0, converged: bool = True) -> dict:
    document = results.load(CPU_RUN)
    for record in document["records"]:
        timing = record.get("time_s")
        if record["status"] == "ok" and isinstance(timing, dict) and timing.get("samples"):
            timing["samples"] = [t * scale for t in timing["samples"]]
            timing["converged"] = converged
    return document


def test_compare_json_carries_the_test_as_numbers_and_never_says_within_noise_below_its_level(tmp_path):
    base, slow = tmp_path / "base.json", tmp_path / "slow.json"
    base.write_text(json.dumps(_measured()))
    slow.write_text(json.dumps(_measured(1.37)))
    code, out, err = run_cli_here("compare", str(base), str(slow), "--format", "json")
    assert code == 0, err
    rows = [row for table in json.loads(out)["tables"] for row in table["rows"]]
    tested = [cell for row in rows for cell in row["files"].values() if cell.get("test")]
    assert tested
    for cell in tested:
        test = cell["test"]
        assert isinstance(test["p"], float) and all(isinstance(n, int) for n in test["n"])
        assert isinstance(test["ratio_of_medians"], float) and len(test["ratio_interval"]) == 2
        assert cell["verdict"].startswith("within noise") == (test["p"] >= test["alpha"])
    beyond = [cell for cell in tested if cell["test"]["beyond_noise"]]
    assert len(beyond) > 0.8 * len(tested)  # every sample 1.37x slower: the test sees it nearly everywhere
    assert all(abs(cell["test"]["ratio_of_medians"] - 1 / 1.37) < 0.02 for cell in beyond
               if cell["test"]["ratio_of_medians"] < 1)
    spread = next(cell for row in rows for cell in row["files"].values() if cell.get("spread"))["spread"]
    assert {"n", "noise", "median_ci95", "converged"} <= set(spread)
    code, out, err = run_cli_here("compare", str(base), str(slow), "--format", "csv")
    table = list(csv.DictReader(io.StringIO(out)))
    assert {"p", "n_first", "n", "ratio_low", "ratio_high", "noise", "ci95_low", "ci95_high", "converged"} <= set(table[0])


def _verdict_follows_its_test(cell: dict) -> None:
    """What every tested compare cell must satisfy: the test's numbers as numbers, 'within noise'
    exactly where p >= alpha, and a difference beyond noise saying by how much."""
    test = cell["test"]
    assert isinstance(test["p"], float) and isinstance(test["alpha"], float), test
    assert len(test["n"]) == 2 and all(isinstance(n, int) for n in test["n"]), test
    assert test["beyond_noise"] == (test["p"] < test["alpha"]), test
    assert cell["verdict"].startswith("within noise") == (not test["beyond_noise"]), cell
    if test["beyond_noise"]:
        assert isinstance(test["ratio_of_medians"], float), test
        assert f"{test['ratio_of_medians']:.3g}x" in cell["verdict"], cell


def test_a_tight_1_37x_difference_is_beyond_noise_with_p_counts_and_effect(tmp_path):
    """Issue 27's case with tight samples (0.6% apart): every figure measured in both files differs,
    says by how much, and carries p, the counts and the ratio as JSON numbers; the text says
    'within noise' nowhere. The check refuses the issue's own output ('within noise (p=6.1e-16)')."""
    def tight(scale: float) -> list[float]:
        return [0.01 * scale * (1 + 0.001 * (i % 7)) for i in range(24)]

    paths = []
    for scale in (1.0, 1.37):
        document = results.load(CPU_RUN)
        for record in document["records"]:
            timing = record.get("time_s")
            if record["status"] == "ok" and isinstance(timing, dict) and timing.get("samples"):
                timing["samples"] = tight(scale)
        paths.append(tmp_path / f"{scale}.json")
        paths[-1].write_text(json.dumps(document))
    code, out, err = run_cli_here("compare", *map(str, paths), "--format", "json")
    assert code == 0, err
    tested = [cell for table in json.loads(out)["tables"] for row in table["rows"]
              for cell in row["files"].values() if cell.get("test")]
    assert len(tested) > 100
    for cell in tested:
        _verdict_follows_its_test(cell)
        test = cell["test"]
        assert test["beyond_noise"] and test["p"] < 1e-6 and test["n"] == [24, 24], cell
        ratio = test["ratio_of_medians"]  # a rate 1/1.37 of the first, a time 1.37 times it
        assert min(abs(ratio - 1.37), abs(ratio - 1 / 1.37)) < 1e-9, ratio
        low, high = test["ratio_interval"]
        assert low <= ratio <= high and not low <= 1 <= high
    code, out, err = run_cli_here("compare", *map(str, paths))
    assert code == 0 and "differs: 0.73x" in out and "within noise" not in out.replace("'within noise'", ""), err
    wrong = {"verdict": "within noise (p=6.1e-16)",
             "test": {"p": 6.1e-16, "alpha": 0.01, "n": [24, 24], "beyond_noise": True, "ratio_of_medians": 0.73}}
    with pytest.raises(AssertionError):
        _verdict_follows_its_test(wrong)
    with pytest.raises(AssertionError):  # nor the test's answer contradicted by its own flag
        _verdict_follows_its_test({**wrong, "test": {**wrong["test"], "beyond_noise": False}})


# ---------------------------------------------------------------- a non-converged figure is marked in every view

def test_a_figure_that_did_not_converge_is_marked_in_every_view(tmp_path):
    unsettled = _measured(converged=False)
    settled = _measured(converged=True)
    for document, marked in ((unsettled, True), (settled, False)):
        path = tmp_path / f"{marked}.json"
        path.write_text(json.dumps(document))
        # compare (text and the cell's number)
        code, out, _ = run_cli_here("compare", str(path), "--format", "md")
        cells = [line for line in out.splitlines() if line.startswith("| copy ")]
        assert cells and (noise.NOT_CONVERGED in cells[0]) == marked, cells
        # export
        code, out, _ = run_cli_here("export", str(path), "--format", "csv")
        converged = {row["converged"] for row in csv.DictReader(io.StringIO(out)) if row["family"] == "stream"}
        assert converged == {"False" if marked else "True"}
        # the report's tables and lines
        loaded = results.load(path)
        lines = report.cpu_lines([("cpu", loaded)])
        triad = next(line for line in lines if "triad bandwidth" in line)
        assert (noise.NOT_CONVERGED + " GB/s (noise " in triad) == marked, triad
        assert re.search(r"GB/s \(noise \d[\d.]*%\)", triad), triad  # its spread, in words
        # the end-of-run summary
        from rich.console import Console

        from smbench.families.stream import view

        console = Console(width=120, record=True, color_system=None)
        view.view(loaded["records"], console)
        row = next(line for line in console.export_text().splitlines() if "triad f32" in line)
        assert (noise.NOT_CONVERGED in row) == marked, row
        assert (noise.NOT_CONVERGED in view.headline(loaded)[0][1]) == marked


def test_a_collective_that_did_not_converge_is_marked_in_its_views():
    """The collectives too: the run summary's tables, the report's line, compare's cell."""
    from rich.console import Console

    from smbench.families.collectives import publish, view

    for marked in (True, False):
        document = _measured(converged=not marked)
        console = Console(width=160, record=True, color_system=None)
        view.view(document["records"], console)
        shown = console.export_text()
        summary = next(line for line in shown.splitlines() if line.startswith("│ all_reduce"))
        assert (noise.NOT_CONVERGED in summary) == marked, summary
        line = next(line for line in publish.report_lines("cpu", document) if "all_reduce f32 out of place" in line)
        assert (noise.NOT_CONVERGED + " GB/s (noise " in line) == marked, line
        assert re.search(r"GB/s \(noise \d[\d.]*%\)", line), line
        cell = publish.largest(document)["all_reduce f32 out of place"]
        assert cell.spread is not None and (noise.NOT_CONVERGED in cell.shown()) == marked


def _plotted_points() -> int:
    """The points the three sweeps of the CPU run draw: the triad sweep, the square GEMMs, the latency curves."""
    from smbench.families.stream.publish import KERNEL_FOR_SWEEP

    records = [r for r in results.load(CPU_RUN)["records"] if r["status"] == "ok"]
    return (sum(r["family"] == "stream" and r["benchmark"] == KERNEL_FOR_SWEEP and r.get("memory") == "host"
                for r in records)
            + sum(r["family"] == "gemm" and r.get("shape_kind") == "square" for r in records)
            + sum(r["family"] == "latency" for r in records))


def test_a_figure_that_did_not_converge_is_ringed_in_the_plots(monkeypatch):
    """The sweeps (bandwidth, GEMM, latency) ring each point that did not converge, and only
    those; the throughput bars put ~ after the name."""
    from smbench import plots
    from smbench.families.gemm import publish as gemm_publish
    from smbench.families.latency import publish as latency_publish
    from smbench.families.peak import publish as peak_publish
    from smbench.families.stream import publish as stream_publish

    figures = []
    for module in (stream_publish, gemm_publish, latency_publish, peak_publish):
        monkeypatch.setattr(module, "save", lambda figure, *_, **__: figures.append(figure) or [])

    def ringed(document) -> tuple[int, list[str]]:
        figures.clear()
        named = [("cpu", document)]
        stream_publish.bandwidth_vs_size(named, ROOT)
        gemm_publish.gemm_vs_size(named, ROOT)
        latency_publish.plots(named, ROOT)
        peak_publish.throughput_bars(named, ROOT)
        rings = sum(len(c.get_offsets()) for figure in figures for axis in figure.axes for c in axis.collections
                    if c.get_label() in (plots.UNCONVERGED_LABEL, "_nolegend_") and len(c.get_facecolors()) == 0)
        names = [t.get_text() for t in figures[-1].axes[0].texts]
        for figure in figures:
            plots.plt.close(figure)
        return rings, names

    rings, names = ringed(_measured(converged=False))
    assert rings > 0 and all(name.endswith(noise.NOT_CONVERGED) for name in names), (rings, names)
    assert rings == _plotted_points(), rings  # every point of the sweeps, none twice
    rings, names = ringed(_measured(converged=True))
    assert rings == 0 and not any(name.endswith(noise.NOT_CONVERGED) for name in names)


def test_rerun_names_each_figure_fully_with_the_test_and_the_mark():
    before = _measured(converged=False)
    after = _measured(1.5, converged=True)
    outcome = rerun.compare_runs(before, after, ROOT / "a.json", ROOT / "b.json")
    assert outcome.moved and outcome.not_converged
    line = next(line for line in outcome.moved if line.startswith("latency "))
    assert "pattern=random" in line and "working_set=" in line and (" KiB" in line or " MiB" in line)  # chase, units
    assert "differs: 1.5x [" in line and "n=" in line and "(p=" in line  # ns, 1.5 times the first run's
    assert noise.NOT_CONVERGED in line.split("->")[0]  # the first run's figure is marked
    # every sample 1.5x longer: a third slower, a bandwidth and a latency alike (rerun --fail-above)
    slower = dict(outcome.slower)
    assert slower and all(abs(percent - 100 / 3) < 5 for percent in slower.values())
    assert any(label.startswith("latency ") for label in slower) and any(label.startswith("stream ") for label in slower)
    same = rerun.compare_runs(before, json.loads(json.dumps(before)), ROOT / "a.json", ROOT / "b.json")
    assert not same.moved and all("within noise (p=1)" in line for line in same.within)


def test_a_published_figure_never_gets_a_verdict_or_a_spread():
    tables = compare.build([("cpu", results.load(CPU_RUN)), ("gb10", results.load(RESULTS / reference.file_name("gb10")))])
    for table in tables:
        for entries, tests in zip(table.entries, table.tests):
            if entries[-1] is not None and entries[-1].mark:
                assert entries[-1].spread is None and tests[-1] is None
