"""Operators: BINARY_OP, UNARY_*, COMPARE_OP, IS_OP, CONTAINS_OP and subscripts.

Where the interpreter has specialised an operator for floats or ints (BINARY_OP_ADD_FLOAT,
COMPARE_OP_INT_JUMP, ...), the operation is done inline on exact floats and on ints of one digit,
falling back to the C API for anything else; true division and power, which 3.11 does not specialise,
are tried inline on floats always, floor division, remainder, shifts and bitwise operations (not
specialised either) on ints. The result of a float operation that another one consumes stays a double
on the value stack (``analysis.unboxed_results``), boxed only if something else needs it; an int's
alike.
Subscripts the interpreter did not specialise are tried on ``array.array`` of doubles (and read on
arrays of C ints), whose items 3.11 reads and writes through argument parsing and a new float.
"""
from __future__ import annotations

import math
import sys

from llvmlite import ir

from ...abi.cpython311 import ARRAY, ARRAY_DESCR, FLOAT, LIST, LONG, TUPLE, VAROBJECT
from ...enums import OptimizationFlags
from ...runtime.support import SUBSCR_SITE_WORDS
from ..analysis import Kind
from ..builder import F64, I8, I32, I64, PTR, i32, i64
from ..bytecode import Instruction
from ..feedback import FLOAT_FORMS, INT_FORMS, Specialisation, expects_floats, expects_ints
from ..flow import StackEffectFault
from ..lowering import Entry, Lowering

# BINARY_OP's oparg indexes ceval's ``binary_ops`` table: NB_ADD .. NB_XOR, then the in-place forms.
_BINARY = ("Add", "And", "FloorDivide", "Lshift", "MatrixMultiply", "Multiply", "Remainder", "Or", "Power",
           "Rshift", "Subtract", "TrueDivide", "Xor")
BINARY_FUNCTIONS = tuple(f"PyNumber_{n}" for n in _BINARY) + tuple(f"PyNumber_InPlace{n}" for n in _BINARY)


_FLOAT_OPS = {"Add": "fadd", "Subtract": "fsub", "Multiply": "fmul", "TrueDivide": "fdiv"}
_INT_OPS = {"Add": "add", "Subtract": "sub", "Multiply": "mul"}
_BITWISE_OPS = {"And": "and_", "Or": "or_", "Xor": "xor"}
_UNSPECIALISED_INT_OPS = ("FloorDivide", "Remainder", "Lshift", "Rshift", *_BITWISE_OPS)
_SUBSCR_FORMS = ("BINARY_SUBSCR_LIST_INT", "BINARY_SUBSCR_TUPLE_INT")
# Read so that a subscript the interpreter specialised for a dict or __getitem__ is not tried on arrays.
_OTHER_SUBSCR_FORMS = ("BINARY_SUBSCR_DICT", "BINARY_SUBSCR_GETITEM", "STORE_SUBSCR_DICT")
SPECIALISED = FLOAT_FORMS + INT_FORMS + _SUBSCR_FORMS + _OTHER_SUBSCR_FORMS + ("COMPARE_OP_STR_JUMP",
                                                                            "STORE_SUBSCR_LIST_INT")
# COMPARE_OP's oparg: <, <=, ==, !=, >, >=
_COMPARISONS = ("<", "<=", "==", "!=", ">", ">=")


def _bail_unless_exact(fx: Lowering, bail_if, left: Entry, left_type: str, right: Entry, right_type: str) -> None:
    both = fx.r.and_(fx.b.is_type(left.value, left_type), fx.b.is_type(right.value, right_type))
    bail_if(fx.r.not_(both))


def _digit_value(fx: Lowering, value: ir.Value, size: ir.Value) -> ir.Value:
    """The i64 value of an int whose ``ob_size`` is ``size``, known to be -1, 0 or 1."""
    return fx.r.mul(size, fx.r.zext(fx.b.load(value, LONG.ob_digit), I64))


