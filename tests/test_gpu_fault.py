"""On a GPU: a kernel that faults on purpose (an illegal address) loses its process's CUDA
context; the run keeps that case as a failed row and runs the rest in fresh processes.

The run happens in a child process, so that the lost context is not this test session's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT

pytestmark = pytest.mark.gpu

SCRIPT = r'''
import sys
from pathlib import Path

from smbench import run, suites
from smbench.results import ResultWriter

FAULT = r"""extern "C" __global__ void smbench_fault(float *p) { p[threadIdx.x] = 1.0f; }"""


def fault(case, runner, policy):
    import cupy

    kernel = cupy.RawKernel(FAULT, "smbench_fault")
    kernel((1,), (32,), (cupy.uint64(0xdead0000),))  # no memory there: an illegal address
    cupy.cuda.runtime.deviceSynchronize()
    raise AssertionError("the faulting kernel did not fault")


run.RUNNERS["fault"] = fault
suite = suites.load(sys.argv[1])
runner = run.resolve_backend("cuda", suite)
run.prepare_runner(runner, suite)
cases, _ = run.plan(suite, runner, {"stream"})
device = [c for c in cases if c.params["memory"] == "device"][:3]
cases = device[:1] + [run.Case("fault", "fault", "a kernel that faults on purpose", {})] + device[1:]
writer = ResultWriter(Path(sys.argv[2]), run.header(suite, runner, {}))
run.run_cases(suite, runner, cases, suite.timing("cuda"), writer)
writer.finish("complete")
'''

SUITE = """
[stream]
operations = ["copy", "triad", "dot"]
dtypes = ["f32"]
widths = [16]
size_step = 64
[timing]
warmup = 1
min_samples = 3
max_samples = 10
budget_s = 0.05
"""


def test_a_faulting_kernel_is_one_failed_row_and_the_run_goes_on(tmp_path):
    suite = tmp_path / "faults.toml"
    suite.write_text(SUITE)
    out = tmp_path / "run.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(suite), str(out)], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    records = json.loads(out.read_text())["records"]
    assert [r["status"] for r in records] == ["ok", "failed", "ok", "ok"], [r.get("reason") for r in records]
    assert "context was lost" in records[1]["reason"]
    assert "illegal" in records[1]["reason"].lower() or "cudaError" in records[1]["reason"]
    assert all(r["validation"]["ok"] and r["gbps"]["median"] > 0 for r in records[2:])
