"""A machine with a system CUDA and none of the NVIDIA tool wheels (the GPU machine runs
`PYTHONPATH=src python3 -m smbench` with nothing installed): cuobjdump found on PATH or
under $CUDA_HOME when cuda.pathfinder finds none; CUDA headers looked up only for the
kernels that include them; no SASS reader at all is a stated 'unchecked', never an
exception."""

import os
import shutil
import stat
from pathlib import Path

import pytest

import cuda.pathfinder

from smbench import compile as nvrtc_compile
from smbench import doctor, sass, toolchain
from smbench.cache import Cache
from smbench.errors import SmbenchError
from smbench.paths import kernels_dir

from conftest import KERNELS

SIMPLE = 'extern "C" __global__ void add_one(float *x) { x[threadIdx.x] += 1.0f; }\n'
FP16 = ('#include <cuda_fp16.h>\n'
        'extern "C" __global__ void half_one(__half *x) { x[threadIdx.x] = __float2half(1.0f); }\n')

# What a fake cuobjdump prints: one kernel, with its resource usage.
LISTING = """
Resource usage:
 Function kern_a:
  REG:40 STACK:0 SHARED:0 LOCAL:0 CONSTANT[0]:904 TEXTURE:0 SURFACE:0 SAMPLER:0

\t\tFunction : kern_a
        /*0000*/                   HMMA.16816.F32.BF16 R8, R4, R2, R8 ;
        /*0010*/                   EXIT ;
"""
# The fake tools run with PATH pointing elsewhere: they name cat by its full path.
CAT = shutil.which("cat") or "/bin/cat"
# Bytes cuobjdump is handed: only the fake tools read them, and they do not look.
FAKE_CUBIN = b"\x7fELF fake cubin .text.kern_a"


@pytest.fixture(scope="module")
def real_include():
    """A real CUDA include folder (this machine's, found before any test hides them), to stand
    for a toolkit's; the tests that need one skip where there is none."""
    clear_lookups()
    try:
        return toolchain.cuda_include_dirs()[0]
    except SmbenchError as exc:
        pytest.skip(f"no CUDA headers on this machine: {exc}")


