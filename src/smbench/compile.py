"""NVRTC compilation: source + target + options -> PTX, cubin, log, with an on-disk cache.

A target in its sm_XX form gives PTX and a cubin; in its compute_XX form, PTX only
(what a program ships for the driver to JIT-compile). Compilation goes through
NVIDIA's own bindings (cuda.bindings.nvrtc). The CUDA headers (pip wheels, else a
system toolkit: toolchain.cuda_headers) are looked up only for a source that includes
a header it does not find next to itself, in its -I folders or in kernels/: a kernel
that needs none compiles where there are none. The cache key covers the source, every
local header it includes (by content), the options, the target, the NVRTC version and,
for a source that uses them, the CUDA header set.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from smbench import __version__, toolchain
from smbench import targets as target_table
from smbench.cache import Cache, key_of
from smbench.errors import SmbenchError
from smbench.paths import kernels_dir

DEFAULT_OPTIONS = ("-std=c++17",)

_INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]', re.MULTILINE)
# `#include SOME_MACRO`: which file it names is the preprocessor's to say, so it may be a CUDA header.
_COMPUTED_INCLUDE = re.compile(r'^\s*#\s*include\s+([A-Za-z_]\w*)', re.MULTILINE)
# An error line of NVRTC ("k.cu(4): error: ...", "nvrtc: error: ...", "catastrophic error:")
# or ptxas ("...; error   : ..."); "warning #177-D: variable error_count" is not one.
ERROR_LINE = re.compile(r"\b(?:catastrophic\s+)?error\b\s*(?:#[\w-]+\s*)?:", re.IGNORECASE)
# Options that choose the target: the target is smbench's to set, one per compile.
_ARCH_OPTIONS = re.compile(r"^(?:-arch|--gpu-architecture|-code|--gpu-code|-gencode)(?:=|$)")
# Bumped whenever what a cache entry holds changes shape.
PAYLOAD_VERSION = 1


@dataclass
class CompileResult:
    source_name: str
    arch: str  # as asked: sm_121a (cubin) or compute_121a (PTX only)
    ok: bool
    stage: str  # "ok", "options" (NVRTC refused an option), "frontend" (C++), "ptxas" (PTX -> SASS)
    ptx: str
    cubin: bytes | None
    log: str
    options: list[str]
    nvrtc_version: tuple[int, int]
    source_hash: str
    wall_s: float
    cached: bool = False
    lowered_names: dict[str, str] = field(default_factory=dict)

    @property
    def first_error(self) -> str:
        """The first line of the log that says "error", else its first non-empty line."""
        return first_error_line(self.log)


def first_error_line(log: str) -> str:
    """The first error line of an NVRTC or ptxas log, else its first non-empty line."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    for line in lines:
        if ERROR_LINE.search(line):
            return line
    return lines[0] if lines else ""


def include_user_dirs(options: Iterable[str]) -> list[Path]:
    """The -I directories named in user options (-Idir, --include-path=dir)."""
    dirs = []
    for option in options:
        if option.startswith("-I") and len(option) > 2:
            dirs.append(Path(option[2:]))
        elif option.startswith("--include-path="):
            dirs.append(Path(option.split("=", 1)[1]))
    return dirs


def scan_includes(source: str, search_dirs: Sequence[Path]) -> tuple[dict[str, str], list[str]]:
    """(local, external): every header the source includes, transitively, that lies in
    search_dirs (path -> sha256 of its content), and the names of those it includes that
    lie in none of them (<cuda_fp16.h>, <cuda/std/cstdint>: the CUDA headers' business).

    Headers from the CUDA installation are not hashed one by one; the cache key covers
    them through the NVRTC version and the header fingerprint.
    """
    found: dict[str, str] = {}
    external: list[str] = []
    pending = [(source, list(search_dirs))]
    while pending:
        text, dirs = pending.pop()
        for name in _INCLUDE.findall(text):
            for directory in dirs:
                candidate = (directory / name).resolve()
                if candidate.is_file():
                    key = str(candidate)
                    if key not in found:
                        try:
                            content = candidate.read_bytes()
                        except OSError as exc:
                            # NVRTC will say what is wrong with it; the key only needs to differ.
                            found[key] = f"unreadable: {exc}"
                            break
                        found[key] = hashlib.sha256(content).hexdigest()
                        pending.append((content.decode("utf-8", "replace"), [candidate.parent, *dirs]))
                    break
            else:
                if name not in external:
                    external.append(name)
        for macro in _COMPUTED_INCLUDE.findall(text):
            if macro not in external:
                external.append(macro)
    return found, external


def local_headers(source: str, search_dirs: Sequence[Path]) -> dict[str, str]:
    """Every header the source includes, transitively, that lies in search_dirs: path -> sha256."""
    return scan_includes(source, search_dirs)[0]