def _float_values(fx: Lowering, bail_if, left: Entry, right: Entry) -> list[ir.Value]:
    """The doubles of two floats, objects checked to be exact floats."""
    objects = [entry for entry in (left, right) if entry.unboxed is None]
    if objects:
        exact = [fx.b.is_type(entry.value, "PyFloat_Type") for entry in objects]
        bail_if(fx.r.not_(exact[0] if len(exact) == 1 else fx.r.and_(*exact)))
    return [entry.unboxed if entry.unboxed is not None else fx.b.load(entry.value, FLOAT.ob_fval)
            for entry in (left, right)]


def _number_values(fx: Lowering, bail_if, left: Entry, right: Entry) -> tuple[list[ir.Value], list[ir.Value]]:
    """The doubles of two floats or ints (exact ints of one digit, unboxed ones up to 2**53), which
    convert exactly, as float_div and long_true_divide convert them, and whether each was a float: for
    a true division or a power, which 3.11 does not specialise, and whose operands are often an int and
    a float."""
    b, r = fx.b, fx.r
    values, floats = [], []
    for entry in (left, right):
        if entry.unboxed is not None and entry.unboxed.type == F64:
            values.append(entry.unboxed)
            floats.append(ir.Constant(ir.IntType(1), 1))
            continue
        if entry.unboxed is not None:  # an int result: exact as a double up to 2**53
            bail_if(r.icmp_unsigned(">", r.add(entry.unboxed, i64(2**53)), i64(2**54)))
            values.append(r.sitofp(entry.unboxed, F64))
            floats.append(ir.Constant(ir.IntType(1), 0))
            continue
        is_float = b.is_type(entry.value, "PyFloat_Type")
        from_float, from_int, done = b.block("float_operand"), b.block("int_operand"), b.block("operand")
        r.cbranch(is_float, from_float, from_int)
        b.position(from_float)
        double = b.load(entry.value, FLOAT.ob_fval)
        r.branch(done)
        b.position(from_int)
        converted = r.sitofp(_small_int(fx, bail_if, entry.value), F64)
        int_end = r.block
        r.branch(done)
        values.append(b.merge(done, (double, from_float), (converted, int_end)))
        floats.append(is_float)
    return values, floats


def _float_result(fx: Lowering, value: ir.Value, left: Entry, right: Entry) -> ir.Value:
    """A new reference to a float holding ``value``: the first operand that is an object, when it is a
    float (a true division's or a power's may be an int) and the value stack holds its only reference
    (no one can see it change; it is released after the operation, hence the incref), else a new
    float."""
    b, r = fx.b, fx.r
    operand = left if left.unboxed is None else right
    if operand.unboxed is not None or operand.borrowed:  # a borrowed one's owner would see it change
        return b.call("PyFloat_FromDouble", value)
    reuse = b.block("reuse_float")
    allocate = b.block("new_float")
    done = b.block("float_made")
    r.cbranch(fx.unshared_float(operand.value), reuse, allocate)
    b.position(reuse)
    b.store(operand.value, FLOAT.ob_fval, value)
    b.incref(operand.value)
    r.branch(done)
    b.position(allocate)
    made = b.call("PyFloat_FromDouble", value)
    made_end = r.block
    r.branch(done)
    return b.merge(done, (operand.value, reuse), (made, made_end))


def _float_power(fx: Lowering, bail_if, base: ir.Value, exponent: ir.Value) -> ir.Value:
    """``base ** exponent`` as C's pow() gives it, kept when it is a normal number: float_pow returns
    exactly that then (its special cases, a NaN, zero or infinite base or exponent and a negative base,
    give pow()'s result or one that is not normal: a complex for a fractional power of a negative base,
    where pow() gives NaN), and raises OverflowError for an infinite result and possibly, through errno,
    for a subnormal one. pow() is called by a name LLVM does not know (capi.RENAMED): it must not rewrite
    it into a multiplication or a square root, whose rounding can differ."""
    r = fx.r
    value = fx.b.call("pyjion_libm_pow", base, exponent)
    magnitude = r.call(fx.b.module.declare_intrinsic("llvm.fabs", [F64]), [value])
    bail_if(r.not_(r.and_(r.fcmp_ordered(">=", magnitude, ir.Constant(F64, sys.float_info.min)),
                          r.fcmp_ordered("<", magnitude, ir.Constant(F64, math.inf)))))
    return value


