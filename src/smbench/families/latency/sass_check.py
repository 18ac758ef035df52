"""What the chase loop compiled to: its loads, and whether each load's address is made
from an earlier load's value (a dependent chain), read from cuobjdump's SASS listing.

smbench.sass gives each loop's histogram; a chase also needs the operands, so this reads
the listing's instructions (sass.kernel_listing, sass.backward_branches): for every LDG in the loop that holds the most of them, the
instruction that last wrote its address register (going back around the loop) must read
a register that some LDG of the loop loaded. A loop whose loads were made independent
(an address from a counter, say) fails the check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from smbench import sass

_REGISTER = re.compile(r"\bR(\d+)\b")
_ADDRESS = re.compile(r"\[R(\d+)(?:\.64)?")


@dataclass
class Instruction:
    address: int
    opcode: str
    operands: str

    @property
    def head(self) -> str:
        return self.opcode.split(".")[0]

    def writes(self) -> set[int]:
        """Registers written: the first operand (a 64-bit result also writes the next one)."""
        if self.head in ("ST", "STG", "STS", "STL", "BRA", "EXIT", "RED", "BAR", "ISETP", "UISETP"):
            return set()
        first = self.operands.split(",")[0]
        match = _REGISTER.search(first)
        if not match:
            return set()
        register = int(match.group(1))
        wide = ".WIDE" in self.opcode or ".64" in self.opcode or self.head in ("CS2R",)
        return {register, register + 1} if wide else {register}

    def reads(self) -> set[int]:
        parts = self.operands.split(",")
        sources = parts if self.head in ("ST", "STG", "STS", "STL", "RED") else parts[1:]
        found = set()
        for part in sources:
            found |= {int(r) for r in _REGISTER.findall(part)}
        return found

    def address_register(self) -> int | None:
        match = _ADDRESS.search(self.operands)
        return int(match.group(1)) if match else None


@dataclass
class LoopLoads:
    kernel: str
    loads: list[str] = field(default_factory=list)  # each LDG's opcode, in loop order
    dependent: int = 0  # loads whose address comes from a loaded value
    detail: str = ""

    @property
    def all_dependent(self) -> bool:
        return bool(self.loads) and self.dependent == len(self.loads)


def listing(text: str, kernel: str) -> list[Instruction]:
    """The instructions of one kernel in a `cuobjdump -sass` listing."""
    return [Instruction(*instruction) for instruction in sass.kernel_listing(text, kernel)]


def main_loop(instructions: list[Instruction]) -> list[Instruction]:
    """The body of the loop (a backward branch's span) that holds the most LDGs."""
    best: list[Instruction] = []
    for start, end in sass.backward_branches([(i.address, i.opcode, i.operands) for i in instructions]):
        body = [i for i in instructions if start <= i.address <= end]
        if sum(i.head == "LDG" for i in body) > sum(i.head == "LDG" for i in best):
            best = body
    return best


def loop_loads(text: str, kernel: str) -> LoopLoads:
    body = main_loop(listing(text, kernel))
    result = LoopLoads(kernel)
    if not body:
        result.detail = "no loop with a global load"
        return result
    loaded = set()
    for instruction in body:
        if instruction.head == "LDG":
            loaded |= instruction.writes()
    for position, instruction in enumerate(body):
        if instruction.head != "LDG":
            continue
        result.loads.append(instruction.opcode)
        register = instruction.address_register()
        # The last writer of the address register before this load, going back around the loop.
        writer = next((body[(position - back) % len(body)] for back in range(1, len(body) + 1)
                       if register in body[(position - back) % len(body)].writes()), None)
        if writer is not None and (writer.head == "LDG" and register in writer.writes()
                                   or writer.reads() & loaded):
            result.dependent += 1
        elif not result.detail:
            result.detail = (f"LDG at {instruction.address:#06x}: address R{register} from "
                             f"{writer.opcode + ' ' + writer.operands if writer else 'outside the loop'}, "
                             f"not from a loaded value")
    return result
