"""Benchmark suites: TOML files in benchmarks/ saying which families run over which axes."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from smbench.errors import SmbenchError
from smbench.families import names, registry
from smbench.paths import benchmarks_dir
from smbench.settings import is_int, is_number
from smbench.timing import TimingPolicy

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

def check_families(only: set[str]) -> set[str]:
    """The families asked for, or a one-line error naming the first unknown one."""
    known = names()
    unknown = sorted(only - set(known))
    if unknown or not only:
        raise SmbenchError(f"unknown family {unknown[0] if unknown else ''!r}; families: {', '.join(known)}")
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


# What each key of a suite may hold: (type check, what the error says it should be). Each
# family brings its own section (smbench.families: see schema()); the harness's are these.
_HARNESS_SCHEMA = {
    "timing": {
        "warmup": (is_int(0), "a whole number >= 0"),
        "min_samples": (is_int(2), "a whole number >= 2"),
        "max_samples": (is_int(2), "a whole number >= 2"),
        "noise_target": (is_number, "a positive number (0.005 = 0.5%)"),
        "budget_s": (is_number, "a positive number of seconds"),
        # Every GPU figure is queued behind the blocking kernel: host-timed launches measured
        # CuPy's launch overhead, not kernels. The key stays for files that say `true`.
        "blocking": (lambda v: v is True, "true (GPU timing is always device-bound; false is no longer offered)"),
        "cold_l2": (lambda v: isinstance(v, bool), "true or false"),
    },
    # The cases families ask to run last (memory the CPU owns, which may fault) come after every
    # family's, or, with last_before, before the families named there (a run cut at a time limit,
    # as gpu-check's, loses those first).
    "order": {"last_before": (lambda v: isinstance(v, list) and all(x in names() for x in v),
                              f"a list of families ({', '.join(names())})")},
    "cpu": {"largest_mib": (is_int(1), "a whole number of MiB >= 1"), "budget_s": (is_number, "a positive number"),
            "gemm_max_gflop": (is_number, "a positive number of GFLOP (larger GEMMs are skipped on the CPU)"),
            "gemm_emulate_max": (is_int(1), "a whole number (M x N x K up to which the emulator runs too)")},
}


def schema() -> dict:
    """Every section a suite may have: each family's, then [timing] and [cpu]."""
    return {**{name: family.settings for name, family in registry().items()}, **_HARNESS_SCHEMA}


def check(data: dict, name: str) -> None:
    """Every section a table, every known key of the right type and range, then each family's own
    check of how its settings go together."""
    for section, keys in schema().items():
        table = data.get(section, {})
        if not isinstance(table, dict):
            raise SmbenchError(f"{name}: [{section}] should be a table, not {type(table).__name__}")
        for key, value in table.items():
            if key not in keys:
                raise SmbenchError(f"{name}: [{section}] has no setting {key!r} (known: {', '.join(keys)})")
            valid, should = keys[key]
            if not valid(value):
                raise SmbenchError(f"{name}: [{section}] {key} = {value!r} should be {should}")
    for family_name, family in registry().items():
        if family.check is not None:
            family.check(data.get(family_name, {}), name)  # settings that hold together


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


def with_settings(suite: Suite, assignments: list[str]) -> Suite:
    """The suite with `section.key=value` settings applied (--set), each value read as TOML
    (4, 0.5, true, "f32", [16, 32]; a bare word is a string), then checked like the file."""
    import copy

    data = copy.deepcopy(suite.data)
    for assignment in assignments:
        where, equals, text = assignment.partition("=")
        section, dot, key = where.strip().partition(".")
        if not (equals and dot and section and key):
            raise SmbenchError(f"--set {assignment!r}: write section.key=value, e.g. stream.largest_mib=256")
        if section not in schema():
            raise SmbenchError(f"--set {assignment!r}: no section [{section}] (sections: {', '.join(schema())})")
        try:
            value = tomllib.loads(f"value = {text.strip()}")["value"]
        except tomllib.TOMLDecodeError:
            value = text.strip()  # a bare word: a string
        table = data.setdefault(section, {})
        if not isinstance(table, dict):
            raise SmbenchError(f"--set {assignment!r}: [{section}] in the suite is not a table")
        table[key.strip()] = value
    changed = Suite(suite.name, suite.path, suite.description, data)
    check(data, f"{suite.path.name} with --set")
    for backend in ("cuda", "cpu"):
        changed.timing(backend)
    return changed
