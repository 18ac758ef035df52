"""Just enough PTX structure to tell which kernel a ptxas error belongs to, and to drop it.

A PTX module is a header (.version, .target, .address_size), global declarations,
and function blocks: `.entry NAME(params) { ... }` for kernels, `.func` for device
functions. Braces inside a body (vector operands such as {%r1, %r2}) are balanced on
their own line, so counting braces finds where each block ends.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

_BLOCK_START = re.compile(r"^\s*(?:\.visible\s+|\.weak\s+|\.extern\s+)*\.(entry|func)\s+(?:\([^)]*\)\s*)?([\w$]+)")
_PTXAS_LINE = re.compile(r"ptx input, line (\d+);\s*(.*)")


@dataclass(frozen=True)
class Block:
    kind: str  # "entry" or "func"
    name: str
    first_line: int  # 1-based, inclusive
    last_line: int
    has_body: bool = True  # False for a prototype: `.func foo(...);`, `.extern .func vprintf(...);`


_CALL = re.compile(r"\bcall(?:\.uni)?\s+(?:\([^)]*\)\s*,\s*)?([\w$]+)")


def blocks(ptx: str, prototypes: bool = False) -> list[Block]:
    """The .entry and .func blocks with a body, and with prototypes=True the bodiless
    declarations too."""
    return list(_blocks(ptx, prototypes))


# compat reads the same module's structure several times (its kernels, whom an error
# blames, what to drop); a GEMM's PTX runs to tens of thousands of lines.
@functools.lru_cache(maxsize=32)
def _blocks(ptx: str, prototypes: bool) -> tuple[Block, ...]:
    lines = ptx.splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        match = _BLOCK_START.match(lines[index])
        if not match:
            index += 1
            continue
        start, depth, seen_body, end = index, 0, False, None
        cursor = index
        while cursor < len(lines):
            text = lines[cursor].split("//", 1)[0]
            if not seen_body and text.rstrip().endswith(";") and "{" not in text and depth == 0:
                end = cursor  # a prototype: `.extern .func foo(...);`
                break
            # Only the balance at the end of the line matters (a line's own braces, such as a
            # vector operand's, close on it), so counting is enough: big modules scan fast.
            opens = text.count("{")
            if opens:
                seen_body = True
            depth += opens - text.count("}")
            if seen_body and depth == 0:
                end = cursor
                break
            cursor += 1
        if end is None:
            end = len(lines) - 1
        if seen_body or prototypes:
            found.append(Block(match.group(1), match.group(2), start + 1, end + 1, seen_body))
        index = end + 1
    return tuple(found)


def entries(ptx: str) -> list[str]:
    """Kernel names in the order the module defines them."""
    return [b.name for b in blocks(ptx) if b.kind == "entry"]


def ptxas_errors(log: str) -> list[tuple[int, str]]:
    """(PTX line, message) for each ptxas error line in a compile log."""
    out = []
    for line in log.splitlines():
        match = _PTXAS_LINE.search(line)
        if match and "error" in line.lower():
            out.append((int(match.group(1)), line.strip()))
    return out


def attribute_errors(ptx: str, log: str) -> dict[str, str]:
    """Kernel name -> its first ptxas error line, for every kernel the log blames.

    An error inside a .func is charged to every kernel that calls that function
    (directly or through other functions).
    """
    module_blocks = blocks(ptx)
    lines = ptx.splitlines()

    def block_at(line_number: int) -> Block | None:
        for block in module_blocks:
            if block.first_line <= line_number <= block.last_line:
                return block
        return None

    def body(block: Block) -> str:
        return "\n".join(lines[block.first_line - 1:block.last_line])

    blamed: dict[str, str] = {}
    for line_number, message in ptxas_errors(log):
        block = block_at(line_number)
        if block is None:
            continue
        if block.kind == "entry":
            blamed.setdefault(block.name, message)
            continue
        # Walk callers of the failing function up to the kernels.
        pending, visited = [block.name], set()
        while pending:
            callee = pending.pop()
            if callee in visited:
                continue
            visited.add(callee)
            pattern = re.compile(r"\bcall(?:\.uni)?\b[^;]*\b" + re.escape(callee) + r"\b")
            for caller in module_blocks:
                if caller.name != callee and pattern.search(body(caller)):
                    if caller.kind == "entry":
                        blamed.setdefault(caller.name, message)
                    else:
                        pending.append(caller.name)
    return blamed


def drop_entries(ptx: str, names: set[str]) -> str:
    """The module without the named kernels, and without every device function (and its
    prototype) that no remaining kernel calls, so a rejected function leaves with its callers."""
    lines = ptx.splitlines()
    every = blocks(ptx, prototypes=True)
    bodies = {b.name: "\n".join(lines[b.first_line - 1:b.last_line]) for b in every if b.has_body}
    kept_entries = [b.name for b in every if b.kind == "entry" and b.name not in names]
    reachable: set[str] = set()
    pending = list(kept_entries)
    while pending:
        for callee in _CALL.findall(bodies.get(pending.pop(), "")):
            if callee not in reachable:
                reachable.add(callee)
                pending.append(callee)
    keep = [True] * len(lines)
    for block in every:
        dropped = block.name in names if block.kind == "entry" else block.name not in reachable
        if dropped:
            for i in range(block.first_line - 1, block.last_line):
                keep[i] = False
    return "\n".join(line for line, k in zip(lines, keep) if k) + "\n"


def target_of(ptx: str) -> str | None:
    match = re.search(r"^\s*\.target\s+(\w+)", ptx, re.MULTILINE)
    return match.group(1) if match else None
