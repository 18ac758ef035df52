import json
from pathlib import Path

import pytest

from smbench import compile as nvrtc_compile
from smbench import toolchain
from smbench.cache import Cache
from smbench.errors import SmbenchError

from conftest import KERNELS

SIMPLE = 'extern "C" __global__ void add_one(float *x) { x[threadIdx.x] += 1.0f; }\n'


def fresh_cache(tmp_path) -> Cache:
    return Cache(tmp_path / "cache")


def test_cubin_and_ptx_for_a_real_target(tmp_path):
    result = nvrtc_compile.compile_source(SIMPLE, "sm_121a", cache=fresh_cache(tmp_path))
    assert result.ok and result.stage == "ok"
    assert result.cubin and result.cubin[:4] == b"\x7fELF"
    assert ".target sm_121a" in result.ptx and ".entry add_one" in result.ptx
    assert result.nvrtc_version == toolchain.nvrtc_version()
    assert "-arch=sm_121a" in result.options and result.wall_s > 0


def test_ptx_only_for_a_virtual_target(tmp_path):
    result = nvrtc_compile.compile_source(SIMPLE, "compute_80", cache=fresh_cache(tmp_path))
    assert result.ok and result.cubin is None
    assert ".target sm_80" in result.ptx
    assert result.arch == "compute_80"


def test_frontend_error_is_a_result_not_an_exception(tmp_path):
    result = nvrtc_compile.compile_source('extern "C" __global__ void k() { undefined_thing(); }',
                                          "sm_80", source_name="bad.cu", cache=fresh_cache(tmp_path))
    assert not result.ok and result.stage == "frontend"
    assert "undefined_thing" in result.first_error and "bad.cu" in result.first_error
    assert result.cubin is None


def test_ptxas_error_keeps_the_ptx(tmp_path):
    source = ('extern "C" __global__ void k(float *o, unsigned a, unsigned b) { float d0=0,d1=0,d2=0,d3=0;\n'
              'asm volatile("mma.sync.aligned.m16n8k32.row.col.kind::f8f6f4.f32.e4m3.e4m3.f32 '
              '{%0,%1,%2,%3}, {%4,%4,%4,%4}, {%5,%5}, {%0,%1,%2,%3};" : "+f"(d0),"+f"(d1),"+f"(d2),"+f"(d3)'
              ' : "r"(a), "r"(b)); o[0]=d0+d1+d2+d3; }\n')
    result = nvrtc_compile.compile_source(source, "sm_121", cache=fresh_cache(tmp_path))
    assert not result.ok and result.stage == "ptxas"
    assert "kind::f8f6f4" in result.first_error and "sm_121" in result.first_error
    assert ".entry k" in result.ptx
    assert nvrtc_compile.compile_source(source, "sm_121a", cache=fresh_cache(tmp_path)).ok


def test_bad_option_is_reported_as_such(tmp_path):
    result = nvrtc_compile.compile_source(SIMPLE, "sm_80", options=["--no-such-option"],
                                          cache=fresh_cache(tmp_path))
    assert not result.ok and result.stage == "options"


def test_unknown_target_raises(tmp_path):
    with pytest.raises(SmbenchError, match="unknown target"):
        nvrtc_compile.compile_source(SIMPLE, "sm_61", cache=fresh_cache(tmp_path))


def test_nvrtc_too_old_for_the_target_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(toolchain, "nvrtc_supported_archs", lambda: (75, 80, 86, 89, 90))
    with pytest.raises(SmbenchError, match=r"cannot compile for sm_121 \(needs NVRTC >= 12.9\)"):
        nvrtc_compile.compile_source(SIMPLE, "sm_121", cache=fresh_cache(tmp_path))


def test_second_compile_comes_from_the_cache(tmp_path):
    cache = fresh_cache(tmp_path)
    first = nvrtc_compile.compile_source(SIMPLE, "sm_90", cache=cache)
    second = nvrtc_compile.compile_source(SIMPLE, "sm_90", cache=cache)
    assert not first.cached and second.cached
    assert first.cubin == second.cubin and first.ptx == second.ptx
    other_target = nvrtc_compile.compile_source(SIMPLE, "sm_89", cache=cache)
    other_options = nvrtc_compile.compile_source(SIMPLE, "sm_90", options=["-DX=1"], cache=cache)
    assert not other_target.cached and not other_options.cached


