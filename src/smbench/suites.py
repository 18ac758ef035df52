"""Benchmark suites: TOML files in benchmarks/ saying which families run over which axes."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from smbench.errors import SmbenchError
from smbench.families import names, registry
from smbench.paths import benchmarks_dir
from smbench.axes import Axes, Setting, Values, nearest
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
        word = unknown[0] if unknown else ""
        raise SmbenchError(f"unknown family {word!r}{nearest(word, known)}; families: {', '.join(known)}")
    return only


@dataclass
class Suite:
    name: str
    path: Path
    description: str
    data: dict

    def timing(self, backend: str) -> TimingPolicy:
        timing = self.section("timing")
        settings = {k: timing[k] for k in ("warmup", "min_samples", "max_samples", "noise_target", "budget_s")}
        if backend == "cpu" and self.section("cpu")["budget_s"]:
            settings["budget_s"] = self.section("cpu")["budget_s"]
        settings["host_interval"] = self.section("cpu")["interval_target"]
        try:
            return TimingPolicy(**settings)
        except (TypeError, ValueError) as exc:
            raise SmbenchError(f"{self.path.name}: [timing] {exc}") from None

    def section(self, name: str) -> Values:
        """A section's settings with every default its table declares (smbench.axes)."""
        return sections()[name].values(self.data.get(name))

    def runs(self, family: str) -> bool:
        """A family runs where the suite has its section, an empty one included."""
        return isinstance(self.data.get(family), dict)


def available() -> list[str]:
    return sorted(p.stem for p in benchmarks_dir().glob("*.toml"))


_POLICY = TimingPolicy()  # its defaults are the [timing] section's
# The harness's own sections, declared like a family's (smbench.axes): settings only.
HARNESS = {
    "timing": Axes(
        Setting("warmup", _POLICY.warmup, (is_int(0), "a whole number >= 0")),
        Setting("min_samples", _POLICY.min_samples, (is_int(2), "a whole number >= 2")),
        Setting("max_samples", _POLICY.max_samples, (is_int(2), "a whole number >= 2")),
        Setting("noise_target", _POLICY.noise_target, (is_number, "a positive number (0.005 = 0.5%)")),
        Setting("budget_s", _POLICY.budget_s, (is_number, "a positive number of seconds")),
        # Every GPU figure is queued behind the blocking kernel: host-timed launches measured
        # CuPy's launch overhead, not kernels. The key stays for files that say `true`.
        Setting("blocking", True, (lambda v: v is True,
                                   "true (GPU timing is always device-bound; false is no longer offered)")),
        Setting("cold_l2", False, (lambda v: isinstance(v, bool), "true or false")),
    ),
    # The cases families ask to run last (memory the CPU owns, which may fault) come after every
    # family's, or, with last_before, before the families named there (a run cut at a time limit,
    # as gpu-check's, loses those first).
    "order": Axes(
        Setting("last_before", (), (lambda v: isinstance(v, list) and all(x in names() for x in v),
                                    "a list of family names (run --help lists them)")),
    ),
    # The CPU reference path's caps (the host CPU's figures prove the pipeline; they need no gigabytes).
    "cpu": Axes(
        Setting("largest_mib", None, (is_int(1), "a whole number of MiB >= 1 (the largest working set)")),
        Setting("budget_s", None, (is_number, "a positive number of seconds (the [timing] budget on the CPU path)")),
        # The CPU path's stop rule (smbench.host_timing): sampling converges when the median's 95%
        # interval is within +-interval_target of it.
        Setting("interval_target", _POLICY.host_interval,
                (lambda v: is_number(v) and 0 < v < 1, "a fraction between 0 and 1 (0.05 = +-5%)")),
    ),
}
TOP_LEVEL = ("description",)  # a suite's keys that are not sections
def moved() -> dict:
    """(section, key) -> (section, key) where it went, or None where it is no longer needed: the
    keys a result file's suite may hold from an earlier smbench, as each family says (Family.moved)."""
    return {old: (name, to) if to else None for name, family in registry().items() for old, to in family.moved.items()}


def migrate(data: dict) -> dict:
    """A suite recorded by an earlier smbench, its moved keys where they are now."""
    data = {name: dict(value) if isinstance(value, dict) else value for name, value in data.items()}
    for (section, key), to in moved().items():
        if isinstance(data.get(section), dict) and key in data[section]:
            value = data[section].pop(key)
            if to is not None and isinstance(data.get(to[0]), dict):
                data[to[0]].setdefault(to[1], value)
    timing = data.get("timing")
    if isinstance(timing, dict) and timing.get("blocking") is False:
        # Files from before every GPU figure was device-bound: the rerun is device-bound.
        data["timing"] = {k: v for k, v in timing.items() if k != "blocking"}
    return data


def sections() -> dict[str, Axes]:
    """Every section a suite may have: each family's, then [timing] and [cpu]."""
    return {**{name: family.axes for name, family in registry().items()}, **HARNESS}


def schema() -> dict:
    """section -> key -> (check, what it should be)."""
    return {name: axes.schema() for name, axes in sections().items()}


def check(data: dict, name: str) -> None:
    """Every section known and a table, every key known and of the right type and range, and
    each family's settings holding together: else a one-line SmbenchError. A misspelt section
    is an error like a misspelt key (it would otherwise run with the defaults)."""
    known = sections()
    for section, value in data.items():
        if section in TOP_LEVEL:
            continue
        if section not in known:
            raise SmbenchError(f"{name}: no section [{section}]{nearest(section, known)} "
                               f"(sections: {', '.join(known)})")
        known[section].check(value, name, section)


def load(name_or_path: str) -> Suite:
    """A suite by name (quick, full) or by the path of a .toml file."""
    path = Path(name_or_path)
    if not (path.suffix == ".toml" and path.is_file()):
        path = benchmarks_dir() / f"{name_or_path}.toml"
    if not path.is_file():
        raise SmbenchError(f"unknown suite {name_or_path!r}{nearest(name_or_path, available())}; "
                           f"suites: {', '.join(available())} (or a .toml path)")
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
        if section not in sections():
            raise SmbenchError(f"--set {assignment!r}: no section [{section}]{nearest(section, sections())} "
                               f"(sections: {', '.join(sections())})")
        try:
            value = tomllib.loads(f"value = {text.strip()}")["value"]
        except tomllib.TOMLDecodeError:
            value = text.strip()  # a bare word: a string
        # Said with the --set that asked, before the suite as a whole is checked.
        sections()[section].check_setting(key.strip(), value, f"--set {assignment!r}", section)
        table = data.setdefault(section, {})
        if not isinstance(table, dict):
            raise SmbenchError(f"--set {assignment!r}: [{section}] in the suite is not a table")
        table[key.strip()] = value
    changed = Suite(suite.name, suite.path, suite.description, data)
    check(data, f"{suite.path.name} with --set")
    for backend in ("cuda", "cpu"):
        changed.timing(backend)
    return changed
