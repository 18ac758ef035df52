"""The kernels' preprocessor guards agree with the target table, and the loops are real.

A guarded (normal) build must compile on every target, with each kernel's tensor
instruction present exactly where the table says the target has its feature, and a
stub that reports "unsupported" elsewhere.
"""

import re

import pytest

from smbench import sass
from smbench import targets as target_table
from smbench.compile import compile_file

from conftest import KERNELS

MMA = KERNELS / "mma.cu"
_GUARDED_KERNEL = re.compile(r'extern "C" __global__ void (\w+)\([^)]*\)\s*\{\s*#if (\w+)')


def kernel_features() -> dict[str, str]:
    """Kernel name -> the target-table feature its guard stands for, read from mma.cu."""
    found = {name: target_table.GUARD_FEATURES[guard] for name, guard in _GUARDED_KERNEL.findall(MMA.read_text())}
    assert len(found) == 10, found
    return found


def test_every_guard_macro_is_known_to_the_table():
    header = (KERNELS / "smbench_arch.cuh").read_text()
    for guard in set(re.findall(r"#if (SMBENCH_HAS_\w+)", MMA.read_text())):
        assert guard in target_table.GUARD_FEATURES
        assert f"#define {guard} " in header


@pytest.mark.parametrize("target", target_table.all_targets(), ids=lambda t: t.name)
def test_guarded_build_compiles_everywhere_with_the_right_instructions(target):
    result = compile_file(MMA, target.name)
    assert result.ok, result.log
    summaries = sass.summarize(result.cubin)
    for kernel, feature in kernel_features().items():
        summary = summaries[kernel]
        if target.has(feature):
            assert summary.tensor_instructions, (kernel, target.name)
        else:
            assert not summary.tensor_instructions, (kernel, target.name)
            assert summary.count("STG.E") == 1  # the stub's one status store


def test_unsupported_stub_writes_the_status_word():
    result = compile_file(MMA, "sm_80")
    assert "0x0badf00d" in result.ptx.lower() or str(0x0BADF00D) in result.ptx


@pytest.mark.parametrize("target", ["sm_80", "sm_90", "sm_121a"])
@pytest.mark.parametrize("unroll", [2, 8])
def test_loop_body_scales_with_chains_and_unroll(target, unroll):
    """Tensor instructions in the loop = chains x unroll: nothing was optimised away."""
    chains = 4
    result = compile_file(MMA, target, options=[f"-DSMBENCH_UNROLL={unroll}", f"-DSMBENCH_CHAINS={chains}"])
    assert result.ok, result.log
    summaries = sass.summarize(result.cubin)
    for kernel, feature in kernel_features().items():
        support = target_table.get(target).support(feature)
        if support is None:
            continue
        count = sum(n for op, n in summaries[kernel].histogram.items() if sass.is_tensor(op))
        if support == target_table.NATIVE:
            assert count == chains * unroll, (kernel, target, count)
        else:
            # Emulated FP8 (sm_90: F2FP unpack + HMMA with a zero accumulator + FADD) lets
            # ptxas see that every chain multiplies the same A and B, and it keeps one
            # product: such a loop measures FADD, not the tensor pipe. The peak family
            # must vary operands per chain before timing an emulated format.
            assert 0 < count < chains * unroll, (kernel, target, count)