def test_cache_key_covers_included_headers(tmp_path):
    cache = fresh_cache(tmp_path)
    header = tmp_path / "value.cuh"
    source = tmp_path / "k.cu"
    source.write_text('#include "value.cuh"\nextern "C" __global__ void k(int *o) { *o = VALUE; }\n')
    header.write_text("#define VALUE 1\n")
    first = nvrtc_compile.compile_file(source, "sm_80", cache=cache)
    header.write_text("#define VALUE 2\n")
    second = nvrtc_compile.compile_file(source, "sm_80", cache=cache)
    assert first.ok and second.ok and not second.cached
    assert first.ptx != second.ptx


def test_corrupted_cache_entry_is_rebuilt(tmp_path):
    cache = fresh_cache(tmp_path)
    good = nvrtc_compile.compile_source(SIMPLE, "sm_80", cache=cache)
    entries = list((tmp_path / "cache").rglob("*.json"))
    assert len(entries) == 1
    entries[0].write_text(entries[0].read_text()[:100])  # a torn write
    again = nvrtc_compile.compile_source(SIMPLE, "sm_80", cache=cache)
    assert not again.cached and again.cubin == good.cubin and cache.corrupt == 1
    # a well-formed file whose payload was altered fails its checksum
    document = json.loads(entries[0].read_text())
    document["payload"]["log"] = "tampered"
    entries[0].write_text(json.dumps(document))
    third = nvrtc_compile.compile_source(SIMPLE, "sm_80", cache=cache)
    assert not third.cached and third.log != "tampered"


def test_name_expressions_give_lowered_names(tmp_path):
    source = "template <int N> __global__ void scale(float *x) { x[threadIdx.x] *= N; }\n"
    result = nvrtc_compile.compile_source(source, "sm_80", name_expressions=["scale<3>"],
                                          cache=fresh_cache(tmp_path))
    assert result.ok
    lowered = result.lowered_names["scale<3>"]
    assert lowered.startswith("_Z") and lowered in result.ptx


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(SmbenchError, match="no such file"):
        nvrtc_compile.compile_file(tmp_path / "absent.cu", "sm_80")


def test_builtin_kernels_include_their_header_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = nvrtc_compile.compile_file(KERNELS / "mma.cu", "sm_121a", cache=fresh_cache(tmp_path))
    assert result.ok, result.log


def test_local_headers_are_found_transitively(tmp_path):
    (tmp_path / "a.cuh").write_text('#include "b.cuh"\n')
    (tmp_path / "b.cuh").write_text("#define B 1\n")
    found = nvrtc_compile.local_headers('#include "a.cuh"\n#include <cuda_fp16.h>\n', [tmp_path])
    assert {Path(p).name for p in found} == {"a.cuh", "b.cuh"}


def test_cuda_include_folders_only_for_sources_that_include_cuda_headers(tmp_path):
    from smbench.paths import kernels_dir

    own = nvrtc_compile.compile_file(KERNELS / "mma.cu", "sm_90", cache=fresh_cache(tmp_path))
    assert own.ok and {o for o in own.options if o.startswith("-I")} <= {f"-I{KERNELS.resolve()}", f"-I{kernels_dir()}"}
    assert not any(f"-I{d}" in own.options for d in toolchain.cuda_headers().paths)
    fma = nvrtc_compile.compile_file(KERNELS / "fma.cu", "sm_90", cache=fresh_cache(tmp_path))
    assert fma.ok and all(f"-I{d}" in fma.options for d in toolchain.cuda_headers().paths)
    assert nvrtc_compile.cuda_headers_needed((KERNELS / "fma.cu").read_text()) == ["cuda_bf16.h", "cuda_fp16.h"]
    local, external = nvrtc_compile.scan_includes('#include "mma_ops.cuh"\n#include <cuda/std/cstdint>\n',
                                                  [KERNELS])
    assert {Path(p).name for p in local} == {"mma_ops.cuh", "smbench_arch.cuh"} and external == ["cuda/std/cstdint"]
