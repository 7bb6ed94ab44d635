"""Building and unpacking containers and strings: BUILD_*, *_APPEND/ADD/EXTEND/UPDATE/MERGE, FORMAT_VALUE,
UNPACK_SEQUENCE, UNPACK_EX."""
from __future__ import annotations

from ...abi.cpython311 import LIST, TUPLE, TYPE, VAROBJECT
from ...runtime.helpers import HELPER_KWARGS_ERROR
from ...runtime.support import string_global
from ..builder import NULL, PTR, i32, i64
from ..bytecode import Instruction
from ..lowering import Entry, Lowering


def _build_sequence(fx: Lowering, n: int, new: str, items_of) -> None:
    """BUILD_TUPLE/BUILD_LIST: steal the n stack values into a new sequence (released on failure)."""
    b = fx.b
    entries = fx.popn(n)
    result = b.call(new, i64(n))
    fx.error_if_null(result, cleanup=entries)
    items = items_of(b, result)
    for k, entry in enumerate(entries):
        b.store_slot(items, k, entry.value)
    fx.push(result)


def build_tuple(fx: Lowering, ins: Instruction) -> None:
    _build_sequence(fx, ins.arg, "PyTuple_New", lambda b, t: b.addr(t, TUPLE.ob_item))


def build_list(fx: Lowering, ins: Instruction) -> None:
    _build_sequence(fx, ins.arg, "PyList_New", lambda b, lst: b.load(lst, LIST.ob_item))


def build_set(fx: Lowering, ins: Instruction) -> None:
    b, r = fx.b, fx.r
    entries = fx.popn(ins.arg)
    result = b.call("PySet_New", NULL)
    fx.error_if_null(result, cleanup=entries)
    failed = i32(0)
    for entry in entries:  # ceval adds every item, deepest first, and stops adding after an error
        failed = _add_if_ok(fx, failed, result, entry)
    fx.error_if(r.icmp_signed("!=", failed, i32(0)), cleanup=[Entry(result)])
    fx.push(result)


def _add_if_ok(fx: Lowering, failed, container, entry: Entry):
    """``if (err == 0) err = PySet_Add(set, item); Py_DECREF(item);``"""
    b, r = fx.b, fx.r
    start = r.block
    add = b.block("set_add")
    done = b.block("set_added")
    r.cbranch(r.icmp_signed("==", failed, i32(0)), add, done)
    b.position(add)
    status = b.call("PySet_Add", container, entry.value)
    add_end = r.block
    r.branch(done)
    merged = b.merge(done, (failed, start), (status, add_end))
    fx.release(entry)
    return merged


def _fill_dict(fx: Lowering, result, pairs: list, cleanup: list[Entry]) -> None:
    """PyDict_SetItem for each (key, value) in order; on failure release the dict and ``cleanup``."""
    for key, value in pairs:
        status = fx.b.call("PyDict_SetItem", result, key, value)
        fx.error_if_negative(status, cleanup=[Entry(result), *cleanup])


def build_map(fx: Lowering, ins: Instruction) -> None:
    entries = fx.popn(2 * ins.arg)
    result = fx.b.call("_PyDict_NewPresized", i64(ins.arg))
    fx.error_if_null(result, cleanup=entries)
    _fill_dict(fx, result, [(entries[2 * k].value, entries[2 * k + 1].value) for k in range(ins.arg)], entries)
    for entry in entries:
        fx.release(entry)
    fx.push(result)


def build_const_key_map(fx: Lowering, ins: Instruction) -> None:
    b, r = fx.b, fx.r
    entries = fx.popn(ins.arg + 1)
    values, keys = entries[:-1], entries[-1]
    bad = r.or_(r.not_(b.is_type(keys.value, "PyTuple_Type")),
                r.icmp_signed("!=", b.load(keys.value, VAROBJECT.ob_size), i64(ins.arg)))
    with b.if_then(bad, likely=False):
        b.call("PyErr_SetString", b.exception("PyExc_SystemError"),
               b.cstring("bad BUILD_CONST_KEY_MAP keys argument"))
        fx.error(entries)
    result = b.call("_PyDict_NewPresized", i64(ins.arg))
    fx.error_if_null(result, cleanup=entries)
    key_items = b.addr(keys.value, TUPLE.ob_item)
    _fill_dict(fx, result, [(b.load_slot(key_items, k), v.value) for k, v in enumerate(values)], entries)
    for entry in entries:
        fx.release(entry)
    fx.push(result)


