import csv
import io
import json
import os
import re
import subprocess
import sys

import pytest

from smbench import compat, sass, toolchain
from smbench import targets as target_table
from smbench.cache import Cache
from smbench.compile import compile_file
from smbench.errors import SmbenchError

from conftest import KERNELS, ROOT, run_cli

ALL = [t.name for t in target_table.all_targets()]

pytestmark = pytest.mark.needs_sass  # every test here reads SASS


@pytest.fixture
def builtin_report(builtin_matrix):
    """Every built-in kernel file over every target (conftest: built once per test run)."""
    return builtin_matrix


def tensor_class(cell):
    return cell.tensor_instructions[0].split(".")[0] if cell.tensor_instructions else None


def test_every_builtin_cell_is_decided(builtin_report):
    assert {c.status for c in builtin_report.cells} <= {"ok", "failed"}
    assert len(builtin_report.cells) == len(builtin_report.kernels()) * len(ALL)
    assert ("stream.cu", "stream_copy_f32_v16") in builtin_report.kernels()


@pytest.mark.parametrize("kernel, instruction", [
    ("mma_f16_f16acc", "HMMA"), ("mma_f16_f32acc", "HMMA"), ("mma_bf16_f32acc", "HMMA"),
    ("mma_tf32_f32acc", "HMMA"), ("mma_s8_s32acc", "IMMA"), ("mma_f64_f64acc", "DMMA"),
])
def test_classic_formats_compile_everywhere(builtin_report, kernel, instruction):
    for target in ALL:
        cell = builtin_report.cell(kernel, target)
        assert cell.status == "ok" and tensor_class(cell) == instruction, (target, cell)
        assert cell.local_bytes == 0 and cell.spill_instructions == 0


@pytest.mark.parametrize("kernel", ["mma_e4m3_f32acc_f8f6f4", "mma_e2m1_f32acc_f8f6f4"])
def test_kind_f8f6f4_fails_on_plain_sm12x_and_is_qmma_on_arch_specific(builtin_report, kernel):
    for target in ("sm_120", "sm_121"):
        cell = builtin_report.cell(kernel, target)
        assert cell.status == "failed" and f"'{target}'" in cell.error, cell
        assert cell.fallback == "no"
    for target in ("sm_120a", "sm_121a", "sm_121f"):
        assert tensor_class(builtin_report.cell(kernel, target)) == "QMMA"


def test_sm89_fp8_is_emulated_on_hopper_and_native_on_the_spark(builtin_report):
    assert builtin_report.cell("mma_e4m3_f32acc_sm89", "sm_90").tensor_instructions == ["HMMA.16816.F32"]
    assert tensor_class(builtin_report.cell("mma_e4m3_f32acc_sm89", "sm_121")) == "QMMA"
    assert builtin_report.cell("mma_e4m3_f32acc_sm89", "sm_80").status == "failed"


def test_nvfp4_is_omma_only_on_sm12x_specific_targets(builtin_report):
    omma = {c.target for c in builtin_report.cells if c.kernel == "mma_nvfp4_f32acc" and tensor_class(c) == "OMMA"}
    assert omma == {"sm_120a", "sm_120f", "sm_121a", "sm_121f"}
    assert "UE4M3.4X" in builtin_report.cell("mma_nvfp4_f32acc", "sm_121a").tensor_instructions[0]


def test_the_nvfp4_gemm_holds_the_block_scaled_omma_on_sm12x_specific_targets(builtin_report):
    """The GEMM family's NVFP4 kernel, in the build (tile) the run uses: OMMA with ue4m3 scales
    exactly where the table has block scales, no spills; everywhere else ptxas refuses it."""
    cells = [c for c in builtin_report.cells if c.kernel == "gemm_nvfp4_f32acc"]
    assert {c.target for c in cells} == {t.name for t in target_table.all_targets()}
    omma = {c.target for c in cells if tensor_class(c) == "OMMA"}
    assert omma == {t.name for t in target_table.all_targets() if t.has("mma.block_scale")}
    for target in ("sm_120a", "sm_121a"):
        cell = builtin_report.cell("gemm_nvfp4_f32acc", target)
        assert cell.tensor_instructions == ["OMMA.SF.16864.F32.E2M1.E2M1.UE4M3.4X"]
        assert cell.spill_instructions == 0 and cell.local_bytes == 0
    assert all(c.status == "failed" for c in cells if c.target not in omma)