def fake_tool(folder: Path, name: str, output: str, record: Path | None = None) -> Path:
    """An executable `name` in folder that prints output (and writes its arguments to record)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.out").write_text(output)
    script = folder / name
    lines = ["#!/bin/sh"]
    if record is not None:
        lines.append(f'echo "$@" > "{record}"')
    lines += ['if [ "$1" = "--version" ]; then echo "Cuda compilation tools, release 13.0, V13.0.88"; exit 0; fi',
              f'{CAT} "{folder / (name + ".out")}"']
    script.write_text("\n".join(lines) + "\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return script


@pytest.fixture
def no_wheels(monkeypatch, tmp_path):
    """cuda.pathfinder finds no tool and no header; no CUDA_HOME, CUDA_PATH, nothing on PATH,
    and no /usr/local/cuda: each test adds back the one place it is about."""
    monkeypatch.setattr(cuda.pathfinder, "find_nvidia_binary_utility", lambda name: None)
    monkeypatch.setattr(cuda.pathfinder, "find_nvidia_header_directory", lambda name: None)
    monkeypatch.setattr(cuda.pathfinder, "locate_nvidia_header_directory", lambda name: None, raising=False)
    for variable in ("CUDA_HOME", "CUDA_PATH", "CONDA_PREFIX"):
        monkeypatch.delenv(variable, raising=False)
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setattr(toolchain, "SYSTEM_CUDA_ROOTS", (tmp_path / "no-system-cuda",), raising=False)
    clear_lookups()
    yield tmp_path
    monkeypatch.undo()
    clear_lookups()


def clear_lookups():
    """Forget cached header lookups (toolchain.clear_lookups; the lru_cache of older versions)."""
    clear = getattr(toolchain, "clear_lookups", None) or toolchain.cuda_include_dirs.cache_clear
    clear()


def cache_in(tmp_path) -> Cache:
    return Cache(tmp_path / "cache")


# ------------------------------------------------------------------------------ cuobjdump

def test_cuobjdump_on_path_is_found_and_used(no_wheels, monkeypatch):
    record = no_wheels / "args.txt"
    tool = fake_tool(no_wheels / "bin", "cuobjdump", LISTING, record)
    monkeypatch.setenv("PATH", f"{no_wheels / 'bin'}{os.pathsep}{os.environ['PATH']}")
    assert toolchain.binary_utility("cuobjdump") == tool
    kernels = sass.summarize(FAKE_CUBIN, cache_in(no_wheels))
    assert kernels["kern_a"].registers == 40 and kernels["kern_a"].tensor_instructions == ["HMMA.16816.F32.BF16"]
    assert record.read_text().split()[:2] == ["-sass", "-res-usage"]


def test_cuobjdump_under_cuda_home_is_found_and_used(no_wheels, monkeypatch):
    home = no_wheels / "toolkit"
    tool = fake_tool(home / "bin", "cuobjdump", LISTING)
    monkeypatch.setenv("CUDA_HOME", str(home))
    assert toolchain.binary_utility("cuobjdump") == tool
    assert sass.summarize(FAKE_CUBIN, cache_in(no_wheels))["kern_a"].registers == 40


def test_cuobjdump_under_cuda_path_and_usr_local_cuda(no_wheels, monkeypatch):
    system = no_wheels / "usr-local-cuda"
    fake_tool(system / "bin", "cuobjdump", LISTING)
    monkeypatch.setattr(toolchain, "SYSTEM_CUDA_ROOTS", (system,), raising=False)
    assert toolchain.binary_utility("cuobjdump") == system / "bin" / "cuobjdump"
    other = no_wheels / "cuda-path"
    fake_tool(other / "bin", "cuobjdump", LISTING)
    monkeypatch.setenv("CUDA_PATH", str(other))
    assert toolchain.binary_utility("cuobjdump") == other / "bin" / "cuobjdump"


def test_search_order_wheels_then_cuda_home_then_path_then_usr_local(no_wheels, monkeypatch):
    places = {name: fake_tool(no_wheels / name / "bin", "cuobjdump", LISTING)
              for name in ("wheel", "home", "path", "system")}
    monkeypatch.setattr(toolchain, "SYSTEM_CUDA_ROOTS", (no_wheels / "system",))
    assert toolchain.find_binary_utility("cuobjdump").via == f"{no_wheels / 'system'}/bin"
    monkeypatch.setenv("PATH", str(no_wheels / "path" / "bin"))
    assert toolchain.find_binary_utility("cuobjdump").via == "PATH"
    monkeypatch.setenv("CUDA_HOME", str(no_wheels / "home"))
    found = toolchain.find_binary_utility("cuobjdump")
    assert (found.path, found.via) == (places["home"], "$CUDA_HOME/bin")
    monkeypatch.setattr(cuda.pathfinder, "find_nvidia_binary_utility", lambda name: str(places["wheel"]))
    assert toolchain.find_binary_utility("cuobjdump").path == places["wheel"]


def test_a_file_that_is_not_executable_is_not_a_tool(no_wheels, monkeypatch):
    home = no_wheels / "toolkit"
    (home / "bin").mkdir(parents=True)
    (home / "bin" / "cuobjdump").write_text("not a program")
    monkeypatch.setenv("CUDA_HOME", str(home))
    assert toolchain.find_binary_utility("cuobjdump") is None


def test_doctor_says_where_each_tool_came_from(no_wheels, monkeypatch):
    fake_tool(no_wheels / "bin", "cuobjdump", LISTING)
    monkeypatch.setenv("PATH", str(no_wheels / "bin"))
    home = no_wheels / "toolkit"
    fake_tool(home / "bin", "nvdisasm", "")
    monkeypatch.setenv("CUDA_HOME", str(home))
    checks = {c.name: c for c in doctor.check_tools()}
    assert checks["cuobjdump"].status == "ok" and "from PATH" in checks["cuobjdump"].detail
    assert "release 13.0" in checks["cuobjdump"].detail
    assert checks["nvdisasm"].status == "ok" and "from $CUDA_HOME/bin" in checks["nvdisasm"].detail
    provenance = toolchain.tool_provenance()
    assert "(from PATH)" in provenance["cuobjdump"] and "(from $CUDA_HOME/bin)" in provenance["nvdisasm"]


# ------------------------------------------------------------------------ no SASS reader

def test_no_cuobjdump_anywhere_is_an_unchecked_reading(no_wheels):
    compiled = nvrtc_compile.compile_source(SIMPLE, "sm_80", cache=cache_in(no_wheels))
    assert compiled.ok
    assert toolchain.find_binary_utility("cuobjdump") is None
    reading = sass.read(compiled.cubin, cache_in(no_wheels))
    assert reading.status == "unchecked" and not reading.checked and reading.kernels == {}
    assert "cuobjdump not found" in reading.reason and "$CUDA_HOME/bin" in reading.reason
    assert reading.kernel("add_one") is None and reading.why_not("add_one") == reading.reason
    assert reading.to_dict() == {"status": "unchecked", "reason": reading.reason}
    summary, why = sass.kernel_summary(compiled.cubin, "add_one", cache_in(no_wheels))
    assert summary is None and "cuobjdump not found" in why
    assert "cuobjdump not found" in sass.reader_missing()
    # The raising form is a SmbenchError, which every caller turns into 'unchecked'.
    with pytest.raises(SmbenchError, match="cuobjdump not found"):
        sass.summarize(compiled.cubin, cache_in(no_wheels))


def test_a_kernel_missing_from_the_listing_is_unchecked_not_a_key_error(no_wheels, monkeypatch):
    fake_tool(no_wheels / "bin", "cuobjdump", LISTING)
    monkeypatch.setenv("PATH", str(no_wheels / "bin"))
    kernels = sass.summarize(FAKE_CUBIN, cache_in(no_wheels))
    with pytest.raises(SmbenchError, match="no SASS for kernel kern_b .*kern_a"):
        kernels["kern_b"]
    assert kernels.get("kern_b") is None and "kern_b" not in kernels
    summary, why = sass.kernel_summary(FAKE_CUBIN, "kern_b", cache_in(no_wheels))
    assert summary is None and "no SASS for kernel kern_b" in why


def test_a_cuobjdump_that_prints_nothing_is_unchecked_and_not_cached(no_wheels, monkeypatch):
    """An old system cuobjdump that does not know the target prints no SASS for its code:
    that is 'unchecked', not 'no kernels', and a later reader is not shown a cached nothing."""
    fake_tool(no_wheels / "old", "cuobjdump", "cuobjdump info    : File 'kernel.cubin' does not contain device code\n")
    monkeypatch.setenv("PATH", str(no_wheels / "old"))
    cache = cache_in(no_wheels)
    reading = sass.read(FAKE_CUBIN, cache)
    assert reading.status == "unchecked" and "printed no SASS" in reading.reason
    fake_tool(no_wheels / "new", "cuobjdump", LISTING)
    monkeypatch.setenv("PATH", str(no_wheels / "new"))
    assert sass.read(FAKE_CUBIN, cache).kernel("kern_a").registers == 40


def test_a_failing_cuobjdump_is_unchecked(no_wheels, monkeypatch):
    folder = no_wheels / "bin"
    fake_tool(folder, "cuobjdump", "")
    (folder / "cuobjdump").write_text("#!/bin/sh\necho 'cuobjdump fatal   : unknown arch' >&2\nexit 1\n")
    monkeypatch.setenv("PATH", str(folder))
    reading = sass.read(FAKE_CUBIN, cache_in(no_wheels))
    assert reading.status == "unchecked" and reading.reason == "cuobjdump failed: cuobjdump fatal   : unknown arch"


def test_no_cubin_is_unchecked():
    assert sass.read(None).status == "unchecked"


def test_doctor_warns_without_a_sass_reader(no_wheels):
    checks = {c.name: c for c in doctor.check_tools()}
    for name in ("cuobjdump", "nvdisasm"):
        assert checks[name].status == "warn", checks[name]
        assert f"{name} not found" in checks[name].detail and "CUDA_HOME" in checks[name].detail
    assert "unchecked" in checks["cuobjdump"].detail
    every = {c.name: c for c in doctor.run_checks()}
    assert every["cuobjdump"].status == "warn" and every["nvdisasm"].status == "warn"


# ------------------------------------------------------------------------------ headers

def test_a_kernel_without_cuda_includes_compiles_with_no_cuda_headers_anywhere(no_wheels):
    result = nvrtc_compile.compile_source(SIMPLE, "sm_90", cache=cache_in(no_wheels))
    assert result.ok and result.cubin, result.log
    assert toolchain.cuda_headers().dirs == ()
    with pytest.raises(SmbenchError, match="CUDA headers"):
        toolchain.cuda_include_dirs()
    assert [o for o in result.options if o.startswith("-I")] == [f"-I{kernels_dir()}"]


@pytest.mark.parametrize("kernel", ["mma.cu", "stream.cu", "gemm.cu", "precision.cu"])
def test_smbench_kernels_with_only_their_own_headers_compile_without_cuda_headers(no_wheels, kernel):
    result = nvrtc_compile.compile_file(KERNELS / kernel, "sm_90", cache=cache_in(no_wheels))
    assert result.ok, result.log
    assert nvrtc_compile.cuda_headers_needed((KERNELS / kernel).read_text()) == []


def test_a_kernel_that_includes_cuda_headers_says_why_it_does_not_compile(no_wheels):
    result = nvrtc_compile.compile_source(FP16, "sm_90", cache=cache_in(no_wheels))
    assert not result.ok and result.stage == "frontend"
    assert "cuda_fp16.h" in result.first_error
    assert "no CUDA include folder was found" in result.log and "CUDA_HOME" in result.log
    assert nvrtc_compile.cuda_headers_needed((KERNELS / "fma.cu").read_text()) == ["cuda_bf16.h", "cuda_fp16.h"]


def test_headers_come_from_cuda_home_without_the_wheels(real_include, no_wheels, monkeypatch):
    home = no_wheels / "toolkit"
    home.mkdir()
    (home / "include").symlink_to(real_include, target_is_directory=True)
    monkeypatch.setenv("CUDA_HOME", str(home))
    clear_lookups()
    result = nvrtc_compile.compile_source(FP16, "sm_90", cache=cache_in(no_wheels))
    assert result.ok, result.log
    assert f"-I{home / 'include'}" in result.options
    headers = toolchain.cuda_headers()
    assert headers.dirs[0].path == home / "include" and headers.dirs[0].via == "CUDA toolkit at $CUDA_HOME"


def test_headers_come_from_usr_local_cuda_last(real_include, no_wheels, monkeypatch):
    system = no_wheels / "usr-local-cuda"
    system.mkdir()
    (system / "include").symlink_to(real_include, target_is_directory=True)
    monkeypatch.setattr(toolchain, "SYSTEM_CUDA_ROOTS", (system,), raising=False)
    clear_lookups()
    assert nvrtc_compile.compile_source(FP16, "sm_90", cache=cache_in(no_wheels)).ok
    assert toolchain.cuda_include_dirs()[0] == system / "include"


def test_wheels_missing_a_piece_are_completed_from_a_toolkit(no_wheels, monkeypatch):
    """The GPU machine: nvidia-cuda-runtime's headers but no nvidia-cuda-crt or -cccl wheel,
    and a system toolkit. The wheels' folder comes first; the toolkit's supplies the rest."""
    wheel = no_wheels / "site-packages" / "nvidia" / "cu13" / "include"
    wheel.mkdir(parents=True)
    (wheel / "cuda_runtime.h").write_text("/* runtime only */\n")
    monkeypatch.setattr(cuda.pathfinder, "locate_nvidia_header_directory",
                        lambda name: type("Located", (), {"abs_path": str(wheel)})() if name == "cudart" else None,
                        raising=False)
    monkeypatch.setattr(cuda.pathfinder, "find_nvidia_header_directory",
                        lambda name: str(wheel) if name == "cudart" else None)
    clear_lookups()
    alone = toolchain.cuda_headers()
    assert [d.path for d in alone.dirs] == [wheel] and set(alone.missing) == {"crt", "cccl"}
    assert alone.dirs[0].via == "pip wheel, via cuda.pathfinder"
    home = no_wheels / "toolkit"
    (home / "include" / "crt").mkdir(parents=True)
    (home / "include" / "cuda_runtime.h").write_text("")
    (home / "include" / "crt" / "host_config.h").write_text("")
    (home / "include" / "cccl" / "cuda" / "std").mkdir(parents=True)
    (home / "include" / "cccl" / "cuda" / "std" / "version").write_text("")
    monkeypatch.setenv("CUDA_HOME", str(home))
    clear_lookups()
    completed = toolchain.cuda_headers()
    assert [d.path for d in completed.dirs] == [wheel, home / "include", home / "include" / "cccl"]
    assert completed.missing == ()


def test_doctor_warns_without_cuda_headers(no_wheels):
    (check,) = doctor.check_headers()
    assert check.status == "warn" and "none found" in check.detail and "fma.cu" in check.detail
