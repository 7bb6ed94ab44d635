"""Calls and function creation: CALL (with KW_NAMES), CALL_FUNCTION_EX, MAKE_FUNCTION."""
from __future__ import annotations

from typing import Callable

from llvmlite import ir

from ...abi.cpython311 import (CFUNCTION, FUNCTION, INLINE_CACHE_ENTRIES, METH_FASTCALL, METH_KEYWORDS, METH_NOARGS,
                               METH_O, METHOD_DEF, METHOD_DESCR, PY_VECTORCALL_ARGUMENTS_OFFSET, TYPE)
from ...enums import OptimizationFlags
from ...runtime.helpers import HELPER_ARGS_NOT_ITERABLE, HELPER_KWARGS_ERROR
from ...runtime.support import CALL_SITE_WORDS
from ..analysis import Kind
from ..builder import NULL, PTR, i32, i64
from ..bytecode import Instruction
from ..lowering import Lowering


def call(fx: Lowering, ins: Instruction) -> None:
    """Stack ``[X, Y, a1..an]``: a method call ``X(Y, a1..an)`` when X is not NULL, else ``Y(a1..an)``.

    The arguments go to ``PyObject_Vectorcall`` (at levels 1 and 2 ``pyjion_vectorcall``, which pushes
    a Python function's frame itself: flag FunctionCalls) from one stack array whose slot 0 is scratch,
    so PY_VECTORCALL_ARGUMENTS_OFFSET can be passed in both shapes.
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
    if method.kind is Kind.NULL:
        callable_, first, nargs = self_or_callable.value, b.slot(buffer, 2), i64(n - nkw)
    else:
        is_method = r.icmp_unsigned("!=", method.value, NULL)
        callable_ = r.select(is_method, method.value, self_or_callable.value)
        first = r.select(is_method, b.slot(buffer, 1), b.slot(buffer, 2))
        nargs = r.select(is_method, i64(n + 1 - nkw), i64(n - nkw))

    def vectorcall() -> tuple[ir.Value]:
        nargsf = r.or_(nargs, i64(PY_VECTORCALL_ARGUMENTS_OFFSET))
        if not fx.fast_paths:
            return b.call("PyObject_Vectorcall", callable_, first, nargsf, kwnames),
        fx.optimizations |= OptimizationFlags.FunctionCalls
        return b.call("pyjion_vectorcall", fx.ts, callable_, first, nargsf, kwnames,
                      fx.site_cache(ins, CALL_SITE_WORDS)),
    precall = fx.specialised(ins, OptimizationFlags.BuiltinMethods, *SPECIALISED,
                             units_before=1 + INLINE_CACHE_ENTRIES["PRECALL"])
    if precall is None:
        result, = vectorcall()
    elif precall.opname == "PRECALL_NO_KW_LEN":
        result, = fx.guarded(lambda bail_if: _len(fx, bail_if, callable_, first, nargs), vectorcall)
    elif precall.opname == "PRECALL_NO_KW_LIST_APPEND":
        result, = fx.guarded(lambda bail_if: _list_append(fx, bail_if, callable_, first, nargs), vectorcall)
    else:
        result, = _call_builtin(fx, CONVENTIONS[precall.opname], callable_, first, nargs, kwnames, vectorcall)
    for entry in entries:
        fx.release(entry)
    fx.error_if_null(result)
    fx.push(result)
    fx.check_eval_breaker()
    fx.deopt_if_tracing(ins.next)


# The specialisations of the PRECALL before a CALL that call a C function directly (_call_builtin), with
# the calling conventions (ml_flags) each calls that way. Not where the interpreter has not specialised
# the site: there it calls through vectorcall, whose recursion-depth count around a METH_FASTCALL
# function a call at the limit tells apart.
_FASTCALLS = (METH_FASTCALL, METH_FASTCALL | METH_KEYWORDS)
CONVENTIONS = {
    **dict.fromkeys(("PRECALL_NO_KW_BUILTIN_FAST", "PRECALL_BUILTIN_FAST_WITH_KEYWORDS",
                     "PRECALL_NO_KW_ISINSTANCE", "PRECALL_NO_KW_METHOD_DESCRIPTOR_FAST",
                     "PRECALL_METHOD_DESCRIPTOR_FAST_WITH_KEYWORDS"), _FASTCALLS),
    "PRECALL_NO_KW_BUILTIN_O": (METH_O,), "PRECALL_NO_KW_METHOD_DESCRIPTOR_O": (METH_O,),
    "PRECALL_NO_KW_METHOD_DESCRIPTOR_NOARGS": (METH_NOARGS,),
}
# And those whose fast paths call len() and list.append's C code.
SPECIALISED = (*CONVENTIONS, "PRECALL_NO_KW_LEN", "PRECALL_NO_KW_LIST_APPEND")
# The arguments a METH_O or METH_NOARGS function takes (after self).
_ARGUMENT_COUNTS = {METH_O: 1, METH_NOARGS: 0}


def _len(fx: Lowering, bail_if: Callable[[ir.Value], None], callable_: ir.Value, first: ir.Value,
         nargs: ir.Value) -> tuple[ir.Value]:
    """``len(x)`` as PRECALL_NO_KW_LEN: the builtin itself with one argument, PyObject_Size boxed."""
    b, r = fx.b, fx.r
    bail_if(r.icmp_unsigned("!=", callable_, b.object("pyjion_builtin_len")))
    bail_if(r.icmp_signed("!=", nargs, i64(1)))
    size = b.call("PyObject_Size", b.load_slot(first, 0))
    return _unless(fx, r.icmp_signed("<", size, i64(0)), lambda: b.call("PyLong_FromSsize_t", size)),


def _list_append(fx: Lowering, bail_if: Callable[[ir.Value], None], callable_: ir.Value, first: ir.Value,
                 nargs: ir.Value) -> tuple[ir.Value]:
    """``lst.append(x)`` as PRECALL_NO_KW_LIST_APPEND: list.append itself, on an exact list."""
    b, r = fx.b, fx.r
    bail_if(r.icmp_unsigned("!=", callable_, b.object("pyjion_list_append")))
    bail_if(r.icmp_signed("!=", nargs, i64(2)))
    self_ = b.load_slot(first, 0)
    bail_if(r.icmp_unsigned("!=", b.type_of(self_), b.object("PyList_Type")))
    failed = r.icmp_signed("<", b.call("PyList_Append", self_, b.load_slot(first, 1)), i32(0))
    return _unless(fx, failed, lambda: b.new_ref(b.none())),


def _unless(fx: Lowering, failed: ir.Value, make: Callable[[], ir.Value]) -> ir.Value:
    """NULL if ``failed`` (the exception is set), else the new reference ``make()`` emits."""
    b, r = fx.b, fx.r
    start = r.block
    ok, done = b.block("call_ok"), b.block("call_done")
    r.cbranch(failed, done, ok)
    b.position(ok)
    value = make()
    ok_end = r.block
    r.branch(done)
    return b.merge(done, (NULL, start), (value, ok_end))


def _call_builtin(fx: Lowering, conventions: tuple[int, ...], callable_: ir.Value, first: ir.Value, nargs: ir.Value,
                  kwnames: ir.Value, generic: Callable[[], tuple[ir.Value]]) -> tuple[ir.Value]:
    """A C function of one of the calling ``conventions`` called directly, as the PRECALL_*BUILTIN* and
    PRECALL_*METHOD_DESCRIPTOR* forms do: a builtin function (its ``m_self`` first) or a method
    descriptor whose first argument has exactly its type. Like those instructions, a METH_FASTCALL
    function is called with no recursion-depth count around it (the vectorcall ``generic()`` takes
    counts one), a METH_O or METH_NOARGS one with it; anything else is generic."""
    b, r = fx.b, fx.r
    done = b.block("builtin_done")
    slow = b.block("builtin_generic")
    arms: list[tuple[ir.Value, ir.Block]] = []

    def counted(call: Callable[[], ir.Value]) -> ir.Value:
        """``call()`` one recursion level deeper; NULL past the limit (RecursionError set)."""
        def call_and_leave() -> ir.Value:
            result = call()
            b.leave_recursive_call(fx.ts)
            return result
        return _unless(fx, b.enter_recursive_call(fx.ts, " while calling a Python object"), call_and_leave)

    def call_method_def(method_def: ir.Value, self_: ir.Value, args: ir.Value, count: ir.Value) -> None:
        flags = b.load(method_def, METHOD_DEF.ml_flags)
        meth = b.load(method_def, METHOD_DEF.ml_meth)
        for convention in conventions:
            if kwnames is not NULL and not convention & METH_KEYWORDS:
                continue
            matches = r.icmp_unsigned("==", flags, i32(convention))
            fixed_count = _ARGUMENT_COUNTS.get(convention)
            if fixed_count is not None:
                matches = r.and_(matches, r.icmp_signed("==", count, i64(fixed_count)))
            direct, other = b.block("direct_call"), b.block("other_convention")
            r.cbranch(matches, direct, other)
            b.position(direct)
            if convention & METH_KEYWORDS:
                call_args = [self_, args, count, kwnames]
            elif convention == METH_FASTCALL:
                call_args = [self_, args, count]
            else:  # its argument, read once the count is known
                call_args = [self_, b.load_slot(args, 0) if convention == METH_O else NULL]
            signature = ir.FunctionType(PTR, [arg.type for arg in call_args])
            if fixed_count is None:
                result = b.call_pointer(meth, signature, call_args)
            else:
                result = counted(lambda: b.call_pointer(meth, signature, call_args))
            arms.append((result, r.block))
            r.branch(done)
            b.position(other)
        r.branch(slow)

    tp = b.type_of(callable_)
    function, not_function = b.block("cfunction"), b.block("not_cfunction")
    r.cbranch(r.icmp_unsigned("==", tp, b.object("PyCFunction_Type")), function, not_function)
    b.position(function)
    call_method_def(b.load(callable_, CFUNCTION.m_ml), b.load(callable_, CFUNCTION.m_self), first, nargs)

    b.position(not_function)
    descriptor, has_self = b.block("method_descriptor"), b.block("descriptor_self")
    is_descriptor = r.and_(r.icmp_unsigned("==", tp, b.object("PyMethodDescr_Type")),
                           r.icmp_signed(">", nargs, i64(0)))
    r.cbranch(is_descriptor, descriptor, slow)
    b.position(descriptor)
    self_ = b.load_slot(first, 0)
    r.cbranch(r.icmp_unsigned("==", b.type_of(self_), b.load(callable_, METHOD_DESCR.d_type)), has_self, slow)
    b.position(has_self)
    call_method_def(b.load(callable_, METHOD_DESCR.d_method), self_, b.slot(first, 1), r.sub(nargs, i64(1)))

    b.position(slow)
    result, = generic()
    arms.append((result, r.block))
    r.branch(done)
    return b.merge(done, *arms),


def call_function_ex(fx: Lowering, ins: Instruction) -> None:
    """Stack ``[NULL, func, args(, kwargs)]``: ``func(*args, **kwargs)`` via ``PyObject_Call``."""
    b = fx.b
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
