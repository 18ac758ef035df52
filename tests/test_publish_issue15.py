"""Issue 15, report and plots: each defect's test (they failed before the fix)."""

import json

import pytest

from smbench import reference, results
from smbench.errors import SmbenchError

from conftest import ROOT, run_cli

RESULTS = ROOT / "results"
CPU_RUN = RESULTS / "cpu-reference-quick-x86_64-2cpu.json"


def published(key):
    return results.load(RESULTS / reference.file_name(key))


def _cpu_run():
    return json.loads(CPU_RUN.read_text())


# ---------------------------------------------------------------- a record without its figure

@pytest.mark.parametrize("family, field", [("stream", "gbps"), ("peak", "tflops"), ("gemm", "tflops")])
def test_a_record_without_its_figure_is_a_one_line_error_everywhere(tmp_path, family, field):
    document = _cpu_run()
    record = next(r for r in document["records"] if r["family"] == family and r["status"] == "ok")
    del record[field]
    path = tmp_path / "missing.json"
    path.write_text(json.dumps(document))
    with pytest.raises(SmbenchError, match=f"lacks '{field}'|{field} should be"):
        results.load(path)
    for command, extra in (("compare", ()), ("export", ()), ("report", ("--out", str(tmp_path / "r"))),
                           ("plot", ("--out", str(tmp_path / "p")))):
        code, out, err = run_cli(command, str(path), *extra)
        assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, (command, err)
        assert field in err and "malformed" in err or "should be" in err, err


def test_a_published_record_without_its_figure_is_refused(tmp_path):
    document = published("rtx5090")
    del next(r for r in document["records"] if r["family"] == "stream")["gbps"]
    path = tmp_path / "p.json"
    path.write_text(json.dumps(document))
    code, _, err = run_cli("compare", str(path), str(RESULTS / reference.file_name("gb10")))
    assert code == 2 and "lacks 'gbps'" in err and "Traceback" not in err


# ---------------------------------------------------------------- an unwritable --out

@pytest.mark.parametrize("command", ["plot", "report"])
@pytest.mark.parametrize("where", ["a file", "/proc/x"])
def test_an_unwritable_out_is_one_line_and_a_failure(tmp_path, command, where):
    if where == "a file":
        out = tmp_path / "taken"
        out.write_text("a file, not a directory")
    else:
        out = "/proc/x"
    code, out_text, err = run_cli(command, str(RESULTS / reference.file_name("gb10")), "--out", str(out))
    assert code != 0 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"smbench {command}: error: cannot write to {out}")
