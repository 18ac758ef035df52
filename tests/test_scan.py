"""smbench scan on real device code: CuPy's own extension modules (built by NVIDIA's toolchain,
zstd-compressed fatbins), cubins and PTX built here with NVRTC, fatbin containers around them,
a wheel, a Triton-style cache, and corrupt inputs made by cutting and mangling real files."""

from __future__ import annotations

import io
import json
import os
import shutil
import struct
import subprocess
import zipfile
from pathlib import Path

import pytest
from rich.console import Console

from conftest import run_cli_here
from scan_fixtures import container, entry
from smbench import compile as compiler
from smbench import report, toolchain
from smbench.scan import fatbin, rules, scanner, sources, view
from smbench.scan import run as scan_run

KERNEL = 'extern "C" __global__ void scale(float* x) { x[threadIdx.x] *= 2.0f; }'


def _cupy_fatbin_modules() -> list[Path]:
    """CuPy's extension modules that carry fatbins (cub, thrust, the random generator)."""
    cupy = pytest.importorskip("cupy")
    root = Path(cupy.__file__).parent
    found = [p for p in sorted(root.rglob("*.so")) if p.name.split(".")[0] in ("cub", "_generator_api")]
    if not found:
        pytest.skip("this CuPy has no extension module with a fatbin")
    return found


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Cubins and PTX from NVRTC, written as files."""
    out = tmp_path_factory.mktemp("device-code")
    files = {}
    for arch in ("sm_80", "sm_90", "sm_90a", "sm_120f"):
        result = compiler.compile_source(KERNEL, arch)
        assert result.ok, result.log
        files[arch] = out / f"{arch}.cubin"
        files[arch].write_bytes(result.cubin)
        files[f"{arch}.ptx"] = out / f"{arch}.ptx"
        files[f"{arch}.ptx"].write_text(result.ptx)
    only_ptx = compiler.compile_source(KERNEL, "compute_80")
    files["compute_80"] = out / "compute_80.ptx"
    files["compute_80"].write_text(only_ptx.ptx)
    return files


_entry, _container = entry, container


def _gpu(name: str) -> rules.Gpu:
    return rules.parse_gpu(name)


def _verdict(path: Path, gpu: str) -> rules.Overall:
    return rules.judge_modules(fatbin.read_path(path).modules, _gpu(gpu))


# ---------------------------------------------------------------- real binaries nobody here wrote


def test_cupy_modules_native_on_sm121_via_sm120_and_on_sm90_not_on_sm70():
    for path in _cupy_fatbin_modules():
        found = fatbin.read_path(path)
        assert found.form == "fatbin" and found.codes
        assert all(code.compressed == "zstd" for code in found.codes)  # compressed entries, read without inflating
        spark, hopper, volta = (_verdict(path, g) for g in ("sm_121", "sm_90", "sm_70"))
        assert (spark.verdict, spark.code) == ("native", "sm_120f")
        assert (hopper.verdict, hopper.code) == ("native", "sm_90")
        assert volta.verdict == "none" and "no SASS for 7.x" in volta.via


def _cuobjdump_lists(path: Path) -> tuple[list[str], list[str]]:
    tool = toolchain.binary_utility("cuobjdump")
    lines = subprocess.run([str(tool), "--list-elf", "--list-ptx", str(path)], capture_output=True, text=True,
                           check=True).stdout.splitlines()
    elf = [line.rsplit(".", 2)[-2] for line in lines if line.startswith("ELF file")]
    ptx = [line.rsplit(".", 2)[-2] for line in lines if line.startswith("PTX file")]
    return elf, ptx


def _plain(name: str) -> str:
    # cuobjdump names a family ("f") cubin by its base architecture; PTX keeps the suffix.
    return name[:-1] if name.endswith("f") else name


@pytest.mark.needs_sass
def test_the_header_reader_agrees_with_cuobjdump_on_cupy_and_on_containers_built_here(built, tmp_path):
    made = tmp_path / "made.fatbin"
    made.write_bytes(_container(
        _entry(2, 90, built["sm_90"].read_bytes()),
        _entry(2, 90, built["sm_90a"].read_bytes(), flags=0x11 | fatbin.FLAG_ARCH_SPECIFIC),
        _entry(2, 120, built["sm_120f"].read_bytes(), flags=0x11 | fatbin.FLAG_FAMILY),
        _entry(1, 80, built["compute_80"].read_bytes() + b"\0", isa=(9, 5))))
    for path in [*_cupy_fatbin_modules(), made, built["sm_90a"], built["sm_120f"]]:
        found = fatbin.read_path(path)
        elf, ptx = _cuobjdump_lists(path)
        ours_elf = [c.name for c in found.codes if c.kind == fatbin.SASS]
        ours_ptx = [c.name.replace("compute_", "sm_") for c in found.codes if c.kind == fatbin.PTX]
        assert [_plain(n) for n in ours_elf] == elf, path
        assert ours_ptx == ptx, path


# ---------------------------------------------------------------- code built here, and the rules


def test_sm90a_cubin_runs_only_on_compute_capability_9_0(built):
    # sm_90a SASS runs on exactly 9.0: every H100/H200 is 9.0, however --gpu spells it.
    assert fatbin.read_path(built["sm_90a"]).codes[0].name == "sm_90a"
    assert _verdict(built["sm_90a"], "sm_90a").verdict == "native"
    assert _verdict(built["sm_90a"], "sm_90").verdict == "native"
    for other in ("sm_100", "sm_121", "sm_89"):
        assert _verdict(built["sm_90a"], other).verdict == "none"
    assert _verdict(built["sm_90a.ptx"], "sm_100").verdict == "none"  # compute_90a PTX: no JIT elsewhere


def test_compute_80_ptx_only_is_jit_from_8_0_on_and_the_sm80_fallback_on_sm121(built):
    path = built["compute_80"]
    assert [c.name for c in fatbin.read_path(path).codes] == ["compute_80"]
    for gpu in ("sm_80", "sm_86", "sm_90", "sm_120", "sm_121"):
        assert _verdict(path, gpu).verdict == "jit", gpu
    assert _verdict(path, "sm_75").verdict == "none"
    assert not _verdict(path, "sm_86").fallback
    spark = _verdict(path, "sm_121")
    assert spark.fallback and "sm_80 fallback" in spark.note and "mma.sync only" in spark.note
    assert "mma.block_scale" in spark.note  # what the GB10 has and Ampere PTX cannot use


def test_sm120f_cubin_runs_on_the_sm12x_family_only(built):
    assert _verdict(built["sm_120f"], "sm_121").verdict == "native"
    assert _verdict(built["sm_120f"], "rtx5090").verdict == "native"
    assert _verdict(built["sm_120f"], "sm_90").verdict == "none"
    assert _verdict(built["sm_120f.ptx"], "sm_121").verdict == "jit"  # compute_120f: the family
    assert _verdict(built["sm_120f.ptx"], "sm_100").verdict == "none"


def test_modules_for_other_gpus_are_set_aside_in_a_file_built_for_this_one():
    portable = fatbin.Module(0, [fatbin.Code("sass", 12, 0), fatbin.Code("sass", 8, 0)])
    hopper_only = fatbin.Module(1, [fatbin.Code("sass", 9, 0, "a")])
    spark = rules.judge_modules([portable, hopper_only], _gpu("gb10"))
    assert spark.verdict == "native" and spark.set_aside == 1
    ampere_only = fatbin.Module(2, [fatbin.Code("sass", 8, 0)])
    mixed = rules.judge_modules([portable, ampere_only], _gpu("sm_121"))
    assert mixed.verdict == "native" and mixed.counts == {"native": 1, "none": 1} and mixed.set_aside == 1
    # Nothing for 12.x in any module: the file will not run, whatever the shapes.
    assert rules.judge_modules([ampere_only, hopper_only], _gpu("sm_121")).verdict == "none"


def test_gpu_names():
    assert _gpu("gb10").cc == (12, 1) and _gpu("sm_121f").cc == (12, 1)
    assert _gpu("rtx5090").cc == (12, 0) and _gpu("a100").cc == (8, 0) and _gpu("h100").cc == (9, 0)
    assert _gpu("compute_90a").cc == (9, 0) and _gpu("8.6").cc == (8, 6)
    with pytest.raises(Exception, match="not a target"):
        _gpu("voodoo")


# ---------------------------------------------------------------- sources: wheel, Triton cache


def test_a_wheel_is_read_without_installing(built, tmp_path):
    module = _cupy_fatbin_modules()[0]
    wheel = tmp_path / "demo_pkg-1.2.3-cp311-cp311-linux_x86_64.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(module, f"demo_pkg/{module.name}")
        archive.write(built["sm_90a"], "demo_pkg/kernels/hopper.cubin")
        archive.writestr("demo_pkg/__init__.py", "")
        archive.writestr("demo_pkg-1.2.3.dist-info/RECORD", "")
    result = scan_run([wheel], ["sm_121"])
    (source,) = result.sources
    assert source.title == f"wheel {wheel.name}"
    rows = {Path(r.file).name: r for r in source.rows}
    assert rows[module.name].package == "demo_pkg" and rows[module.name].version == "1.2.3"
    assert rows[module.name].verdicts["sm_121"].verdict == "native"
    assert rows["hopper.cubin"].verdicts["sm_121"].verdict == "none"
    (package,) = source.packages(result.gpus)
    assert package.files == 2 and package.verdicts["sm_121"].verdict == "native"  # hopper.cubin is set aside


def test_triton_cache_kernels_say_the_arch_triton_built_them_for(built, tmp_path):
    kernel_dir = tmp_path / "cache" / "ab12cd"
    kernel_dir.mkdir(parents=True)
    shutil.copy(built["sm_80"], kernel_dir / "add_kernel.cubin")
    shutil.copy(built["sm_80.ptx"], kernel_dir / "add_kernel.ptx")
    (kernel_dir / "add_kernel.json").write_text(json.dumps(
        {"name": "add_kernel", "target": {"backend": "cuda", "arch": 80, "warp_size": 32}, "num_warps": 4}))
    result = scan_run([tmp_path / "cache"], ["sm_121", "sm_86"])
    (source,) = result.sources
    assert source.title == sources.TRITON_PACKAGE
    (row,) = source.rows  # the PTX beside the cubin is not a route: Triton loads the cubin
    assert row.triton_arch == 80 and row.sass == ["sm_80"]
    spark = row.verdicts["sm_121"]
    assert spark.verdict == "none" and spark.fallback and "sm_80 fallback" in spark.note
    assert row.verdicts["sm_86"].verdict == "native"


# ---------------------------------------------------------------- bad input: rows, never tracebacks


def test_corrupt_inputs_are_rows_with_the_reason(built, tmp_path, monkeypatch):
    module = _cupy_fatbin_modules()[0]
    data = module.read_bytes()
    bad = tmp_path / "bad"
    bad.mkdir()
    # Cut inside the fatbin section: the section table, at the end, is gone with it.
    (bad / "cut_library.so").write_bytes(data[: len(data) // 2])
    (bad / "cut_header.so").write_bytes(data[:40])
    mangled = bytearray(_container(_entry(2, 90, built["sm_90"].read_bytes())))
    struct.pack_into("<I", mangled, 16 + 4, 3)  # an entry header size of 3 bytes
    (bad / "mangled.fatbin").write_bytes(bytes(mangled))
    short = _container(_entry(2, 90, built["sm_90"].read_bytes()))
    (bad / "short.fatbin").write_bytes(short[:-100])
    (bad / "script.so").write_text("/* GNU ld script */ GROUP ( libc.so.6 )\n")
    (bad / "empty.cubin").write_bytes(b"")
    os.symlink("loop_b.so", bad / "loop_a.so")
    os.symlink("loop_a.so", bad / "loop_b.so")
    os.symlink("..", bad / "up")  # a directory loop: read once, not forever
    (bad / "locked.so").write_bytes(data[:64])
    real_read = fatbin.read_path

    def read(path):
        # Root reads every file, so unreadable is simulated: the error open() gives a user.
        if Path(path).name == "locked.so":
            raise PermissionError(13, "Permission denied")
        return real_read(path)

    monkeypatch.setattr(fatbin, "read_path", read)
    result = scan_run([bad], ["sm_121"])
    problems = {Path(r.file).name: r.problem for s in result.sources for r in s.rows if r.problem}
    assert "truncated" in problems["cut_library.so"]
    assert "truncated" in problems["cut_header.so"]
    assert "header size 3" in problems["mangled.fatbin"]
    assert "truncated" in problems["short.fatbin"]
    assert "script.so" not in problems and result.sources[0].skipped == ["bad/script.so"]  # a linker script
    assert "empty" in problems["empty.cubin"]
    assert problems["loop_a.so"] == problems["loop_b.so"] == "symlink loop"
    assert "Permission denied" in problems["locked.so"]
    text = view.render_text(result, 100)
    assert "could not read" in text and "Traceback" not in text


def test_cli_bad_input_is_one_line_and_a_scan_exits_0(built, tmp_path):
    code, _, err = run_cli_here("scan", "--gpu", "voodoo", str(built["sm_90"]))
    assert code == 2 and len(err.strip().splitlines()) == 1
    code, _, err = run_cli_here("scan", str(tmp_path / "nothing-here"))
    assert code == 2 and "no such file" in err
    out = tmp_path / "scan.json"
    code, _, err = run_cli_here("scan", str(built["sm_90a"]), str(built["compute_80"]), "--gpu", "sm_121",
                                "--gpu", "sm_90", "--format", "json", "--output", str(out))
    assert code == 0, err
    document = json.loads(out.read_text())
    assert document["schema"] == scanner.SCHEMA and document["provenance"]["smbench_version"]
    assert [g["label"] for g in document["gpus"]] == ["sm_121", "sm_90"]
    rows = {Path(r["file"]).name: r for r in document["sources"][0]["rows"]}
    for key in ("file", "package", "version", "sass", "ptx", "verdict", "via"):
        assert key in rows["sm_90a.cubin"]
    assert rows["sm_90a.cubin"]["verdict"] == "none" and rows["sm_90a.cubin"]["by_gpu"]["sm_90"]["verdict"] == "native"
    assert rows["compute_80.ptx"]["verdict"] == "jit" and rows["compute_80.ptx"]["fallback"]
    code, _, _ = run_cli_here("scan", str(built["compute_80"]), "--gpu", "sm_121", "--fail-on", "jit")
    assert code == 1
    code, _, _ = run_cli_here("scan", str(built["compute_80"]), "--gpu", "sm_121", "--fail-on", "none")
    assert code == 0
    # The report reads the scan file as a 'software readiness' section.
    html, markdown = report.build([], [document], tmp_path / "report")
    text = markdown.read_text()
    assert "## Software readiness" in text and "sm_90a" in text and "Software readiness" in html.read_text()


@pytest.mark.needs_sass
def test_detail_lists_kernels_and_registers(built):
    result = scan_run([built["sm_90a"]], ["sm_90"], detail=True)
    (row,) = result.sources[0].rows
    (kernel,) = row.kernels
    assert kernel["name"] == "scale" and kernel["registers"] > 0


# ---------------------------------------------------------------- the table at 80 and 120 columns


@pytest.mark.parametrize("width", [80, 120])
def test_the_table_keeps_names_and_numbers_whole(width):
    _cupy_fatbin_modules()
    result = scan_run([Path(__import__("cupy").__file__).parent], ["gb10", "sm_90", "sm_70"])
    text = view.render_text(result, width)
    console = Console(file=io.StringIO(), width=width)
    for part in view.package_tables("t", result.sources[0].packages(result.gpus), result.gpus, console):
        console.print(part)
    table = console.file.getvalue()
    assert max(len(line) for line in table.splitlines()) <= width
    for whole in ("cupy-cuda13x", "gb10 (sm_121)", "sm_90", "sm_70", "native", "sm_120f", "120f", "NO"):
        assert whole in table, whole
    assert "…" not in table
    # The version column never folds: each version appears whole on one line.
    assert all(p.version in table for p in result.sources[0].packages(result.gpus))
    assert "packages with device code" in text or "package with device code" in text
