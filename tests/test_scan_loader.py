"""smbench scan gives the loader's answer: each rule of docs/scan.md over small binaries
built here (real ELF libraries, real NVRTC cubins and PTX), each with the planted case a
wrong rule would get wrong.

The wrong rules planted against: the worst module of a file decides (dispatch-gated
modules for other GPUs would fail every library); relocatable device code counts; only
.nv_fatbin holds device code; the worst (or the best) per-CUDA variant decides; the first
wheel to list a file owns it; a PTX newer than the driver still JITs; any sm_XY is a GPU.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import run_cli_here
from scan_fixtures import Codes, container, dist_info, host_library
from smbench.errors import SmbenchError
from smbench.scan import fatbin, ptx_isa, rules, scanner, view
from smbench.scan import run as scan_run


@pytest.fixture(scope="module")
def codes(tmp_path_factory) -> Codes:
    return Codes(tmp_path_factory.mktemp("codes"))


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("libs")


def _file(path: Path, gpu: str, driver: rules.Driver | None = None) -> rules.Overall:
    found = fatbin.read_path(path)
    return rules.judge_file(found.modules, rules.parse_gpu(gpu), driver, found.unreadable)


# ---------------------------------------------------------------- modules for other GPUs


def test_a_single_arch_module_is_for_other_gpus_never_a_failure(codes, work):
    # NCCL's shape: every module built for the GPUs it supports, plus sm_100f-only FP8 kernels.
    lib = host_library(work / "libnccl_like.so", {
        ".nv_fatbin": codes.module("sm_80", "sm_90", "sm_120f", "compute_120") + codes.module("sm_100f")}, work)
    for gpu, code in (("sm_121", "sm_120f"), ("sm_90", "sm_90"), ("sm_80", "sm_80")):
        verdict = _file(lib, gpu)
        assert (verdict.verdict, verdict.code, verdict.set_aside) == ("native", code, 1), gpu
        assert "1 module for other GPUs (sm_100f only: 1)" in verdict.note
    assert _file(lib, "b200").verdict == "native" and _file(lib, "b200").set_aside == 1  # 10.0: sm_100f
    # Planted: a file with nothing for the GPU must still fail, single-arch module or not.
    other = host_library(work / "libold.so", {".nv_fatbin": codes.module("sm_80", "sm_90") + codes.module("sm_100f")},
                         work)
    spark = _file(other, "sm_121")
    assert spark.verdict == "none" and not spark.built_for and "no SASS for 12.x" in spark.missing


def test_modules_jit_compiled_from_older_ptx_make_the_file_need_jit(codes, work):
    lib = host_library(work / "libmixed.so", {
        ".nv_fatbin": codes.module("sm_90", "sm_120f", "compute_120") + codes.module("sm_80", "compute_80")}, work)
    spark = _file(lib, "sm_121")
    assert (spark.verdict, spark.code, spark.fallback) == ("jit", "compute_80", True)
    assert spark.counts == {"native": 1, "jit": 1} and "1 of 2 modules has no SASS for 12.x" in spark.missing
    # Modules that ship only PTX (JIT-compiled on every GPU, as cuFFT's) do not demote SASS.
    lib = host_library(work / "libptxonly.so", {".nv_fatbin": codes.module("sm_120f") + codes.module("compute_80")},
                       work)
    assert _file(lib, "sm_121").verdict == "native"
    # ... and do not make a file built for other GPUs run: the sm_120f module has no route to 9.0.
    assert _file(lib, "sm_90").verdict == "none"
    only_ptx = host_library(work / "libonlyptx.so", {".nv_fatbin": codes.module("compute_80")}, work)
    assert _file(only_ptx, "sm_90").verdict == "jit" and _file(only_ptx, "sm_75").verdict == "none"


# ---------------------------------------------------------------- relocatable code, code elsewhere


def test_relocatable_device_code_never_counts(codes, work):
    lib = host_library(work / "librdc.so", {".nv_fatbin": codes.module("sm_80", "sm_90"),
                                            "__nv_relfatbin": codes.module("sm_120f", "compute_120")}, work)
    found = fatbin.read_path(lib)
    assert found.relocatable == 1 and [c.name for c in found.codes] == ["sm_80", "sm_90"]
    assert _file(lib, "sm_121").verdict == "none"  # planted: counting __nv_relfatbin says native
    result = scan_run([lib], ["sm_121"])
    (row,) = result.sources[0].rows
    assert row.sass == ["sm_80", "sm_90"] and row.ptx == [] and row.relocatable == 1


def test_containers_outside_nv_fatbin_are_found_by_their_magic(codes, work):
    # cuFFT's shape: a stub in .nv_fatbin, the kernels in .ldata, chance magic bytes around them.
    stub = container(codes.entry("sm_80", arch=75))
    chance = fatbin.struct.pack("<I", fatbin.FATBIN_MAGIC) + b"\x07\x00" + b"\0" * 58
    data = chance + codes.module("sm_120f") + codes.module("sm_90") + chance + codes.module("compute_80")
    lib = host_library(work / "libcufft_like.so", {".nv_fatbin": stub, ".ldata": data}, work)
    found = fatbin.read_path(lib)
    assert [m.section for m in found.modules] == [".nv_fatbin", ".ldata", ".ldata", ".ldata"]
    assert not found.unreadable
    spark = _file(lib, "sm_121")
    assert spark.verdict == "native" and spark.set_aside == 2  # the sm_75 stub and the sm_90 module
    assert _file(lib, "sm_90").verdict == "native"
    # Planted: reading .nv_fatbin alone finds only the stub, which runs nowhere but 7.5.
    assert rules.judge_file([found.modules[0]], rules.parse_gpu("sm_121")).verdict == "none"


@pytest.mark.needs_sass
def test_cuobjdump_sees_only_the_stub_that_smbench_sees_past(codes, work):
    from smbench import toolchain

    lib = host_library(work / "libstub.so", {".nv_fatbin": codes.module("sm_80"), ".ldata": codes.module("sm_120f")},
                       work)
    listed = subprocess.run([str(toolchain.binary_utility("cuobjdump")), "--list-elf", str(lib)],
                            capture_output=True, text=True).stdout
    assert "sm_80" in listed and "sm_120" not in listed
    assert [c.name for c in fatbin.read_path(lib).codes] == ["sm_80", "sm_120f"]


def test_code_that_cannot_be_read_is_unknown_never_none(codes, work):
    broken = bytearray(codes.module("sm_120f"))
    fatbin.struct.pack_into("<I", broken, 16 + 4, 3)  # its entry header claims 3 bytes
    lib = host_library(work / "libbroken.so", {".nv_fatbin": codes.module("sm_80"), ".ldata": bytes(broken)}, work)
    found = fatbin.read_path(lib)
    assert found.unreadable and "header size 3" in found.unreadable[0]
    verdict = _file(lib, "sm_121")
    assert verdict.verdict == "unknown" and ".ldata" in verdict.note  # planted: sm_80 alone says none


# ---------------------------------------------------------------- per-CUDA variants


def _variant_site(root: Path, codes: Codes, work: Path, torch_cuda: str | None) -> Path:
    site = root / "lib" / "python3.11" / "site-packages"
    package = site / "bnbish"
    package.mkdir(parents=True)
    (root / "pyvenv.cfg").write_text("home = /usr/bin\n")
    shapes = {"118": ("sm_80", "sm_90"), "128": ("sm_80", "sm_90", "sm_120f"), "130": ("sm_90", "sm_120f")}
    for version, shape in shapes.items():
        name = f"libbnbish_cuda{version}.so"
        built = work / name
        if not built.exists():
            host_library(built, {".nv_fatbin": codes.module(*shape)}, work / f"v{version}")
        shutil.copy(built, package / name)
    dist_info(site, "bnbish", "1.0", {f"bnbish/libbnbish_cuda{v}.so": None for v in shapes})
    if torch_cuda is not None:
        (site / "torch").mkdir()
        (site / "torch" / "version.py").write_text(f"__version__ = '2.9.0'\ncuda: Optional[str] = '{torch_cuda}'\n")
    return root


def _package(result, name: str = "bnbish") -> scanner.Package:
    (source,) = result.sources
    return next(p for p in source.packages(result.gpus) if p.name == name)


def test_per_cuda_variants_are_judged_by_the_one_that_loads(codes, work, tmp_path):
    cuda128 = _package(scan_run([_variant_site(tmp_path / "a", codes, work, "12.8")], ["sm_121", "sm_80"]))
    assert cuda128.verdicts["sm_121"].verdict == "native"  # planted: the worst variant (cuda118) says none
    assert cuda128.verdicts["sm_80"].verdict == "native"  # planted: cuda130 has no sm_80
    assert "libbnbish_cuda128.so judged" in cuda128.variants and "2 other variants" in cuda128.variants
    cuda118 = _package(scan_run([_variant_site(tmp_path / "b", codes, work, "11.8")], ["sm_121"]))
    assert cuda118.verdicts["sm_121"].verdict == "none"  # planted: the best variant says native
    unknown = _package(scan_run([_variant_site(tmp_path / "c", codes, work, None)], ["sm_121", "sm_80"]))
    assert unknown.verdicts["sm_121"].verdict == "native" and "cuda130 variant" in unknown.verdicts["sm_121"].via
    assert "cuda128 variant" in unknown.verdicts["sm_80"].via and "no CUDA runtime found" in unknown.variants


def test_the_variant_choice_is_bitsandbytes_rule():
    versions = [(11, 8), (12, 1), (12, 8), (13, 0)]
    assert scanner.choose_variant(versions, (12, 8)) == (12, 8)
    assert scanner.choose_variant(versions, (12, 9)) == (12, 8)  # the newest below, same major
    assert scanner.choose_variant(versions, (12, 0)) == (12, 1)  # else the oldest above, same major
    assert scanner.choose_variant(versions, (14, 0)) is None  # never across majors
    assert scanner.variant_key("bitsandbytes/libbitsandbytes_cuda132.so")[1] == (13, 2)
    assert scanner.variant_key("bitsandbytes/libbitsandbytes_cpu.so") is None


# ---------------------------------------------------------------- owners, environments


def test_two_wheels_list_one_file_the_record_hash_names_the_owner(codes, work, tmp_path):
    site = tmp_path / "site-packages"
    lib_dir = site / "nvidia" / "nccl" / "lib"
    lib_dir.mkdir(parents=True)
    library = host_library(work / "libnccl.so.2", {".nv_fatbin": codes.module("sm_90", "sm_120f")}, work)
    shutil.copy(library, lib_dir / "libnccl.so.2")
    on_disk = (lib_dir / "libnccl.so.2").read_bytes()
    older = bytes([on_disk[0] ^ 1]) + on_disk[1:]  # the same size: only the hash tells them apart
    dist_info(site, "nvidia-nccl-cu12", "2.27.3", {"nvidia/nccl/lib/libnccl.so.2": older})
    dist_info(site, "nvidia-nccl-cu13", "2.28.9", {"nvidia/nccl/lib/libnccl.so.2": None})
    result = scan_run([site], ["sm_121"])
    (row,) = result.sources[0].rows
    assert (row.package, row.version) == ("nvidia-nccl-cu13", "2.28.9")  # planted: the first to list it is cu12
    assert row.overwritten == ["nvidia-nccl-cu12 2.27.3"]
    assert "also listed by nvidia-nccl-cu12 2.27.3, overwritten" in view.render_text(result, 200)


def test_a_named_venv_or_site_packages_is_an_environment(codes, work, tmp_path):
    root = _variant_site(tmp_path / "venv", codes, work, "12.8")
    for named in (root, root / "lib" / "python3.11" / "site-packages"):
        result = scan_run([named], ["sm_121"])
        (source,) = result.sources
        assert source.title == f"Python environment {named}" and source.runtime == (12, 8)
        assert {r.package for r in source.rows} == {"bnbish"}  # from its RECORD, not "-"


def test_a_folder_named_through_a_linked_lib64_keeps_its_owner(codes, work, tmp_path):
    """A venv's lib64 is commonly a link to lib; RECORD names the files under the real folder."""
    site = tmp_path / "venv" / "lib" / "python3.11" / "site-packages"
    lib_dir = site / "nvidia" / "nccl" / "lib"
    lib_dir.mkdir(parents=True)
    library = host_library(work / "libnccl.so.2", {".nv_fatbin": codes.module("sm_90", "sm_120f")}, work)
    shutil.copy(library, lib_dir / "libnccl.so.2")
    dist_info(site, "nvidia-nccl-cu13", "2.28.9", {"nvidia/nccl/lib/libnccl.so.2": None})
    (tmp_path / "venv" / "lib64").symlink_to("lib")
    for named in (site / "nvidia", tmp_path / "venv" / "lib64" / "python3.11" / "site-packages" / "nvidia"):
        result = scan_run([named], ["sm_121"])
        (row,) = result.sources[0].rows
        assert (row.package, row.version) == ("nvidia-nccl-cu13", "2.28.9"), named


