"""One emitter per opcode, grouped by family; :data:`EMITTERS` is the table the lowering dispatches on.

An emitter mirrors its ``TARGET(...)`` in ceval.c: it pops its inputs from the lowering's stack,
releases them, checks for errors (the stack below its inputs is what the error exit spills), and
pushes its results.
"""
from __future__ import annotations

from typing import Callable

from ..bytecode import Instruction
from . import (calls, containers, control, exceptions, generators, locals_, names, operators, patterns,
               stack)

Emitter = Callable[..., None]


def _merge(*tables: dict[str, Emitter]) -> dict[str, Emitter]:
    merged: dict[str, Emitter] = {}
    for table in tables:
        overlap = merged.keys() & table.keys()
        assert not overlap, f"opcodes emitted twice: {sorted(overlap)}"
        merged.update(table)
    return merged


EMITTERS: dict[str, Emitter] = _merge(stack.EMITTERS, locals_.EMITTERS, names.EMITTERS, operators.EMITTERS,
                                      control.EMITTERS, calls.EMITTERS, containers.EMITTERS, exceptions.EMITTERS,
                                      generators.EMITTERS, patterns.EMITTERS)

# The interpreter's specialised instructions some emitter turns into a fast path (compiler/feedback.py).
SPECIALISED: frozenset[str] = frozenset(operators.SPECIALISED + names.SPECIALISED + calls.SPECIALISED)
# What the site cache of a specialised instruction starts with, from its inline cache.
CACHE_SEEDS = {**names.CACHE_SEEDS, "BINARY_SUBSCR_GETITEM": operators.getitem_seed}

__all__ = ["CACHE_SEEDS", "EMITTERS", "SPECIALISED", "Instruction"]
