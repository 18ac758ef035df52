"""No function in src/ runs over 80 lines (the project's rule for functions a person can hold
in mind at once): the check reads each module's syntax tree, from the `def` line to the last
line of the body, nested functions counted in their parent and on their own."""

from __future__ import annotations

import ast

from conftest import ROOT

LIMIT = 80


def long_functions(source: str, name: str = "<source>") -> list[str]:
    """'file:line name (n lines)' for each function longer than LIMIT."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            if length > LIMIT:
                found.append(f"{name}:{node.lineno} {node.name} ({length} lines)")
    return found


def _function(lines: int) -> str:
    body = "".join(f"    x{i} = {i}\n" for i in range(lines - 2))
    return f"def planted():\n{body}    return 0\n"


def test_the_check_finds_a_planted_long_function():
    assert long_functions(_function(LIMIT)) == []
    assert long_functions(_function(LIMIT + 1)) == ["<source>:1 planted (81 lines)"]
    nested = "class A:\n    def method(self):\n" + "".join(f"        y{i} = {i}\n" for i in range(LIMIT))
    assert long_functions(nested) == ["<source>:2 method (81 lines)"]


def test_no_function_in_the_package_is_over_80_lines():
    found = []
    for path in sorted((ROOT / "src").rglob("*.py")):
        found += long_functions(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    assert found == []
