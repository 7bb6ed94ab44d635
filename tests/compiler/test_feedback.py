"""Fast paths from the interpreter's type feedback, differentially, including every way their guards fail.

Each scenario is a small module, exec'd afresh for each mode. Its ``warm()`` runs the code under test in
the interpreter until 3.11 has specialised it; then, under the JIT, the first call compiles it with that
feedback, and the scenario's steps (which change types, values, classes and globals behind the
compiled code's back) must give exactly what they give in the interpreter.
"""
from __future__ import annotations

import builtins
import contextlib
import ctypes
import textwrap
import types

import pytest

import pyjion
from differential import jit, outcome
from pyjion import OptimizationFlags as Flags
from pyjion.abi import DICT, DICT_KEYS, HEAPTYPE, keys_version_function
from pyjion.compiler import analysis, bytecode, feedback, flow
from pyjion.compiler.emitters import SPECIALISED

WARM_UP = 64


def warmed(source: str) -> dict:
    """The namespace of ``source`` once its ``warm()`` has run until the interpreter specialised it."""
    namespace: dict = {"__name__": "scenario"}
    exec(compile(textwrap.dedent(source), "<scenario>", "exec"), namespace)
    for _ in range(WARM_UP):
        namespace["warm"]()
    return namespace


def specialised_forms(source: str, function: str) -> set[str]:
    """The specialised instructions of ``function`` in ``source``, warmed up."""
    return {found.opname for found in feedback.read(warmed(source)[function].__code__).values()}


def run_scenario(source: str, use_jit: bool) -> tuple[list, dict]:
    namespace = warmed(source)
    steps = namespace["STEPS"]
    if not use_jit:
        return [outcome(namespace[name], *args) for name, *args in steps], namespace
    with jit():
        results = [outcome(namespace[name], *args) for name, *args in steps]
    return results, namespace


def check(source: str, function: str, flag: Flags) -> None:
    plain, _ = run_scenario(source, use_jit=False)
    jitted, namespace = run_scenario(source, use_jit=True)
    assert jitted == plain
    info = pyjion.info(namespace[function])
    assert info.compiled, info.reason
    assert flag in info.optimizations, f"{flag!r} not among {info.optimizations!r}"


def test_feedback_reads_the_specialised_instructions():
    def f(a, b):
        return a.real + b * 2.0

    for _ in range(WARM_UP):
        f(1.5, 2.5)
    names = {s.opname for s in feedback.read(f.__code__).values()}
    assert {"BINARY_OP_MULTIPLY_FLOAT", "BINARY_OP_ADD_FLOAT"} <= names


COMPARE = """
def compare(a, b):
    # 3.11 specialises a comparison only when a conditional jump follows it
    out = []
    if a < b:
        out.append("<")
    if a <= b:
        out.append("<=")
    if a == b:
        out.append("==")
    if a != b:
        out.append("!=")
    if a > b:
        out.append(">")
    if a >= b:
        out.append(">=")
    return out
"""

FLOATS = COMPARE + """
def arith(a, b):
    return (a + b) * (a - b) / b

def keeps(a, b):
    # The sum has a second reference (the local): the product must be a new float.
    total = a + b
    product = total * 2.0
    return total, product, total is product

def warm():
    arith(1.5, 2.5)
    compare(1.5, 2.5)
    keeps(1.5, 2.5)

nan = float("nan")
STEPS = [("arith", 3.0, 0.5), ("arith", 3, 2), ("arith", 3.0, 2), ("arith", 1.0, 0.0), ("arith", 1.0, -0.0),
         ("arith", True, 2.0), ("arith", "a", "b"), ("arith", 1e308, 1e-308), ("compare", 1.0, 2.0),
         ("compare", nan, nan), ("compare", 2.0, 2), ("compare", 1, 2.5), ("compare", "a", "b"),
         ("keeps", 1.5, 2.0), ("keeps", 1, 2.0)]
"""


@pytest.mark.parametrize("function, flag", [("arith", Flags.FloatArithmetic), ("keeps", Flags.FloatArithmetic),
                                            ("compare", Flags.InternRichCompare)])
def test_float_fast_paths(function, flag):
    check(FLOATS, function, flag)


UNBOXED = """
import sys
from fractions import Fraction

class Real(float):
    def __mul__(self, other):
        return "Real.__mul__"

def norm(a, b, c):
    # a*a, b*b, their sum and c*c are consumed by float operations: doubles, never float objects
    # (repr: NaN is not equal to itself)
    return repr((a * a + b * b + c * c) / 2.0 - a * c)

def mixed(a, b, c, d):
    # the second product is taken while the first is an unboxed double below it
    return a * b + c * d

def compare(a, b, c):
    if a * b < c * c:
        return "less"
    return "not less"

def guarded(a, b, c, d):
    try:
        return a * b + c / d
    except ZeroDivisionError as exc:
        return ("caught", str(exc))

def unbound(a, b, flag):
    if flag:
        late = 1.5
    return a * b + late

def loop(values):
    # the type changes mid-loop: the interpreter takes over the rest of the frame when a product
    # that should be a float is not one
    total = 0.0
    steps = []
    for x, y in values:
        total = total + (x * y - y * x + x * x) * 0.5
        steps.append(type(total).__name__)
    return total, steps

def stores(a, b, n):
    # a local's float is overwritten only when the frame holds the only reference to it
    x = a * b
    kept = []
    for _ in range(n):
        kept.append(x)
        x = x * b + a
        y = x * a
    seen = locals()
    y = a * a
    z = Real(2.0)
    z = a * b
    return x, y, kept, seen["y"], type(z).__name__, z

def items(values, scale):
    # a list item's float is overwritten only when the list holds the only reference to it
    first = values[0]
    for i in range(len(values)):
        values[i] += values[i] * scale
    return first, values

def ratio(a, b):
    # true division is tried on floats without feedback: stored, its result stays an object, since
    # nothing says it was ever a float (a Fraction would send every call to the interpreter)
    q = a / b
    r = a * b / b
    # an int operand the stack alone holds must not become the quotient's float object
    return q, r, (a * 1000) / b, -a / b

def power(a, b):
    # 3.11 specialises no power: tried on floats inline, with pow() where float_pow's result is pow()'s
    return repr(a ** b), repr((a * a + b * b) ** b * 2.0)

def counts(a, b):
    before = sys.getrefcount(a), sys.getrefcount(b)
    for _ in range(100):
        a * b + a * b
    return [n - m for n, m in zip((sys.getrefcount(a), sys.getrefcount(b)), before)]

def warm():
    norm(1.5, 2.5, 3.5)
    mixed(1.5, 2.5, 3.5, 4.5)
    compare(1.5, 2.5, 3.5)
    guarded(1.5, 2.5, 3.5, 4.5)
    unbound(1.5, 2.5, True)
    loop([(1.5, 2.5)] * 3)
    counts(1.5, 2.5)
    stores(1.5, 0.5, 3)
    ratio(1.5, 0.5)
    items([0.5, 1.5], 2.0)
    power(1.5, -1.5)

nan, inf = float("nan"), float("inf")
big = Fraction(1, 3)
STEPS = [("norm", 3.0, 4.0, 12.0), ("norm", nan, 1.0, 2.0), ("norm", inf, -inf, 0.0), ("norm", -0.0, 0.0, -0.0),
         ("norm", 1e200, 1e200, 1.0), ("norm", 3, 4.0, 12.0), ("norm", 3, 4, 12), ("norm", True, 2.5, 1.5),
         ("norm", Real(2.0), 1.0, 1.0), ("norm", big, 2.0, 3.0), ("norm", big, big, big), ("norm", "a", 1.0, 2.0),
         ("norm", 1.0, 2.0, "c"), ("norm", 2**2000, 1.0, 1.0),
         ("mixed", 1.5, 2.5, 3.5, 4.5), ("mixed", 1.5, 2.5, big, big), ("mixed", big, big, 1.5, 2.5),
         ("mixed", 1.5, 2.5, Real(1.0), 2.0), ("mixed", 1.5, 2.5, "x", 3), ("mixed", 1.5, 2.5, 1.0, None),
         ("mixed", 1e308, 10.0, 1e308, -1e-300),
         ("compare", 1.5, 2.5, 3.5), ("compare", 2.0, 8.0, 4.0), ("compare", nan, 1.0, 1.0),
         ("compare", 1.5, 2.5, big), ("compare", big, big, 1.0), ("compare", 1.0, 1.0, "s"),
         ("guarded", 1.5, 2.5, 3.5, 4.5), ("guarded", 1.5, 2.5, 3.5, 0.0), ("guarded", 1.5, 2.5, 3.5, 0),
         ("guarded", 1.5, 2.5, big, big), ("guarded", 1.5, 2.5, 1.0, "d"),
         ("unbound", 1.5, 2.5, True), ("unbound", 1.5, 2.5, False), ("unbound", big, 2.5, False),
         ("loop", [(1.5, 2.5)] * 5), ("loop", [(1.5, 2.5), (2.0, 3.0), (big, big), (1.5, 2.5), (3, 4)]),
         ("loop", [(1.5, 2.5), (Real(1.0), 2.0)]), ("loop", [(1.5, 2.5), (1.5, None)]),
         ("stores", 1.5, 0.5, 4), ("stores", 1.5, 0.5, 0), ("stores", 2, 0.5, 2), ("stores", 1.5, big, 2),
         ("stores", 1.5, None, 1), ("ratio", 1.5, 0.5), ("ratio", big, big), ("ratio", 1, 0),
         ("ratio", 7, 2), ("ratio", 0, -5), ("ratio", -7, 2), ("ratio", 2**40, 3), ("ratio", 3, 2.5), ("ratio", 2.5, 3),
         ("ratio", True, 2), ("ratio", 2**30 - 1, 2**30 - 1),
         ("items", [0.5, 1.5, 2.5], 2.0), ("items", [0.5] * 3, 2.0), ("items", [0.5, 1, 2.5], 2.0),
         ("items", [0.5, big, 2.5], 2.0), ("items", {0: 0.5, 1: 1.5}, 2.0), ("items", [0.5, Real(1.0)], 2.0),
         ("items", (0.5, 1.5), 2.0),
         ("power", 2.0, 0.5), ("power", 1.1, 2.0), ("power", 7.0, 1 / 3), ("power", 10.0, -310.0),
         ("power", 10.0, -400.0), ("power", 10.0, 400.0), ("power", -2.0, 2.0), ("power", -2.0, 0.5),
         ("power", 0.0, -1.0), ("power", inf, 0.5), ("power", nan, 0.0), ("power", 1.0, nan), ("power", 2.0, inf),
         ("power", 3, 2), ("power", 3, 0.5), ("power", 2, -1), ("power", 2.0, 3), ("power", -2.0, 3),
         ("power", -8, 1 / 3), ("power", 2**40, 0.5), ("power", 1e-300, 1.1), ("power", big, 2.0), ("power", 2.0, big),
         ("counts", 1.5, 2.5), ("counts", big, 2.5), ("counts", big, big), ("counts", 3, 4.5)]
"""


