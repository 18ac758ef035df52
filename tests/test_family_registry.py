"""Families are plugins: a folder in smbench/families with a family.py is found, its suite
section checked, its cases planned and run, with nothing in the harness naming it."""

from __future__ import annotations

import json
import re

import pytest

import smbench.families as families
from smbench import run, suites
from smbench.errors import SmbenchError

DEMO = '''
from smbench.cases import Case, Skip, base_record
from smbench.families import Family, PlanPart
from smbench.settings import is_int, list_of

SETTINGS = {"values": (list_of(is_int(0)), "a list of whole numbers")}


def plan(suite, runner):
    values = suite.data["demo"].get("values", [])
    return PlanPart([Case("demo", "square", f"square {v}", {"value": v}) for v in values],
                    last=[Case("demo", "never", "the device lacks it", {})], notes={"demo": "planned"})


def run(case, runner, policy):
    if case.benchmark == "never":
        raise Skip("this device has no demo unit")
    value = case.params["value"]
    return {**base_record(case), "status": "ok", "square": value * value,
            "validation": {"ok": True, "checked": 1, "detail": "exact"}}


FAMILY = Family("demo", rank=15, summary="a family from a folder the harness has never heard of",
                settings=SETTINGS, plan=plan, run=run)
'''


@pytest.fixture
def demo_family(tmp_path, monkeypatch):
    folder = tmp_path / "demo"
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    (folder / "family.py").write_text(DEMO)
    (tmp_path / "shared_code").mkdir()  # a folder without family.py is not a family
    (tmp_path / "shared_code" / "__init__.py").write_text("")
    monkeypatch.setattr(families, "__path__", [*families.__path__, str(tmp_path)])
    families.registry.cache_clear()
    yield
    families.registry.cache_clear()


def test_the_built_in_families_come_from_their_folders_in_run_order():
    built_in = ("stream", "transfer", "peak", "precision", "gemm", "launch")
    assert tuple(name for name in families.names() if name in built_in) == built_in
    for name, family in families.registry().items():
        assert family.name == name and family.run.__module__ == f"smbench.families.{name}.family"
        assert set(suites.schema()[name]) == set(family.settings)


def test_a_new_folder_is_a_family_end_to_end(demo_family, tmp_path):
    assert families.names().index("demo") == 1 and "shared_code" not in families.names()
    suite_file = tmp_path / "demo.toml"
    suite_file.write_text("[demo]\nvalues = [2, 3]\n[cpu]\nlargest_mib = 1\n")
    suite = suites.load(str(suite_file))
    path, records = run.execute(suite, run.CpuRunner(), {"demo"}, tmp_path / "out")
    assert [(r["benchmark"], r["status"]) for r in records] == [("square", "ok"), ("square", "ok"),
                                                                ("never", "skipped")]
    assert [r.get("square") for r in records[:2]] == [4, 9]
    assert "no demo unit" in records[2]["reason"]
    assert json.loads(path.read_text())["notes"]["demo"] == "planned"


def test_a_new_familys_settings_are_checked_like_any_other(demo_family, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[demo]\nvalues = ["two"]\n')
    with pytest.raises(SmbenchError, match=r"\[demo\] values = \['two'\] should be a list of whole numbers"):
        suites.load(str(bad))
    with pytest.raises(SmbenchError, match="unknown family 'nope'.*demo"):
        suites.check_families({"nope"})


def _peak_record(seconds: list[float]) -> dict:
    return {"family": "peak", "benchmark": "f16_f32acc", "kernel": "mma_f16_f32acc", "status": "ok",
            "shape": [16, 8, 16], "ops": 1e12, "tflops": {"median": 1 / sorted(seconds)[len(seconds) // 2]},
            "time_s": {"median": sorted(seconds)[len(seconds) // 2], "samples": seconds},
            "validation": {"ok": True}}


def test_each_family_names_the_figure_rerun_and_export_read():
    """A peak loop is compared and exported in T(FL)OP/s from its own samples (its [m, n, k]
    shape, a list in JSON, once made rerun's key unhashable)."""
    from pathlib import Path

    from smbench import frames, rerun

    steady = [1.00, 1.01, 0.99, 1.00, 1.02, 0.98, 1.00, 1.01]
    slower = [2.00, 2.02, 1.98, 2.00, 2.01, 1.99, 2.00, 2.02]
    document = {"kind": "measured", "backend": "cpu", "device": {"name": "x"}}
    same = rerun.compare_runs({**document, "records": [_peak_record(steady)]},
                              {**document, "records": [_peak_record(steady)]}, Path("a"), Path("b"))
    assert same.steady == 1 and not same.moved
    moved = rerun.compare_runs({**document, "records": [_peak_record(steady)]},
                               {**document, "records": [_peak_record(slower)]}, Path("a"), Path("b"))
    assert len(moved.moved) == 1 and "T(FL)OP/s" in moved.moved[0]
    assert [round(pct) for _, pct in moved.slower] == [50]  # half the rate: 50% slower
    assert moved.regressions(40) and not moved.regressions(60)
    faster = rerun.compare_runs({**document, "records": [_peak_record(slower)]},
                                {**document, "records": [_peak_record(steady)]}, Path("a"), Path("b"))
    assert len(faster.moved) == 1 and not faster.regressions(0)  # faster is never a regression
    (row,) = frames.rows({**document, "records": [_peak_record(steady)]})
    assert row["metric"] == "TFLOP/s" and row["value"] == 1.0 and row["shape"] is None


def test_rerun_fails_above_a_regression_threshold_for_ci(monkeypatch, capsys, tmp_path):
    from pathlib import Path

    from smbench import cli, rerun

    outcome = rerun.Comparison(Path("a.json"), Path("b.json"), [], ["triad 1 GiB: 100 -> 80 GB/s"], 3, [],
                               [("triad 1 GiB", 20.0)])
    monkeypatch.setattr(rerun, "rerun", lambda path, out: outcome)
    assert cli.main(["rerun", str(tmp_path / "a.json"), "--fail-above", "25"]) == 0
    assert cli.main(["rerun", str(tmp_path / "a.json")]) == 0
    assert cli.main(["rerun", str(tmp_path / "a.json"), "--fail-above", "10%"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "smbench rerun: 1 figures regressed more than 10% beyond the noise (worst: triad 1 GiB, 20.0% slower)"
    with pytest.raises(SystemExit) as bad:
        cli.main(["rerun", str(tmp_path / "a.json"), "--fail-above", "lots"])
    assert bad.value.code == 2


def test_set_overrides_a_suite_without_writing_a_toml():
    base = suites.load("quick")
    changed = suites.with_settings(base, ["stream.largest_mib=256", "stream.dtypes=[\"f64\"]", "timing.warmup=3",
                                          "precision.cpu_model=A100"])
    assert changed.data["stream"]["largest_mib"] == 256 and changed.data["stream"]["dtypes"] == ["f64"]
    assert changed.timing("cuda").warmup == 3 and changed.data["precision"]["cpu_model"] == "A100"
    assert base.data["stream"].get("largest_mib") != 256  # the loaded suite is untouched
    for bad, said in (("stream.largest_mib=-1", "largest_mib = -1 should be"), ("nonsense", "section.key=value"),
                      ("warp.size=32", "no section [warp]"), ("stream.colour=red", "has no setting 'colour'")):
        with pytest.raises(SmbenchError, match=re.escape(said)):
            suites.with_settings(base, [bad])