def cuda_headers_needed(source: str, search_dirs: Sequence[Path] = ()) -> list[str]:
    """The headers the source includes (transitively) that are not its own: those the CUDA
    include folders must supply. Empty for every kernel of smbench's but fma.cu."""
    dirs = list(search_dirs) or [kernels_dir()]
    return scan_includes(source, dirs)[1]


def _log_of(module, program) -> str:
    err, size = module.nvrtcGetProgramLogSize(program)
    if err != module.nvrtcResult.NVRTC_SUCCESS or size <= 1:
        return ""
    buffer = b" " * size
    module.nvrtcGetProgramLog(program, buffer)
    return buffer.rstrip(b"\0").decode("utf-8", "replace").strip()


def _ptx_of(module, program) -> str:
    err, size = module.nvrtcGetPTXSize(program)
    if err != module.nvrtcResult.NVRTC_SUCCESS or size <= 1:
        return ""
    buffer = b" " * size
    if module.nvrtcGetPTX(program, buffer)[0] != module.nvrtcResult.NVRTC_SUCCESS:
        return ""
    return buffer.rstrip(b"\0").decode("utf-8", "replace")


def _cubin_of(module, program) -> bytes | None:
    err, size = module.nvrtcGetCUBINSize(program)
    if err != module.nvrtcResult.NVRTC_SUCCESS or size == 0:
        return None
    buffer = b" " * size
    if module.nvrtcGetCUBIN(program, buffer)[0] != module.nvrtcResult.NVRTC_SUCCESS:
        return None
    return bytes(buffer)


def _run_nvrtc(source: str, source_name: str, arch: str, options: list[str],
               name_expressions: Sequence[str]) -> dict:
    module = toolchain.nvrtc()
    ok_code = module.nvrtcResult.NVRTC_SUCCESS
    err, program = module.nvrtcCreateProgram(source.encode(), source_name.encode(), 0, [], [])
    if err != ok_code:
        raise SmbenchError(f"NVRTC could not create a program for {source_name} ({err.name})")
    try:
        for expression in name_expressions:
            module.nvrtcAddNameExpression(program, expression.encode())
        encoded = [o.encode() for o in options]
        start = time.perf_counter()
        (status,) = module.nvrtcCompileProgram(program, len(encoded), encoded)
        wall = time.perf_counter() - start
        log = _log_of(module, program)
        ptx = _ptx_of(module, program)
        cubin = _cubin_of(module, program) if status == ok_code and arch.startswith("sm_") else None
        if status == ok_code:
            stage = "ok"
        elif status == module.nvrtcResult.NVRTC_ERROR_INVALID_OPTION:
            stage = "options"
        else:
            # NVRTC keeps the PTX when only ptxas rejected it; a front-end error leaves none.
            stage = "ptxas" if ptx else "frontend"
        if not log and status != ok_code:
            log = f"NVRTC: {status.name}"
        lowered = {}
        if status == ok_code:
            for expression in name_expressions:
                err, name = module.nvrtcGetLoweredName(program, expression.encode())
                if err == ok_code:
                    lowered[expression] = name.decode() if isinstance(name, bytes) else str(name)
        return {"ok": status == ok_code, "stage": stage, "ptx": ptx, "cubin": cubin, "log": log,
                "wall_s": wall, "lowered_names": lowered}
    finally:
        module.nvrtcDestroyProgram(program)


def check_target_known(target: target_table.Target) -> None:
    """A clear error when this NVRTC cannot compile for the target (too old for sm_121, say)."""
    supported = toolchain.nvrtc_supported_archs()
    if supported and target.number not in supported:
        major, minor = toolchain.nvrtc_version()
        need = ".".join(map(str, target.min_nvrtc))
        raise SmbenchError(
            f"NVRTC {major}.{minor} cannot compile for {target.name} (needs NVRTC >= {need}); "
            f"pip install -U nvidia-cuda-nvrtc")