@pytest.mark.parametrize("function", ["norm", "mixed", "compare", "guarded", "unbound", "loop", "stores", "items",
                                      "ratio", "power", "counts"])
def test_unboxed_float_temporaries(function):
    check(UNBOXED, function, Flags.Unboxing)


def _unboxed_operations(source: str, function: str) -> list[bool]:
    """For each BINARY_OP of ``function`` in ``source``, warmed up: is its result kept unboxed?"""
    code = warmed(source)[function].__code__
    instructions = bytecode.decode(code)
    found = {k: v for k, v in feedback.read(code).items() if v.opname in SPECIALISED}
    handlers = flow.exception_handlers(code, instructions)
    blocks = flow.build_blocks(instructions, handlers, ())
    results = analysis.unboxed_results(blocks, analysis.analyse(code, blocks, handlers), found)
    return [ins.index in results for ins in instructions if ins.opname == "BINARY_OP"]


def test_unboxed_results_are_those_consumed_by_float_operations():
    # a*a, b*b, +, c*c, + and / are consumed by float operations, a*c too; the difference is returned
    assert _unboxed_operations(UNBOXED, "norm") == [True, True, True, True, True, True, True, False]
    # a / b stored: no feedback says it was a float; a * b was (then divided by b)
    assert _unboxed_operations(UNBOXED, "ratio") == [False, True, False, False, False, False]


UNBOXED_INTS = """
import array
from fractions import Fraction

def eval_a(i, j):
    # (i + j), (i + j + 1), their product: i64s, never int objects, until the floor division needs one
    return 1.0 / ((i + j) * (i + j + 1) // 2 + i + 1)

def chain(a, b, c):
    # products of unboxed values can overflow 64 bits: the generic path makes the big int, and the
    # interpreter takes over the frame when a result no longer fits
    return a * b * c - a * c * b + (a - b) * (b - c)

def index(seq, i, k):
    # unboxed ints as indexes: negative and out-of-range ones take the generic path
    return seq[i + k], seq[2 * i - k]

def store(seq, i, k, v):
    seq[i + k] = v
    return seq

def ratio(a, b, c):
    # i64s divided as doubles while they convert exactly; beyond 2**53, int / int rounds once
    return (a * b + 1) / c, c / (a - b + 1)

def compare(a, b, c):
    if a * b < b * c:
        return "less"
    return "not less"

def loop(pairs):
    total = 0
    for x, y in pairs:
        total = total + (x * y - y + x * x)
    return total

def warm():
    eval_a(3, 4)
    chain(3, 4, 5)
    index([1, 2, 3, 4, 5, 6, 7], 2, 1)
    store([1, 2, 3, 4], 1, 1, 9)
    compare(3, 4, 5)
    ratio(4, 3, 5)
    loop([(1, 2)] * 3)

big = 2**40
STEPS = [("eval_a", 3, 4), ("eval_a", 0, 0), ("eval_a", 10**6, 10**6), ("eval_a", 2**31, 2**31),
         ("eval_a", 2**62, 1), ("eval_a", -3, 1), ("eval_a", -1, 0), ("eval_a", 2.5, 3), ("eval_a", True, 1),
         ("eval_a", Fraction(1, 2), 1),
         ("chain", 3, 4, 5), ("chain", 2**29, 2**29, 2**29), ("chain", 2**30, 2**30, 2**30), ("chain", big, big, big),
         ("chain", -2**29, 2**29, -2**29), ("chain", 3, 4.5, 5), ("chain", 3, "x", 5), ("chain", 0, 0, 0),
         ("index", [1, 2, 3, 4, 5, 6, 7], 2, 1), ("index", (1, 2, 3, 4, 5, 6, 7), 2, 1), ("index", [1, 2, 3], 1, 5),
         ("index", [1, 2, 3], 0, 1), ("index", [1, 2, 3], -3, 1), ("index", array.array("d", [1.5] * 9), 3, 2),
         ("index", array.array("i", range(9)), 3, 2), ("index", {3: "a", 1: "b"}, 1, 2), ("index", "abcdefg", 2, 1),
         ("index", [1, 2, 3], big, -big), ("index", [1, 2, 3], 1.0, 1),
         ("store", [1, 2, 3, 4], 1, 1, 9), ("store", [1, 2, 3, 4], 3, 1, 9), ("store", [1, 2, 3, 4], -2, 1, 9),
         ("store", array.array("d", [1.5] * 4), 1, 1, 2.5), ("store", {}, 1, 1, 9),
         ("compare", 3, 4, 5), ("compare", 5, 4, 3), ("compare", big, big, big), ("compare", 2**31, 2**31, 1),
         ("compare", 3, 4.5, 5), ("compare", 1, 1, "s"),
         ("ratio", 3, 4, 5), ("ratio", -3, 4, -5), ("ratio", 3, 3, 5), ("ratio", 4, 3, 0), ("ratio", 2**26, 2**26, 7),
         ("ratio", 536870866, 536870866, 7), ("ratio", 2**29, -2**29, 3), ("ratio", 3, 4, 5.5), ("ratio", 3.5, 4, 5),
         ("ratio", big, big, 3),
         ("loop", [(1, 2)] * 5), ("loop", [(1, 2), (2**31, 2**31), (3, 4)]), ("loop", [(1, 2), (1.5, 2), (3, 4)]),
         ("loop", [(1, 2), (big, big), (3, 4)])]
"""