def _small_int(fx: Lowering, bail_if, obj: ir.Value) -> ir.Value:
    """The i64 value of ``obj``, checked to be an exact int of at most one 30-bit digit."""
    bail_if(fx.r.not_(fx.b.is_type(obj, "PyLong_Type")))
    size = fx.b.load(obj, LONG.ob_size)
    bail_if(fx.r.icmp_unsigned(">", fx.r.add(size, i64(1)), i64(2)))
    return _digit_value(fx, obj, size)


def _int_values(fx: Lowering, bail_if, left: Entry, right: Entry) -> list[ir.Value]:
    """The i64 values of two ints: unboxed, or exact int objects of at most one 30-bit digit."""
    return [entry.unboxed if entry.unboxed is not None else _small_int(fx, bail_if, entry.value)
            for entry in (left, right)]


def _overflow_checked(fx: Lowering, operation: str) -> ir.Function:
    """LLVM's ``llvm.s<operation>.with.overflow.i64``: the result and whether it overflowed."""
    name = f"llvm.s{operation}.with.overflow.i64"
    found = fx.b.module.globals.get(name)
    if found is None:  # llvmlite's declare_intrinsic gets this signature wrong
        found = ir.Function(fx.b.module, ir.FunctionType(ir.LiteralStructType([I64, ir.IntType(1)]), [I64, I64]), name)
    return found


def _floor_division(fx: Lowering, bail_if, dividend: ir.Value, divisor: ir.Value, remainder: bool) -> ir.Value:
    """``dividend // divisor``, or ``%``, of two i64s, rounded as Python rounds them (the remainder has the
    divisor's sign); a zero divisor (ZeroDivisionError) and -2**63 // -1 (a big int) take the generic path."""
    r = fx.r
    bail_if(r.or_(r.icmp_signed("==", divisor, i64(0)),
                  r.and_(r.icmp_signed("==", dividend, i64(-2**63)), r.icmp_signed("==", divisor, i64(-1)))))
    rest = r.srem(dividend, divisor)
    # The machine truncates toward zero: where the remainder's sign is not the divisor's, one step down.
    below = r.and_(r.icmp_signed("!=", rest, i64(0)), r.icmp_signed("<", r.xor(rest, divisor), i64(0)))
    if remainder:
        return r.select(below, r.add(rest, divisor), rest)
    return r.sub(r.sdiv(dividend, divisor), r.zext(below, I64))


def _shift(fx: Lowering, bail_if, value: ir.Value, count: ir.Value, left: bool) -> ir.Value:
    """``value << count`` or ``>> count`` of two i64s; a negative count (ValueError) and a left shift whose
    result needs more than 64 bits (a big int) take the generic path; a right shift by 64 or more gives
    the sign, as Python's does."""
    r = fx.r
    bail_if(r.icmp_signed("<", count, i64(0)))
    if not left:
        return r.ashr(value, r.select(r.icmp_signed(">", count, i64(63)), i64(63), count))
    bail_if(r.icmp_signed(">", count, i64(63)))
    shifted = r.shl(value, count)
    bail_if(r.icmp_signed("!=", r.ashr(shifted, count), value))
    return shifted