def test_matrix_agrees_with_the_target_table(builtin_report):
    """Each built-in kernel compiles exactly where the target table says its feature exists."""
    from test_kernel_guards import kernel_features

    for kernel, feature in kernel_features().items():
        for target in target_table.all_targets():
            cell = builtin_report.cell(kernel, target.name)
            assert (cell.status == "ok") == target.has(feature), (kernel, target.name, cell.error)


USER_KERNELS = r"""
#include <cuda_fp16.h>
#include <cuda_bf16.h>
#include <cuda_fp8.h>
#include <mma.h>
#include <cooperative_groups.h>
#include "scale.cuh"
using namespace nvcuda;

extern "C" __global__ void wmma_16x16x16(const __half *a, const __half *b, float *c) {
    wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> fa;
    wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> fb;
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> fc;
    wmma::fill_fragment(fc, 0.0f);
    wmma::load_matrix_sync(fa, a, 16);
    wmma::load_matrix_sync(fb, b, 16);
    wmma::mma_sync(fc, fa, fb, fc);
    wmma::store_matrix_sync(c, fc, 16, wmma::mem_row_major);
}

extern "C" __global__ void convert(const float *in, __nv_bfloat16 *out, __nv_fp8_e4m3 *out8) {
    namespace cg = cooperative_groups;
    unsigned i = cg::this_thread_block().thread_rank();
    out[i] = __float2bfloat16(in[i] * SCALE);
    out8[i] = __nv_fp8_e4m3(in[i]);
}
"""


def write_user_file(tmp_path):
    include = tmp_path / "include"
    include.mkdir()
    (include / "scale.cuh").write_text("#ifndef SCALE\n#error SCALE must be defined\n#endif\n")
    source = tmp_path / "user.cu"
    source.write_text(USER_KERNELS)
    return source, include


def test_user_file_with_common_cuda_headers(tmp_path):
    source, include = write_user_file(tmp_path)
    units = compat.user_units([source], [f"-I{include}", "-DSCALE=2.0f"])
    report = compat.run(units, [target_table.get("sm_80"), target_table.get("sm_121")], cache=Cache(tmp_path / "c"))
    for target in ("sm_80", "sm_121"):
        wmma = report.cell("wmma_16x16x16", target)
        assert wmma.status == "ok" and tensor_class(wmma) == "HMMA"
        assert report.cell("convert", target).status == "ok"


def test_user_file_cli_with_include_and_define(tmp_path):
    source, include = write_user_file(tmp_path)
    code, out, err = run_cli("compat", str(source), "--targets", "sm_121", "-I", str(include), "-D", "SCALE=2.0f",
                             "--format", "json", cwd=tmp_path)
    assert code == 0, err
    cells = json.loads(out)["cells"]
    assert {c["kernel"]: c["status"] for c in cells} == {"wmma_16x16x16": "ok", "convert": "ok"}
    # without the define the header's #error fires on every target: an error in the code (not a
    # target's missing feature), the matrix still written, and exit 1 (--fail-on error, the default)
    code, out, err = run_cli("compat", str(source), "--targets", "sm_121", "-I", str(include), "--format", "json")
    assert code == 1 and "do not compile for any target" in err
    cells = json.loads(out)["cells"]
    assert {c["status"] for c in cells} == {"error"} and "SCALE must be defined" in cells[0]["error"]


def test_frontend_error_names_the_kernel(tmp_path):
    source = tmp_path / "bad.cu"
    source.write_text('extern "C" __global__ void fine(float *x) { x[0] = 1.0f; }\n\n'
                      'extern "C" __global__ void broken(float *x) {\n    x[0] = not_declared;\n}\n')
    report = compat.run(compat.user_units([source], []), [target_table.get("sm_121")], cache=Cache(tmp_path / "c"))
    broken = report.cell("broken", "sm_121")
    assert broken.status == "error" and "bad.cu(4)" in broken.error and "not_declared" in broken.error
    fine = report.cell("fine", "sm_121")
    assert fine.status == "error" and fine.error.startswith("file does not compile")
    assert not fine.fallback  # no sm_80 fallback to speak of for code that compiles nowhere


ARCH_GUARDED = """
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 890
#error "needs sm_89 or newer"
#endif
extern "C" __global__ void newer_only(float *x) { x[0] = 1.0f; }
"""


