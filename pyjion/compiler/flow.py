"""Control flow: basic blocks of instructions, their successors, and the stack depth at each entry."""
from __future__ import annotations

import dis
from dataclasses import dataclass, field
from types import CodeType
from typing import Iterable

from .bytecode import Instruction


class StackEffectFault(Exception):
    """Stack depths disagree where control flow merges (or go negative)."""


@dataclass(frozen=True)
class Handler:
    """Where an exception raised by an instruction goes (an exception-table entry, in code units)."""

    target: int
    depth: int  # the value stack is cut to this depth ...
    lasti: bool  # ... then, if set, the raising instruction's index is pushed, then the exception

    @property
    def entry_depth(self) -> int:
        return self.depth + self.lasti + 1


def exception_handlers(code: CodeType, instructions: list[Instruction]) -> dict[int, Handler]:
    """The handler of each instruction that has one, keyed by ``index`` (what the interpreter looks up).

    Table entries are sorted and disjoint, like the instructions: one pass over both.
    """
    found: dict[int, Handler] = {}
    entries = iter(dis._parse_exception_table(code))
    entry = next(entries, None)
    for ins in instructions:
        offset = ins.index * 2
        while entry is not None and entry.end <= offset:
            entry = next(entries, None)
        if entry is not None and entry.start <= offset:
            found[ins.index] = Handler(entry.target // 2, entry.depth, bool(entry.lasti))
    return found


@dataclass
class Block:
    """A maximal run of instructions entered only at the top; keyed by its first ``start`` index."""

    start: int
    instructions: list[Instruction] = field(default_factory=list)
    fallthrough: int | None = None  # next block when the last instruction does not jump
    depth: int | None = None  # value-stack depth on entry

    @property
    def last(self) -> Instruction:
        return self.instructions[-1]


def depth_after(ins: Instruction, depth: int, jump: bool) -> int:
    if ins.opname == "RETURN_GENERATOR":
        return depth + 1  # the generator resumes after it with the sent value (None) pushed
    opcode = dis.opmap[ins.opname]
    effect = dis.stack_effect(opcode, ins.arg if opcode >= dis.HAVE_ARGUMENT else None, jump=jump)
    return depth + effect


def build_blocks(instructions: list[Instruction], handlers: dict[int, Handler] | None = None,
                 resumes: Iterable[int] = ()) -> dict[int, Block]:
    """Split into blocks and compute entry depths; blocks unreachable from the entry keep depth None.

    ``handlers`` adds an edge from each instruction to its exception handler; ``resumes`` are the
    places a suspended generator resumes at: they start blocks, entered from outside as well.
    """
    handlers = handlers or {}
    leaders = {instructions[0].start, *(h.target for h in handlers.values()), *resumes}
    for ins in instructions:
        if ins.is_jump:
            leaders.add(ins.target)
        if ins.is_jump or not ins.falls_through:
            leaders.add(ins.next)
    blocks: dict[int, Block] = {}
    current: Block | None = None
    for ins in instructions:
        if ins.start in leaders:
            current = blocks[ins.start] = Block(ins.start)
        current.instructions.append(ins)
    order = list(blocks)
    for position, start in enumerate(order):
        if blocks[start].last.falls_through and position + 1 < len(order):
            blocks[start].fallthrough = order[position + 1]
    _compute_depths(blocks, handlers)
    return blocks


def resume_points(instructions: list[Instruction]) -> dict[int, int]:
    """Generators: ``prev_instr`` of a suspended frame -> the code unit execution resumes at.

    After RETURN_GENERATOR and each YIELD_VALUE, the next instruction; and the target of each SEND,
    because ``_gen_throw`` rewinds ``prev_instr`` to just before it when a delegated iterator finishes.
    """
    points = {}
    for ins in instructions:
        if ins.opname in ("RETURN_GENERATOR", "YIELD_VALUE"):
            points[ins.index] = ins.next
        elif ins.opname == "SEND":
            points[ins.target - 1] = ins.target
    return points


def _compute_depths(blocks: dict[int, Block], handlers: dict[int, Handler]) -> None:
    entry = next(iter(blocks.values()))
    entry.depth = 0
    work = [entry]
    while work:
        block = work.pop()
        depth = block.depth
        edges = []
        for ins in block.instructions:
            handler = handlers.get(ins.index)
            if handler is not None:
                if depth < handler.depth:
                    raise StackEffectFault(f"depth {depth} below its handler's {handler.depth} at {ins}")
                edges.append((handler.target, handler.entry_depth))
            if ins is not block.last:
                depth = depth_after(ins, depth, jump=False)
                if depth < 0:
                    raise StackEffectFault(f"negative stack depth after {ins}")
        last = block.last
        if block.fallthrough is not None:
            edges.append((block.fallthrough, depth_after(last, depth, jump=False)))
        if last.is_jump:
            edges.append((last.target, depth_after(last, depth, jump=True)))
        for successor, successor_depth in edges:
            target = blocks[successor]
            if target.depth is None:
                target.depth = successor_depth
                work.append(target)
            elif target.depth != successor_depth:
                raise StackEffectFault(f"depth {successor_depth} != {target.depth} entering offset "
                                       f"{2 * successor} from {last}")
