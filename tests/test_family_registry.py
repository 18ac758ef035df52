"""Families are plugins: a folder in smbench/families with a family.py is found, its suite
section checked, its cases planned and run, with nothing in the harness naming it."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

import smbench.families as families
from smbench import run, suites
from smbench.errors import SmbenchError

# A family from a folder the harness has never seen: atomic increments over contention x scope
# (the axes), each case validated by its count. It declares its axes once; the harness checks
# its section, plans the product, skips what the device lacks and keys its records.
ATOMICS = '''
import numpy as np

from smbench.axes import Axes, Axis, Setting
from smbench.cases import Skip, base_record, case_of
from smbench.families import Family, PlanPart
from smbench.settings import is_int

AXES = Axes(
    Axis("contentions", "contention", default=("none", "warp", "all"), choices=("none", "warp", "all"),
         help="threads per address: one, a warp's 32, every thread"),
    Axis("scopes", "scope", default=("block", "device"), choices=("block", "device", "system")),
    Setting("increments", 1000, (is_int(1), "a whole number of increments per thread >= 1")),
)
SHARERS = {"none": 1, "warp": 32, "all": 256}


def plan(suite, runner):
    settings = suite.section("atomics")
    points = AXES.points(settings, applies=lambda f: "no system-scope atomics on this device"
                         if f["scope"] == "system" else True)
    return PlanPart([case_of("atomics", p, "increment", f"{p.fields['contention']} {p.fields['scope']}",
                             increments=settings["increments"]) for p in points], notes={"atomics": "planned"})


def run(case, runner, policy):
    sharers, n = SHARERS[case.params["contention"]], case.params["increments"]
    counters = np.zeros(256 // sharers, dtype=np.int64)
    np.add.at(counters, np.arange(256) // sharers, n)  # every thread adds n to its address
    ok = bool((counters == sharers * n).all())
    return {**base_record(case), "status": "ok" if ok else "failed", "count": int(counters.sum()),
            "validation": {"ok": ok, "checked": int(counters.size), "detail": "each address holds sharers x n"}}


FAMILY = Family("atomics", rank=15, summary="atomic increments over contention and scope (a test's family)",
                axes=AXES, plan=plan, run=run)
'''


@pytest.fixture
def atomics_family(tmp_path, monkeypatch):
    folder = tmp_path / "families" / "atomics"
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text("")
    (folder / "family.py").write_text(ATOMICS)
    (tmp_path / "families" / "shared_code").mkdir()  # a folder without family.py is not a family
    (tmp_path / "families" / "shared_code" / "__init__.py").write_text("")
    monkeypatch.setattr(families, "__path__", [*families.__path__, str(tmp_path / "families")])
    families.registry.cache_clear()
    yield
    families.registry.cache_clear()


def test_the_built_in_families_come_from_their_folders_in_run_order():
    built_in = ("stream", "transfer", "peak", "precision", "gemm", "launch")
    assert tuple(name for name in families.names() if name in built_in) == built_in
    for name, family in families.registry().items():
        assert family.name == name and family.run.__module__ == f"smbench.families.{name}.family"
        assert set(suites.schema()[name]) == set(family.axes.by_key)


def test_a_new_folder_with_axes_is_a_family_end_to_end(atomics_family, tmp_path):
    """An empty section runs the family over its default axes; the system scope the device
    lacks is a skipped row per contention; every record's identity is its axes' values."""
    from smbench import frames, rerun

    assert families.names().index("atomics") == 1 and "shared_code" not in families.names()
    suite_file = tmp_path / "atomics.toml"
    suite_file.write_text("[atomics]\n[cpu]\nlargest_mib = 1\n")
    suite = suites.load(str(suite_file))
    path, records = run.execute(suite, run.CpuRunner(), {"atomics"}, tmp_path / "out")
    assert [(r["contention"], r["scope"], r["status"]) for r in records] == [
        (c, s, "ok") for c in ("none", "warp", "all") for s in ("block", "device")]
    assert [r["count"] for r in records] == [256_000] * 6
    assert json.loads(path.read_text())["notes"]["atomics"] == "planned"
    assert len({families.identity(r) for r in records}) == 6
    assert families.identity(records[0]) == ("atomics", "none", "block")
    assert families.describe(records[3]) == "atomics contention=warp scope=device"
    document = json.loads(path.read_text())
    assert rerun.compare_runs(document, document, path, path).unmatched == []
    assert len(frames.rows(document)) == 6
    suite_file.write_text('[atomics]\nscopes = ["system", "block"]\ncontentions = ["all"]\n')
    _, records = run.execute(suites.load(str(suite_file)), run.CpuRunner(), {"atomics"}, tmp_path / "out")
    assert [(r["scope"], r["status"]) for r in records] == [("system", "skipped"), ("block", "ok")]
    assert records[0]["reason"] == "no system-scope atomics on this device"


def test_a_new_familys_settings_are_checked_like_any_other(atomics_family, tmp_path):
    bad = tmp_path / "bad.toml"
    for text, said in (('[atomics]\nscopes = ["grid"]\n', r"\[atomics\] scopes = \['grid'\] should be \"all\" or "
                                                           r"a non-empty list of block, device, system"),
                       ("[atomics]\nincrement = 5\n", r"has no setting 'increment' \(did you mean 'increments'\?\)"),
                       ("[atomic]\n", r"no section \[atomic\] \(did you mean 'atomics'\?\)")):
        bad.write_text(text)
        with pytest.raises(SmbenchError, match=said):
            suites.load(str(bad))
    with pytest.raises(SmbenchError, match="unknown family 'nope'.*atomics"):
        suites.check_families({"nope"})


def test_a_plan_with_two_cases_of_one_identity_is_refused_before_anything_runs(atomics_family, tmp_path,
                                                                               monkeypatch):
    """Identity is unique by construction: a family whose plan makes two cases its axes cannot
    tell apart (here: the same point twice) is a one-line error naming them."""
    atomics = families.registry()["atomics"]
    twice = lambda suite, runner: families.PlanPart(atomics.plan(suite, runner).cases * 2)  # noqa: E731
    monkeypatch.setitem(families.registry(), "atomics", dataclasses.replace(atomics, plan=twice))
    suite_file = tmp_path / "atomics.toml"
    suite_file.write_text("[atomics]\n")
    with pytest.raises(SmbenchError, match=r"atomics: 2 cases measure the same thing \(none block and none block\)"):
        run.execute(suites.load(str(suite_file)), run.CpuRunner(), {"atomics"}, tmp_path / "out")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.json"))


def _peak_record(seconds: list[float]) -> dict:
    return {"family": "peak", "benchmark": "f16_f32acc", "format": "f16_f32acc", "kernel": "mma_f16_f32acc", "status": "ok",
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
    monkeypatch.setattr(rerun, "rerun", lambda path, out, *_, **__: outcome)
    # The CLI reads the file itself first (one line when its run did not finish).
    (tmp_path / "a.json").write_bytes((Path(__file__).parent.parent / "results" /
                                       "cpu-reference-quick-x86_64-2cpu.json").read_bytes())
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


def test_every_shipped_result_file_reruns_with_unique_keys():
    """Each measured file in results/ names one record per identity, and its recorded suite
    (written by an earlier smbench included) is still a valid suite to run again."""
    from pathlib import Path

    from smbench import rerun, results

    shipped = [p for p in sorted((Path(__file__).resolve().parent.parent / "results").glob("*.json"))
               if not p.name.startswith("compat-")]
    measured = [path for path in shipped if results.load(path)["kind"] == "measured"]
    assert measured
    for path in measured:
        document = results.load(path)
        keyed = rerun._keyed(document, path)
        assert len(keyed) == sum(r["status"] == "ok" for r in document["records"])
        rerun.suite_of(document, path)


def test_two_records_of_one_identity_are_refused_by_rerun(tmp_path):
    from smbench import rerun

    record = _peak_record([1.0, 1.1, 0.9])
    document = {"kind": "measured", "records": [record, dict(record)]}
    with pytest.raises(SmbenchError, match=r"a\.json: two records measure the same thing \(peak format=f16_f32acc\)"):
        rerun.compare_runs(document, document, tmp_path / "a.json", tmp_path / "b.json")