def build_slice(fx: Lowering, ins: Instruction) -> None:
    entries = fx.popn(ins.arg)
    step = entries[2].value if ins.arg == 3 else NULL
    fx.push_result(fx.call_releasing("PySlice_New", [entries[0].value, entries[1].value, step], entries))


def build_string(fx: Lowering, ins: Instruction) -> None:
    b, r = fx.b, fx.r
    entries = fx.popn(ins.arg)
    parts = b.alloca_array(ins.arg, name="parts")
    for k, entry in enumerate(entries):
        b.store_slot(parts, k, entry.value)
    empty = r.load(b.global_var(string_global("empty")), typ=PTR)
    fx.push_result(fx.call_releasing("_PyUnicode_JoinArray", [empty, parts, i64(ins.arg)], entries))


_CONVERSIONS = {1: "PyObject_Str", 2: "PyObject_Repr", 3: "PyObject_ASCII"}


def format_value(fx: Lowering, ins: Instruction) -> None:
    b, r = fx.b, fx.r
    spec = fx.pop() if ins.arg & 4 else None
    value = fx.pop()
    cleanup = [spec] if spec else []
    conversion = _CONVERSIONS.get(ins.arg & 3)
    if conversion:
        converted = b.call(conversion, value.value)
        fx.release(value)
        fx.error_if_null(converted, cleanup=cleanup)
        value = Entry(converted)
    if spec is None:
        # A str formats as itself without a spec: ceval skips PyObject_Format.
        start = r.block
        fmt = b.block("format")
        done = b.block("formatted")
        r.cbranch(b.is_type(value.value, "PyUnicode_Type"), done, fmt)
        b.position(fmt)
        formatted = b.call("PyObject_Format", value.value, NULL)
        fx.release(value)
        fx.error_if_null(formatted)
        fmt_end = r.block
        r.branch(done)
        result = b.merge(done, (value.value, start), (formatted, fmt_end))
    else:
        result = b.call("PyObject_Format", value.value, spec.value)
        fx.release(value)
        fx.release(spec)
        fx.error_if_null(result)
    fx.push(result)


def _add_to_container(function: str):
    """LIST_APPEND, SET_ADD, SET_UPDATE: ``function(PEEK(oparg), value)`` after popping the value."""
    def emit(fx: Lowering, ins: Instruction) -> None:
        value = fx.pop()
        fx.error_if_negative(fx.call_releasing(function, [fx.peek(ins.arg).value, value.value], [value]))
    return emit


def map_add(fx: Lowering, ins: Instruction) -> None:
    key, value = fx.popn(2)
    fx.error_if_negative(fx.call_releasing("PyDict_SetItem", [fx.peek(ins.arg).value, key.value, value.value],
                                           [key, value]))


def _not_iterable(fx: Lowering, value) -> object:
    """ceval's test before its "must be an iterable" messages."""
    b, r = fx.b, fx.r
    return r.and_(b.is_null(b.load(b.type_of(value), TYPE.tp_iter)),
                  r.icmp_signed("==", b.call("PySequence_Check", value), i32(0)))


def list_extend(fx: Lowering, ins: Instruction) -> None:
    b, r = fx.b, fx.r
    iterable = fx.pop()
    none = b.call("_PyList_Extend", fx.peek(ins.arg).value, iterable.value)
    with b.if_then(b.is_null(none), likely=False):
        type_error = r.icmp_signed("!=", b.call("PyErr_ExceptionMatches", b.exception("PyExc_TypeError")), i32(0))
        with b.if_then(type_error):
            with b.if_then(_not_iterable(fx, iterable.value)):
                b.call("PyErr_Clear")
                b.call("PyErr_Format", b.exception("PyExc_TypeError"),
                       b.cstring("Value after * must be an iterable, not %.200s"),
                       b.load(b.type_of(iterable.value), TYPE.tp_name))
        fx.error([iterable])
    b.decref(none)
    fx.release(iterable)


def dict_update(fx: Lowering, ins: Instruction) -> None:
    b, r = fx.b, fx.r
    update = fx.pop()
    status = b.call("PyDict_Update", fx.peek(ins.arg).value, update.value)
    with b.if_then(r.icmp_signed("<", status, i32(0)), likely=False):
        with b.if_then(r.icmp_signed("!=", b.call("PyErr_ExceptionMatches", b.exception("PyExc_AttributeError")),
                                     i32(0))):
            b.call("PyErr_Format", b.exception("PyExc_TypeError"), b.cstring("'%.200s' object is not a mapping"),
                   b.load(b.type_of(update.value), TYPE.tp_name))
        fx.error([update])
    fx.release(update)