@pytest.mark.parametrize("function", ["eval_a", "chain", "index", "store", "compare", "ratio", "loop"])
def test_unboxed_int_temporaries(function):
    check(UNBOXED_INTS, function, Flags.Unboxing)


def test_unboxed_results_are_those_consumed_by_int_operations_and_indexes():
    # i + j, i + j and + 1 feed int operations, the product a floor division (tried on ints, 3.11 does
    # not specialise it), whose result, an int's floor division by an int constant, feeds + i, which
    # feeds + 1, which feeds the true division; its result is returned
    assert _unboxed_operations(UNBOXED_INTS, "eval_a") == [True, True, True, True, True, True, True, False]
    # a * b feeds + 1, which feeds a true division; a - b and + 1 alike
    assert _unboxed_operations(UNBOXED_INTS, "ratio") == [True, True, False, True, True, False]
    # i + k indexes a list; 2 * i too, after - k; the index arithmetic is all unboxed
    assert _unboxed_operations(UNBOXED_INTS, "index") == [True, True, True]


ARRAYS = """
import array
from fractions import Fraction

def get(a, i):
    return a[i]

def put(a, i, v):
    a[i] = v
    return a

def scale(a, f):
    # read, scaled and written back without a float object (the product stays unboxed)
    for i in range(len(a)):
        a[i] = a[i] * f + 1.0
    return a

def warm():
    get(array.array("d", [1.5, 2.5]), 1)
    put(array.array("d", [1.5, 2.5]), 0, 0.5)
    scale(array.array("d", [1.5, 2.5]), 2.0)

class Floats(array.array):
    def __getitem__(self, i):
        return "subclass"

d, i, l = (lambda *v: array.array("d", v)), (lambda *v: array.array("i", v)), (lambda *v: array.array("l", v))
STEPS = [("get", d(1.5, 2.5), 1), ("get", d(1.5, 2.5), 0), ("get", d(1.5), 1), ("get", d(1.5), -1),
         ("get", d(1.5), 2**40), ("get", d(1.5, 2.5), True), ("get", d(1.5), 0.0), ("get", i(1, -7), 1),
         ("get", i(1, 2**31 - 1), 1), ("get", i(-2**31), 0), ("get", l(1, 2), 1), ("get", Floats("d", [1.5]), 0),
         ("get", [1.5], 0), ("get", {0: 1}, 0), ("get", "ab", 1), ("get", d(), 0),
         ("put", d(1.5, 2.5), 1, 3.25), ("put", d(1.5, 2.5), 1, 3), ("put", d(1.5, 2.5), 1, "x"),
         ("put", d(1.5), 1, 3.25), ("put", d(1.5), -1, 3.25), ("put", i(1, 2), 0, 3.25), ("put", i(1, 2), 0, 3),
         ("put", Floats("d", [1.5]), 0, 2.5), ("put", [1.5], 0, 2.5), ("put", {}, 0, 2.5),
         ("put", d(1.5), 0, Fraction(1, 3)),
         ("scale", d(1.0, 2.0, 3.0), 2.0), ("scale", d(1.0, 2.0), 3), ("scale", i(1, 2), 2.0),
         ("scale", [1.0, 2.0], 2.0), ("scale", d(), 2.0), ("scale", d(1.0), Fraction(1, 2))]
"""


@pytest.mark.parametrize("function, flag", [("get", Flags.KnownBinarySubscr), ("put", Flags.KnownStoreSubscr),
                                            ("scale", Flags.Unboxing)])
def test_array_items_inline(function, flag):
    check(ARRAYS, function, flag)


STRINGS = """
def same(a, b):
    if a == b:
        return "equal"
    if a != b:
        return "different"
    return "neither"

class Text(str):
    def __eq__(self, other):
        return "subclass __eq__"

def warm():
    same("ab", "ab")
    same("ab", "cd")

STEPS = [("same", "x", "x"), ("same", "x", "y"), ("same", "é" * 3, "é" * 3), ("same", "a" * 1000, "a" * 999 + "b"),
         ("same", "", ""), ("same", Text("x"), "x"), ("same", "x", Text("x")), ("same", "1", 1), ("same", b"x", "x")]
"""


def test_string_equality_fast_path():
    check(STRINGS, "same", Flags.InternRichCompare)


UNSPECIALISED_COMPARISONS = """
class Odd(int):
    def __lt__(self, other):
        return "Odd.__lt__"

def results(a, b):
    # no conditional jump follows: 3.11 specialises none of these, the compiled code tries ints and floats
    return [a < b, a <= b, a == b, a != b, a > b, a >= b]

def warm():
    results(1, 2)
    results(1.5, 0.5)

nan = float("nan")
STEPS = [("results", 1, 2), ("results", 2, 2), ("results", -3, 5), ("results", 2 ** 30 - 1, -(2 ** 30) + 1),
         ("results", 2 ** 30, 2 ** 30 + 1), ("results", 2 ** 70, 3), ("results", 1.5, 1.5), ("results", nan, nan),
         ("results", nan, 1.0), ("results", 0.0, -0.0), ("results", 1, 1.0), ("results", 2.5, 2),
         ("results", True, 1), ("results", Odd(1), 2), ("results", "a", "b"), ("results", None, 1),
         ("results", [1], [1])]
"""


def test_comparisons_the_interpreter_did_not_specialise():
    check(UNSPECIALISED_COMPARISONS, "results", Flags.InternRichCompare)


INTS = COMPARE + """
def arith(a, b):
    return a * b + (a - b)

CACHED = 256

def small_ints_shared(a, b):
    # -5..256 are the interpreter's preallocated ints: results in that range are those objects
    return a * b is CACHED, a * b + 1 is CACHED + 1, a - b

def warm():
    arith(3, 4)
    compare(3, 4)
    small_ints_shared(3, 4)

big = 2**30
STEPS = [("arith", 3, 4), ("arith", -7, 0), ("arith", big - 1, big - 1), ("arith", -(big - 1), big - 1),
         ("arith", big, 2), ("arith", 2**100, 3), ("arith", True, 5), ("arith", 2.5, 1), ("arith", "ab", 3),
         ("compare", 3, 3), ("compare", -1, 0), ("compare", big, big - 1), ("compare", -big, 1),
         ("compare", 2**70, 2**70), ("compare", 1, 1.0), ("compare", True, 1), ("small_ints_shared", 16, 16),
         ("small_ints_shared", 1, 6), ("small_ints_shared", -5, 1), ("small_ints_shared", -6, 1)]
"""


@pytest.mark.parametrize("function, flag", [("arith", Flags.IntArithmetic), ("small_ints_shared", Flags.IntArithmetic),
                                            ("compare", Flags.InternRichCompare)])
def test_int_fast_paths(function, flag):
    check(INTS, function, flag)


DIVISIONS = """
class Floored(int):
    def __floordiv__(self, other):
        return "floored"

    def __mod__(self, other):
        return "modded"

def divide(a, b):
    return a // b, a % b

def in_place(a, b):
    a //= b
    b %= 7
    return a, b

def unboxed(a, b, c):
    # the products and quotients stay i64s; -2**63 // -1 is a big int, and the frame goes on in the
    # interpreter with it
    return (a * b * c) // -1 + 1, (a * b * c) % 1000 - 1, (a + b) // (b - c) % 3

def warm():
    divide(7, 2)
    in_place(7, 2)
    unboxed(3, 4, 5)

big = 2**40
STEPS = [("divide", a, b) for a in (7, -7, 0, 1, -1, 2**30 - 1, -(2**30 - 1), big, -big)
         for b in (2, -2, 3, -3, 1, -1, 2**30 - 1, big)]
STEPS += [("divide", 1, 0), ("divide", 0, 0), ("divide", big, 0), ("divide", 7.5, 2), ("divide", 7, 2.5),
          ("divide", -7.5, 0.0), ("divide", True, 2), ("divide", 7, True), ("divide", Floored(7), 2),
          ("divide", "%s-%s", (1, 2)), ("divide", "x", 3), ("divide", [1], 2),
          ("in_place", 7, 2), ("in_place", -7, -2), ("in_place", 7, 0), ("in_place", 7.5, -2),
          ("unboxed", 3, 4, 5), ("unboxed", -3, 4, 5), ("unboxed", 3, 4, 4), ("unboxed", -2**21, 2**21, 2**21),
          ("unboxed", 2**21, 2**21, 2**21), ("unboxed", 2**29, 2**29, 2**29), ("unboxed", 3.5, 4, 5),
          ("unboxed", big, 1, 1)]
"""


