"""Benchmark suites: TOML files in benchmarks/ saying which families run over which axes."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path

from smbench.errors import SmbenchError
from smbench.families import gemm, peak, precision, stream
from smbench.paths import benchmarks_dir
from smbench.timing import TimingPolicy

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

FAMILIES = ("stream", "transfer", "launch", "peak", "precision", "gemm")


def check_families(only: set[str]) -> set[str]:
    """The families asked for, or a one-line error naming the first unknown one."""
    unknown = sorted(only - set(FAMILIES))
    if unknown or not only:
        raise SmbenchError(f"unknown family {unknown[0] if unknown else ''!r}; families: {', '.join(FAMILIES)}")
    return only


@dataclass
class Suite:
    name: str
    path: Path
    description: str
    data: dict

    def timing(self, backend: str) -> TimingPolicy:
        settings = {k: v for k, v in self.data.get("timing", {}).items() if k not in ("blocking", "cold_l2")}
        if backend == "cpu" and "budget_s" in self.data.get("cpu", {}):
            settings["budget_s"] = self.data["cpu"]["budget_s"]
        try:
            return TimingPolicy(**settings)
        except (TypeError, ValueError) as exc:
            raise SmbenchError(f"{self.path.name}: [timing] {exc}") from None

    def flag(self, section: str, key: str, default=False):
        return self.data.get(section, {}).get(key, default)


def available() -> list[str]:
    return sorted(p.stem for p in benchmarks_dir().glob("*.toml"))


# What each key of a suite may hold: (type check, what the error says it should be).
def _is_int(low):
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0


def _triple(v) -> bool:
    return isinstance(v, list) and len(v) == 3 and all(_is_int(1)(x) for x in v)


def _list_of(check):
    return lambda v: isinstance(v, list) and all(check(x) for x in v)


_SCHEMA = {
    "stream": {
        "operations": (_list_of(lambda x: x in stream.OPERATIONS), f"a list of {', '.join(stream.OPERATIONS)}"),
        "memory_kinds_operations": (_list_of(lambda x: x in stream.OPERATIONS),
                                    f"a list of {', '.join(stream.OPERATIONS)}"),
        "dtypes": (_list_of(lambda x: x in stream.DTYPES), "a list of f32, f64"),
        "widths": (_list_of(lambda x: x in (4, 8, 16) and not isinstance(x, bool)), "a list of 4, 8, 16 (bytes)"),
        "size_step": (lambda v: _is_int(1)(v) and v & (v - 1) == 0, "a power of two >= 1 (1 = every doubling)"),
        "largest_mib": (_is_int(1), "a whole number of MiB >= 1 (the sweep's largest working set)"),
    },
    "transfer": {"sizes_mib": (_list_of(_is_int(1)), "a list of whole MiB >= 1")},
    "launch": {"enabled": (lambda v: isinstance(v, bool), "true or false")},
    "peak": {
        "formats": (lambda v: v == "all" or (_list_of(lambda x: x in peak.BY_KEY)(v) and bool(v)),
                    f"\"all\" or a list of {', '.join(peak.BY_KEY)}"),
        "launch_ms": (_is_number, "a positive number of milliseconds per timed launch"),
        "fallback": (lambda v: isinstance(v, bool), "true or false (also time the compute_80 PTX build)"),
    },
    "precision": {
        "formats": (lambda v: v == "all" or (_list_of(lambda x: x in precision.BY_KEY)(v) and bool(v)),
                    f"\"all\" or a list of {', '.join(precision.BY_KEY)}"),
        "gemm_ks": (lambda v: _list_of(_is_int(1))(v) and bool(v), "a list of whole numbers (K of the random GEMMs)"),
        "cpu_model": (lambda v: v in precision.MODELS, f"one of {', '.join(precision.MODELS)}"),
    },
    "gemm": {
        "formats": (lambda v: v == "all" or (_list_of(lambda x: x in gemm.BY_KEY)(v) and bool(v)),
                    f"\"all\" or a list of {', '.join(gemm.BY_KEY)}"),
        "squares": (_list_of(_is_int(1)), "a list of sizes (M = N = K)"),
        "shapes": (_list_of(_triple), "a list of [M, N, K]"),
        "decode_m": (_list_of(_is_int(1)), "a list of M (the decode batch)"),
        "decode_nk": (_list_of(lambda x: isinstance(x, list) and len(x) == 2 and all(_is_int(1)(v) for v in x)),
                      "a list of [N, K], each run at every decode_m"),
        "tails": (_list_of(_triple), "a list of [M, N, K] (odd sizes: the kernel's edge tiles)"),
        "cublas": (lambda v: isinstance(v, bool), "true or false (time cuBLAS on the same inputs)"),
        "fallback": (lambda v: isinstance(v, bool), "true or false (also time the compute_80 PTX build)"),
        "emulator_model": (lambda v: v in precision.MODELS, f"one of {', '.join(precision.MODELS)}"),
    },
    "timing": {
        "warmup": (_is_int(0), "a whole number >= 0"),
        "min_samples": (_is_int(2), "a whole number >= 2"),
        "max_samples": (_is_int(2), "a whole number >= 2"),
        "noise_target": (_is_number, "a positive number (0.005 = 0.5%)"),
        "budget_s": (_is_number, "a positive number of seconds"),
        # Every GPU figure is queued behind the blocking kernel: host-timed launches measured
        # CuPy's launch overhead, not kernels. The key stays for files that say `true`.
        "blocking": (lambda v: v is True, "true (GPU timing is always device-bound; false is no longer offered)"),
        "cold_l2": (lambda v: isinstance(v, bool), "true or false"),
    },
    "cpu": {"largest_mib": (_is_int(1), "a whole number of MiB >= 1"), "budget_s": (_is_number, "a positive number"),
            "gemm_max_gflop": (_is_number, "a positive number of GFLOP (larger GEMMs are skipped on the CPU)"),
            "gemm_emulate_max": (_is_int(1), "a whole number (M x N x K up to which the emulator runs too)")},
}


def check(data: dict, name: str) -> None:
    """Every section a table, every known key of the right type and range, every dtype with a width."""
    for section, keys in _SCHEMA.items():
        table = data.get(section, {})
        if not isinstance(table, dict):
            raise SmbenchError(f"{name}: [{section}] should be a table, not {type(table).__name__}")
        for key, value in table.items():
            if key not in keys:
                raise SmbenchError(f"{name}: [{section}] has no setting {key!r} (known: {', '.join(keys)})")
            valid, should = keys[key]
            if not valid(value):
                raise SmbenchError(f"{name}: [{section}] {key} = {value!r} should be {should}")
    section = data.get("stream", {})
    for dtype in section.get("dtypes", []):
        if not set(section.get("widths", [16])) & set(stream.WIDTHS[dtype]):
            raise SmbenchError(f"{name}: [stream] no width applies to {dtype} "
                               f"(its widths: {', '.join(map(str, stream.WIDTHS[dtype]))} bytes)")


def load(name_or_path: str) -> Suite:
    """A suite by name (quick, full) or by the path of a .toml file."""
    path = Path(name_or_path)
    if not (path.suffix == ".toml" and path.is_file()):
        path = benchmarks_dir() / f"{name_or_path}.toml"
    if not path.is_file():
        raise SmbenchError(f"unknown suite {name_or_path!r}; suites: {', '.join(available())} (or a .toml path)")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SmbenchError(f"{path.name}: not valid TOML ({exc})") from None
    check(data, path.name)
    suite = Suite(path.stem, path, str(data.get("description", "")), data)
    for backend in ("cuda", "cpu"):
        suite.timing(backend)  # min_samples <= max_samples and the rest, said now
    return suite
