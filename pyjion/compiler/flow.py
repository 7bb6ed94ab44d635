"""Control flow: basic blocks of instructions, their successors, and the stack depth at each entry."""
from __future__ import annotations

import dis
from dataclasses import dataclass, field

from .bytecode import Instruction


class StackEffectFault(Exception):
    """Stack depths disagree where control flow merges (or go negative)."""


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
    opcode = dis.opmap[ins.opname]
    effect = dis.stack_effect(opcode, ins.arg if opcode >= dis.HAVE_ARGUMENT else None, jump=jump)
    return depth + effect


def build_blocks(instructions: list[Instruction]) -> dict[int, Block]:
    """Split into blocks and compute entry depths; blocks unreachable from the entry keep depth None."""
    leaders = {instructions[0].start}
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
    _compute_depths(blocks)
    return blocks


def _compute_depths(blocks: dict[int, Block]) -> None:
    entry = next(iter(blocks.values()))
    entry.depth = 0
    work = [entry]
    while work:
        block = work.pop()
        depth = block.depth
        for ins in block.instructions[:-1]:
            depth = depth_after(ins, depth, jump=False)
            if depth < 0:
                raise StackEffectFault(f"negative stack depth after {ins}")
        last = block.last
        edges = []
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