def compile_source(source: str, arch: str, *, source_name: str = "kernel.cu", options: Sequence[str] = (),
                   name_expressions: Sequence[str] = (), source_dir: Path | None = None,
                   cache: Cache | None = None) -> CompileResult:
    """Compile CUDA C++ for one target. Never raises for code that does not compile:
    that is a result with ok=False and the log. Raises SmbenchError for an unknown target
    or an NVRTC that does not know it."""
    target, ptx_only = target_table.parse_arch(arch)
    check_target_known(target)
    arch_option = target.virtual if ptx_only else target.name
    user_options = list(options)
    for option in user_options:
        if _ARCH_OPTIONS.match(option):
            raise SmbenchError(f"option {option!r} chooses the target; use smbench's --targets instead")
    search_dirs = [d for d in (source_dir, *include_user_dirs(user_options), kernels_dir()) if d is not None]
    local, external = scan_includes(source, search_dirs)
    # The CUDA headers only for a source that includes one: a kernel with only its own
    # headers compiles on a machine where none can be found.
    headers = toolchain.cuda_headers() if external else None
    cuda_dirs = headers.paths if headers is not None else ()
    include_options = [f"-I{d}" for d in search_dirs] + [f"-I{d}" for d in cuda_dirs]
    full_options = [f"-arch={arch_option}", *DEFAULT_OPTIONS, *user_options, *include_options]
    source_hash = hashlib.sha256(source.encode()).hexdigest()
    version = toolchain.nvrtc_version()
    key = key_of("nvrtc", PAYLOAD_VERSION, __version__, source_hash, local, source_name, arch_option,
                 user_options, list(name_expressions), version,
                 toolchain.headers_fingerprint() if external else "no CUDA headers")

    cache = cache if cache is not None else Cache()
    value, cached = cache.get_or_compute(
        "nvrtc", key, lambda: _run_nvrtc(source, source_name, arch_option, full_options, name_expressions))
    log = value["log"]
    if not value["ok"] and headers is not None and (not headers.dirs or headers.missing):
        log = f"{log}\n{_headers_note(external, headers)}".strip()
    return CompileResult(source_name=source_name, arch=arch_option, ok=value["ok"], stage=value["stage"],
                         ptx=value["ptx"], cubin=value["cubin"], log=log, options=full_options,
                         nvrtc_version=version, source_hash=source_hash, wall_s=value["wall_s"],
                         cached=cached, lowered_names=value.get("lowered_names", {}))


def _headers_note(external: Sequence[str], headers: toolchain.CudaHeaders) -> str:
    """Why a source that includes CUDA headers may not have found them (ends a failed log)."""
    wanted = ", ".join(f"<{name}>" for name in external[:4]) + (", ..." if len(external) > 4 else "")
    if not headers.dirs:
        found = f"no CUDA include folder was found (looked in: {toolchain.header_search_order()})"
    else:
        found = f"the CUDA headers found lack {', '.join(headers.missing)} ({headers.describe()})"
    return (f"smbench note: this source includes {wanted}; {found}. pip install nvidia-cuda-runtime "
            f"nvidia-cuda-crt nvidia-cuda-cccl, or set CUDA_HOME to a CUDA toolkit")


def read_source(path: Path) -> str:
    """A .cu file's text, or a one-line error for a missing or unreadable file."""
    if not path.exists():
        raise SmbenchError(f"no such file: {path}")
    if not path.is_file():
        raise SmbenchError(f"not a file: {path}")
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise SmbenchError(f"cannot read {path}: {exc.strerror}") from None


def compile_file(path: Path, arch: str, *, options: Sequence[str] = (), name_expressions: Sequence[str] = (),
                 cache: Cache | None = None) -> CompileResult:
    path = Path(path)
    return compile_source(read_source(path), arch, source_name=path.name, options=options,
                          name_expressions=name_expressions, source_dir=path.parent.resolve(), cache=cache)


def _run_nvjitlink(ptx: str, real_arch: str) -> dict:
    module = toolchain.nvjitlink()
    handle = module.create(1, [f"-arch={real_arch}"])
    try:
        data = ptx.encode()
        try:
            module.add_data(handle, module.InputType.PTX, data, len(data), "module.ptx")
            module.complete(handle)
        except Exception as exc:  # noqa: BLE001 - nvJitLinkError; its log says why
            size = module.get_error_log_size(handle)
            buffer = bytearray(size)
            if size:
                module.get_error_log(handle, buffer)
            log = bytes(buffer).rstrip(b"\0").decode("utf-8", "replace").strip() or str(exc)
            return {"ok": False, "cubin": None, "log": log}
        size = module.get_linked_cubin_size(handle)
        cubin = bytearray(size)
        module.get_linked_cubin(handle, cubin)
        return {"ok": True, "cubin": bytes(cubin), "log": ""}
    finally:
        module.destroy(handle)


def assemble_ptx(ptx: str, real_arch: str, cache: Cache | None = None) -> dict | None:
    """PTX -> cubin for a real target with nvJitLink, as the driver's JIT would do it.

    Returns {"ok", "cubin", "log"}, or None when nvJitLink is not available. Used to
    check kernels one by one after ptxas rejected part of a module, and to see what
    compute_80 PTX becomes on a newer GPU.
    """
    if toolchain.nvjitlink() is None:
        return None
    cache = cache if cache is not None else Cache()
    key = key_of("nvjitlink", PAYLOAD_VERSION, __version__, hashlib.sha256(ptx.encode()).hexdigest(), real_arch, toolchain.nvjitlink_version())
    value, _ = cache.get_or_compute("nvjitlink", key, lambda: _run_nvjitlink(ptx, real_arch))
    return value