def _int_of(fx: Lowering, obj: ir.Value) -> tuple[ir.Value, ir.Value]:
    """Whether ``obj`` is an exact int of at most two 30-bit digits, and then its i64 value."""
    b, r = fx.b, fx.r
    bit = ir.IntType(1)
    start = r.block
    exact, two_digits, done = b.block("exact_int"), b.block("two_digits"), b.block("int_read")
    r.cbranch(b.is_type(obj, "PyLong_Type"), exact, done)
    b.position(exact)
    size = b.load(obj, LONG.ob_size)
    sign = r.select(r.icmp_signed("<", size, i64(0)), i64(-1), i64(1))
    digits = r.mul(size, sign)
    low = r.zext(b.load(obj, LONG.ob_digit), I64)
    one_digit = r.mul(r.select(r.icmp_signed("==", size, i64(0)), i64(0), low), sign)
    at_most_two = r.icmp_unsigned("<=", digits, i64(2))
    exact_end = r.block
    r.cbranch(r.icmp_signed("==", digits, i64(2)), two_digits, done)
    b.position(two_digits)
    high = r.zext(r.load(r.gep(b.addr(obj, LONG.ob_digit), [i64(1)], source_etype=I32), typ=I32), I64)
    two_digit = r.mul(r.or_(low, r.shl(high, i64(30))), sign)
    r.branch(done)
    b.position(done)
    fits = r.phi(bit)
    value = r.phi(I64)
    for incoming_fits, incoming_value, block in ((ir.Constant(bit, 0), i64(0), start),
                                                 (at_most_two, one_digit, exact_end),
                                                 (ir.Constant(bit, 1), two_digit, two_digits)):
        fits.add_incoming(incoming_fits, block)
        value.add_incoming(incoming_value, block)
    return fits, value


def _operands(fx: Lowering, ins: Instruction) -> tuple[str | None, Entry, Entry]:
    """The inline path the operation gets ("float", "int" or None), and its two operands: objects
    unless it has one."""
    left, right = fx.popn(2)
    if fx.fast_paths and expects_floats(ins, fx.feedback):
        return "float", left, right
    # Not where an operand is known not to be an int: a string formatted with ``%``, say.
    if fx.fast_paths and expects_ints(ins, fx.feedback) and {left.kind, right.kind} <= {Kind.ANY, Kind.INT}:
        return "int", left, right
    left, right = fx.boxed([left, right])
    return None, left, right


def _generic_on_objects(fx: Lowering, function: str, operands: list[Entry], *extra: ir.Value) -> ir.Value:
    """``function`` called with the operands as objects, unboxed floats boxed for the call only."""
    return fx.on_objects(operands, lambda objects: fx.b.call(function, *objects, *extra))


def binary_op(fx: Lowering, ins: Instruction) -> None:
    path, left, right = _operands(fx, ins)
    function = BINARY_FUNCTIONS[ins.arg]
    operation = _BINARY[ins.arg % len(_BINARY)]
    extra = [fx.b.none()] if function.endswith("Power") else []  # _PyNumber_PowerNoMod
    unboxed = ins.index in fx.unboxed

    def generic():
        return _generic_on_objects(fx, function, [left, right], *extra),

    def generic_unboxed():
        """The double or i64 of the generic result, which is a float or a small int whenever the
        operands were; if not, the interpreter continues the frame after this instruction with it."""
        b, r = fx.b, fx.r
        result, = generic()
        fx.error_if_null(result, [left, right])
        if path == "float":
            fits = b.is_type(result, "PyFloat_Type")
        else:
            fits, value = _int_of(fx, result)
        with b.if_then(r.not_(fits), likely=False):
            for operand in (left, right):
                fx.release(operand)
            fx.push(result)
            fx.deopt(ins.next)
            fx.pop()
        if path == "float":
            value = b.load(result, FLOAT.ob_fval)
        b.decref(result)
        return value,

    def on_floats(bail_if):
        if operation in ("TrueDivide", "Power"):
            (lv, rv), floats = _number_values(fx, bail_if, left, right)
        else:
            lv, rv = _float_values(fx, bail_if, left, right)
        if operation == "TrueDivide":
            bail_if(fx.r.fcmp_ordered("==", rv, ir.Constant(F64, 0.0)))  # ZeroDivisionError: generic
        if operation == "Power":
            bail_if(fx.r.not_(fx.r.or_(*floats)))  # an int to an int power is an int
            value = _float_power(fx, bail_if, lv, rv)
        else:
            value = getattr(fx.r, _FLOAT_OPS[operation])(lv, rv)
        return (value,) if unboxed else (_float_result(fx, value, left, right),)

    def on_ints(bail_if):
        # Unboxed operands can be any i64: an overflow takes the generic path, to a big int.
        lv, rv = _int_values(fx, bail_if, left, right)
        if operation in _INT_OPS:
            outcome = fx.r.call(_overflow_checked(fx, _INT_OPS[operation]), [lv, rv])
            bail_if(fx.r.extract_value(outcome, 1))
            value = fx.r.extract_value(outcome, 0)
        elif operation in _BITWISE_OPS:
            value = getattr(fx.r, _BITWISE_OPS[operation])(lv, rv)
        elif operation in ("Lshift", "Rshift"):
            value = _shift(fx, bail_if, lv, rv, left=operation == "Lshift")
        else:
            value = _floor_division(fx, bail_if, lv, rv, remainder=operation == "Remainder")
        return (value,) if unboxed else (fx.b.box_int(value),)

    if path == "float":
        fx.optimizations |= OptimizationFlags.FloatArithmetic
        result, = fx.guarded(on_floats, generic_unboxed if unboxed else generic)
    elif path == "int" and operation in (*_INT_OPS, *_UNSPECIALISED_INT_OPS):
        fx.optimizations |= OptimizationFlags.IntArithmetic
        result, = fx.guarded(on_ints, generic_unboxed if unboxed else generic)
    else:
        result, = generic()
    for operand in (left, right):
        fx.release(operand)
    if unboxed:
        fx.optimizations |= OptimizationFlags.Unboxing
        fx.stack.append(Entry(None, unboxed=result))
    else:
        fx.push_result(result)


