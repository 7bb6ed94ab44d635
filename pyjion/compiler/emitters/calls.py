"""Calls and function creation: CALL (with KW_NAMES), CALL_FUNCTION_EX, MAKE_FUNCTION."""
from __future__ import annotations

from ...abi.cpython311 import FUNCTION, PY_VECTORCALL_ARGUMENTS_OFFSET, TYPE
from ...runtime.helpers import HELPER_ARGS_NOT_ITERABLE, HELPER_KWARGS_ERROR
from ..analysis import Kind
from ..builder import NULL, i32, i64
from ..bytecode import Instruction
from ..lowering import Lowering


def call(fx: Lowering, ins: Instruction) -> None:
    """Stack ``[X, Y, a1..an]``: a method call ``X(Y, a1..an)`` when X is not NULL, else ``Y(a1..an)``.

    The arguments go to ``PyObject_Vectorcall`` from one stack array whose slot 0 is scratch, so
    PY_VECTORCALL_ARGUMENTS_OFFSET can be passed in both shapes.
    """
    b, r = fx.b, fx.r
    n = ins.arg
    kwnames = fx.const(fx.kwnames) if fx.kwnames is not None else NULL
    nkw = len(fx.code.co_consts[fx.kwnames]) if fx.kwnames is not None else 0
    fx.kwnames = None
    entries = fx.popn(n + 2)
    method, self_or_callable, args = entries[0], entries[1], entries[2:]
    buffer = b.alloca_array(n + 2, name="callargs")
    b.store_slot(buffer, 1, self_or_callable.value)
    for k, entry in enumerate(args):
        b.store_slot(buffer, k + 2, entry.value)
    offset = PY_VECTORCALL_ARGUMENTS_OFFSET
    if method.kind is Kind.NULL:
        result = b.call("PyObject_Vectorcall", self_or_callable.value, b.slot(buffer, 2), i64((n - nkw) | offset),
                        kwnames)
    else:
        is_method = r.icmp_unsigned("!=", method.value, NULL)
        callable_ = r.select(is_method, method.value, self_or_callable.value)
        first = r.select(is_method, b.slot(buffer, 1), b.slot(buffer, 2))
        nargs = r.select(is_method, i64((n + 1 - nkw) | offset), i64((n - nkw) | offset))
        result = b.call("PyObject_Vectorcall", callable_, first, nargs, kwnames)
    for entry in entries:
        fx.release(entry)
    fx.error_if_null(result)
    fx.push(result)
    fx.check_eval_breaker()
    fx.deopt_if_tracing(ins.next)


def call_function_ex(fx: Lowering, ins: Instruction) -> None:
    """Stack ``[NULL, func, args(, kwargs)]``: ``func(*args, **kwargs)`` via ``PyObject_Call``."""
    b, r = fx.b, fx.r
    kwargs = fx.pop() if ins.arg & 1 else None
    callargs = fx.pop()
    func = fx.peek(1)
    kwargs_value = NULL
    if kwargs is not None:
        kwargs_value = _as_dict(fx, func, kwargs, cleanup=[callargs])
    callargs_value = _as_tuple(fx, func, callargs, cleanup=[] if kwargs is None else [kwargs_value])
    result = b.call("PyObject_Call", func.value, callargs_value, kwargs_value)
    b.decref(callargs_value)
    if kwargs is not None:
        b.decref(kwargs_value)
    for entry in fx.popn(2):  # func and the NULL below it
        fx.release(entry)
    fx.error_if_null(result)
    fx.push(result)
    fx.check_eval_breaker()
    fx.deopt_if_tracing(ins.next)


def _as_dict(fx: Lowering, func, kwargs, cleanup):
    """kwargs as an exact dict (new reference); ceval copies anything else with _PyDict_MergeEx."""
    b, r = fx.b, fx.r
    exact = b.is_type(kwargs.value, "PyDict_Type")
    start = r.block
    copy = b.block("kwargs_copy")
    done = b.block("kwargs_done")
    r.cbranch(exact, done, copy)
    b.position(copy)
    new = b.call("PyDict_New")
    fx.error_if_null(new, cleanup=[kwargs, *_entries(cleanup)])
    status = b.call("_PyDict_MergeEx", new, kwargs.value, i32(2))
    with b.if_then(r.icmp_signed("<", status, i32(0)), likely=False):
        b.decref(new)
        b.call("pyjion_fetch_call_helper", i64(HELPER_KWARGS_ERROR), func.value, kwargs.value)
        fx.error([kwargs, *_entries(cleanup)])
    fx.release(kwargs)
    copied = r.block
    r.branch(done)
    result = b.merge(done, (kwargs.value, start), (new, copied))
    return result


def _as_tuple(fx: Lowering, func, callargs, cleanup):
    """callargs as an exact tuple (new reference), with ceval's check_args_iterable error."""
    b, r = fx.b, fx.r
    start = r.block
    convert = b.block("args_convert")
    done = b.block("args_done")
    r.cbranch(b.is_type(callargs.value, "PyTuple_Type"), done, convert)
    b.position(convert)
    tp = b.type_of(callargs.value)
    not_iterable = r.and_(b.is_null(b.load(tp, TYPE.tp_iter)),
                          r.icmp_signed("==", b.call("PySequence_Check", callargs.value), i32(0)))
    with b.if_then(not_iterable, likely=False):
        b.call("PyErr_Clear")
        fx.call_helper(HELPER_ARGS_NOT_ITERABLE, func.value, callargs.value)
        fx.error([callargs, *_entries(cleanup)])
    converted = b.call("PySequence_Tuple", callargs.value)
    fx.release(callargs)
    fx.error_if_null(converted, cleanup=_entries(cleanup))
    converted_end = r.block
    r.branch(done)
    result = b.merge(done, (callargs.value, start), (converted, converted_end))
    return result


def _entries(values):
    from ..lowering import Entry

    return [v if isinstance(v, Entry) else Entry(v) for v in values]


def make_function(fx: Lowering, ins: Instruction) -> None:
    b = fx.b
    code = fx.pop()
    func = b.call("PyFunction_New", code.value, fx.globals())
    fx.release(code)
    fx.error_if_null(func)
    for flag, field in ((8, FUNCTION.func_closure), (4, FUNCTION.func_annotations),
                        (2, FUNCTION.func_kwdefaults), (1, FUNCTION.func_defaults)):
        if ins.arg & flag:
            b.store(func, field, fx.pop().value)
    fx.push(func)


EMITTERS = {"CALL": call, "CALL_FUNCTION_EX": call_function_ex, "MAKE_FUNCTION": make_function}
