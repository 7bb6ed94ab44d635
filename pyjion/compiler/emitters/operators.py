"""Operators: BINARY_OP, UNARY_*, COMPARE_OP, IS_OP, CONTAINS_OP and subscripts."""
from __future__ import annotations

from ..builder import i32
from ..bytecode import Instruction
from ..lowering import Lowering

# BINARY_OP's oparg indexes ceval's ``binary_ops`` table: NB_ADD .. NB_XOR, then the in-place forms.
_BINARY = ("Add", "And", "FloorDivide", "Lshift", "MatrixMultiply", "Multiply", "Remainder", "Or", "Power",
           "Rshift", "Subtract", "TrueDivide", "Xor")
BINARY_FUNCTIONS = tuple(f"PyNumber_{n}" for n in _BINARY) + tuple(f"PyNumber_InPlace{n}" for n in _BINARY)


def binary_op(fx: Lowering, ins: Instruction) -> None:
    left, right = fx.popn(2)
    function = BINARY_FUNCTIONS[ins.arg]
    if function.endswith("Power"):  # _PyNumber_PowerNoMod
        result = fx.b.call(function, left.value, right.value, fx.b.none())
    else:
        result = fx.b.call(function, left.value, right.value)
    fx.release(left)
    fx.release(right)
    fx.error_if_null(result)
    fx.push(result)


def _unary(function: str):
    def emit(fx: Lowering, ins: Instruction) -> None:
        value = fx.pop()
        result = fx.b.call(function, value.value)
        fx.release(value)
        fx.error_if_null(result)
        fx.push(result)
    return emit


def unary_not(fx: Lowering, ins: Instruction) -> None:
    value = fx.pop()
    truth = fx.b.call("PyObject_IsTrue", value.value)
    fx.release(value)
    fx.error_if_negative(truth)
    fx.push(fx.bool_object(fx.r.icmp_signed("==", truth, i32(0))))


def compare_op(fx: Lowering, ins: Instruction) -> None:
    left, right = fx.popn(2)
    result = fx.b.call("PyObject_RichCompare", left.value, right.value, i32(ins.arg))
    fx.release(left)
    fx.release(right)
    fx.error_if_null(result)
    fx.push(result)


def is_op(fx: Lowering, ins: Instruction) -> None:
    left, right = fx.popn(2)
    same = fx.r.icmp_unsigned("==" if ins.arg == 0 else "!=", left.value, right.value)
    fx.release(left)
    fx.release(right)
    fx.push(fx.bool_object(same))


def contains_op(fx: Lowering, ins: Instruction) -> None:
    left, right = fx.popn(2)
    found = fx.b.call("PySequence_Contains", right.value, left.value)
    fx.release(left)
    fx.release(right)
    fx.error_if_negative(found)
    fx.push(fx.bool_object(fx.r.icmp_signed("==" if ins.arg else "!=", found, i32(0))))


def binary_subscr(fx: Lowering, ins: Instruction) -> None:
    container, sub = fx.popn(2)
    result = fx.b.call("PyObject_GetItem", container.value, sub.value)
    fx.release(container)
    fx.release(sub)
    fx.error_if_null(result)
    fx.push(result)


def store_subscr(fx: Lowering, ins: Instruction) -> None:
    value, container, sub = fx.popn(3)
    status = fx.b.call("PyObject_SetItem", container.value, sub.value, value.value)
    for entry in (value, container, sub):
        fx.release(entry)
    fx.error_if_negative(status)


def delete_subscr(fx: Lowering, ins: Instruction) -> None:
    container, sub = fx.popn(2)
    status = fx.b.call("PyObject_DelItem", container.value, sub.value)
    fx.release(container)
    fx.release(sub)
    fx.error_if_negative(status)


EMITTERS = {
    "BINARY_OP": binary_op, "UNARY_POSITIVE": _unary("PyNumber_Positive"),
    "UNARY_NEGATIVE": _unary("PyNumber_Negative"), "UNARY_INVERT": _unary("PyNumber_Invert"),
    "UNARY_NOT": unary_not, "COMPARE_OP": compare_op, "IS_OP": is_op, "CONTAINS_OP": contains_op,
    "BINARY_SUBSCR": binary_subscr, "STORE_SUBSCR": store_subscr, "DELETE_SUBSCR": delete_subscr,
}