def _push_releasing(fx: Lowering, result: ir.Value, *operands: Entry) -> None:
    for operand in operands:
        fx.release(operand)
    fx.push_result(result)


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
    path, left, right = _operands(fx, ins)
    operator = _COMPARISONS[ins.arg]

    def generic():
        return _generic_on_objects(fx, "PyObject_RichCompare", [left, right], i32(ins.arg)),

    def float_outcome(lv: ir.Value, rv: ir.Value) -> ir.Value:
        # NaN: only != holds, as in float_richcompare.
        return (fx.r.fcmp_unordered if operator == "!=" else fx.r.fcmp_ordered)(operator, lv, rv)

    def on_floats(bail_if):
        return fx.bool_object(float_outcome(*_float_values(fx, bail_if, left, right))),

    def on_ints(bail_if):
        return fx.bool_object(fx.r.icmp_signed(operator, *_int_values(fx, bail_if, left, right))),

    def on_numbers(bail_if):
        """Two ints or two floats, at a site 3.11 did not specialise: it specialises a comparison only
        when a conditional jump follows (not ``return a < b``, ``key = a == b``)."""
        b, r = fx.b, fx.r
        as_ints, as_floats, done = b.block("compare_ints"), b.block("compare_floats"), b.block("compared")
        r.cbranch(r.and_(b.is_type(left.value, "PyLong_Type"), b.is_type(right.value, "PyLong_Type")),
                  as_ints, as_floats)
        b.position(as_ints)
        int_outcome = r.icmp_signed(operator, *_int_values(fx, bail_if, left, right))
        int_end = r.block
        r.branch(done)
        b.position(as_floats)
        floats = float_outcome(*_float_values(fx, bail_if, left, right))
        float_end = r.block
        r.branch(done)
        return fx.bool_object(b.merge(done, (int_outcome, int_end), (floats, float_end))),

    def on_strings(bail_if):  # 3.11 specialises only == and != on strings
        _bail_unless_exact(fx, bail_if, left, "PyUnicode_Type", right, "PyUnicode_Type")
        equal = fx.b.call("_PyUnicode_Equal", left.value, right.value)
        return fx.bool_object(fx.r.icmp_signed("!=" if operator == "==" else "==", equal, i32(0))),

    flag = OptimizationFlags.InternRichCompare
    if path == "float":
        fx.optimizations |= flag
        result, = fx.guarded(on_floats, generic)
    elif path == "int":
        fx.optimizations |= flag
        result, = fx.guarded(on_ints, generic)
    elif operator in ("==", "!=") and fx.specialised(ins, flag, "COMPARE_OP_STR_JUMP"):
        result, = fx.guarded(on_strings, generic)
    elif (fx.fast_paths and ins.index not in fx.feedback and {left.kind, right.kind} <= {Kind.ANY, Kind.INT, Kind.FLOAT}
          and left.unboxed is None and right.unboxed is None):
        fx.optimizations |= flag
        result, = fx.guarded(on_numbers, generic)
    else:
        result, = generic()
    _push_releasing(fx, result, left, right)


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


