"""Structural pattern matching: MATCH_CLASS, MATCH_KEYS, MATCH_MAPPING, MATCH_SEQUENCE, GET_LEN.

The type-flag tests and ``len`` are native; matching a class or a mapping's keys calls attribute and
``get`` lookups that ceval does in static helpers, reproduced in ``runtime.helpers``.
"""
from __future__ import annotations

from ...abi.cpython311 import TYPE
from ...runtime.helpers import HELPER_MATCH_CLASS, HELPER_MATCH_KEYS
from ..analysis import Kind
from ..builder import i64
from ..bytecode import Instruction
from ..lowering import Lowering

TPFLAGS_SEQUENCE = 1 << 5
TPFLAGS_MAPPING = 1 << 6


def _match_flag(flag: int):
    def emit(fx: Lowering, ins: Instruction) -> None:
        b, r = fx.b, fx.r
        flags = b.load(b.type_of(fx.peek(1).value), TYPE.tp_flags)
        fx.push(fx.bool_object(r.icmp_unsigned("!=", r.and_(flags, i64(flag)), i64(0))), Kind.BOOL)
    return emit


def get_len(fx: Lowering, ins: Instruction) -> None:
    b = fx.b
    length = b.call("PyObject_Size", fx.peek(1).value)
    fx.error_if_negative(length)
    fx.push_result(b.call("PyLong_FromSsize_t", length))


def match_class(fx: Lowering, ins: Instruction) -> None:
    """``[subject, type, names] -> [attributes or None]``."""
    b = fx.b
    if ins.arg > 256:  # beyond the preallocated ints; no real pattern has that many sub-patterns
        fx.deopt(ins.start)
        return
    names = fx.pop()
    kind = fx.pop()
    shape = b.call("PyTuple_Pack", i64(2), b.small_int(ins.arg), names.value)
    fx.error_if_null(shape, cleanup=[names, kind])
    attrs = fx.call_helper(HELPER_MATCH_CLASS, fx.peek(1).value, kind.value, shape)
    b.decref(shape)
    fx.release(names)
    fx.release(kind)
    fx.error_if_null(attrs)
    fx.release(fx.pop())
    fx.push(attrs)


def match_keys(fx: Lowering, ins: Instruction) -> None:
    """``[subject, keys] -> [subject, keys, values or None]``."""
    fx.push_result(fx.call_helper(HELPER_MATCH_KEYS, fx.peek(2).value, fx.peek(1).value))


EMITTERS = {
    "MATCH_MAPPING": _match_flag(TPFLAGS_MAPPING), "MATCH_SEQUENCE": _match_flag(TPFLAGS_SEQUENCE),
    "GET_LEN": get_len, "MATCH_CLASS": match_class, "MATCH_KEYS": match_keys,
}