@pytest.mark.parametrize("function, flag", [("divide", Flags.IntArithmetic), ("in_place", Flags.IntArithmetic),
                                            ("unboxed", Flags.Unboxing)])
def test_int_divisions(function, flag):
    """Floor division and remainder, which 3.11 does not specialise, on ints of every sign, by zero, on
    big ints, floats, strings and an int subclass; unboxed, to -2**63 // -1."""
    check(DIVISIONS, function, flag)


BITS = """
class Masked(int):
    def __and__(self, other):
        return "masked"

def bits(a, b):
    return a & b, a | b, a ^ b

def shifts(a, n):
    return a << n, a >> n

def in_place(a, b):
    a <<= 2
    a ^= b
    a >>= 1
    a &= 0xFFFF
    a |= b
    return a

def unboxed(a, b, n):
    # unboxed operands and results: a * b << n can outgrow 64 bits, and the frame goes on in the
    # interpreter with the big int
    return ((a * b) << n) + 1, ((a + b) >> n) - 1, ((a * b) & 0xFF) + ((a - b) | 1) - ((a + b) ^ n)

def warm():
    bits(12, 10)
    shifts(3, 2)
    in_place(5, 3)
    unboxed(3, 4, 2)

big = 2**40
STEPS = [("bits", a, b) for a in (12, -12, 0, -1, 2**30 - 1, -(2**30 - 1), big, -big)
         for b in (10, -10, 0, -1, 2**30 - 1, big)]
STEPS += [("shifts", a, n) for a in (3, -3, 0, 1, -1, 2**30 - 1, -(2**30 - 1), big)
          for n in (0, 1, 2, 29, 30, 33, 62, 63, 64, 100, 1000)]
STEPS += [("shifts", 3, -1), ("shifts", 0, -1), ("shifts", 3, big), ("shifts", 3, -big), ("shifts", 3, 1.0),
          ("shifts", 2.5, 1), ("shifts", True, 1), ("shifts", 1, True),
          ("bits", True, False), ("bits", True, 3), ("bits", {1, 2}, {2, 3}), ("bits", {"a": 1}, {"b": 2}),
          ("bits", Masked(3), 1), ("bits", 1.5, 1), ("bits", "a", 1),
          ("in_place", 5, 3), ("in_place", -5, 3), ("in_place", 2**30 - 1, 7), ("in_place", big, 1),
          ("in_place", 5, 3.0),
          ("unboxed", 3, 4, 2), ("unboxed", -3, 4, 5), ("unboxed", 2**29, 2**29, 3), ("unboxed", 2**29, 2**29, 5),
          ("unboxed", -2**29, 2**29, 5), ("unboxed", 3, 4, 64), ("unboxed", 3, 4, -1), ("unboxed", 3, 4.0, 1),
          ("unboxed", 2**29, 2**29, 200)]
"""


@pytest.mark.parametrize("function, flag", [("bits", Flags.IntArithmetic), ("shifts", Flags.IntArithmetic),
                                            ("in_place", Flags.IntArithmetic), ("unboxed", Flags.Unboxing)])
def test_int_shifts_and_bitwise_operations(function, flag):
    """<< >> & | ^, which 3.11 does not specialise, on ints of every sign and size, by every shift count
    (negative, 63, 64, huge), on bools, sets, dicts, floats, strings and an int subclass; unboxed, to
    a shift past 64 bits."""
    check(BITS, function, flag)


def test_no_int_division_where_an_operand_is_known_not_to_be_an_int():
    namespace = warmed("""
def fmt(name, n):
    return "%s: %d" % (name, n), n % 3

def warm():
    fmt("a", 5)
""")
    with jit():
        assert namespace["fmt"]("a", 5) == ("a: 5", 2)
    assert pyjion.info(namespace["fmt"]).compiled
    assert pyjion.il(namespace["fmt"]).count(" srem ") == 1  # n % 3 only


GLOBALS = """
import builtins
SCALE = 3

def read():
    return SCALE * len("abc")

def warm():
    read()

def rebind():
    global SCALE
    SCALE = 10            # same keys: the cached index now holds the new value

def shadow_len():
    global len
    len = lambda s: 100   # a new global key: the builtin path must notice

def unshadow():
    global len
    del len

def drop():
    global SCALE
    del SCALE

def add_global(name):
    globals()[name] = name   # a new key: the caches are refilled with the keys' next version

def readd():
    global SCALE
    del SCALE
    SCALE = 7             # a new entry, at another index

STEPS = [("read",), ("rebind",), ("read",), ("add_global", "a"), ("read",), ("read",), ("readd",), ("read",),
         ("shadow_len",), ("read",), ("add_global", "b"), ("read",), ("unshadow",), ("read",), ("read",),
         ("drop",), ("read",), ("add_global", "SCALE"), ("read",)]
"""


def test_global_cache():
    check(GLOBALS, "read", Flags.GlobalCache)


def _keys_version(mapping: dict) -> int:
    keys = ctypes.c_void_p.from_address(id(mapping) + DICT.ma_keys.offset).value
    return ctypes.c_uint32.from_address(keys + DICT_KEYS.dk_version.offset).value


@pytest.mark.skipif(keys_version_function() is None, reason="this CPython binary does not name "
                    "_PyDictKeys_GetVersionForCurrentState: global caches are not refilled")
def test_a_global_cache_failing_its_guard_is_refilled():
    """A global added after compilation clears the globals' keys version, which no interpreted code
    gives them again here: the compiled code's refill does."""
    namespace = warmed(GLOBALS)
    with jit():
        assert namespace["read"]() == 9
        assert pyjion.info(namespace["read"]).compiled
        namespace["late"] = 1
        assert _keys_version(namespace) == 0
        assert namespace["read"]() == 9
    assert _keys_version(namespace) != 0


@pytest.mark.skipif(keys_version_function() is None, reason="this CPython binary does not name "
                    "_PyDictKeys_GetVersionForCurrentState: global caches are not refilled")
def test_a_global_site_compiled_before_it_ran_gets_a_cache():
    """Threshold 0: no feedback. The site's empty cache is filled by its first generic load (which
    versions the globals' keys), then read and refilled like any other."""
    namespace: dict = {}
    exec("def f():\n    return VALUE * 10 + len('ab')\nVALUE = 1", namespace)
    f = namespace["f"]
    with jit():
        namespace["late"] = 0
        assert _keys_version(namespace) == 0
        assert f() == 12
        assert Flags.GlobalCache in pyjion.info(f).optimizations
        assert _keys_version(namespace) != 0
        namespace["VALUE"] = 5
        assert f() == 52
        namespace["len"] = lambda s: 100  # the builtin shadowed: a new key, the cache refilled
        assert f() == 150
        del namespace["len"], namespace["VALUE"]
        with pytest.raises(NameError):
            f()


def test_global_sites_compiled_before_they_ran_leave_builtins_and_empty_globals_alone():
    """Compiling must not touch the builtins module (``hasattr(builtins, "__annotations__")`` would make
    it an ``__annotations__`` dict); a function whose globals are an empty dict (the shared empty keys:
    version 1) finds nothing in an empty cache."""
    source = "def annotations():\n    return __annotations__\ndef missing():\n    return no_such_name\n"
    namespace: dict = {}
    exec(source, namespace)
    empty_globals = types.FunctionType(namespace["missing"].__code__, {})
    before = set(vars(builtins))
    for function in (namespace["annotations"], namespace["missing"], empty_globals):
        plain = outcome(function)
        with jit():
            assert outcome(function) == plain
        assert pyjion.info(function).compiled
        assert plain[:2] == ("raise", NameError)
    assert set(vars(builtins)) == before