def _checked_index(fx: Lowering, bail_if, container_exact: ir.Value, container: Entry, sub: Entry) -> ir.Value:
    """The i64 value of ``sub``, an int (unboxed, or an exact int object) from 0 to ``len(container) - 1``,
    ``container_exact`` holding."""
    b, r = fx.b, fx.r
    if sub.unboxed is not None:
        bail_if(r.not_(container_exact))
        index = sub.unboxed
    else:
        bail_if(r.not_(r.and_(container_exact, b.is_type(sub.value, "PyLong_Type"))))
        size = b.load(sub.value, LONG.ob_size)
        bail_if(r.icmp_unsigned(">", size, i64(1)))  # negative, or more than one digit
        index = _digit_value(fx, sub.value, size)
    bail_if(r.icmp_unsigned(">=", index, b.load(container.value, VAROBJECT.ob_size)))  # negative too
    return index


def _item_slot(fx: Lowering, bail_if, container: Entry, sub: Entry, type_name: str) -> ir.Value:
    """Address of ``container[sub]`` for an exact list or tuple and an int from 0 to its length - 1."""
    b = fx.b
    index = _checked_index(fx, bail_if, b.is_type(container.value, type_name), container, sub)
    items = b.load(container.value, LIST.ob_item) if type_name == "PyList_Type" else b.addr(container.value,
                                                                                            TUPLE.ob_item)
    return b.slot(items, index)


def _array_item(fx: Lowering, bail_if, container: Entry, sub: Entry) -> tuple[ir.Value, ir.Value, ir.Value]:
    """The items buffer, the index and the typecode (i8) of ``container[sub]`` for an exact
    ``array.array`` and an int from 0 to its length - 1."""
    b, r = fx.b, fx.r
    exact = r.icmp_unsigned("==", b.type_of(container.value), b.object("pyjion_array_type"))
    index = _checked_index(fx, bail_if, exact, container, sub)
    typecode = b.load(b.load(container.value, ARRAY.ob_descr), ARRAY_DESCR.typecode)
    return b.load(container.value, ARRAY.ob_item), index, typecode


def _is_typecode(fx: Lowering, typecode: ir.Value, letter: str) -> ir.Value:
    return fx.r.icmp_unsigned("==", typecode, ir.Constant(I8, ord(letter)))


def binary_subscr(fx: Lowering, ins: Instruction) -> None:
    container, sub = fx.popn(2)
    if container.unboxed is not None:
        raise StackEffectFault(f"{ins}: unboxed container")  # analysis.unboxed_results

    def generic():
        return _generic_on_objects(fx, "PyObject_GetItem", [container, sub]),

    def indexed(bail_if):
        type_name = "PyList_Type" if found.opname == "BINARY_SUBSCR_LIST_INT" else "PyTuple_Type"
        return fx.b.new_ref(fx.r.load(_item_slot(fx, bail_if, container, sub, type_name), typ=PTR)),

    def from_array(bail_if):
        """array('d') and array('i'), which 3.11 does not specialise (d_getitem, i_getitem)."""
        b, r = fx.b, fx.r
        items, index, typecode = _array_item(fx, bail_if, container, sub)
        doubles = _is_typecode(fx, typecode, "d")
        bail_if(r.not_(r.or_(doubles, _is_typecode(fx, typecode, "i"))))
        as_double, as_int, done = b.block("array_double"), b.block("array_int"), b.block("array_item")
        r.cbranch(doubles, as_double, as_int)
        b.position(as_double)
        double = b.call("PyFloat_FromDouble", r.load(r.gep(items, [index], source_etype=F64), typ=F64))
        double_end = r.block
        r.branch(done)
        b.position(as_int)
        integer = b.box_int(r.sext(r.load(r.gep(items, [index], source_etype=I32), typ=I32), I64))
        int_end = r.block
        r.branch(done)
        return b.merge(done, (double, double_end), (integer, int_end)),

    def through_class():
        """Unspecialised, or BINARY_SUBSCR_GETITEM: a Python ``__getitem__`` is called directly."""
        fx.optimizations |= OptimizationFlags.FunctionCalls
        cache = fx.site_cache(ins, SUBSCR_SITE_WORDS)
        return fx.on_objects([container, sub], lambda objects: fx.b.call("pyjion_subscr", fx.ts, *objects, cache)),

    found = fx.specialised(ins, OptimizationFlags.KnownBinarySubscr, *_SUBSCR_FORMS)
    if found:
        result, = fx.guarded(indexed, generic)
    elif fx.specialised(ins, OptimizationFlags.FunctionCalls, "BINARY_SUBSCR_GETITEM"):
        result, = through_class()
    elif fx.fast_paths and ins.index not in fx.feedback:  # not specialised, for a dict or __getitem__
        fx.optimizations |= OptimizationFlags.KnownBinarySubscr
        result, = fx.guarded(from_array, through_class)
    else:
        result, = generic()
    _push_releasing(fx, result, container, sub)