def dict_merge(fx: Lowering, ins: Instruction) -> None:
    b, r = fx.b, fx.r
    update = fx.pop()
    status = b.call("_PyDict_MergeEx", fx.peek(ins.arg).value, update.value, i32(2))
    with b.if_then(r.icmp_signed("<", status, i32(0)), likely=False):
        b.call("pyjion_fetch_call_helper", i64(HELPER_KWARGS_ERROR), fx.peek(ins.arg + 2).value, update.value)
        fx.error([update])
    fx.release(update)


def list_to_tuple(fx: Lowering, ins: Instruction) -> None:
    lst = fx.pop()
    fx.push_result(fx.call_releasing("PyList_AsTuple", [lst.value], [lst]))


def _unpack(fx: Lowering, ins: Instruction, before: int, after: int) -> None:
    """Unpack TOS into ``total`` values, the first on top. An exact tuple or list of the right size is
    read in place; everything else goes through ceval's ``unpack_iterable`` into an array of new
    references. Both paths meet on a pointer to the items, so each value is loaded once, after the
    merge: one copy of the item loads, and no merge of ``total`` values (a phi each) for the
    register allocator to carry."""
    b, r = fx.b, fx.r
    seq = fx.pop()
    total = before if after < 0 else before + 1 + after
    out = b.alloca_array(total, name="unpacked")
    generic = b.block("unpack_generic")
    done = b.block("unpacked")
    from_exact = None
    if after < 0:
        exact = b.block("unpack_exact")
        tuple_ = b.is_type(seq.value, "PyTuple_Type")
        sequence = r.or_(tuple_, b.is_type(seq.value, "PyList_Type"))
        fits = r.and_(sequence, r.icmp_signed("==", b.load(seq.value, VAROBJECT.ob_size), i64(total)))
        r.cbranch(fits, exact, generic)
        b.position(exact)
        # ob_item is the array itself in a tuple, a pointer to it in a list (the same offset).
        in_place = b.addr(seq.value, TUPLE.ob_item)
        from_exact = r.select(tuple_, in_place, b.load(seq.value, LIST.ob_item))
        r.branch(done)
    else:
        r.branch(generic)
    b.position(generic)
    status = b.call("pyjion_unpack_iterable", seq.value, i32(before), i32(after), out)
    fx.error_if(r.icmp_signed("==", status, i32(0)), cleanup=[seq])
    from_generic = r.block
    r.branch(done)
    b.position(done)
    items = r.phi(PTR)
    items.add_incoming(out, from_generic)
    values = [b.load_slot(items, k) for k in range(total)]
    if from_exact is not None:
        items.add_incoming(from_exact, exact)
        with b.if_then(r.icmp_unsigned("!=", items, out), likely=True):
            for value in values:
                b.incref(value)
    fx.release(seq)  # may free the items read above: they hold their own references by now
    for value in reversed(values):
        fx.push(value)


def unpack_sequence(fx: Lowering, ins: Instruction) -> None:
    _unpack(fx, ins, ins.arg, -1)


def unpack_ex(fx: Lowering, ins: Instruction) -> None:
    _unpack(fx, ins, ins.arg & 0xFF, ins.arg >> 8)


EMITTERS = {
    "BUILD_TUPLE": build_tuple, "BUILD_LIST": build_list, "BUILD_SET": build_set, "BUILD_MAP": build_map,
    "BUILD_CONST_KEY_MAP": build_const_key_map, "BUILD_SLICE": build_slice, "BUILD_STRING": build_string,
    "FORMAT_VALUE": format_value, "LIST_APPEND": _add_to_container("PyList_Append"),
    "SET_ADD": _add_to_container("PySet_Add"), "MAP_ADD": map_add, "LIST_EXTEND": list_extend,
    "SET_UPDATE": _add_to_container("_PySet_Update"), "DICT_UPDATE": dict_update, "DICT_MERGE": dict_merge,
    "LIST_TO_TUPLE": list_to_tuple, "UNPACK_SEQUENCE": unpack_sequence, "UNPACK_EX": unpack_ex,
}
