"""Constants, fast locals, cells and free variables."""
from __future__ import annotations

from ...abi.cpython311 import CELL, FRAME, TUPLE
from ...runtime.support import UNBOUNDFREE_ERROR_MSG, UNBOUNDLOCAL_ERROR_MSG
from ..builder import NULL
from ..bytecode import Instruction
from ..lowering import Lowering


def _push_kept(fx: Lowering, value) -> None:
    """Push a value that a local or the code's constants keep alive: borrowed at levels 1 and 2
    (lowering's _BORROWS), else with a reference of its own."""
    if fx.fast_paths:
        fx.push(value, borrowed=True)
    else:
        fx.push(fx.b.new_ref(value))


def load_const(fx: Lowering, ins: Instruction) -> None:
    _push_kept(fx, fx.const(ins.arg))


def _unbound(fx: Lowering, index: int, free_variable: bool) -> None:
    """Raise ceval's UnboundLocalError, or NameError for an unbound free variable, and go to error."""
    b = fx.b
    if free_variable:
        b.call("pyjion_exc_check_arg", b.exception("PyExc_NameError"), b.cstring(UNBOUNDFREE_ERROR_MSG),
               fx.local_name(index))
    else:
        b.call("pyjion_exc_check_arg", b.exception("PyExc_UnboundLocalError"),
               b.cstring(UNBOUNDLOCAL_ERROR_MSG), fx.local_name(index))
    fx.error()


def _is_free_variable(fx: Lowering, index: int) -> bool:
    return index >= fx.nlocalsplus - len(fx.code.co_freevars)


def load_fast(fx: Lowering, ins: Instruction) -> None:
    value = fx.local(ins.arg)
    if ins.arg not in fx.bound[ins.index]:
        with fx.b.if_then(fx.b.is_null(value), likely=False):
            _unbound(fx, ins.arg, free_variable=False)
    _push_kept(fx, value)


def store_fast(fx: Lowering, ins: Instruction) -> None:
    entry = fx.pop()
    if entry.unboxed is not None:
        fx.store_double(fx.b.slot(fx.localsplus, ins.arg), entry.unboxed, may_be_null=True)
        return
    old = fx.local(ins.arg)
    fx.set_local(ins.arg, entry.value)
    fx.xdecref(old)


def delete_fast(fx: Lowering, ins: Instruction) -> None:
    old = fx.local(ins.arg)
    with fx.b.if_then(fx.b.is_null(old), likely=False):
        _unbound(fx, ins.arg, free_variable=False)
    fx.set_local(ins.arg, NULL)
    fx.b.decref(old)


def make_cell(fx: Lowering, ins: Instruction) -> None:
    initial = fx.local(ins.arg)
    cell = fx.b.call("PyCell_New", initial)
    # Before RESUME the frame is incomplete: the interpreter adds no traceback entry, nor do we.
    fx.error_if_null(cell)
    fx.set_local(ins.arg, cell)
    fx.b.xdecref(initial)


def copy_free_vars(fx: Lowering, ins: Instruction) -> None:
    items = fx.b.addr(fx.closure(), TUPLE.ob_item)
    offset = fx.nlocalsplus - ins.arg
    for i in range(ins.arg):
        fx.set_local(offset + i, fx.b.new_ref(fx.b.load_slot(items, i)))


def load_closure(fx: Lowering, ins: Instruction) -> None:
    load_fast(fx, ins)


def load_deref(fx: Lowering, ins: Instruction) -> None:
    value = fx.b.load(fx.local(ins.arg), CELL.ob_ref)
    with fx.b.if_then(fx.b.is_null(value), likely=False):
        _unbound_cell(fx, ins.arg)
    fx.push(fx.b.new_ref(value))


def load_classderef(fx: Lowering, ins: Instruction) -> None:
    """A class body reading a free variable: the class namespace first, then the cell."""
    b, r = fx.b, fx.r
    found = b.call("pyjion_mapping_get", b.load(fx.frame, FRAME.f_locals), fx.local_name(ins.arg))
    from_namespace = r.block
    use_cell = b.block("classderef_cell")
    done = b.block("classderef_done")
    r.cbranch(b.is_null(found), use_cell, done)
    b.position(use_cell)
    fx.error_if(r.icmp_unsigned("!=", b.call("PyErr_Occurred"), NULL))
    value = b.load(fx.local(ins.arg), CELL.ob_ref)
    with b.if_then(b.is_null(value), likely=False):
        _unbound_cell(fx, ins.arg)
    b.incref(value)
    from_cell = r.block
    r.branch(done)
    fx.push(b.merge(done, (found, from_namespace), (value, from_cell)))


def _unbound_cell(fx: Lowering, index: int) -> None:
    """ceval's ``format_exc_unbound``: it leaves an exception that is already set alone."""
    with fx.b.if_then(fx.b.is_null(fx.b.call("PyErr_Occurred"))):
        _unbound(fx, index, free_variable=_is_free_variable(fx, index))
    fx.error()


def store_deref(fx: Lowering, ins: Instruction) -> None:
    cell = fx.local(ins.arg)
    old = fx.b.load(cell, CELL.ob_ref)
    fx.b.store(cell, CELL.ob_ref, fx.pop().value)
    fx.b.xdecref(old)


def delete_deref(fx: Lowering, ins: Instruction) -> None:
    cell = fx.local(ins.arg)
    old = fx.b.load(cell, CELL.ob_ref)
    with fx.b.if_then(fx.b.is_null(old), likely=False):
        _unbound_cell(fx, ins.arg)
    fx.b.store(cell, CELL.ob_ref, NULL)
    fx.b.decref(old)


EMITTERS = {
    "LOAD_CONST": load_const, "LOAD_FAST": load_fast, "STORE_FAST": store_fast, "DELETE_FAST": delete_fast,
    "MAKE_CELL": make_cell, "COPY_FREE_VARS": copy_free_vars, "LOAD_CLOSURE": load_closure,
    "LOAD_DEREF": load_deref, "STORE_DEREF": store_deref, "DELETE_DEREF": delete_deref,
    "LOAD_CLASSDEREF": load_classderef,
}