# ---------------------------------------------------------------- PTX ISA against the driver


def test_ptx_newer_than_the_driver_cannot_jit():
    ptx = fatbin.Code(fatbin.PTX, 8, 0, "", "9.1")
    gpu = rules.parse_gpu("sm_90")
    old = rules.judge([ptx], gpu, rules.Driver((13, 0), "present"))
    assert old.verdict == "none" and "needs CUDA 13.1" in old.via  # planted: the arch rule alone says JIT
    assert rules.judge([ptx], gpu, rules.Driver((13, 1), "present")).verdict == "jit"
    unknown = rules.judge([ptx], gpu, rules.Driver(None, "no driver"))
    assert unknown.verdict == "jit" and unknown.needs_cuda == "13.1" and unknown.ptx_isa == "9.1"
    # An older PTX of the same module still serves where the newer one cannot.
    both = [ptx, fatbin.Code(fatbin.PTX, 7, 5, "", "8.4")]
    assert rules.judge(both, gpu, rules.Driver((12, 4), "present")).code == "compute_75"


def test_the_ptx_isa_table_is_nvidias():
    assert ptx_isa.cuda_needed((8, 6)) == (12, 7)  # no PTX ISA came with CUDA 12.6
    assert ptx_isa.cuda_needed((8, 5)) == (12, 5) and ptx_isa.cuda_needed((9, 0)) == (13, 0)
    assert ptx_isa.cuda_needed((7, 8)) == (11, 8) and ptx_isa.cuda_needed((6, 3)) == (10, 0)
    assert ptx_isa.newest_known((12, 6)) == (8, 5) and not ptx_isa.driver_jits((8, 6), (12, 6))