ATTRIBUTES = """
import types

shapes = types.ModuleType("shapes")
shapes.floor = lambda v: int(v)
shapes.pi = 3.14

class Point:
    def __init__(self, x, y):
        self.x = x
        self.y = y

    def norm(self):
        return self.x + self.y

class Slotted:
    __slots__ = ("x", "y")

    def __init__(self, x, y):
        self.x = x
        self.y = y

    def norm(self):
        return 0

def read(p):
    return p.x, p.y, p.norm(), shapes.floor(2.5), shapes.pi

def write(p, v):
    p.y = v
    return p.y

def warm():
    read(Point(1, 2))
    write(Point(1, 2), 5)

point = Point(1, 2)

def shadow_method():
    point.norm = lambda: "instance attribute"   # original Pyjion issue #524

def patch_class():
    Point.norm = lambda self: "patched"

def delete_attribute():
    del point.x

def materialise_dict():
    point.__dict__["z"] = 1

def write_deleted():
    fresh = Point(1, 2)
    del fresh.y
    return write(fresh, 13), vars(fresh)

def shadow_through_dict():
    fresh = Point(1, 2)
    fresh.__dict__[1] = "a non-string key: the dict stops sharing the class's keys"
    fresh.__dict__["norm"] = lambda: "through the instance dict"
    return read(fresh)

def patch_module():
    shapes.pi = 3
    shapes.floor = lambda v: "floor"

def delete_from_module():
    del shapes.pi

class Other:
    x = "class attribute"
    y = 2

    def norm(self):
        return "other"

STEPS = [("read", point), ("write", point, 7), ("write_deleted",), ("shadow_through_dict",), ("read", Point(3, 4)),
         ("read", Other()),
         ("read", Slotted(5, 6)), ("write", Slotted(5, 6), 8), ("write", Other(), 9), ("shadow_method",),
         ("read", point), ("patch_class",), ("read", Point(0, 0)), ("materialise_dict",), ("read", point),
         ("write", point, 11), ("delete_attribute",), ("read", point), ("write", point, 12), ("read", 42),
         ("patch_module",), ("read", Point(1, 1)), ("delete_from_module",), ("read", Point(1, 1))]
"""


@pytest.mark.parametrize("function", ["read", "write"])
def test_attribute_and_method_caches(function):
    check(ATTRIBUTES, function, Flags.LoadAttr)


DICT_ATTRIBUTES = """
import ctypes
import gc

class Node:
    def __init__(self, x, y):
        # A dict of the instance's own, not sharing the class's keys: LOAD_ATTR_WITH_HINT's case
        self.__dict__ = {"x": x, "y": y}

def read(n):
    return n.x, n.y

def write(n, v):
    n.y = v
    return n.y

def warm():
    node = Node(1, [2])
    read(node)
    write(node, [3])

def version(n):
    return ctypes.c_uint64.from_address(id(vars(n)) + VERSION_OFFSET).value

def versioned_write(v):
    node = Node(1, [2])
    before = version(node)
    write(node, v)
    return version(node) > before

def tracking(v):
    node = Node(1, 2)                  # only ints: the dict is not tracked by the garbage collector
    untracked = gc.is_tracked(vars(node))
    write(node, v)
    return untracked, gc.is_tracked(vars(node)), node.y

def reordered():
    node = Node.__new__(Node)
    node.__dict__ = {"y": 5, "x": 4}   # the names at other indexes of the dict's entries
    return read(node), write(node, 6), read(node)

def deleted():
    node = Node(1, [2])
    del node.y
    return write(node, 3), read(node), vars(node)

def read_deleted():
    node = Node(1, [2])
    del node.x
    return read(node)

def other_keys():
    # A non-string key: entries of three words, where the second word of the first, read as the
    # entries of two that string keys have, is the string "y" (the name the hint of y expects).
    node = Node("y", [2])
    vars(node)[1] = "a non-string key"
    return read(node), write(node, 7), vars(node)

def shared():
    node = Node.__new__(Node)
    node.x, node.y = 8, 9              # the class's shared keys, in the instance's values
    return read(node), write(node, 10), read(node), vars(node), read(node), write(node, 12)

def shadow():
    Node.y = property(lambda self: "property", lambda self, v: None)

STEPS = [("read", Node(1, [2])), ("write", Node(1, [2]), [4]), ("versioned_write", [5]), ("tracking", [6]),
         ("tracking", 7), ("reordered",), ("deleted",), ("read_deleted",), ("other_keys",), ("shared",),
         ("shadow",), ("read", Node(1, [2])), ("write", Node(1, [2]), 11)]
"""


@pytest.mark.parametrize("function", ["read", "write"])
def test_attributes_in_an_instance_dict(function):
    """Instances whose attributes moved into a dict of their own: the interpreter's LOAD_ATTR_WITH_HINT
    and STORE_ATTR_WITH_HINT, the compiled code's entry hint, and every way the hint goes stale. A
    store changes the dict's PEP 509 version and leaves the dict tracked by the collector if it must
    be, as the interpreter does."""
    source = DICT_ATTRIBUTES.replace("VERSION_OFFSET", str(DICT.ma_version_tag.offset))
    forms = specialised_forms(source, function)
    assert forms & {"LOAD_ATTR_WITH_HINT", "STORE_ATTR_WITH_HINT"}, forms
    check(source, function, Flags.LoadAttr)


GETITEM = """
import sys

class Grid:
    def __init__(self, rows):
        self.rows = rows

    def __getitem__(self, index):
        return self.rows[index]

class Doubled(Grid):
    def __getitem__(self, index):
        return 2 * self.rows[index]

def total(grid, n):
    out = 0
    for i in range(n):
        out += grid[i] + grid[i + 1]   # the second index an unboxed int, boxed for the call
    return out

def warm():
    total(Grid([1, 2, 3, 4]), 3)

original = Grid.__getitem__  # alive after the class's is replaced: must not be called then

def patch_class():
    Grid.__getitem__ = lambda self, index: -self.rows[index]

def patch_code():
    Grid.__getitem__.__code__ = (lambda self, index: 100 + self.rows[index]).__code__

def deep(n):
    grid = Grid(None)
    grid.rows = grid
    return grid[0]

STEPS = [("total", Grid([1, 2, 3, 4]), 3), ("total", Doubled([1, 2, 3, 4]), 3), ("total", [5, 6, 7], 2),
         ("total", Grid([1, 2]), 3), ("total", Grid({0: 1, 1: 2}), 1), ("total", Grid("abc"), 2),
         ("deep", 0), ("patch_class",), ("total", Grid([1, 2, 3, 4]), 3), ("patch_code",),
         ("total", Grid([1, 2, 3, 4]), 3)]
"""


def test_a_python_getitem_is_called_directly():
    """BINARY_SUBSCR_GETITEM: the class's __getitem__ is called through pyjion_vectorcall while the
    class's version is the one the interpreter cached; a subclass, a patched class (its old
    __getitem__ still alive), a replaced __code__, an IndexError raised inside and a recursion past
    the limit behave as in the interpreter."""
    assert "BINARY_SUBSCR_GETITEM" in specialised_forms(GETITEM, "total")
    check(GETITEM, "total", Flags.FunctionCalls)


UNSPECIALISED_GETITEM = GETITEM + """
class Rest(Grid):
    def __getitem__(self, index, *rest, scale=1):
        return (index, rest, scale)

class Static(Grid):
    __getitem__ = staticmethod(lambda index: ("static", index))

class Counts(dict):
    def __getitem__(self, key):
        return ("counted", key)

class Plain(dict):
    pass

class Meta(type):
    def __getitem__(cls, index):
        return (cls.__name__, index)

class Generic(metaclass=Meta):
    pass

class Aliased:
    def __class_getitem__(cls, item):
        return ("alias", item)

def moved(n):
    grid = Grid([1, 2, 3, 4])
    first = grid[1]
    grid.__class__ = Doubled
    return first, grid[1], total(grid, n)

def unpatch():
    del Grid.__getitem__

STEPS = [("total", Grid([1, 2, 3, 4]), 3), ("total", Doubled([1, 2, 3, 4]), 3), ("total", Rest([]), 2),
         ("total", Static([]), 2), ("total", Counts(a=1), 2), ("total", Plain({0: 1, 1: 2, 2: 3}), 2),
         ("total", Plain(), 1), ("total", Generic, 2), ("total", Aliased, 1), ("total", [5, 6, 7], 2),
         ("moved", 2), ("total", Grid([1, 2]), 3), ("total", Grid("abc"), 2), ("deep", 0),
         ("patch_class",), ("total", Grid([1, 2, 3, 4]), 3), ("patch_code",), ("total", Grid([1, 2, 3, 4]), 3),
         ("unpatch",), ("total", Grid([1, 2, 3, 4]), 3)]
"""


