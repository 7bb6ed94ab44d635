"""Stack shuffling and no-ops: NOP, RESUME, POP_TOP, PUSH_NULL, COPY, SWAP, PRECALL, KW_NAMES."""
from __future__ import annotations

from ..analysis import Kind
from ..builder import NULL
from ..bytecode import Instruction
from ..lowering import Lowering


def nop(fx: Lowering, ins: Instruction) -> None:
    pass


def resume(fx: Lowering, ins: Instruction) -> None:
    if ins.arg < 2:  # start of a function (not a generator resumption): ceval polls here
        fx.check_eval_breaker()


def pop_top(fx: Lowering, ins: Instruction) -> None:
    fx.release(fx.pop())


def push_null(fx: Lowering, ins: Instruction) -> None:
    fx.push(NULL, Kind.NULL)


def copy(fx: Lowering, ins: Instruction) -> None:
    entry = fx.peek(ins.arg)
    if entry.kind is Kind.MAYBE_NULL:
        fx.b.xincref(entry.value)
    elif entry.kind is not Kind.NULL:
        fx.b.incref(entry.value)
    fx.push(entry.value, entry.kind)


def swap(fx: Lowering, ins: Instruction) -> None:
    fx.stack[-1], fx.stack[-ins.arg] = fx.stack[-ins.arg], fx.stack[-1]


def kw_names(fx: Lowering, ins: Instruction) -> None:
    fx.kwnames = ins.arg


EMITTERS = {
    "NOP": nop, "PRECALL": nop, "RESUME": resume, "POP_TOP": pop_top, "PUSH_NULL": push_null, "COPY": copy,
    "SWAP": swap, "KW_NAMES": kw_names,
}
