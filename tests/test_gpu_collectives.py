"""GPU tests of the collectives family at world size 1 (NCCL will not put two ranks on one
GPU): every collective, type and placement through NCCL checked element by element, every
reduction op, a corrupted element caught on the GPU, figures at a large size, and a call past
its timeout aborting the communicator instead of hanging. No launcher and no MPI are needed.

Run with `make test-gpu` on a machine with a GPU; they skip, with the reason, elsewhere.
"""

from __future__ import annotations

import json

import pytest

from conftest import run_cli_here
from smbench import ranks, suites
from smbench.families import collectives as co
from smbench.timing import TimingPolicy

pytestmark = pytest.mark.gpu

QUICK = TimingPolicy(warmup=1, min_samples=3, max_samples=10, budget_s=0.05)


@pytest.fixture(scope="module")
def runner():
    from smbench import run

    ranks.reset()
    return run.CudaRunner(suites.load("selftest"))


@pytest.fixture()
def engine(runner):
    from smbench.families.collectives import cuda

    cuda._ENGINE = None
    ranks.reset()
    yield cuda.engine(ranks.world(), runner)
    cuda._ENGINE = None
    ranks.reset()


def test_every_collective_type_and_placement_through_nccl(tmp_path):
    ranks.reset()
    code, out, err = run_cli_here("run", "--backend", "cuda", "--suite", "selftest", "--only", "collectives",
                                  "--out", str(tmp_path))
    assert code == 0, err
    (path,) = tmp_path.glob("*.json")
    document = json.loads(path.read_text())
    records = document["records"]
    left_out = document["notes"].get("collectives_left_out", "")
    # 9 collectives' 16 placements x 10 types; fp8 reductions only on sm_90 and later, NCCL 2.24 and later.
    assert len(records) == 16 * 10 or ("e4m3" in left_out and "e5m2" in left_out), left_out
    assert {r["status"] for r in records} == {"ok"}, [r.get("reason") for r in records if r["status"] != "ok"]
    for r in records:
        assert r["engine"] == "NCCL" and r["library"].startswith("NCCL 2.") and r["ranks"] == 1
        assert r["validation"]["ok"] and r["validation"]["after_timing"]["ok"] and r["wrong"] == 0
        assert r["validation"]["checked"] == r["count"] or r["benchmark"] in ("reduce_scatter", "scatter")
    assert document["world"]["ranks"][0]["pci_bus_id"]
    assert "collectives (NCCL, 1 rank)" in out and "nccl-tests' table" in out


def test_every_reduction_op_through_nccl(tmp_path):
    """sum, prod, min, max and avg (ncclAvg: each input times the type's 1/n, here 1) in f32, bf16,
    int32 and e4m3, each checked element by element before and after the timing."""
    ranks.reset()
    code, out, err = run_cli_here("run", "--backend", "cuda", "--suite", "selftest", "--only", "collectives",
                                  "--set", "collectives.collectives=[\"all_reduce\",\"reduce_scatter\",\"reduce\"]",
                                  "--set", "collectives.ops=\"all\"", "--set",
                                  "collectives.dtypes=[\"f32\",\"bf16\",\"int32\",\"e4m3\"]", "--out", str(tmp_path))
    assert code == 0, err
    (path,) = tmp_path.glob("*.json")
    records = json.loads(path.read_text())["records"]
    assert {r["status"] for r in records} == {"ok"}, [r.get("reason") for r in records if r["status"] != "ok"]
    assert {r["op"] for r in records} == set(co.OPS)


def _call(engine, collective, dtype, placement, count, op="sum"):
    from smbench.families.collectives import measure

    layout = measure.Layout({"collective": collective, "dtype": dtype, "placement": placement, "count": count,
                             "op": op, "root": 0}, 0, 1)
    send, receive = layout.make(engine.xp, measure.SEED_BEFORE)
    return layout, engine.prepare(collective, dtype, placement, send, receive, count, op, 0)


def test_a_corrupted_element_on_the_gpu_is_caught(engine):
    cupy = engine.xp
    layout, call = _call(engine, "all_reduce", "bf16", "out_of_place", 1 << 16)
    call.run(1)
    assert layout.check(cupy, call, 1)["ok"]
    call.result()[12345] = co.fill(cupy, layout.pattern, [("sentinel", 1)], 1)[0]
    check = layout.check(cupy, call, 1)
    assert not check["ok"] and check["first"] == 12345 and check["got"] != check["got"] and check["wrong"] == 1


def test_a_large_broadcast_is_timed_and_figured(engine):
    from smbench.cases import Case
    from smbench.families.collectives import measure

    count = (256 << 20) // 4
    case = Case("collectives", "broadcast", "broadcast f32 in place 256 MiB",
                {"collective": "broadcast", "dtype": "f32", "placement": "in_place", "bytes": count * 4, "count": count,
                 "param_count": count, "size_requested": count * 4, "op": None, "root": 0, "ranks": 1,
                 "bus_factor": 1.0, "bus_bytes": count * 4, "figure_bytes": count * 4, "link": {"key": None},
                 "sample_ms": 2.0, "max_reps": 100, "time_aggregate": "avg", "verdict_min_bytes": 1 << 26})
    record = measure.run_case(case, ranks.world(), engine, QUICK)
    assert record["status"] == "ok", record.get("reason")
    # One rank's in-place broadcast moves nothing across a link; its time is still an NCCL call's.
    assert record["time_s"]["median"] > 0 and record["algbw_gbps"]["median"] > 0
    assert record["timing"].startswith("CUDA events") and record["validation"]["after_timing"]["ok"]


def test_a_call_past_its_timeout_aborts_the_communicator(engine):
    _, call = _call(engine, "all_reduce", "f32", "out_of_place", (512 << 20) // 4)
    engine.world.timeout_s = 1e-6  # no GPU finishes 512 MiB in a microsecond
    with pytest.raises(ranks.RankLost, match="NCCL communicator was aborted"):
        call.run(20)
    engine.cupy.cuda.Device().synchronize()  # the GPU is still usable after the abort
