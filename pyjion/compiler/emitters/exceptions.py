"""Raising and handling: RAISE_VARARGS, the handler opcodes of try/except, and ``with``.

Handlers are ordinary blocks of the function: :meth:`Lowering.error` unwinds to them natively.
``except*`` needs ``_PyExc_PrepReraiseStar``, which libpython does not export: its two opcodes hand
the frame to the interpreter, which runs the rest of it.
"""
from __future__ import annotations

from ...abi.cpython311 import PY_VECTORCALL_ARGUMENTS_OFFSET, THREAD
from ...runtime.helpers import HELPER_RAISE
from ...runtime.support import string_global
from ..analysis import Kind
from ..builder import NULL, PTR, i32, i64
from ..bytecode import Instruction
from ..lowering import Entry, Lowering

# _PyErr_StackItem: {PyObject *exc_value; struct _err_stackitem *previous_item}
EXC_VALUE = 0


def restore(fx: Lowering, exc: Entry) -> None:
    """PyErr_Restore(type(exc), exc, exc.__traceback__), consuming ``exc``."""
    b = fx.b
    exc_type = b.type_of(exc.value)
    b.incref(exc_type)
    b.call("PyErr_Restore", exc_type, exc.value, b.call("PyException_GetTraceback", exc.value))


def raise_varargs(fx: Lowering, ins: Instruction) -> None:
    """``raise``, ``raise exc``, ``raise exc from cause``.

    Under tracing the interpreter raises (the Python helper below would be traced otherwise).
    """
    b, r = fx.b, fx.r
    fx.deopt_if_tracing(ins.start)
    if ins.arg == 0:
        handled = b.call("PyErr_GetHandledException")
        missing = r.or_(b.is_null(handled), r.icmp_unsigned("==", handled, b.none()))
        with b.if_then(missing, likely=False):
            b.xdecref(handled)
            b.call("PyErr_SetString", b.exception("PyExc_RuntimeError"), b.cstring("No active exception to reraise"))
            fx.error()
        # A bare raise re-raises with the exception's own traceback, adding no entry for this frame.
        restore(fx, Entry(handled))
        fx.reraise()
        return
    entries = fx.popn(ins.arg)
    exc = entries[0].value
    cause = entries[1].value if ins.arg == 2 else b.none()
    has_cause = b.object("_Py_TrueStruct" if ins.arg == 2 else "_Py_FalseStruct")
    # The helper returns NULL with the exception to raise set (do_raise's own errors included).
    fx.call_helper(HELPER_RAISE, exc, cause, has_cause)
    fx.error(entries)


def reraise(fx: Lowering, ins: Instruction) -> None:
    """RERAISE k: re-raise TOS; with k, first restore ``prev_instr`` from the lasti saved k deeper."""
    b = fx.b
    fx.deopt_if_tracing(ins.start)
    if ins.arg:
        fx.set_lasti(b.call("PyLong_AsSsize_t", fx.peek(ins.arg + 1).value))
    restore(fx, fx.pop())
    fx.reraise()


def push_exc_info(fx: Lowering, ins: Instruction) -> None:
    """Make TOS the handled exception, keeping the previous one below it for POP_EXCEPT."""
    b, r = fx.b, fx.r
    value = fx.pop()
    exc_info = b.load(fx.ts, THREAD.exc_info)
    previous = b.load_slot(exc_info, EXC_VALUE)
    none = b.none()
    missing = b.is_null(previous)
    with b.if_then(missing):
        b.incref(none)
    fx.push(r.select(missing, none, previous))
    b.incref(value.value)
    fx.push(value.value, value.kind)
    b.store_slot(exc_info, EXC_VALUE, value.value)


def pop_except(fx: Lowering, ins: Instruction) -> None:
    b = fx.b
    exc_info = b.load(fx.ts, THREAD.exc_info)
    previous = b.load_slot(exc_info, EXC_VALUE)
    b.store_slot(exc_info, EXC_VALUE, fx.pop().value)
    b.xdecref(previous)


def check_exc_match(fx: Lowering, ins: Instruction) -> None:
    r = fx.r
    right = fx.pop()
    status = fx.call_releasing("pyjion_check_exc_match", [fx.peek(1).value, right.value], [right])
    fx.error_if_negative(status)
    fx.push(fx.bool_object(r.icmp_signed("!=", status, i32(0))), Kind.BOOL)


def interpreter_runs_it(fx: Lowering, ins: Instruction) -> None:
    """CHECK_EG_MATCH, PREP_RERAISE_STAR (``except*``): their C helpers are not exported."""
    fx.deopt(ins.start)


def _before_with(fx: Lowering, enter_name: str, exit_name: str, protocol: str) -> None:
    """``[mgr] -> [mgr.__exit__, mgr.__enter__()]``, with ceval's messages for a non-manager."""
    b, r = fx.b, fx.r
    mgr = fx.peek(1)
    message = f"'%.200s' object does not support the {protocol}"
    methods = []
    for name, missing in ((enter_name, message), (exit_name, f"{message} (missed __{exit_name}__ method)")):
        method = b.call("pyjion_lookup_special", mgr.value, r.load(b.global_var(string_global(name)), typ=PTR),
                        b.cstring(missing))
        with b.if_then(b.is_null(method), likely=False):
            for found in methods:
                b.decref(found)
            fx.error()
        methods.append(method)
    enter, exit_ = methods
    fx.release(fx.pop())
    fx.push(exit_)
    result = b.call("PyObject_CallNoArgs", enter)
    b.decref(enter)
    fx.push_result(result)


def before_with(fx: Lowering, ins: Instruction) -> None:
    _before_with(fx, "enter", "exit", "context manager protocol")


def before_async_with(fx: Lowering, ins: Instruction) -> None:
    _before_with(fx, "aenter", "aexit", "asynchronous context manager protocol")


def with_except_start(fx: Lowering, ins: Instruction) -> None:
    """``[exit, lasti, prev_exc, val] -> [..., exit(type(val), val, val.__traceback__)]``."""
    b, r = fx.b, fx.r
    exit_func, value = fx.peek(4).value, fx.peek(1).value
    tb = b.call("PyException_GetTraceback", value)
    b.xdecref(tb)  # the exception keeps it alive; ceval uses it borrowed too
    args = b.alloca_array(4, name="exit_args")
    for k, item in enumerate((b.type_of(value), value, r.select(b.is_null(tb), b.none(), tb)), 1):
        b.store_slot(args, k, item)
    result = b.call("PyObject_Vectorcall", exit_func, b.slot(args, 1), i64(3 | PY_VECTORCALL_ARGUMENTS_OFFSET), NULL)
    fx.push_result(result)


EMITTERS = {
    "RAISE_VARARGS": raise_varargs, "RERAISE": reraise, "PUSH_EXC_INFO": push_exc_info, "POP_EXCEPT": pop_except,
    "CHECK_EXC_MATCH": check_exc_match, "CHECK_EG_MATCH": interpreter_runs_it,
    "PREP_RERAISE_STAR": interpreter_runs_it, "BEFORE_WITH": before_with,
    "BEFORE_ASYNC_WITH": before_async_with, "WITH_EXCEPT_START": with_except_start,
}
