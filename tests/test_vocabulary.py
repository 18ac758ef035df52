"""Issue 27, one vocabulary: every published figure names the measured figure it describes by the
fields of its family's declared axes, so it lands on that figure's row in compare and the report.
A test per reference device: each of its figures meets a measured figure of the kind it names."""

from __future__ import annotations

import pytest

from smbench import compare, devices, reference, results
from smbench.families import identity, registry

from conftest import ROOT

RESULTS = ROOT / "results"
CPU_RUN = RESULTS / "cpu-reference-quick-x86_64-2cpu.json"
LARGE, SMALL = 4096, 512


def _timing(seconds: float) -> dict:
    samples = [seconds * (1 + 0.01 * i) for i in range(8)]
    return {"median": seconds, "samples": samples, "n": len(samples), "converged": True}


def _measured_like(published: dict) -> list[dict]:
    """The measured records a published one describes (a GEMM of unstated shape: a small and the
    largest square, so that it must find the largest)."""
    family = published["family"]
    base = {"family": family, "status": "ok", "validation": {"ok": True}}
    if family == "stream":
        op = published.get("op") or "triad"
        return [{**base, "benchmark": op, "op": op, "dtype": "f32", "width": 16, "memory": "device",
                 "working_set": 1 << 30, "kernel": f"stream_{op}_f32_v16", "working_set_bytes": 1 << 30,
                 "bytes_moved": 1 << 30, "gbps": {"median": 100.0}, "time_s": _timing(0.01)}]
    if family == "peak":
        return [{**base, "benchmark": published["format"], "format": published["format"], "label": published["format"],
                 "ops_unit": "TFLOP/s", "unit": "tensor", "ops": 1e12, "tflops": {"median": 100.0},
                 "time_s": _timing(0.01)}]
    shapes = [(LARGE, LARGE, LARGE)] if published["shape"] == reference.LARGEST else \
        [tuple(int(x) for x in published["shape"].split("x"))]
    shapes.append((SMALL, SMALL, SMALL))
    return [{**base, "benchmark": published["format"], "format": published["format"], "m": m, "n": n, "k": k,
             "shape": f"{m}x{n}x{k}", "shape_kind": "square" if m == n == k else "llm", "label": published["format"],
             "ops_unit": "TFLOP/s", "ops": 2.0 * m * n * k, "tflops": {"median": 100.0}, "gbps": {"median": 1.0},
             "mma_peak": {}, "cublas": {}, "fallback": {}, "time_s": _timing(0.01)} for m, n, k in shapes]


def _document(records: list[dict]) -> dict:
    return {"kind": "measured", "backend": "cuda", "device": {"name": "a GPU"}, "status": "complete",
            "expected_bandwidth": {"gbps": 1000.0, "kind": "V", "source": "datasheet"}, "records": records}


def _row_of(tables, label: str, wanted) -> tuple:
    """(table, row number) of the cell of file `label` holding the published entry `wanted` (a value)."""
    for table in tables:
        if label not in table.labels:
            continue
        at = table.labels.index(label)
        for number, entries in enumerate(table.entries):
            cell = entries[at]
            if cell is not None and any(e.value == wanted["value"] and e.note.endswith(wanted["source"])
                                        for e in (cell, *cell.others)):
                return table, number
    raise AssertionError(f"{label}: {wanted} is on no row")


@pytest.mark.parametrize("key", reference.PUBLISHED)
def test_each_published_figure_lands_on_the_row_of_the_measured_figure_it_describes(key):
    published = results.load(RESULTS / reference.file_name(key))
    for record in published["records"]:
        family = registry()[record["family"]]
        stated = set(record) & set(family.axes.identity_fields)
        assert stated, record  # it names what it describes in its family's own fields
        measured = _measured_like(record)
        tables = compare.build([("run", _document(measured)), (key, published)])
        value = next(v["median"] for f, v in record.items() if f in ("gbps", "tflops"))
        table, number = _row_of(tables, key, {"value": value, "source": record["source"]})
        run_cell = table.entries[number][0]
        if record.get("counterpart"):
            # smbench has no such measurement yet: still one row, the key such a record would have, said so
            assert reference.NO_COUNTERPART in table.rows[number][0]
            assert run_cell is not None  # the stand-in measured record of that identity meets it
            continue
        if record["benchmark"] == "measured":  # 'kernel not stated': its own row, which says so
            assert table.rows[number][0] == "kernel not stated" and run_cell is None
            continue
        assert run_cell is not None, (key, record["benchmark"], table.rows[number][0])
        if record.get("shape") == reference.LARGEST:
            assert table.keys[number][1] == f"{LARGE}x{LARGE}x{LARGE}"  # the largest measured, not the small one


def test_every_figure_of_the_device_table_names_what_it_describes():
    for spec in devices.DEVICES:
        for record in reference.document(spec)["records"]:
            family = registry()[record["family"]]
            for field in set(record) & set(family.axes.identity_fields):
                assert record[field] is not None
            assert identity(record)[0] == record["family"]
    with pytest.raises(ValueError, match="VOCABULARY"):
        reference.describes(devices.Figure(1, "TFLOP/s", "V", "x", "fp3"))


def test_the_nvfp4_gemm_row_is_the_key_an_nvfp4_gemm_record_has():
    """The gemm family has an NVFP4 kernel: the Spark's figure has a measured counterpart (that
    it lands on it: tests/test_gemm_nvfp4.py)."""
    spark = results.load(RESULTS / reference.file_name("gb10"))
    nvfp4 = next(r for r in spark["records"] if r["benchmark"] == "nvfp4_gemm")
    assert (nvfp4["family"], nvfp4["format"], nvfp4["shape"]) == ("gemm", "nvfp4", "4096x14336x4096")
    assert "counterpart" not in nvfp4 and "nvfp4" in registry()["gemm"].axes.by_key["formats"].choices
    # A format the family lacks is still said so.
    assert reference.counterpart(reference.Describes("gemm", {"format": "mxfp4"})).endswith("no mxfp4 kernel yet)")


def test_the_spark_s_figures_meet_a_cpu_quick_run_on_their_rows():
    """Issue 27's 'done when': read, FP4, FP8 GEMM, BF16 and FP32 of the Spark on measured rows."""
    tables = compare.build([("cpu", results.load(CPU_RUN)), ("gb10", results.load(RESULTS / reference.file_name("gb10")))])
    met = {}
    for table in tables:
        if table.labels != ["cpu", "gb10"]:
            continue  # figures only one file has
        for key, (mine, theirs) in zip(table.keys, table.entries):
            if mine is not None and theirs is not None:
                met[(table.title.split(",")[0], key)] = theirs
    wanted = {("Bandwidth at the largest working set (DRAM where the verdict says so; published: their figures)",
               "read"): 232.5,
              ("Throughput per precision", "nvfp4"): 500, ("Throughput per precision", "bf16_f32acc"): 60,
              ("Throughput per precision", "fp32"): 31, ("GEMM", ("e4m3_f32acc", "512x512x512")): 188}
    for where, value in wanted.items():
        assert where in met and met[where].value == value, (where, sorted(met))
    assert met[("Throughput per precision", "bf16_f32acc")].condition == "accumulation not stated"