def test_an_unspecialised_subscript_calls_a_python_getitem_directly():
    """A subscript the interpreter did not specialise (it never does once a PEP 523 hook is installed:
    here the code is compiled on its first call) calls a Python __getitem__ of the container's class
    through pyjion_vectorcall, keyed on the class version: the class's _spec_cache.getitem, which only
    that path fills under the hook, holds it afterwards. Subclasses, defaults and *args, a staticmethod,
    dict subclasses with and without their own __getitem__, a metaclass's __getitem__, __class_getitem__,
    __class__ reassigned, a patched class and code, a deleted __getitem__, exceptions and a recursion
    past the limit behave as in the interpreter."""
    def run(use_jit: bool) -> tuple[list, dict]:
        namespace: dict = {"__name__": "scenario"}
        exec(compile(textwrap.dedent(UNSPECIALISED_GETITEM), "<scenario>", "exec"), namespace)
        with jit() if use_jit else contextlib.nullcontext():
            results = [outcome(namespace[name], *args) for name, *args in namespace["STEPS"][:2]]
            cached = [(ctypes.c_void_p.from_address(id(namespace[cls]) + HEAPTYPE.spec_cache_getitem.offset).value,
                       id(namespace[cls].__dict__["__getitem__"])) for cls in ("Grid", "Doubled")]
            results += [outcome(namespace[name], *args) for name, *args in namespace["STEPS"][2:]]
        return results, namespace, cached

    plain, _, plain_cached = run(use_jit=False)
    jitted, namespace, jit_cached = run(use_jit=True)
    assert jitted == plain
    info = pyjion.info(namespace["total"])
    assert info.compiled, info.reason
    assert Flags.FunctionCalls in info.optimizations
    assert not feedback.read(namespace["total"].__code__)
    assert [cached for cached, _ in plain_cached] == [None, None]
    assert [cached for cached, _ in jit_cached] == [function for _, function in jit_cached]


CLASS_ATTRIBUTES = """
import types

class Direction:
    NONE = 0
    FORWARD = 1

    @staticmethod
    def stronger(a, b):
        return a < b

    def twice(x):
        return 2 * x

    @classmethod
    def named(cls):
        return cls.__name__

    @property
    def shape(self):
        return "shape"

class Backward(Direction):
    FORWARD = -1

class Renamed:
    # type's own __name__ and __flags__ (data descriptors) come first; __flags__ gives a new int each time
    __name__ = "not the class's name"
    __flags__ = "not the class's flags"
    NONE = "renamed"

class Meta(type):
    @property
    def NONE(cls):
        return "from the metaclass"     # a data descriptor of the metaclass comes first

class WithMeta(metaclass=Meta):
    NONE = "shadowed"

def read(cls, i):
    # (the objects' reprs hold addresses, which differ between the two runs)
    return (cls.NONE, cls.FORWARD, cls.stronger(i, 3), cls.twice(i), cls.named(), type(cls.shape).__name__,
            cls.__name__, cls.stronger.__qualname__, cls.twice is vars(Direction)["twice"])

def names(cls):
    seen = [cls.__name__, cls.NONE]
    for i in range(4):
        seen.append(str(cls.__flags__))  # the int dies once str() has it
        junk = 10**6 + i                  # a new int, perhaps where it was
    return seen

Current = Direction
MODULE = types.SimpleNamespace(NONE="a namespace's", twice=lambda x: 3 * x, shape=1, __name__="namespace")

def read_global(i):
    # Global.name: probed inline like a class attribute, whatever the global holds now
    return (Current.NONE, Current.__name__, type(Current.shape).__name__, WithMeta.NONE, Renamed.NONE,
            Renamed.__name__, MODULE.NONE, Current.twice(i))

def swap(to):
    global Current
    Current = to

def warm():
    read(Direction, 1)
    names(Renamed)
    read_global(1)

def patch_constant():
    Direction.NONE = "patched"

def rename():
    Renamed.__name__ = "Other"       # the class's version stays: type's __name__ must not be cached

def patch_base():
    Direction.FORWARD = 2            # Backward keeps its own FORWARD; Direction's version changes

def delete_method():
    del Direction.stronger

STEPS = [("read", Direction, 1), ("read", Direction, 5), ("read", Backward, 1), ("read", Direction(), 2),
         ("names", Renamed), ("names", WithMeta), ("names", Direction), ("names", Renamed), ("names", WithMeta),
         ("rename",), ("names", Renamed), ("patch_constant",), ("read", Direction, 1), ("read", Backward, 1), ("patch_base",),
         ("read", Direction, 1), ("read", Backward, 1), ("delete_method",), ("read", Direction, 1),
         ("read", Backward, 1), ("read_global", 1), ("read_global", 2), ("swap", Backward), ("read_global", 1),
         ("swap", Direction()), ("read_global", 1), ("swap", MODULE), ("read_global", 1), ("swap", WithMeta),
         ("read_global", 1), ("swap", Direction), ("read_global", 1), ("patch_constant",), ("read_global", 1)]
"""


@pytest.mark.parametrize("function", ["read", "names", "read_global"])
def test_class_attributes(function):
    """Attributes of classes themselves (3.11 specialises LOAD_ATTR on a class not at all, and
    LOAD_METHOD not for a staticmethod): plain values, functions and staticmethods kept per site while
    the class's version holds; classmethods, properties, a name type itself has (__name__), a
    metaclass's data descriptor, patched and deleted attributes, a patched base, as in the interpreter."""
    check(CLASS_ATTRIBUTES, function, Flags.LoadAttr)


SUBCLASSES = """
class Base:
    def total(self):
        return self.a * 100 + self.b * 10 + self.c

    def first(self):
        return self.a

# Each subclass sets the attributes in another order: "a" sits at another index of each type's values.
class ABC(Base):
    def __init__(self):
        self.a, self.b, self.c = 1, 2, 3
class CBA(Base):
    def __init__(self):
        self.c, self.b, self.a = 3, 2, 1
class BCA(Base):
    def __init__(self):
        self.b, self.c, self.a = 2, 3, 1
class XCAB(Base):
    def __init__(self):
        self.x, self.c, self.a, self.b = 0, 3, 1, 2
class CABX(Base):
    def __init__(self):
        self.c, self.a, self.b, self.x = 3, 1, 2, 0
class Loose(Base):
    pass

total = Base.total

def warm():
    ABC().total()

def mixed():
    return [o.total() for o in (ABC(), CBA(), BCA(), XCAB(), CABX(), ABC(), CBA())]

existing = [ABC(), CBA()]  # two types: first()'s cache never runs out of entries

def read_existing():
    return [o.first() for o in existing]

def loose():
    obj = Loose()
    obj.c, obj.b = 5, 6
    obj.a = 7
    return obj.total()

def becomes(cls):
    obj = CBA()
    obj.__class__ = cls
    return obj.total()

def shadow_with_property():
    CBA.a = property(lambda self: 9)   # the type's version changes: the cached index no longer holds

def unshadow():
    del CBA.a

def materialised():
    obj = BCA()
    vars(obj)["a"] = 4                 # the values move into a dict
    return obj.total()

def deleted():
    obj = XCAB()
    del obj.a
    return obj.total()

STEPS = [("mixed",), ("mixed",), ("loose",), ("mixed",), ("becomes", ABC), ("becomes", Loose),
         ("read_existing",), ("shadow_with_property",), ("read_existing",), ("read_existing",), ("mixed",),
         ("unshadow",),
         ("read_existing",), ("mixed",), ("materialised",), ("deleted",), ("mixed",)]
"""


def test_an_attribute_cache_holds_several_types():
    """A base-class method reads instances of many subclasses, an attribute at a different index in
    each: the site's cache learns them at run time, and every way an entry goes stale is noticed."""
    check(SUBCLASSES, "total", Flags.LoadAttr)