def test_jit_verdicts_show_the_ptx_isa_version(codes, work):
    lib = host_library(work / "libjit.so", {".nv_fatbin": codes.module("sm_80", "compute_80")}, work)
    verdict = _file(lib, "sm_90")
    isa = ".".join(map(str, codes.isa["compute_80"]))
    assert verdict.ptx_isa == isa and f"PTX ISA {isa}" in verdict.missing and "driver or newer" in verdict.missing


# ---------------------------------------------------------------- --gpu, screen, skipped files


def test_gpu_names_only_real_gpus():
    for bad in ("sm_95", "sm_999", "12.7", "sm_85", "compute_95", "sm_121x"):
        with pytest.raises(SmbenchError):
            rules.parse_gpu(bad)
    for good, cc in (("sm_75", (7, 5)), ("7.5", (7, 5)), ("sm_121a", (12, 1)), ("compute_120f", (12, 0)),
                     ("gb10", (12, 1)), ("sm_103", (10, 3))):
        assert rules.parse_gpu(good).cc == cc


def test_cli_refuses_an_unreal_gpu_in_one_line(codes, work):
    lib = host_library(work / "libcli.so", {".nv_fatbin": codes.module("sm_90")}, work)
    for bad in ("sm_95", "sm_999"):
        code, _, err = run_cli_here("scan", "--gpu", bad, str(lib))
        assert code == 2 and len(err.strip().splitlines()) == 1 and bad in err


