"""Benchmark suites: TOML files in benchmarks/ saying which families run over which axes."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from smbench.errors import SmbenchError
from smbench.families import stream
from smbench.paths import benchmarks_dir
from smbench.timing import TimingPolicy

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

FAMILIES = ("stream", "transfer", "launch")


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
    section = data.get("stream", {})
    for op in section.get("operations", []) + section.get("memory_kinds_operations", []):
        if op not in stream.OPERATIONS:
            raise SmbenchError(f"{path.name}: unknown stream operation {op!r}")
    for dtype in section.get("dtypes", []):
        if dtype not in stream.DTYPES:
            raise SmbenchError(f"{path.name}: unknown dtype {dtype!r} (f32, f64)")
    for width in section.get("widths", []):
        if width not in (4, 8, 16):
            raise SmbenchError(f"{path.name}: width {width!r} is not 4, 8 or 16 bytes")
    return Suite(path.stem, path, data.get("description", ""), data)
