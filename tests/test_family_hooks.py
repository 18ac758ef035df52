"""What the harness asks a family instead of knowing it: the fields it adds to a result file's
header and their check on load, its clause of the summary's title, its published figures in
reference files, its verdict words' colours, and the figure its records are judged by."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

import smbench.families
from smbench import devices, frames, reference, results, run, run_view
from smbench.axes import Axes
from smbench.errors import SmbenchError
from smbench.families import Family, Figure, registry


def _check_tide(document, origin):
    if not isinstance(document.get("tide_m"), (int, float)):
        raise SmbenchError(f"{origin}: field 'tide_m' should be a number")


TIDE = Family("tide", rank=99, summary="a family the harness has never seen", axes=Axes(), plan=None, run=None,
              header=lambda runner: {"tide_m": 1.5}, check_header=_check_tide,
              title=lambda document: f"tide {document['tide_m']:g} m",
              published=lambda spec: ([reference.published_record("tide", "spec", "tide (spec)", spec.memory_bandwidth,
                                                                   "metres")], {"tide_m": 2.0}),
              verdict_styles={"high water": "blue"}, figure=Figure("metres", "m", best="min"))


@pytest.fixture
def with_tide(monkeypatch):
    families = {**registry(), "tide": TIDE}
    monkeypatch.setattr(smbench.families, "registry", lambda: families)
    monkeypatch.setattr(run, "registry", lambda: families)
    return families


def _document(**header):
    return {"schema": results.SCHEMA, "kind": "measured", "suite": "s", "backend": "cpu", "status": "complete",
            "provenance": {}, "device": {"name": "a host"}, "records": [], **header}


def test_a_new_family_adds_to_the_header_its_check_and_the_title(with_tide):
    class Suite:
        name, description, data = "s", "", {}

        def timing(self, backend):
            return type("Policy", (), {})()

    header = run.header(Suite(), run.CpuRunner(), {})
    assert header["tide_m"] == 1.5 and "expected_bandwidth" in header  # every family's, run or not
    results.validate_document(_document(**header))
    with pytest.raises(SmbenchError, match="'tide_m' should be a number"):
        results.validate_document(_document(**{**header, "tide_m": "low"}))
    console = Console(file=io.StringIO(), width=300)
    run_view.render(_document(**header), console)
    assert "tide 1.5 m" in console.file.getvalue()


def test_reference_files_come_from_the_families_published_figures(with_tide):
    document = reference.document(devices.by_key("h200"))
    tide = [r for r in document["records"] if r["family"] == "tide"]
    assert len(tide) == 1 and tide[0]["metres"] == {"median": 4800} and tide[0]["published"]
    assert document["tide_m"] == 2.0 and document["expected_bandwidth"]["gbps"] == 4800
    assert {r["family"] for r in document["records"]} == {"stream", "peak", "tide"}


def test_verdict_colours_are_the_shared_words_then_each_familys(with_tide):
    assert run_view.verdict_style("normal") == "green"
    assert run_view.verdict_style("high water") == "blue"
    assert run_view.verdict_style("half rate") == "yellow"  # peak's
    assert run_view.verdict_style("below the wgmma rate") == "yellow"  # peak's, from the rate table's paths
    assert run_view.verdict_style("cache") == "dim"  # stream's
    assert run_view.verdict_style("no such word") == ""


def test_the_declared_figure_is_what_export_reads_and_the_loader_checks(with_tide):
    launch = {"family": "launch", "benchmark": "launch", "status": "ok", "validation": {"ok": True},
              "queued_us": {"median": 2.0, "min": 1.5}, "launch_sync_us": {"median": 9.0, "min": 8.0}}
    row = frames.rows({**_document(), "records": [launch]})[0]
    assert (row["metric"], row["value"], row["best"]) == ("us", 2.0, 1.5)  # a time's best is its least
    tide = {"family": "tide", "benchmark": "spec", "status": "ok", "validation": {"ok": True}, "metres": 3}
    with pytest.raises(SmbenchError, match=r"metres should be an object with a numeric 'median'"):
        results.validate_document({**_document(tide_m=1), "records": [tide]})
    results.validate_document({**_document(tide_m=1), "records": [{**tide, "metres": {"median": 3, "min": 1}}]})



def test_keys_an_earlier_smbench_recorded_move_where_their_family_says(with_tide):
    from smbench import suites

    old = {"launch": {"enabled": True}, "cpu": {"gemm_max_gflop": 2.0, "largest_mib": 4}, "gemm": {}}
    new = suites.migrate(old)
    assert new == {"launch": {}, "cpu": {"largest_mib": 4}, "gemm": {"cpu_max_gflop": 2.0}}
    assert old["launch"] == {"enabled": True}  # the recorded suite itself is left as it was
    suites.check(new, "recorded")
    with pytest.raises(SmbenchError, match="enabled"):
        suites.check(old, "recorded")