def test_a_linker_script_named_so_is_skipped_not_an_error(tmp_path):
    (tmp_path / "libmpi.so").write_text("/* GNU ld script */\nINPUT ( libmpi.so.40 )\n")
    result = scan_run([tmp_path], ["sm_121"])
    (source,) = result.sources
    assert not source.problems and [Path(p).name for p in source.skipped] == ["libmpi.so"]
    text = view.render_text(result, 80)
    assert "could not read" not in text and "not ELF" in text


def _stack_site(root: Path, codes: Codes, work: Path) -> Path:
    site = _variant_site(root, codes, work, "12.8") / "lib" / "python3.11" / "site-packages"
    for name, shape in (("nvidia-cusparselt-cu13", ("sm_80", "sm_90", "compute_80")),
                        ("nvidia-cublas-cu12", ("sm_80", "sm_90", "sm_120f", "compute_120"))):
        folder = site / name.replace("-", "_")
        folder.mkdir()
        lib = work / f"lib{name}.so"
        if not lib.exists():
            host_library(lib, {".nv_fatbin": codes.module(*shape) + codes.module("sm_100f")}, work / name)
        shutil.copy(lib, folder / f"lib{name}.so")
        dist_info(site, name, "12.9.1.4", {f"{folder.name}/lib{name}.so": None})
    return root


