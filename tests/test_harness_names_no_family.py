"""The harness names no family: what a family means by its records (its fields, its verdict
words, its DRAM expectation, its published figures) is asked of the family through the
registry's hooks. The check reads each harness module's syntax tree: a string that is a
family's name or one of its own record fields is logic about that family (docstrings and
comments, which explain, are not read), and so is an import of a family's package."""

from __future__ import annotations

import ast
import textwrap

import pytest

from conftest import ROOT
from smbench.families import registry

PACKAGE = ROOT / "src" / "smbench"
# The harness: every module outside families/ (run, results, frames, the views, devices,
# reference, compare, report, plots, rerun, suites, the CLI, the backends...).
HARNESS = sorted(path for path in PACKAGE.rglob("*.py") if "families" not in path.relative_to(PACKAGE).parts)

# Record and header fields only one family writes: a harness module that reads them knows the family.
FAMILY_FIELDS = ("queued_us", "launch_sync_us", "expected_bandwidth", "dram_threshold_bytes", "dram_resident",
                 "percent_of_clock_peak", "latency_ns", "busbw_gbps", "figure_gbps")
# The verdict words one family gives (the shared ones, normal / low / ..., are the harness's;
# stream's "cache" is also a plain word, a doctor's check among them).
FAMILY_VERDICTS = ("half rate", "twice expected", "below the wgmma rate")


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                found.add(id(body[0].value))
    return found


def family_names_in(source: str, families: tuple[str, ...]) -> list[str]:
    """Where the source names a family as logic: (line: what) for each."""
    tree = ast.parse(source)
    docs = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            text = node.value
            if text in families or text in FAMILY_VERDICTS or any(f in text for f in FAMILY_FIELDS):
                found.append(f"{node.lineno}: {text!r}")
        elif isinstance(node, ast.ImportFrom) and node.module:
            # `from smbench.families import stream` names the family; so does `from smbench.families.stream ...`
            names = ([f"{node.module}.{alias.name}" for alias in node.names] if node.module == "smbench.families"
                     else [node.module])
            found += [f"{node.lineno}: imports {n}" for n in names
                      if any(n == f"smbench.families.{f}" or n.startswith(f"smbench.families.{f}.") for f in families)]
        elif isinstance(node, ast.Import):
            found += [f"{node.lineno}: imports {a.name}" for a in node.names
                      if any(a.name.startswith(f"smbench.families.{f}") for f in families)]
    return sorted(found, key=lambda line: int(line.split(":")[0]))


def test_the_check_finds_planted_family_logic():
    families = tuple(registry())
    planted = textwrap.dedent('''
        """A docstring may say stream, peak and queued_us: it explains."""
        from smbench.families.stream import publish
        from smbench.families import launch, registry, peak
        import smbench.families.peak.view

        def f(record, document):
            """So may a function's."""
            if record["family"] == "stream":  # a comment may too
                return record.get("queued_us")
            return document["expected_bandwidth"], f"x {record['launch_sync_us']}", "half rate"
        ''')
    found = family_names_in(planted, families)
    assert [line.split(":")[0] for line in found] == ["3", "4", "4", "5", "9", "10", "11", "11", "11"], found
    clean = 'def f(record):\n    """stream and peak, in words."""\n    return record["family"]  # stream\n'
    assert family_names_in(clean, families) == []


@pytest.mark.parametrize("path", HARNESS, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_harness_names_no_family(path):
    assert family_names_in(path.read_text(encoding="utf-8"), tuple(registry())) == []
