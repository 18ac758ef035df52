"""GPU tests: the built-in kernels launched on the real device and checked exactly.

They run with `make test-gpu` (the GPU machine's own python3, PYTHONPATH=src) and
skip, with the reason, where there is no GPU.
"""

import numpy as np
import pytest

from smbench import targets as target_table
from smbench.compile import compile_file

from conftest import KERNELS

pytestmark = pytest.mark.gpu


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


def test_doctor_sees_the_gpu():
    from smbench.doctor import check_gpus

    lines = check_gpus()
    assert lines[0].status == "ok"
    assert any(line.name.startswith("gpu 0") and "compute capability" in line.detail for line in lines)