@pytest.mark.skipif(shutil.which("tmux") is None, reason="no tmux to stand in for an 80-column terminal")
def test_at_an_80_column_terminal_the_table_is_80_wide(codes, work, tmp_path):
    root = _stack_site(tmp_path / "venv", codes, work)
    session = f"smbench-scan-{os.getpid()}"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent / "src")}
    env.pop("COLUMNS", None)
    command = f"{os.sys.executable} -m smbench scan {root} --gpu sm_80 --gpu sm_90 --gpu gb10"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "80", "-y", "200", command + "; sleep 30"],
                   check=True, env=env)
    capture = ["tmux", "capture-pane", "-p", "-t", session, "-S", "-200"]
    try:
        screen = ""
        for _ in range(120):
            time.sleep(0.25)
            screen = subprocess.run(capture, capture_output=True, text=True).stdout
            if "Rules and sources" in screen:
                break
        joined = subprocess.run(capture + ["-J"], capture_output=True, text=True).stdout  # wrapped lines joined
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    lines = screen.splitlines()
    assert "Rules and sources" in screen, screen
    assert max(len(line) for line in lines) <= 80
    assert f"Pythonenvironment{root}:" in "".join(joined.split())  # the header names the path scanned
    for whole in ("nvidia-cusparselt-cu13", "12.9.1.4", "gb10 (sm_121)", "native sm_120f", "JIT compute_80"):
        assert any(whole in line for line in lines), whole  # never folded inside a name or number
    # A package that is not plainly native names the file and what it lacks.
    assert "libnvidia-cusparselt-cu13.so: 1 of 1 module has no SASS for 12.x" in " ".join(joined.split())


def test_piped_output_follows_columns(codes, work, tmp_path):
    root = _stack_site(tmp_path / "venv", codes, work)
    for columns in ("100", "80"):
        code, out, err = run_cli_here("scan", str(root), "--gpu", "sm_80", "--gpu", "sm_90", "--gpu", "gb10",
                                      env={"COLUMNS": columns})
        assert code == 0, err
        widest = max(len(line.rstrip()) for line in out.splitlines())
        assert 70 < widest <= int(columns), (columns, widest)
