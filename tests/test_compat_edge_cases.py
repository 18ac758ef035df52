"""What users feed `smbench compat` that is not a tidy kernel file: each is a row or a
one-line error, never a traceback or a wrong matrix."""

import json
import subprocess
import sys

import pytest

from smbench import compat, sass
from smbench import targets as target_table
from smbench.cache import Cache
from smbench.errors import SmbenchError

from conftest import ROOT, run_cli

pytestmark = pytest.mark.needs_sass  # every test here reads SASS


def matrix(tmp_path, files, targets, options=()):
    units = compat.user_units(files, list(options))
    return compat.run(units, [target_table.get(t) for t in targets], cache=Cache(tmp_path / "cache"))


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_front_end_failure_on_one_target_keeps_the_real_kernel_names(tmp_path):
    source = write(tmp_path / "lb.cu", """
#if __CUDA_ARCH__ < 900
#error needs sm_90 or later
#endif
#define KERNEL(name) extern "C" __global__ void name(float *x) { x[0] = 1.0f; }
KERNEL(made_by_macro)
extern "C" __global__ void __launch_bounds__((2 * 64), 2) bounded(float *x) { x[0] = 2.0f; }
template <typename T> __global__ void scale(T *x) { x[0] *= 2; }
template __global__ void scale<float>(float *);
""")
    report = matrix(tmp_path, [source], ["sm_80", "sm_121a"])
    kernels = [k for _, k in report.kernels()]
    assert set(kernels) == {"made_by_macro", "bounded", "_Z5scaleIfEvPT_"}, kernels
    for kernel in kernels:
        assert report.cell(kernel, "sm_121a").status == "ok"
        failed = report.cell(kernel, "sm_80")
        assert failed.status == "failed" and "needs sm_90 or later" in failed.error


def test_source_scan_is_the_last_resort_and_reads_launch_bounds(tmp_path):
    source = write(tmp_path / "never.cu", 'extern "C" __global__ void __launch_bounds__(256, 2) lb1(float *x) '
                                          '{ x[0] = undefined_name; }\n')
    report = matrix(tmp_path, [source], ["sm_80"])
    assert [k for _, k in report.kernels()] == ["lb1"]
    assert "undefined_name" in report.cell("lb1", "sm_80").error


def test_a_warning_is_not_shown_as_the_error_and_a_working_fallback_says_ok(tmp_path):
    source = write(tmp_path / "warn.cu", """
extern "C" __global__ void plain(float *x) {
    int error_count = 0;
#if __CUDA_ARCH__ >= 1200
#error not for sm_12x
#endif
    x[0] = 1.0f;
}
""")
    report = matrix(tmp_path, [source], ["sm_80", "sm_121a"])
    cell = report.cell("plain", "sm_121a")
    assert cell.status == "failed" and "not for sm_12x" in cell.error and "warning" not in cell.error
    assert cell.fallback == "yes" and cell.fallback_detail == "no tensor instruction"
    from smbench.compat_view import short_label

    assert short_label(cell) == "✗ →80:ok"


def test_a_rejected_device_function_fails_only_its_callers(tmp_path):
    source = write(tmp_path / "func.cu", r"""
__device__ __noinline__ unsigned short to_fp8(float a) {
    unsigned short d;
    asm volatile("cvt.rn.satfinite.e4m3x2.f32 %0, %1, %1;" : "=h"(d) : "f"(a));
    return d;
}
__device__ __noinline__ unsigned short twice(float a) { return to_fp8(a) * 2; }
extern "C" __global__ void calls_through(unsigned short *x) { x[0] = twice(1.0f); }
extern "C" __global__ void clean(float *x) { x[0] = x[1] + 1; }
extern "C" __global__ void calls_direct(unsigned short *x) { x[0] = to_fp8(2.0f); }
""")
    report = matrix(tmp_path, [source], ["sm_80", "sm_90"])
    assert report.cell("clean", "sm_80").status == "ok"
    for kernel in ("calls_through", "calls_direct"):
        assert report.cell(kernel, "sm_80").status == "failed", kernel
        assert report.cell(kernel, "sm_90").status == "ok"


def test_same_base_name_in_two_directories_and_a_repeated_file(tmp_path):
    first = write(tmp_path / "a" / "k.cu", 'extern "C" __global__ void from_a(float *x) { x[0] = 1; }\n')
    second = write(tmp_path / "b" / "k.cu", 'extern "C" __global__ void from_b(float *x) { x[0] = 2; }\n')
    report = matrix(tmp_path, [first, second, first], ["sm_80"])
    assert report.files == ["a/k.cu", "b/k.cu"]
    assert report.kernels() == [("a/k.cu", "from_a"), ("b/k.cu", "from_b")]


