"""Generators and coroutines: YIELD_VALUE, SEND, GET_YIELD_FROM_ITER, RETURN_GENERATOR.

A generator's frame is created by the interpreter (RETURN_GENERATOR needs the hidden ``_Py_MakeCoro``);
every later resumption enters the compiled function, which dispatches on ``prev_instr`` to the block
after the YIELD_VALUE it stopped at (:meth:`Lowering._dispatch_resumption`). Suspending leaves the frame
exactly as the interpreter would: stack spilled, ``prev_instr`` at the YIELD_VALUE, state SUSPENDED.
"""
from __future__ import annotations

from llvmlite import ir

from ...abi.cpython311 import CO_COROUTINE, CO_ITERABLE_COROUTINE, FRAME_CREATED, GENERATOR, THREAD
from ...runtime.helpers import HELPER_GET_AITER, HELPER_GET_ANEXT, HELPER_GET_AWAITABLE
from ..builder import I8, NULL, PTR, i32, i64
from ..bytecode import Instruction
from ..lowering import Entry, Lowering
from .exceptions import restore

ASYNC_GEN_WRAPPED_VALUE = 2  # pointer slot of _PyAsyncGenWrappedValue.agw_val (after the object header)

PYGEN_RETURN, PYGEN_ERROR, PYGEN_NEXT = 0, -1, 1


def return_generator(fx: Lowering, ins: Instruction) -> None:
    """Never reached compiled: the creating call runs in the interpreter (see the prologue)."""
    fx.deopt(ins.start)


def yield_value(fx: Lowering, ins: Instruction) -> None:
    # Under tracing the interpreter yields, reporting the 'return' event.
    fx.deopt_if_tracing(ins.start)
    fx.suspend(fx.pop().value)


def send(fx: Lowering, ins: Instruction) -> None:
    """``[receiver, v]``: send v; on return jump with the result, else push the yielded value."""
    b, r = fx.b, fx.r
    # ceval takes another path (tp_iternext / .send) when a trace function is set: let it.
    with b.if_then(r.icmp_unsigned("!=", b.load(fx.ts, THREAD.c_tracefunc), NULL), likely=False):
        fx.deopt(ins.start)
    value = fx.pop()
    out = b.alloca(PTR)
    status = fx.call_releasing("PyIter_Send", [fx.peek(1).value, value.value, out], [value])
    fx.error_if(r.icmp_signed("==", status, i32(PYGEN_ERROR)))
    result = r.load(out, typ=PTR)
    returned = r.icmp_signed("==", status, i32(PYGEN_RETURN))
    finished = b.block("send_returned")
    yielded = b.block("send_yielded")
    r.cbranch(returned, finished, yielded)
    b.position(finished)
    receiver = fx.stack[-1]
    fx.release(receiver)
    fx.jump(ins.target, [*fx.stack[:-1], Entry(result)])
    b.position(yielded)
    fx.push(result)


def get_yield_from_iter(fx: Lowering, ins: Instruction) -> None:
    b, r = fx.b, fx.r
    iterable = fx.pop()
    is_coroutine = b.is_type(iterable.value, "PyCoro_Type")
    if not fx.code.co_flags & (CO_COROUTINE | CO_ITERABLE_COROUTINE):
        with b.if_then(is_coroutine, likely=False):
            b.call("PyErr_SetString", b.exception("PyExc_TypeError"),
                   b.cstring("cannot 'yield from' a coroutine object in a non-coroutine generator"))
            fx.error(cleanup=[iterable])
    keep = r.or_(is_coroutine, b.is_type(iterable.value, "PyGen_Type"))
    convert = b.block("get_iter")
    done = b.block("iter_done")
    start = r.block
    r.cbranch(keep, done, convert)
    b.position(convert)
    iterator = fx.call_releasing("PyObject_GetIter", [iterable.value], [iterable])
    fx.error_if_null(iterator)
    converted = r.block
    r.branch(done)
    result = b.merge(done, (iterable.value, start), (iterator, converted))
    fx.push(result)


def get_awaitable(fx: Lowering, ins: Instruction) -> None:
    """``await x``: a coroutine not yet started is its own awaitable; anything else goes to the helper."""
    b, r = fx.b, fx.r
    iterable = fx.pop()
    state = r.load(r.gep(iterable.value, [i64(GENERATOR.gi_frame_state.offset)], source_etype=I8), typ=I8)
    fresh = r.and_(b.is_type(iterable.value, "PyCoro_Type"), r.icmp_signed("==", state, ir.Constant(I8, FRAME_CREATED)))
    slow = b.block("awaitable_helper")
    done = b.block("awaitable_done")
    start = r.block
    r.cbranch(fresh, done, slow)
    b.position(slow)
    where = b.small_int(ins.arg)
    awaitable = fx.call_helper(HELPER_GET_AWAITABLE, iterable.value, where)
    fx.release(iterable)
    fx.error_if_null(awaitable)
    slow_end = r.block
    r.branch(done)
    fx.push(b.merge(done, (iterable.value, start), (awaitable, slow_end)))


def get_aiter(fx: Lowering, ins: Instruction) -> None:
    obj = fx.pop()
    result = fx.call_helper(HELPER_GET_AITER, obj.value)
    fx.release(obj)
    fx.push_result(result)


def get_anext(fx: Lowering, ins: Instruction) -> None:
    fx.push_result(fx.call_helper(HELPER_GET_ANEXT, fx.peek(1).value))


def end_async_for(fx: Lowering, ins: Instruction) -> None:
    """``[aiter, exc]``: StopAsyncIteration ends the loop (both popped); anything else is re-raised."""
    b, r = fx.b, fx.r
    fx.deopt_if_tracing(ins.start)
    exc = fx.pop()
    stop = b.call("PyErr_GivenExceptionMatches", exc.value, b.exception("PyExc_StopAsyncIteration"))
    reraise = b.block("not_stop")
    finished = b.block("loop_done")
    r.cbranch(r.icmp_signed("!=", stop, i32(0)), finished, reraise)
    b.position(reraise)
    restore(fx, exc)
    fx.reraise()
    b.position(finished)
    fx.release(exc)
    fx.release(fx.pop())


def async_gen_wrap(fx: Lowering, ins: Instruction) -> None:
    """Mark a value yielded by an async generator (``_PyAsyncGenValueWrapperNew`` is not exported)."""
    b = fx.b
    value = fx.pop()
    wrapper = b.call("_PyObject_GC_New", b.object("_PyAsyncGenWrappedValue_Type"))
    fx.error_if_null(wrapper, cleanup=[value])
    b.store_slot(wrapper, ASYNC_GEN_WRAPPED_VALUE, value.value)  # the wrapper takes the reference
    b.call("PyObject_GC_Track", wrapper)
    fx.push(wrapper)


EMITTERS = {
    "RETURN_GENERATOR": return_generator, "YIELD_VALUE": yield_value, "SEND": send,
    "GET_YIELD_FROM_ITER": get_yield_from_iter, "GET_AWAITABLE": get_awaitable, "GET_AITER": get_aiter,
    "GET_ANEXT": get_anext, "END_ASYNC_FOR": end_async_for, "ASYNC_GEN_WRAP": async_gen_wrap,
}
