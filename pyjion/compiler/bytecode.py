"""Decode a 3.11 code object into instructions with the indices the interpreter uses.

Reads ``co_code`` (de-quickened) through :mod:`dis`, never the adaptive bytes. Three indices matter and
are kept apart, because confusing them is the classic 3.11 JIT bug:

* ``index``: the code unit of the opcode itself; ``prev_instr``/``f_lasti`` and exception-table
  lookups name it.
* ``start``: its first ``EXTENDED_ARG`` prefix; jumps land and interpreter resumption starts here.
* ``next``: the ``start`` of the following instruction, after the inline CACHE units.
"""
from __future__ import annotations

import dis
from dataclasses import dataclass
from types import CodeType

from ..abi.cpython311 import INLINE_CACHE_ENTRIES

JUMPS = frozenset(dis.opname[op] for op in dis.hasjrel + dis.hasjabs)
BACKWARD_JUMPS = frozenset(n for n in JUMPS if "BACKWARD" in n)
UNCONDITIONAL_JUMPS = frozenset({"JUMP_FORWARD", "JUMP_BACKWARD", "JUMP_BACKWARD_NO_INTERRUPT"})
TERMINATORS = UNCONDITIONAL_JUMPS | {"RETURN_VALUE", "RAISE_VARARGS", "RERAISE"}


@dataclass(frozen=True)
class Instruction:
    """One bytecode instruction, EXTENDED_ARG prefixes folded in."""

    index: int
    start: int
    next: int
    opname: str
    arg: int | None
    argval: object
    line: int | None
    target: int | None  # ``start`` index a jump goes to

    @property
    def is_jump(self) -> bool:
        return self.target is not None

    @property
    def falls_through(self) -> bool:
        return self.opname not in TERMINATORS

    @property
    def last_unit(self) -> int:
        """The code unit just before ``next``: what ``prev_instr`` must name once this has run."""
        return self.next - 1

    def __str__(self) -> str:
        arg = "" if self.arg is None else f" {self.arg}"
        return f"{self.index * 2:>4} {self.opname}{arg}"


def decode(code: CodeType) -> list[Instruction]:
    instructions: list[Instruction] = []
    prefix_start: int | None = None
    line = None
    for ins in dis.get_instructions(code):
        index = ins.offset // 2
        if ins.starts_line is not None:
            line = ins.starts_line
        if ins.positions is not None and ins.positions.lineno is not None:
            line = ins.positions.lineno
        if ins.opname == "EXTENDED_ARG":
            if prefix_start is None:
                prefix_start = index
            continue
        start = index if prefix_start is None else prefix_start
        prefix_start = None
        target = ins.argval // 2 if ins.opname in JUMPS else None
        following = index + 1 + INLINE_CACHE_ENTRIES.get(ins.opname, 0)
        # Exception handlers have no line of their own in 3.11: they keep the last one seen.
        instructions.append(Instruction(index, start, following, ins.opname, ins.arg, ins.argval, line, target))
    return instructions
