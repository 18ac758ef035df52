"""Each family writes what it asks of a backend as a Protocol (families/<name>/part.py), and
every backend's part (families/<name>/<backend>.py) satisfies it: the same members, the same
parameters. Family code asks the runner's capabilities, never its name."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
from pathlib import Path
from typing import Protocol

import pytest

from smbench import families
from smbench.backends import CHOICES
from smbench.backends.runners import CpuRunner, Runner, dram_starts

BACKENDS = [choice for choice in CHOICES if choice != "auto"]
FAMILIES_DIR = Path(families.__file__).parent


def _protocol(name: str) -> type:
    module = importlib.import_module(f"smbench.families.{name}.part")
    found = [value for key, value in vars(module).items() if key.endswith("Part") and isinstance(value, type)
             and issubclass(value, Protocol) and value.__module__ == module.__name__]
    assert len(found) == 1, f"families/{name}/part.py should write one <Name>Part protocol, found {found}"
    return found[0]


def _members(protocol: type) -> dict[str, object]:
    return {name: value for name, value in vars(protocol).items() if not name.startswith("_")} | {
        name: None for name in getattr(protocol, "__annotations__", {})}


@pytest.mark.parametrize("name", families.names())
def test_every_backend_part_satisfies_its_familys_protocol(name):
    protocol = _protocol(name)
    parts = [b for b in BACKENDS if importlib.util.find_spec(f"smbench.families.{name}.{b}") is not None]
    assert parts, f"{name} has no backend part"
    for backend in parts:
        module = importlib.import_module(f"smbench.families.{name}.{backend}")
        assert isinstance(module, protocol), f"families/{name}/{backend}.py lacks a member of {protocol.__name__}"
        for member, declared in _members(protocol).items():
            if callable(declared) and inspect.isfunction(declared):
                wanted = list(inspect.signature(declared).parameters)[1:]  # less self
                got = list(inspect.signature(getattr(module, member)).parameters)
                assert got[:len(wanted)] == wanted, f"{name}/{backend}.py {member}{tuple(got)}: the protocol has {wanted}"


def test_no_family_code_asks_the_backend_by_name():
    """A difference between backends is a capability of the runner or something its part
    provides: family code never branches on runner.name."""
    asked = [f"{path.relative_to(FAMILIES_DIR)}:{number}" for path in FAMILIES_DIR.rglob("*.py")
             for number, line in enumerate(path.read_text().splitlines(), 1)
             if re.search(r"runner\.name\b|getattr\(runner, \"name\"", line)]
    assert asked == []


def test_a_backend_without_a_familys_part_is_one_row_in_the_familys_words():
    runner = CpuRunner()
    registry = families.registry()
    assert runner.lacks(registry["stream"]) == ""  # the CPU path has a stream part
    why = runner.lacks(registry["transfer"])
    assert why.startswith(registry["transfer"].needs + ": ") and why.endswith("transfer has none")
    runs = why.split("a cpu part (")[1].split(")")[0].split(", ")  # the families it does run
    assert "stream" in runs and "transfer" not in runs and "launch" not in runs
    runs_anywhere = families.Family("anywhere", 99, "no backend part", registry["launch"].axes, None, None)
    assert runner.lacks(runs_anywhere) == ""  # a family whose run needs no part runs on every backend


def test_dram_starts_past_four_times_the_last_level_cache():
    assert dram_starts(50 << 20) == 200 << 20 and dram_starts(None) == 0
    runner = CpuRunner()
    assert runner.last_level_cache_bytes == max(runner.info["l2_bytes"], runner.info.get("l3_bytes") or 0)
    assert runner.home_memory == "host" and runner.figures_are_host_cpu
    assert [kind.kind for kind in runner.memory_kinds()] == ["host"]
    assert Runner.home_memory in ("device", "host", "unified")
