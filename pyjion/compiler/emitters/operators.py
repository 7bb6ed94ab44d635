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
    args = [left.value, right.value] + ([fx.b.none()] if function.endswith("Power") else [])  # _PyNumber_PowerNoMod
    fx.push_result(fx.call_releasing(function, args, [left, right]))


def _unary(function: str):
    def emit(fx: Lowering, ins: Instruction) -> None:
        value = fx.pop()
        fx.push_result(fx.call_releasing(function, [value.value], [value]))
    return emit


def unary_not(fx: Lowering, ins: Instruction) -> None:
    value = fx.pop()
    truth = fx.call_releasing("PyObject_IsTrue", [value.value], [value])
    fx.error_if_negative(truth)
    fx.push(fx.bool_object(fx.r.icmp_signed("==", truth, i32(0))))


def compare_op(fx: Lowering, ins: Instruction) -> None:
    left, right = fx.popn(2)
    fx.push_result(fx.call_releasing("PyObject_RichCompare", [left.value, right.value, i32(ins.arg)], [left, right]))


def is_op(fx: Lowering, ins: Instruction) -> None:
    left, right = fx.popn(2)
    same = fx.r.icmp_unsigned("==" if ins.arg == 0 else "!=", left.value, right.value)
    fx.release(left)
    fx.release(right)
    fx.push(fx.bool_object(same))


def contains_op(fx: Lowering, ins: Instruction) -> None:
    left, right = fx.popn(2)
    found = fx.call_releasing("PySequence_Contains", [right.value, left.value], [left, right])
    fx.error_if_negative(found)
    fx.push(fx.bool_object(fx.r.icmp_signed("==" if ins.arg else "!=", found, i32(0))))


def binary_subscr(fx: Lowering, ins: Instruction) -> None:
    container, sub = fx.popn(2)
    fx.push_result(fx.call_releasing("PyObject_GetItem", [container.value, sub.value], [container, sub]))


def store_subscr(fx: Lowering, ins: Instruction) -> None:
    value, container, sub = fx.popn(3)
    fx.error_if_negative(fx.call_releasing("PyObject_SetItem", [container.value, sub.value, value.value],
                                           [value, container, sub]))


def delete_subscr(fx: Lowering, ins: Instruction) -> None:
    container, sub = fx.popn(2)
    fx.error_if_negative(fx.call_releasing("PyObject_DelItem", [container.value, sub.value], [container, sub]))


EMITTERS = {
    "BINARY_OP": binary_op, "UNARY_POSITIVE": _unary("PyNumber_Positive"),
    "UNARY_NEGATIVE": _unary("PyNumber_Negative"), "UNARY_INVERT": _unary("PyNumber_Invert"),
    "UNARY_NOT": unary_not, "COMPARE_OP": compare_op, "IS_OP": is_op, "CONTAINS_OP": contains_op,
    "BINARY_SUBSCR": binary_subscr, "STORE_SUBSCR": store_subscr, "DELETE_SUBSCR": delete_subscr,
}
