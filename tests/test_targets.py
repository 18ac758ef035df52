import json

import pytest

from smbench import targets as t
from smbench.errors import SmbenchError

from conftest import run_cli


def test_table_has_the_required_targets():
    names = {target.name for target in t.all_targets()}
    for required in ("sm_80", "sm_86", "sm_89", "sm_90", "sm_90a", "sm_100", "sm_100a", "sm_120", "sm_120a",
                     "sm_121", "sm_121a", "sm_120f", "sm_121f"):
        assert required in names


def test_every_feature_key_is_described():
    for target in t.all_targets():
        assert set(target.features) <= set(t.FEATURES), target.name


def test_facts_about_the_spark_target():
    plain, specific, family = t.get("sm_121"), t.get("sm_121a"), t.get("sm_121f")
    assert plain.compute_capability == "12.1" and plain.number == 121
    assert plain.has("mma.fp8") and not plain.has("mma.f8f6f4.fp8") and not plain.has("mma.block_scale")
    for target in (specific, family):
        assert target.has("mma.f8f6f4.fp6fp4") and target.has("mma.block_scale")
    for target in (plain, specific, family):
        assert not target.has("wgmma") and not target.has("tcgen05")
    assert specific.virtual == "compute_121a" and specific.portable_real == "sm_121"


def test_fp8_is_emulated_on_hopper_and_datacentre_blackwell():
    assert t.get("sm_90").support("mma.fp8") == t.EMULATED
    assert t.get("sm_100a").support("mma.fp8") == t.EMULATED
    assert t.get("sm_89").support("mma.fp8") == t.NATIVE
    assert t.get("sm_120").support("mma.fp8") == t.NATIVE
    assert t.get("sm_90a").has("wgmma") and not t.get("sm_90").has("wgmma")
    assert t.get("sm_100a").has("tcgen05") and not t.get("sm_100").has("tcgen05")


def test_unknown_feature_is_a_key_error():
    with pytest.raises(KeyError):
        t.get("sm_80").support("mma.nonsense")


@pytest.mark.parametrize("name", ["sm_999", "sm_75", "compute_13", "", "sm_121b"])
def test_unknown_target_is_a_clear_error(name):
    with pytest.raises(SmbenchError, match="unknown target"):
        t.get(name)


def test_parse_arch_and_lists():
    target, ptx_only = t.parse_arch("compute_121a")
    assert target.name == "sm_121a" and ptx_only
    assert [x.name for x in t.parse_list("sm_80, SM_121a,sm_80")] == ["sm_80", "sm_121a"]
    assert len(t.parse_list("all")) == len(t.all_targets())
    with pytest.raises(SmbenchError):
        t.parse_list(" , ")


def test_targets_command_prints_every_target():
    code, out, err = run_cli("targets")
    assert code == 0, err
    for target in t.all_targets():
        assert target.name in out
    assert "emulated" in out


def test_targets_json_matches_the_table():
    code, out, _ = run_cli("targets", "--format", "json")
    assert code == 0
    rows = {row["target"]: row for row in json.loads(out)["targets"]}
    assert rows["sm_121"]["mma.f8f6f4.fp8"] == "-"
    assert rows["sm_121a"]["mma.block_scale"] == "yes"
    assert rows["sm_90"]["mma.fp8"] == "emulated"
    assert rows["sm_121"]["this_nvrtc"] == "yes"


def test_native_target_for_a_live_gpu():
    assert t.best_native(12, 1).name == "sm_121a"
    assert t.best_native(9, 0).name == "sm_90a"
    assert t.best_native(8, 6).name == "sm_86"
    assert [x.name for x in t.native_targets(12, 1)] == ["sm_121", "sm_121a", "sm_121f"]
    with pytest.raises(SmbenchError, match="compute capability 7.5"):
        t.best_native(7, 5)


def test_which_gpus_run_each_targets_cubin():
    assert t.get("sm_80").runs_on == ["8.0", "8.6", "8.7", "8.9"]
    assert t.get("sm_120").runs_on == ["12.0", "12.1"]  # an RTX 5090 build runs on the Spark
    assert t.get("sm_120a").runs_on == ["12.0"]  # ... but not its arch-specific one
    assert t.get("sm_120f").runs_on == ["12.0", "12.1"] and t.get("sm_120f").family == "sm_12x"
    assert t.get("sm_121a").runs_on == ["12.1"] and t.get("sm_100f").runs_on == ["10.0", "10.3"]
    assert "12.1" not in t.get("sm_100").runs_on