METHODS = """
class Shape:
    def describe(self):
        return self.name() + ":" + str(self.area())

    def name(self):
        return "shape"

class Square(Shape):
    def __init__(self, side):
        self.side = side
    def area(self):
        return self.side * self.side

class Circle(Shape):
    def __init__(self, r):
        self.r = r
    def name(self):
        return "circle"
    def area(self):
        return 3 * self.r * self.r

class Slotted(Shape):
    __slots__ = ("w",)          # no instance dict: LOAD_METHOD_NO_DICT's case
    def __init__(self, w):
        self.w = w
    def area(self):
        return self.w

class Dynamic(Shape):
    def __getattr__(self, name):  # not the generic __getattribute__: never cached
        return lambda: "dynamic " + name
    def area(self):
        return 0

class Count(Shape, int):          # an instance dict at tp_dictoffset, not managed: never cached
    def area(self):
        return int(self)

describe = Shape.describe
squares = [Square(2), Square(3)]
counts = [Count(5), Count(6)]
shapes = [Square(1), Circle(1), Slotted(4), Dynamic()]

def warm():
    Square(1).describe()

def each():
    return [s.describe() for s in shapes + squares + counts]

def shadow_on_instance():
    squares[1].area = lambda: "own"   # the shared keys gain "area": their version changes
    counts[1].name = lambda: "count"

def patch_class():
    Circle.area = lambda self: -1     # the type's version changes

def materialise():
    vars(squares[0])
    squares[0].__dict__["name"] = lambda: "dict"

STEPS = [("each",), ("each",), ("shadow_on_instance",), ("each",), ("each",), ("patch_class",), ("each",),
         ("each",), ("materialise",), ("each",), ("each",)]
"""


def test_a_method_cache_holds_several_types():
    """A base-class method calls methods that each subclass defines: the site's cache learns them at
    run time; an instance attribute shadowing a method, a patched class and a materialised instance
    dict are noticed."""
    check(METHODS, "describe", Flags.LoadAttr)


STORES = """
log = []

class Noisy:
    def __init__(self, name, owner):
        self.name, self.owner = name, owner
    def __del__(self):                  # runs when a store replaces it: sees the new value in place
        log.append((self.name, getattr(self.owner, "a", "unset")))

class Plain:
    pass

class Reordered(Plain):
    def __init__(self):
        self.c, self.a = "c0", "a0"

class Slotted:
    __slots__ = ("a", "b", "c")

class Guarded(Plain):
    pass

class SlottedChild(Slotted):
    __slots__ = ("d",)

class Backwards:
    __slots__ = ("c", "b", "a", "__dict__")

class Wide:
    def __init__(self):
        for k in range(29):             # the shared keys' 30 entries, nearly all taken
            setattr(self, f"k{k}", k)

def fill(obj, a, b, c):
    obj.a = a
    obj.b = b
    obj.c = c
    return obj

def cold_fill(obj, a, b, c):            # never run before it is compiled: its caches start empty
    obj.c = c
    obj.b = b
    obj.a = a
    return obj

def state(obj):
    return (sorted(vars(obj).items()), list(vars(obj))) if hasattr(obj, "__dict__") else (obj.a, obj.b, obj.c)

def fresh(function, cls):
    return state(function(cls(), 1, 2, 3))

def overwrite(function):
    obj = Plain()
    function(obj, Noisy("a1", obj), Noisy("b1", obj), 0)
    function(obj, Noisy("a2", obj), 5, 6)
    function(obj, 7, 8, 9)
    return [name for name, _ in log[-3:]], log[-3:][0][1] == 7, state(obj)

def re_add(function):
    obj = function(Plain(), 1, 2, 3)
    del obj.a
    return state(function(obj, 4, 5, 6))

def materialised(function):
    obj = Plain()
    vars(obj)["z"] = 0
    return state(function(obj, 1, 2, 3))

def with_setattr(function):
    Guarded.__setattr__ = lambda self, name, value: object.__setattr__(self, name, ("hooked", value))
    try:
        return fresh(function, Guarded)
    finally:
        del Guarded.__setattr__

def with_property(function):
    Guarded.b = property(lambda self: "property", lambda self, v: log.append(("set b", v)))
    try:
        obj = function(Guarded(), 1, 2, 3)
        return state(obj), obj.b, log[-1]
    finally:
        del Guarded.b

def switch_class(function):
    obj = function(Plain(), 1, 2, 3)
    obj.__class__ = Reordered
    return state(function(obj, 4, 5, 6))

def slot_replaced(function):
    member = Slotted.__dict__["b"]
    Slotted.b = property(lambda self: "property", lambda self, v: log.append(("set b", v)))
    try:
        obj = function(Slotted(), 1, 2, 3)
        return obj.a, obj.b, obj.c, log[-1]
    finally:
        Slotted.b = member

def slot_deleted(function):
    obj = function(Slotted(), Noisy("slot a", None), 2, 3)
    del obj.b
    function(obj, 4, 5, 6)
    return state(obj), log[-1]

def many_types(function):
    return [fresh(function, type(f"T{k}", (Plain,), {})) for k in range(12)]

def slot_fill(obj, a, b, c):          # specialised to the slots
    obj.a = a
    obj.b = b
    obj.c = c
    return obj

def warm():
    fill(Plain(), 1, 2, 3)
    slot_fill(Slotted(), 1, 2, 3)

STEPS = [(step, function, *args) for function in (fill, cold_fill, slot_fill) for step, *args in (
    ("fresh", Plain), ("fresh", Reordered), ("overwrite",), ("re_add",), ("materialised",), ("fresh", Slotted),
    ("fresh", SlottedChild), ("fresh", Backwards), ("slot_replaced",), ("fresh", Slotted), ("slot_deleted",),
    ("with_setattr",), ("fresh", Guarded), ("with_property",), ("fresh", Guarded), ("switch_class",),
    ("fresh", Wide), ("many_types",), ("fresh", Plain), ("fresh", Slotted), ("fresh", int))]
"""


@pytest.mark.parametrize("function", ["fill", "cold_fill", "slot_fill"])
def test_attribute_stores(function):
    """Stores of new and existing attributes through the caches, the interpreter's entry and the types
    met at run time: the instance dict's order, when a replaced value's finalizer runs, and every way
    the store stops being a plain write of the instance values or a slot (a materialised dict,
    __setattr__, a data descriptor, a changed __class__, a full set of shared keys, many types)."""
    check(STORES, function, Flags.LoadAttr)


CLASS_METHODS = """
class Base:
    def twice(self, v):
        return 2 * v

def call(cls, v):
    return cls.twice(None, v)

def warm():
    call(Base, 1)

def patch():
    Base.twice = lambda self, v: -v

class Meta(type):
    pass

class WithMeta(metaclass=Meta):
    def twice(self, v):
        return "meta"

STEPS = [("call", Base, 2), ("call", WithMeta, 2), ("patch",), ("call", Base, 3), ("call", 5, 1)]
"""


def test_class_method_cache():
    check(CLASS_METHODS, "call", Flags.LoadAttr)


ITERATION = """
def walk(iterable):
    out = []
    for item in iterable:
        out.append(item)
        if isinstance(iterable, list) and len(iterable) < 6 and item == 1:
            iterable.append(99)           # grows while iterated
        if isinstance(iterable, list) and item == 2:
            iterable.remove(2)            # shrinks while iterated
    return out

def warm():
    walk(range(3))

def manual():
    it = iter([1, 2])
    first = walk(it)
    return first, walk(it), list(it)

def gen():
    yield from (1, 2, 3)

STEPS = [("walk", range(10)), ("walk", range(10, -10, -3)), ("walk", range(250, 262)), ("walk", range(-8, -3)),
         ("walk", range(0)), ("walk", range(2**62, 2**62 + 3)),
         ("walk", range(2**64, 2**64 + 2)), ("walk", [1, 2, 3]), ("walk", (4, 5, 6)), ("walk", ()),
         ("walk", {"a": 1}), ("walk", gen()), ("walk", "xyz"), ("manual",), ("walk", 5)]
"""


def test_inline_iterators():
    check(ITERATION, "walk", Flags.InlineIterators)