def getitem_seed(found: Specialisation) -> list[int]:
    return [found.field("type_version")]


def store_subscr(fx: Lowering, ins: Instruction) -> None:
    value, container, sub = fx.popn(3)
    if container.unboxed is not None:
        raise StackEffectFault(f"{ins}: unboxed container")  # analysis.unboxed_results

    def generic():
        status = _generic_on_objects(fx, "PyObject_SetItem", [container, sub, value])
        fx.release(value)
        return status,

    def indexed(bail_if):
        slot = _item_slot(fx, bail_if, container, sub, "PyList_Type")
        if value.unboxed is not None:
            fx.store_double(slot, value.unboxed, cleanup=[container, sub])
            return i32(0),
        old = fx.r.load(slot, typ=PTR)
        fx.r.store(value.value, slot)  # the stack's reference moves into the list
        fx.b.decref(old)
        return i32(0),

    def into_array(bail_if):
        """A float into an array('d'), which 3.11 does not specialise (d_setitem)."""
        b, r = fx.b, fx.r
        items, index, typecode = _array_item(fx, bail_if, container, sub)
        bail_if(r.not_(_is_typecode(fx, typecode, "d")))
        if value.unboxed is None:
            bail_if(r.not_(b.is_type(value.value, "PyFloat_Type")))
        double = value.unboxed if value.unboxed is not None else b.load(value.value, FLOAT.ob_fval)
        r.store(double, r.gep(items, [index], source_etype=F64))
        fx.release(value)
        return i32(0),

    found = fx.specialised(ins, OptimizationFlags.KnownStoreSubscr, "STORE_SUBSCR_LIST_INT")
    if found:
        status, = fx.guarded(indexed, generic)
    elif fx.fast_paths and ins.index not in fx.feedback:  # not specialised, for a dict
        fx.optimizations |= OptimizationFlags.KnownStoreSubscr
        status, = fx.guarded(into_array, generic)
    else:
        status, = generic()
    fx.release(container)
    fx.release(sub)
    fx.error_if_negative(status)


def delete_subscr(fx: Lowering, ins: Instruction) -> None:
    container, sub = fx.popn(2)
    fx.error_if_negative(fx.call_releasing("PyObject_DelItem", [container.value, sub.value], [container, sub]))


EMITTERS = {
    "BINARY_OP": binary_op, "UNARY_POSITIVE": _unary("PyNumber_Positive"),
    "UNARY_NEGATIVE": _unary("PyNumber_Negative"), "UNARY_INVERT": _unary("PyNumber_Invert"),
    "UNARY_NOT": unary_not, "COMPARE_OP": compare_op, "IS_OP": is_op, "CONTAINS_OP": contains_op,
    "BINARY_SUBSCR": binary_subscr, "STORE_SUBSCR": store_subscr, "DELETE_SUBSCR": delete_subscr,
}
