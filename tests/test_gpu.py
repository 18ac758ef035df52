"""GPU tests: the built-in kernels launched on the real device and checked exactly.

They run with `make test-gpu` (the GPU machine's own python3, PYTHONPATH=src) and
skip, with the reason, where there is no GPU.
"""

import numpy as np
import pytest

from smbench import sass
from smbench import targets as target_table
from smbench.compile import compile_file

from conftest import KERNELS

pytestmark = pytest.mark.gpu

UNSUPPORTED = 0x0BADF00D
ITERS = 8  # a multiple of SMBENCH_UNROLL
CHAINS = 4  # SMBENCH_CHAINS in mma.cu

# kernel -> (A word, B word, accumulator dtype, values per chain, K of the shape, product of one
# A and one B element, scale word). Every input element is the same, so every accumulator must
# read K x product x ITERS exactly, whatever the fragment layout. 0x55 bytes hold 3.0 in e2m1
# however the 4-bit value sits in its byte (bits 0-3, 2-5 or 4-7 all read 0101): the test needs
# no assumption about the kind::f8f6f4 container. 0x38 is 1.0 in e4m3 and in ue4m3 (scales).
ONES = {
    "mma_f16_f16acc": (0x3C003C00, 0x3C003C00, np.float16, 4, 16, 1, 0),  # two f16x2 registers = 4 halves
    "mma_f16_f32acc": (0x3C003C00, 0x3C003C00, np.float32, 4, 16, 1, 0),
    "mma_bf16_f32acc": (0x3F803F80, 0x3F803F80, np.float32, 4, 16, 1, 0),
    "mma_tf32_f32acc": (0x3F800000, 0x3F800000, np.float32, 4, 8, 1, 0),
    "mma_s8_s32acc": (0x01010101, 0x01010101, np.int32, 4, 32, 1, 0),
    "mma_e4m3_f32acc_sm89": (0x38383838, 0x38383838, np.float32, 4, 32, 1, 0),
    "mma_e4m3_f32acc_f8f6f4": (0x38383838, 0x38383838, np.float32, 4, 32, 1, 0),
    "mma_e2m1_f32acc_f8f6f4": (0x55555555, 0x55555555, np.float32, 4, 32, 9, 0),
    "mma_nvfp4_f32acc": (0x55555555, 0x55555555, np.float32, 4, 64, 9, 0x38383838),
}


@pytest.fixture(scope="module")
def device():
    import cupy

    props = cupy.cuda.runtime.getDeviceProperties(0)
    return cupy, target_table.best_native(props["major"], props["minor"])


def load(cupy, path, target, tmp_path, options=()):
    result = compile_file(path, target.name, options=options)
    assert result.ok, result.log
    cubin = tmp_path / f"{path.stem}-{target.name}.cubin"
    cubin.write_bytes(result.cubin)
    return cupy.RawModule(path=str(cubin)), result


def test_stream_copy_is_exact(device, tmp_path):
    cupy, target = device
    module, _ = load(cupy, KERNELS / "stream.cu", target, tmp_path)
    n = (1 << 22) + 4  # not a multiple of the grid: the grid-stride loop must cover it
    source = cupy.random.standard_normal(n, dtype=cupy.float32)
    destination = cupy.zeros_like(source)
    module.get_function("stream_copy_f32_v16")((120,), (256,), (source, destination, np.uint64(n // 4)))
    cupy.cuda.runtime.deviceSynchronize()
    assert bool((destination == source).all())


@pytest.mark.parametrize("kernel", list(ONES) + ["mma_f64_f64acc"])
def test_mma_loops_are_exact_or_report_unsupported(device, tmp_path, kernel):
    cupy, target = device
    module, result = load(cupy, KERNELS / "mma.cu", target, tmp_path)
    words = np.zeros((32, 8), dtype=np.uint32)
    if kernel == "mma_f64_f64acc":
        words[:, 1] = words[:, 5] = 0x3FF00000  # 1.0 as (lo, hi) words
        dtype, regs, k, product = np.float64, 2, 4, 1
    else:
        a, b, dtype, regs, k, product, scale = ONES[kernel]
        words[:, 0:4], words[:, 4:6], words[:, 6:8] = a, b, scale
    inputs = cupy.asarray(words.reshape(-1))
    output = cupy.zeros(32 * CHAINS * regs, dtype=dtype)
    status = cupy.zeros(1, dtype=cupy.uint32)
    module.get_function(kernel)((1,), (32,), (inputs, output, np.int32(ITERS), status))
    cupy.cuda.runtime.deviceSynchronize()
    has_code = bool(sass.summarize(result.cubin)[kernel].tensor_instructions)
    if not has_code:
        assert int(status[0]) == UNSUPPORTED
        pytest.skip(f"{kernel}: not supported on {target.name} (the stub said so)")
    assert int(status[0]) == 0
    np.testing.assert_array_equal(cupy.asnumpy(output), np.full(output.size, k * product * ITERS, dtype=dtype))


def test_doctor_sees_the_gpu():
    from smbench.doctor import check_gpus

    lines = check_gpus()
    assert lines[0].status == "ok"
    assert any(line.name.startswith("gpu 0") and "compute capability" in line.detail for line in lines)
