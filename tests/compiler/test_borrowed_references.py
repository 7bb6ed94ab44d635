"""Locals and constants pushed without a reference of their own (lowering's ``_BORROWS``), differentially.

A borrowed value must look owned wherever the program can look: reference counts seen by code run
while it is on the stack (``sys.getrefcount`` in a dunder method, a property, ``__bool__``), floats
overwritten in place (never a local's or a constant's), values carried to another block, and the
reference count of the object once the function is done.
"""
from __future__ import annotations

import sys

import pytest

import pyjion
from differential import jit, outcome
from pyjion import OptimizationFlags as Flags
from test_feedback import check as check_scenario

REFERENCE_COUNTS = """
import sys

class Counted:
    def __add__(self, other):
        return "add", sys.getrefcount(self), sys.getrefcount(other)

    def __lt__(self, other):
        return "lt", sys.getrefcount(self), sys.getrefcount(other)

    def __getitem__(self, index):
        return "getitem", sys.getrefcount(self), sys.getrefcount(index)

    def __bool__(self):
        SEEN.append(("bool", sys.getrefcount(self)))
        return True

    @property
    def attr(self):
        return "attr", sys.getrefcount(self)

class Noisy:
    # an attribute value whose finalizer reports its owner's reference count

    def __init__(self, owner):
        self.owner = owner

    def __del__(self):
        SEEN.append(("del", sys.getrefcount(self.owner)))

class Holder:
    def __init__(self):
        self.value = 0

    @property
    def guarded(self):
        return 0

    @guarded.setter
    def guarded(self, value):
        SEEN.append(("set", sys.getrefcount(self)))

def stores(holder, n):
    # STORE_ATTR_INSTANCE_VALUE by warm(); the old value's finalizer, then a property, see the owner
    SEEN.clear()
    holder.value = Noisy(holder) if n else n
    holder.value = n
    return list(SEEN)

def setter(holder):
    SEEN.clear()
    holder.guarded = 1
    return list(SEEN)

SEEN = []

def ops(a, b, items, n):
    # specialised for floats, ints and a list by warm(); then given objects of a class
    SEEN.clear()
    out = [a + b, a < b, items[n]]
    if a:
        out.append("true")
    out.append(a.real if isinstance(a, float) else a.attr)
    out.append([b, sys.getrefcount(b)][1])  # b borrowed below the call's operands
    return out, list(SEEN)

def warm():
    ops(1.5, 2.5, [1, 2], 1)
    stores(Holder(), 0)
    setter(Holder())

one, two = Counted(), Counted()
STEPS = [("ops", 1.5, 2.5, [1, 2], 0), ("ops", one, two, one, two), ("ops", one, one, one, one),
         ("ops", 2, 3.5, (1,), 0), ("stores", Holder(), 1), ("stores", Holder(), 0), ("setter", Holder())]
"""


@pytest.mark.parametrize("function, flag", [("ops", Flags.FloatArithmetic), ("stores", Flags.LoadAttr),
                                            ("setter", Flags.LoadAttr)])
def test_code_run_by_an_operation_sees_the_interpreters_reference_counts(function, flag):
    check_scenario(REFERENCE_COUNTS, function, flag)


FLOATS_IN_PLACE = """
def scaled(a):
    # 1.25 is the constant's only reference but the code's; t's is the local's
    t = 1.25 * a
    u = t + 1.0
    return t, u, 2.5 - u

def warm():
    scaled(2.0)

STEPS = [("scaled", 2.0), ("scaled", 3.0), ("scaled", 4.0), ("scaled", 2.0)]
"""


@pytest.mark.parametrize("flag", [Flags.FloatArithmetic, Flags.BorrowedReferences])
def test_a_borrowed_float_is_never_overwritten_in_place(flag):
    check_scenario(FLOATS_IN_PLACE, "scaled", flag)


class Thing:
    x = 1

    def __getitem__(self, index):
        return index


def touches(o, n):
    total = 0
    for _ in range(n):
        total += o.x
        if o is None or not o:
            total -= 1
        total += o[0]
        o  # noqa: B018 - a POP_TOP of a borrowed local
    return total


def carries(a, b, c):
    # values carried across blocks: ``or``, ``and``, a conditional expression, an argument
    return (a or b), (b and c), (a if c else b), len([a, b if c else a])


def unbound(o):
    # the UnboundLocalError leaves the frame to the interpreter with ``o`` on its stack
    if o is None:
        y = 1
    return o + y


def test_borrowed_values_leave_reference_counts_as_they_were():
    thing, text, number = Thing(), "x" * 50, 10 ** 30
    expected = [sys.getrefcount(thing), sys.getrefcount(text), sys.getrefcount(number)]

    def run():
        return [outcome(touches, thing, 100), outcome(carries, text, number, thing),
                *[outcome(unbound, number) for _ in range(20)]]
    plain = run()
    with jit():
        jitted = run()
    assert jitted == plain
    del plain, jitted
    assert [sys.getrefcount(thing), sys.getrefcount(text), sys.getrefcount(number)] == expected
    for function in (touches, carries, unbound):
        assert pyjion.info(function).compiled
        assert Flags.BorrowedReferences in pyjion.info(function).optimizations