SUBSCRIPTS = """
def get(seq, i):
    return seq[i]

def tget(seq, i):
    return seq[i]

def put(seq, i, v):
    seq[i] = v
    return seq

def warm():
    get([1, 2, 3], 1)
    tget((1, 2, 3), 1)
    put([1, 2, 3], 1, 5)

STEPS = [("get", [1, 2, 3], 0), ("get", [1, 2, 3], 2), ("get", [1, 2, 3], 3), ("get", [1, 2, 3], -1),
         ("get", [1, 2, 3], True), ("get", [1, 2, 3], 2**40), ("get", (7, 8), 1), ("get", (7, 8), 5),
         ("get", {1: "x"}, 1), ("get", "abc", 1), ("get", [], 0), ("tget", (7, 8), 0), ("tget", (7, 8), 2),
         ("tget", [7, 8], 1), ("tget", (), 0),
         ("put", [1, 2, 3], 0, "a"), ("put", [1, 2, 3], -1, "b"), ("put", [1, 2, 3], 3, "c"),
         ("put", {}, 0, "d"), ("put", (1,), 0, "e"), ("put", [[1]], 0, [2])]
"""


@pytest.mark.parametrize("function, flag", [("get", Flags.KnownBinarySubscr), ("tget", Flags.KnownBinarySubscr),
                                            ("put", Flags.KnownStoreSubscr)])
def test_subscript_fast_paths(function, flag):
    check(SUBSCRIPTS, function, flag)


BUILTIN_CALLS = """
import _testinternalcapi
import contextlib
from math import sqrt

class MyStr(str):
    pass

class MyList(list):
    pass

class MySet(set):
    pass

class MyDict(dict):
    pass

def call2(f, a, b):
    return f(a, b)

def call_kw(f, a):
    return f(a, key=abs)

def meth(obj, a):
    return obj.index(a)

def meth_kw(obj, a):
    return obj.split(a)  # str.split: METH_FASTCALL | METH_KEYWORDS

@contextlib.contextmanager
def depth_inside():
    yield _testinternalcapi.get_recursion_depth()

ENTER = contextlib._GeneratorContextManager.__enter__


def depth():
    # next() of the generator, in ENTER: the specialised interpreter counts no recursion depth around a
    # METH_FASTCALL call, the generic vectorcall counts one.
    outside = _testinternalcapi.get_recursion_depth()
    with depth_inside() as inside:
        return inside - outside

def call1(f, a):
    return f(a)

def call_noargs(f, a):
    return f(a)

def root(x):
    return sqrt(x)  # math.sqrt: METH_O

def add_to(s, x):
    s.add(x)  # set.add: a METH_O method descriptor
    return s

def copied(obj):
    return obj.copy()  # dict.copy: a METH_NOARGS method descriptor

class Hashed:
    def __hash__(self):
        DEPTHS.append(_testinternalcapi.get_recursion_depth())
        return 1

DEPTHS = []

def depth_o(s):
    # The interpreter counts a recursion level around a METH_O call (as the generic vectorcall does).
    outside = _testinternalcapi.get_recursion_depth()
    s.add(Hashed())
    return DEPTHS.pop() - outside

def length(x):
    return len(x)

def push(seq, x):
    seq.append(x)
    return seq

class Sized:
    def __init__(self, n):
        self.n = n
    def __len__(self):
        return self.n

def shadow_len():
    global len
    len = lambda x: "shadowed"

def unshadow_len():
    global len
    del len

def warm():
    length([1, 2])
    push([], 1)
    call2(isinstance, 1, int)
    call_kw(sorted, [2, 1])
    meth([1, 2, 3], 2)
    meth_kw("a b c", " ")
    depth()
    call1(ord, "a")
    call_noargs(dict.copy, {})
    root(4.0)
    add_to(set(), 1)
    copied({1: 2})
    depth_o(set())

STEPS = [("call2", isinstance, 1, int), ("call2", isinstance, 1, "no type"), ("call2", max, 3, 4),
         ("call2", divmod, 7, 2), ("call2", divmod, 7, 0), ("call2", pow, 2, 5), ("call2", getattr, 1, "real"),
         ("call2", next, iter([]), "default"), ("call2", lambda a, b: a - b, 5, 3),
         ("call2", str.count, "banana", "a"), ("call2", str.count, MyStr("banana"), "a"),
         ("call2", str.count, 5, "a"), ("call2", dict.get, {1: 2}, 1), ("call2", list.append, [], 1),
         ("call2", len, "ab", "cd"), ("call2", [].append, 1, 2),
         ("call_kw", sorted, [3, -1, 2]), ("call_kw", max, [3, -4]), ("call_kw", sorted, [1, "a"]),
         ("call_kw", isinstance, 1), ("call_kw", lambda a, key: key(a), -5),
         ("meth", [1, 2, 3], 2), ("meth", [1, 2], 9), ("meth", (1, 2, 3), 3), ("meth", "abc", "c"),
         ("meth", MyList([5]), 5), ("meth", {}, 1),
         ("meth_kw", "a b c", " "), ("meth_kw", b"a b c", b" "), ("meth_kw", "abc", 5),
         ("depth",),
         ("length", [1, 2, 3]), ("length", "abcd"), ("length", {}), ("length", Sized(7)), ("length", Sized(-1)),
         ("length", Sized(2**70)), ("length", 5), ("shadow_len",), ("length", [1]), ("unshadow_len",),
         ("length", [1]), ("push", [1], 2), ("push", MyList([1]), 2), ("push", __import__("collections").deque(), 3),
         ("push", (), 1), ("push", [], "x"),
         ("call1", ord, "b"), ("call1", ord, "bc"), ("call1", ord, 5), ("call1", abs, -3), ("call1", len, "abc"),
         ("call1", globals, 1), ("call1", isinstance, 1), ("call1", lambda a: a * 2, 4), ("call1", [1].count, 1),
         ("call1", set.add, set()), ("call1", dict.copy, {}), ("call_noargs", dict.copy, {3: 4}),
         ("call_noargs", globals, 1), ("call_noargs", set.add, set()), ("call_noargs", list.copy, [1]),
         ("root", 9.0), ("root", 2), ("root", -1.0), ("root", "x"), ("root", 10**400),
         ("add_to", {1}, 2), ("add_to", set(), []), ("add_to", MySet(), 3), ("add_to", frozenset(), 1),
         ("add_to", [], 1), ("copied", {1: 2}), ("copied", [1]), ("copied", MyDict(a=1)), ("copied", 5),
         ("copied", __import__("collections").OrderedDict(b=2)), ("depth_o", set()), ("depth_o", MySet())]
"""


@pytest.mark.parametrize("function", ["call2", "call_kw", "meth", "meth_kw", "ENTER", "length", "push", "call1",
                                      "call_noargs", "root", "add_to", "copied", "depth_o"])
def test_builtin_calls(function):
    check(BUILTIN_CALLS, function, Flags.BuiltinMethods)


PGC = """
class Body:
    def __init__(self, x):
        self.x = x

def energy(bodies, scale):
    total = 0.0
    for body in bodies:
        total += body.x * body.x * scale
    return total

def warm():
    energy([Body(1.5), Body(2.5)], 0.5)
"""


@pytest.mark.parametrize("pgc", [True, False], ids=["pgc", "no_pgc"])
def test_pgc_setting_decides_whether_feedback_is_used(pgc):
    """config(pgc=False) compiles without the interpreter's type feedback; info(f).pgc tells which."""
    namespace: dict = {}
    exec(PGC, namespace)
    for _ in range(WARM_UP):
        namespace["warm"]()
    energy, bodies = namespace["energy"], [namespace["Body"](v) for v in (0.5, 3.0, 7.25)]
    plain = outcome(energy, bodies, 2.0)
    before = pyjion.config()["pgc"]
    pyjion.config(pgc=pgc)
    try:
        with jit():
            jitted = outcome(energy, bodies, 2.0)
    finally:
        pyjion.config(pgc=before)
    assert jitted == plain
    info = pyjion.info(energy)
    assert info.compiled, info.reason
    assert info.pgc == (pyjion.PgcStatus.Optimized if pgc else pyjion.PgcStatus.Uncompiled)
    assert (Flags.FloatArithmetic in info.optimizations) == pgc, info.optimizations
