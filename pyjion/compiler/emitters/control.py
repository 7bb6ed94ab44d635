"""Control flow: jumps, conditional jumps, iteration, return and raise."""
from __future__ import annotations

from llvmlite import ir

from ...abi.cpython311 import LIST, RANGE_ITER, SEQUENCE_ITER, TUPLE, VAROBJECT
from ...enums import OptimizationFlags
from ..builder import I32, PTR, i32, i64
from ..bytecode import Instruction
from ..lowering import Entry, Lowering


def jump_forward(fx: Lowering, ins: Instruction) -> None:
    fx.jump(ins.target)


def jump_backward(fx: Lowering, ins: Instruction) -> None:
    if ins.opname == "JUMP_BACKWARD":
        fx.check_eval_breaker()
    fx.jump(ins.target)


def truth(fx: Lowering, entry: Entry) -> ir.Value:
    """``PyObject_IsTrue`` with True and False decided inline: i32 1, 0, or -1 on error."""
    b, r = fx.b, fx.r
    value = entry.value
    is_true = r.icmp_unsigned("==", value, b.object("_Py_TrueStruct"))
    is_false = r.icmp_unsigned("==", value, b.object("_Py_FalseStruct"))
    known = b.block("truth_known")
    generic = b.block("truth_generic")
    done = b.block("truth_done")
    r.cbranch(r.or_(is_true, is_false), known, generic)
    b.position(known)
    decided = r.zext(is_true, I32)
    r.branch(done)
    b.position(generic)
    computed = fx.on_objects([entry], lambda objects: b.call("PyObject_IsTrue", *objects))
    generic_end = r.block
    r.branch(done)
    result = b.merge(done, (decided, known), (computed, generic_end))
    return result


def pop_jump_if(fx: Lowering, ins: Instruction) -> None:
    """POP_JUMP_{FORWARD,BACKWARD}_IF_{TRUE,FALSE,NONE,NOT_NONE}."""
    b, r = fx.b, fx.r
    value = fx.pop()
    if ins.opname.endswith("_NONE"):
        is_none = r.icmp_unsigned("==", value.value, b.none())
        taken = r.not_(is_none) if ins.opname.endswith("NOT_NONE") else is_none
        fx.release(value)
    else:
        status = truth(fx, value)
        fx.release(value)
        fx.error_if_negative(status)
        want = 1 if ins.opname.endswith("_TRUE") else 0
        taken = r.icmp_signed("==", status, i32(want))
    if "BACKWARD" in ins.opname:
        # ceval polls the eval breaker only on the taken backward edge.
        go = b.block("backedge")
        rest = b.block("no_jump")
        r.cbranch(taken, go, rest)
        b.position(go)
        fx.check_eval_breaker()
        fx.jump(ins.target)
        b.position(rest)
    else:
        fx.branch(taken, ins.target)


def jump_if_or_pop(fx: Lowering, ins: Instruction) -> None:
    """JUMP_IF_{TRUE,FALSE}_OR_POP: jump keeping the value, or pop it and fall through."""
    status = truth(fx, fx.peek(1))
    fx.error_if_negative(status)
    want = 1 if ins.opname == "JUMP_IF_TRUE_OR_POP" else 0
    fx.branch(fx.r.icmp_signed("==", status, i32(want)), ins.target)
    fx.release(fx.pop())


def get_iter(fx: Lowering, ins: Instruction) -> None:
    iterable = fx.pop()
    fx.push_result(fx.call_releasing("PyObject_GetIter", [iterable.value], [iterable]))


def for_iter(fx: Lowering, ins: Instruction) -> None:
    """Next value on top of the iterator, or pop the iterator and jump when it is exhausted.

    Range, list and tuple iterators that have a next value are stepped inline; their exhaustion and
    every other iterator go through ``tp_iternext``.
    """
    b, r = fx.b, fx.r
    iterator = fx.peek(1).value

    def generic():
        out = b.alloca(PTR)
        status = b.call("pyjion_iter_next", iterator, out)
        return status, r.load(out, typ=PTR)

    def over_range(bail_if):
        bail_if(r.not_(b.is_type(iterator, "PyRangeIter_Type")))
        index = b.load(iterator, RANGE_ITER.index)
        bail_if(r.icmp_signed(">=", index, b.load(iterator, RANGE_ITER.len)))
        b.store(iterator, RANGE_ITER.index, r.add(index, i64(1)))
        current = r.add(b.load(iterator, RANGE_ITER.start), r.mul(index, b.load(iterator, RANGE_ITER.step)))
        value = b.box_int(current)
        return r.select(b.is_null(value), i32(-1), i32(1)), value

    def over_sequence(type_name: str, items_of):
        def step(bail_if):
            bail_if(r.not_(b.is_type(iterator, type_name)))
            seq = b.load(iterator, SEQUENCE_ITER.it_seq)
            bail_if(b.is_null(seq))
            index = b.load(iterator, SEQUENCE_ITER.it_index)
            bail_if(r.icmp_signed(">=", index, b.load(seq, VAROBJECT.ob_size)))
            b.store(iterator, SEQUENCE_ITER.it_index, r.add(index, i64(1)))
            return i32(1), b.new_ref(b.load_slot(items_of(seq), index))
        return step

    if fx.fast_paths:
        fx.optimizations |= OptimizationFlags.InlineIterators
        over_tuple = over_sequence("PyTupleIter_Type", lambda seq: b.addr(seq, TUPLE.ob_item))
        over_list = over_sequence("PyListIter_Type", lambda seq: b.load(seq, LIST.ob_item))
        status, value = fx.guarded(over_range, lambda: fx.guarded(over_list, lambda: fx.guarded(over_tuple, generic)))
    else:
        status, value = generic()
    fx.error_if_negative(status)
    exhausted = b.block("exhausted")
    got = b.block("next_value")
    r.cbranch(r.icmp_signed("==", status, i32(0)), exhausted, got)
    b.position(exhausted)
    below = fx.stack[:-1]
    fx.release(fx.peek(1))
    fx.jump(ins.target, below)
    b.position(got)
    fx.push(value)


def return_value(fx: Lowering, ins: Instruction) -> None:
    fx.return_value(fx.pop().value)


EMITTERS = {
    "JUMP_FORWARD": jump_forward, "JUMP_BACKWARD": jump_backward, "JUMP_BACKWARD_NO_INTERRUPT": jump_backward,
    **{f"POP_JUMP_{d}_IF_{c}": pop_jump_if for d in ("FORWARD", "BACKWARD")
       for c in ("TRUE", "FALSE", "NONE", "NOT_NONE")},
    "JUMP_IF_TRUE_OR_POP": jump_if_or_pop, "JUMP_IF_FALSE_OR_POP": jump_if_or_pop,
    "GET_ITER": get_iter, "FOR_ITER": for_iter, "RETURN_VALUE": return_value,
}