def test_a_target_that_lacks_a_feature_is_failed_not_an_error(tmp_path):
    """The front end turning a file down on some targets (an #error on the architecture) is the
    target's doing: failed there, and compat exits 0 unless --fail-on failed."""
    source = tmp_path / "guarded.cu"
    source.write_text(ARCH_GUARDED)
    code, out, err = run_cli("compat", str(source), "--targets", "sm_80,sm_89", "--format", "json", cwd=tmp_path)
    assert code == 0, err
    status = {c["target"]: c["status"] for c in json.loads(out)["cells"]}
    assert status == {"sm_80": "failed", "sm_89": "ok"}
    code, _, err = run_cli("compat", str(source), "--targets", "sm_80,sm_89", "--fail-on", "failed", cwd=tmp_path)
    assert code == 1 and "1 rejected by their target" in err
    code, _, _ = run_cli("compat", str(tmp_path / "guarded.cu"), "--targets", "sm_80", "--fail-on", "never")
    assert code == 0


PARTIAL = r"""
extern "C" __global__ void f16_mma(const unsigned *in, float *out) {
    float d[4] = {0, 0, 0, 0};
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%4,%4,%4}, {%5,%5}, {%0,%1,%2,%3};"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]) : "r"(in[0]), "r"(in[1]));
    out[threadIdx.x] = d[0] + d[1] + d[2] + d[3];
}

extern "C" __global__ void fp4_mma(const unsigned *in, float *out) {
    float d[4] = {0, 0, 0, 0};
#if __CUDA_ARCH__ >= 1200
    asm volatile("mma.sync.aligned.m16n8k32.row.col.kind::f8f6f4.f32.e2m1.e2m1.f32 {%0,%1,%2,%3}, {%4,%4,%4,%4}, {%5,%5}, {%0,%1,%2,%3};"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]) : "r"(in[0]), "r"(in[1]));
#else
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%4,%4,%4}, {%5,%5}, {%0,%1,%2,%3};"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]) : "r"(in[0]), "r"(in[1]));
#endif
    out[threadIdx.x] = d[0] + d[1] + d[2] + d[3];
}
"""


def test_ptxas_failure_is_isolated_to_its_kernel_and_the_sm80_fallback_is_shown(tmp_path):
    source = tmp_path / "partial.cu"
    source.write_text(PARTIAL)
    targets = [target_table.get(n) for n in ("sm_90", "sm_121", "sm_121a")]
    report = compat.run(compat.user_units([source], []), targets, cache=Cache(tmp_path / "c"))
    assert tensor_class(report.cell("f16_mma", "sm_121")) == "HMMA"  # its neighbour failing hides nothing
    native = report.cell("fp4_mma", "sm_121")
    assert native.status == "failed" and "FP6/FP4" in native.error
    # the compute_80 PTX of the same kernel takes the #else branch: the driver would JIT it to HMMA
    assert native.fallback == "yes" and native.fallback_detail.startswith("HMMA")
    assert report.cell("fp4_mma", "sm_121a").tensor_instructions[0].startswith("QMMA")
    assert report.cell("fp4_mma", "sm_90").status == "ok" and report.cell("fp4_mma", "sm_90").fallback == ""


def test_without_nvjitlink_the_neighbours_are_marked_unknown(tmp_path, monkeypatch):
    source = tmp_path / "partial.cu"
    source.write_text(PARTIAL)
    monkeypatch.setattr(toolchain, "nvjitlink", lambda: None)
    report = compat.run(compat.user_units([source], []), [target_table.get("sm_121")], cache=Cache(tmp_path / "c"))
    assert report.cell("fp4_mma", "sm_121").status == "failed"
    assert report.cell("f16_mma", "sm_121").status == "unknown"
    assert "nvJitLink" in report.cell("f16_mma", "sm_121").error


def test_targets_this_nvrtc_lacks_are_skipped_rows(monkeypatch, builtin_matrix):
    monkeypatch.setattr(toolchain, "nvrtc_supported_archs", lambda: (75, 80, 86, 89, 90, 100, 120))
    # sm_90's cells come from the run's warm cache; sm_121 must be skipped, not compiled.
    report = compat.run(compat.builtin_units(), [target_table.get("sm_90"), target_table.get("sm_121")])
    skipped = [c for c in report.cells if c.target == "sm_121"]
    assert skipped and all(c.status == "skipped" and "needs >= 12.9" in c.error for c in skipped)
    assert all(c.status in ("ok", "failed") for c in report.cells if c.target == "sm_90")


def test_no_files_is_an_error():
    with pytest.raises(SmbenchError):
        compat.run([], target_table.all_targets())