def test_file_name_with_spaces_and_parentheses_gets_its_blame(tmp_path):
    source = write(tmp_path / "my kernel (v2).cu", 'extern "C" __global__ void fine(float *x) { x[0] = 1; }\n'
                                                   'extern "C" __global__ void bad(float *x) { x[0] = nope; }\n')
    report = matrix(tmp_path, [source], ["sm_80"])
    assert "nope" in report.cell("bad", "sm_80").error
    assert report.cell("fine", "sm_80").error.startswith("file does not compile")


def test_no_kernels_at_all_is_bad_input_and_a_note_beside_other_files(tmp_path):
    empty = write(tmp_path / "empty.cu", "__device__ float helper(float x) { return x; }\n")
    with pytest.raises(SmbenchError, match="no __global__ kernels found"):
        matrix(tmp_path, [empty], ["sm_80"])
    real = write(tmp_path / "real.cu", 'extern "C" __global__ void k(float *x) { x[0] = 1; }\n')
    report = matrix(tmp_path, [real, empty], ["sm_80"])
    assert report.kernels() == [("real.cu", "k")] and "empty.cu" in report.notes[0]
    code, _, err = run_cli("compat", str(empty))
    # C++ kernels count as much as extern "C" ones (shown demangled): the message does not ask for extern "C".
    assert code == 2 and "no __global__ kernels found" in err and 'extern "C"' not in err


def test_unreadable_header_is_a_row(tmp_path):
    # Reading /proc/self/mem fails (EIO) when the cache key hashes the header: the key records
    # that, and NVRTC decides whether the file compiles.
    from smbench.compile import local_headers

    text = '#include "/proc/self/mem"\nextern "C" __global__ void k() {}\n'
    (found,) = local_headers(text, [tmp_path]).values()  # resolved: /proc/<pid>/mem
    assert found.startswith("unreadable")
    report = matrix(tmp_path, [write(tmp_path / "procmem.cu", text)], ["sm_80"])
    assert report.cell("k", "sm_80").status in ("ok", "failed")


def test_cuobjdump_failure_is_an_unknown_cell(tmp_path, monkeypatch):
    def broken(cubin):
        raise SmbenchError("cuobjdump failed: simulated")

    monkeypatch.setattr(sass, "run_cuobjdump", broken)
    source = write(tmp_path / "k.cu", 'extern "C" __global__ void k(float *x) { x[0] = 1; }\n')
    report = matrix(tmp_path, [source], ["sm_80"])
    cell = report.cell("k", "sm_80")
    assert cell.status == "unknown" and cell.error == "cuobjdump failed: simulated"


@pytest.mark.parametrize("args, message", [
    (["--nvrtc-option=-arch=sm_121a"], "chooses the target"),
    (["--nvrtc-option=--gpu-architecture=sm_90"], "chooses the target"),
    (["--nvrtc-option=-bogus"], "NVRTC rejected an option"),
    (["--jobs", "-1"], "must be at least 1"),
    (["--jobs", "two"], "not a whole number"),
    (["--targets", "compute_121a"], "PTX-only target"),
    (["--output", "/proc/no/such/dir/x.txt"], "cannot write"),
])
def test_more_bad_input(tmp_path, args, message):
    source = write(tmp_path / "k.cu", 'extern "C" __global__ void k(float *x) { x[0] = 1; }\n')
    code, _, err = run_cli("compat", str(source), *args)
    assert code == 2, err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_table_output_to_a_file_and_targets_output(tmp_path):
    destination = tmp_path / "new" / "matrix.txt"
    code, out, err = run_cli("compat", "--targets", "sm_121a", "--output", str(destination))
    assert code == 0 and out == "", err
    text = destination.read_text(encoding="utf-8")
    assert "mma_nvfp4_f32acc" in text and "\x1b[" not in text  # plain text, no colour codes
    table = tmp_path / "targets.txt"
    code, out, _ = run_cli("targets", "--output", str(table))
    assert code == 0 and out == "" and "sm_121f" in table.read_text(encoding="utf-8")


def test_ascii_terminal_and_a_closed_pipe(tmp_path):
    code, out, err = run_cli("compat", "--targets", "sm_121", "--format", "md", env={"PYTHONIOENCODING": "ascii"})
    assert code == 0 and "Traceback" not in err and "mma_nvfp4_f32acc" in out
    env = dict(__import__("os").environ, PYTHONPATH=str(ROOT / "src"))
    done = subprocess.run(f"{sys.executable} -m smbench compat --targets sm_121 | head -1", shell=True,
                          capture_output=True, text=True, env=env, cwd=ROOT)
    assert done.stdout.strip() and done.stderr == ""


def test_targets_json_lists_every_feature_per_target():
    code, out, _ = run_cli("targets", "--format", "json")
    rows = {row["target"]: row for row in json.loads(out)["targets"]}
    assert rows["sm_121a"]["features"]["mma.bf16"] == "native"
    assert rows["sm_90"]["features"]["mma.fp8"] == "emulated"
    assert rows["sm_121"]["features"]["mma.block_scale"] is None
