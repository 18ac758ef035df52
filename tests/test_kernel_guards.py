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
from smbench.families import peak

from conftest import KERNELS

MMA = KERNELS / "mma.cu"
_GUARDED_KERNEL = re.compile(r'extern "C" __global__ void (\w+)\([^)]*\)\s*\{\s*#if (\w+)')


def kernel_features() -> dict[str, str]:
    """Kernel name -> the target-table feature its guard stands for, read from mma.cu."""
    found = {name: target_table.GUARD_FEATURES[guard] for name, guard in _GUARDED_KERNEL.findall(MMA.read_text())}
    assert set(found) == {f.kernel for f in peak.FORMATS if f.unit == "tensor"}, found
    return found


def test_every_guard_macro_is_known_to_the_table():
    header = (KERNELS / "smbench_arch.cuh").read_text()
    for guard in set(re.findall(r"#if (SMBENCH_HAS_\w+)", MMA.read_text())):
        assert guard in target_table.GUARD_FEATURES
        assert f"#define {guard} " in header


@pytest.mark.parametrize("target", target_table.all_targets(), ids=lambda t: t.name)
@pytest.mark.needs_sass
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


# Emulated FP8 m16n8k32 becomes two FP16 HMMA.16816 (after an F2FP unpack); s4 m16n8k64
# becomes a call of a routine holding two s8 IMMA.16832 (counted once, not per call).


@pytest.mark.parametrize("target", ["sm_80", "sm_90", "sm_100a", "sm_121a"])
@pytest.mark.parametrize("unroll", [2, 8])
@pytest.mark.needs_sass
def test_loop_body_scales_with_chains_and_unroll(target, unroll):
    """Tensor instructions in the loop = chains x unroll (x 2 for emulated FP8): nothing
    was optimised away, because the operands move (see kernels/mma.cu)."""
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
        elif feature == "mma.s4":
            assert count == 2 and summaries[kernel].count("CALL") == chains * unroll, (kernel, target, count)
        else:
            assert count == peak.EMULATION_FACTOR[feature] * chains * unroll, (kernel, target, count)
        fmt = next(f for f in peak.FORMATS if f.kernel == kernel)
        if unroll >= fmt.unroll:  # the family's check assumes the default unroll
            emulated = support == target_table.EMULATED
            assert peak.loop_intact(fmt, summaries[kernel].histogram, emulated)[0], (kernel, target)


FMA = KERNELS / "fma.cu"


@pytest.mark.parametrize("target", ["sm_80", "sm_90", "sm_121a"])
@pytest.mark.parametrize("unroll", [2, 8])
@pytest.mark.needs_sass
def test_cuda_core_loops_scale_with_chains_and_unroll(target, unroll):
    chains = 8
    result = compile_file(FMA, target, options=[f"-DSMBENCH_FMA_UNROLL={unroll}", f"-DSMBENCH_FMA_CHAINS={chains}"])
    assert result.ok, result.log
    summaries = sass.summarize(result.cubin)
    for fmt in (f for f in peak.FORMATS if f.unit == "cuda-core"):
        histogram = summaries[fmt.kernel].histogram
        found = sum(n for op, n in histogram.items() if op.split(".")[0] == fmt.instruction)
        # Outside the loop ptxas also uses IMAD and HFMA2.MMA to move values and compute
        # addresses (the clock reads' too); the loop's own are exactly chains x unroll.
        in_loop = max(sum(n for op, n in loop["histogram"].items() if op.split(".")[0] == fmt.instruction)
                      for loop in summaries[fmt.kernel].loops)
        assert in_loop == chains * unroll <= found, (fmt.kernel, target, histogram)
        if unroll >= fmt.unroll:
            assert peak.loop_intact(fmt, histogram)[0]