def test_cli_table_shows_the_matrix(builtin_matrix):
    code, out, err = run_cli("compat", "--targets", "sm_90,sm_121,sm_121a")
    assert code == 0, err
    assert "mma_nvfp4_f32acc" in out and re.search(r"OMMA \d+r", out) and "✗" in out
    assert "sm_121a" in out and "sm_100" not in out.split("\n\n")[0]
    assert "kind::f8f6f4" in out  # the details name the failing feature


def test_cli_formats(tmp_path, builtin_matrix):
    code, out, _ = run_cli("compat", "--targets", "sm_80,sm_121a", "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {r["target"] for r in rows} == {"sm_80", "sm_121a"}
    assert any(r["kernel"] == "mma_nvfp4_f32acc" and r["status"] == "failed" and r["target"] == "sm_80" for r in rows)
    code, out, _ = run_cli("compat", "--targets", "sm_121a", "--format", "md")
    assert code == 0 and "| `mma_nvfp4_f32acc` | OMMA" in out
    destination = tmp_path / "deep" / "matrix.json"
    code, out, _ = run_cli("compat", "--targets", "sm_121a", "--format", "json", "--output", str(destination))
    assert code == 0 and out == ""
    assert json.loads(destination.read_text())["schema"] == compat.SCHEMA


@pytest.mark.parametrize("args, message", [
    (["compat", "no/such/file.cu"], "no such file"),
    (["compat", "--targets", "sm_121,sm_999"], "unknown target 'sm_999'"),
    (["compat", "--targets", ""], "no target given"),
    (["compat", "-D", "X=1"], "name them"),
    (["compat", "--format", "xml"], "invalid choice"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_input_is_one_line_and_exit_2(args, message, tmp_path):
    code, out, err = run_cli(*args)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_include_dir_must_exist(tmp_path):
    source = tmp_path / "k.cu"
    source.write_text('extern "C" __global__ void k() {}\n')
    code, _, err = run_cli("compat", str(source), "-I", str(tmp_path / "missing"))
    assert code == 2 and "no such directory" in err


def test_corrupted_cache_gives_the_same_matrix(tmp_path):
    env = {"SMBENCH_CACHE_DIR": str(tmp_path / "cache")}
    args = ("compat", str(KERNELS / "timing.cu"), "--targets", "sm_90,sm_121", "--format", "json")
    code, first, _ = run_cli(*args, env=env)
    entries = list((tmp_path / "cache").rglob("*.json"))
    assert code == 0 and entries
    for index, entry in enumerate(entries):
        text = entry.read_text()
        entry.write_text(text[: len(text) // 2] if index % 2 else "{not json")
    code, second, err = run_cli(*args, env=env)
    assert code == 0, err
    assert json.loads(first)["cells"] == json.loads(second)["cells"]
    # every damaged entry was detected and written again whole
    cache = Cache(tmp_path / "cache")
    for entry in entries:
        document = json.loads(entry.read_text())
        namespace = entry.parent.parent.name
        assert cache.get(namespace, document["key"]) is not None, entry
    assert cache.corrupt == 0


def test_two_compat_runs_in_parallel_on_one_cache(tmp_path):
    env = dict(os.environ, SMBENCH_CACHE_DIR=str(tmp_path / "cache"),
               PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    command = [sys.executable, "-m", "smbench", "compat", str(KERNELS / "timing.cu"), "--targets", "sm_80,sm_120,sm_121a",
               "--format", "json"]
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            for _ in range(2)]
    outputs = [run.communicate(timeout=600) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [o[1] for o in outputs]
    first, second = (json.loads(out)["cells"] for out, _ in outputs)
    assert first == second
    assert not list((tmp_path / "cache").rglob(".tmp-*"))


def test_json_carries_provenance_and_options(builtin_matrix):
    code, out, _ = run_cli("compat", "--targets", "sm_121a", "--format", "json")
    document = json.loads(out)
    provenance = document["provenance"]
    assert provenance["nvrtc_version"] == ".".join(map(str, toolchain.nvrtc_version()))
    assert provenance["packages"]["cuda-bindings"] and provenance["created_utc"].endswith("+00:00")
    assert document["compile_options"]["mma.cu"] == list(compat.PROBE_OPTIONS)


NATIVE_CLASS = {
    "mma_f16_f16acc": "HMMA", "mma_f16_f32acc": "HMMA", "mma_bf16_f32acc": "HMMA", "mma_tf32_f32acc": "HMMA",
    "mma_s8_s32acc": "IMMA", "mma_s4_s32acc": "IMMA", "mma_f64_f64acc": "DMMA",
    "mma_e4m3_f32acc_sm89": "QMMA", "mma_e5m2_f32acc_sm89": "QMMA", "mma_e4m3_f16acc_sm89": "QMMA",
    "mma_e4m3_f32acc_f8f6f4": "QMMA", "mma_e5m2_f32acc_f8f6f4": "QMMA", "mma_e4m3_f16acc_f8f6f4": "QMMA",
    "mma_e3m2_f32acc_f8f6f4": "QMMA", "mma_e2m3_f32acc_f8f6f4": "QMMA", "mma_e2m1_f32acc_f8f6f4": "QMMA",
    "mma_mxf8f6f4_e4m3_x1_f32acc": "QMMA", "mma_mxf8f6f4_e2m1_x1_f32acc": "QMMA",
    "mma_mxf4_e2m1_x2_f32acc": "OMMA", "mma_mxf4nvf4_e2m1_x2_f32acc": "OMMA", "mma_nvfp4_f32acc": "OMMA",
}
# What stands in for an emulated format: FP16 HMMA for FP8, s8 IMMA for s4.
EMULATED_CLASS = {"mma.fp8": "HMMA", "mma.f8f6f4.fp8": "HMMA", "mma.s4": "IMMA"}


def test_native_and_emulated_in_the_table_match_the_instruction_class(builtin_report):
    """'native' means the format's own instruction; 'emulated' means another class stands in."""
    from test_kernel_guards import kernel_features

    assert set(NATIVE_CLASS) == set(kernel_features())
    for kernel, feature in kernel_features().items():
        for target in target_table.all_targets():
            support = target.support(feature)
            if support is None:
                continue
            expected = NATIVE_CLASS[kernel] if support == target_table.NATIVE else EMULATED_CLASS[feature]
            assert tensor_class(builtin_report.cell(kernel, target.name)) == expected, (kernel, target.name)


def test_gemm_is_shown_as_each_target_builds_it(builtin_matrix):
    """compat builds gemm.cu per tile as the run does: FP8 on sm_90a (emulated through FP16)
    in the 64 x 128 tile the run picks, without the spills the file's default 128 x 128 tile
    has; on the Spark every format in its one tile."""
    units = [u for u in compat.builtin_units() if u.name == "gemm.cu"]
    report = compat.run(units, [target_table.get("sm_90a"), target_table.get("sm_121a")])
    fp8 = report.cell("gemm_e4m3_f32acc_sm89", "sm_90a")
    assert fp8.status == "ok" and fp8.spill_instructions == 0 and fp8.local_bytes == 0
    assert fp8.tensor_instructions[0].startswith("HMMA")
    default = compile_file(KERNELS / "gemm.cu", "sm_90a")  # the file's default tile, 128 x 128
    assert sass.summarize(default.cubin)["gemm_e4m3_f32acc_sm89"].spill_instructions > 0  # what compat showed
    for target in ("sm_90a", "sm_121a"):
        for kernel in ("gemm_f16_f32acc", "gemm_s8_s32acc", "gemm_reduce_f32"):
            cell = report.cell(kernel, target)
            assert cell.status == "ok" and cell.spill_instructions == 0, (kernel, target)
    assert report.cell("gemm_e4m3_f32acc_f8f6f4", "sm_90a").status == "failed"  # no kind::f8f6f4 on sm_90a
    assert [c.kernel for c in report.cells if c.target == "sm_90a"][:2] == ["gemm_f16_f32acc", "gemm_bf16_f32acc"]
    assert any(note.startswith("gemm.cu: built as each target builds it") for note in report.notes)


def test_the_guard_switch_goes_only_to_files_that_read_it(tmp_path):
    """A built-in file whose guards the switch turns off gets it; one that never reads it is built
    with the run's own options (the same build and cache entry as the run's)."""
    options = {u.name: u.options for u in compat.builtin_units()}
    assert options["mma.cu"] == options["gemm.cu"] == options["precision.cu"] == compat.PROBE_OPTIONS
    assert options["stream.cu"] == options["latency.cu"] == options["fma.cu"] == ()
    (tmp_path / "guards.cuh").write_text("#ifdef SMBENCH_PROBE_ALL\n#define X 1\n#endif\n")
    through_a_header = tmp_path / "a.cu"
    through_a_header.write_text('#include "guards.cuh"\n__global__ void k() {}\n')
    plain = tmp_path / "b.cu"
    plain.write_text("__global__ void k() {}\n")
    assert compat._reads_guard_switch(through_a_header, through_a_header.read_text())
    assert not compat._reads_guard_switch(plain, plain.read_text())
