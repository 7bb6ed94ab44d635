"""Each opcode family, run plainly and compiled, including its error paths."""
import sys

import pytest

from differential import check

G = 10


# ---- locals, constants, cells -------------------------------------------------------------------
def fast_locals(a, b=3):
    c = a * b
    d = c - a
    del c
    return d, b


def unbound_local(flag):
    if flag:
        x = 1
    return x  # noqa: F821


def delete_unbound():
    x = 1
    del x
    del x


def closures(n):
    total = 0

    def add(k):
        nonlocal total
        total += k
        return total
    for i in range(n):
        add(i)
    return total, add.__closure__[0].cell_contents


def unbound_free():
    def inner():
        return late  # noqa: F821
    r = inner()
    late = 1  # noqa: F841
    return r


def delete_deref():
    x = 1

    def f():
        return x
    del x
    return f()


def deleted_parameters(a, b, *rest, k=1, **kw):
    # A parameter deleted (or unbound by "except ... as") anywhere keeps LOAD_FAST's unbound check.
    total = b + k + len(rest) + len(kw)
    del a
    try:
        raise ValueError
    except ValueError as b:
        pass
    for name in ("rest", "kw", "k", "b", "a"):
        try:
            total += len(str(eval(name)))
        except NameError:
            total += 100
    return total + len(rest)


def parameter_unbound_by_except(a):
    try:
        raise ValueError
    except ValueError as a:
        pass
    return a


# LOAD_FAST checks a local for being unbound only where some path reaches it unbound (analysis.bound_locals).
def bound_after_loop(n):
    for i in range(n):
        last = i
    return last + i  # noqa: F821 - unbound when the loop did not run


def bound_in_try(n):
    try:
        if n % 2:
            raise KeyError(n)
        inner = n
    except KeyError:
        pass
    return inner


def bound_by_handler(n):
    try:
        if n % 2:
            raise KeyError(n)
    except KeyError as err:
        caught = repr(err)
    return caught


def deleted_on_a_path(n):
    x = n
    if n % 2:
        del x
    return x


def deleted_in_loop(n):
    total, x = 0, 1
    for i in range(n):
        total += x  # unbound from the iteration after the one that deletes it
        if i == 2:
            del x
        elif i < 2:
            x = i + 10
    return total


def cell_argument(a):
    def f():
        return a + 1
    a = a * 2
    return f()


# ---- globals and names --------------------------------------------------------------------------
def read_global():
    return G + len("abc")


def write_global(v):
    global G2
    G2 = v
    r = G2
    del G2
    return r


def missing_global():
    return not_defined_anywhere  # noqa: F821


def missing_del():
    global never_there
    del never_there


# ---- attributes, subscripts ----------------------------------------------------------------------
class Box:
    cls_attr = 5

    def __init__(self, v):
        self.v = v

    def get(self, k=1):
        return self.v * k

    @property
    def prop(self):
        return self.v + 1


def attributes(v):
    b = Box(v)
    b.w = b.v + b.cls_attr + b.prop
    del b.v
    return b.w, hasattr(b, "v"), b.get(), Box.get(Box(2), 3)


def missing_attr():
    return Box(1).nope


def subscripts(seq):
    d = {}
    d["a"] = seq[0]
    d["b"] = seq[-1]
    d["c"] = seq[1:3]
    d["d"] = seq[::2]
    lst = list(seq)
    lst[0] = 100
    del lst[1]
    lst[1:2] = [7, 8, 9]
    del lst[::3]
    return d, lst


def bad_subscript(d):
    return d["missing"]


# ---- operators --------------------------------------------------------------------------------
def arithmetic(a, b):
    return (a + b, a - b, a * b, a / b, a // b, a % b, a ** 2, -a, +a, ~a, a << 2, a >> 1, a & b, a | b,
            a ^ b, not a)


def inplace(a, b):
    x = a
    x += b
    x -= 1
    x *= 3
    x //= 2
    x %= 1000
    x **= 2
    x <<= 1
    x >>= 1
    x &= 0xFFFF
    x |= 1
    x ^= 3
    y = float(x)
    y /= 7
    return x, y


def matmul():
    class M:
        def __matmul__(self, o):
            return "mm"

        def __imatmul__(self, o):
            return "imm"
    m = M()
    r = m @ m
    m @= m
    return r, m


def comparisons(a, b):
    return a < b, a <= b, a == b, a != b, a > b, a >= b, a is b, a is not b, a in [b], a not in (b,)


def chained(x):
    return 0 < x < 10, 0 <= x <= 5 > 2


def divide_by_zero(a):
    return a / 0


def bad_operand():
    return [] - 1


# ---- control flow -----------------------------------------------------------------------------
def loops(n):
    countdown = n
    while True:
        countdown -= 1
        if countdown < 0:
            break
    total = 0
    i = 0
    while i < n:
        if i % 3 == 0:
            i += 1
            continue
        if i > 50:
            break
        total += i
        i += 1
    for j in range(n):
        if j == 7:
            break
        total -= j
    else:
        total = -1
    return total


def truthiness(values):
    out = []
    for v in values:
        out.append(1 if v else 0)
        out.append(v is None)
        out.append(v is not None)
        out.append(v and 1 or 2)
        out.append(v or "x")
    return out


def none_branches(values):
    out = 0
    for v in values:
        if v is None:
            out += 1
        if v is not None:
            out += 10
    n = 0
    while n is not None and n < 5:
        n += 1
    item = values
    while item is None or len(item) > 2:
        item = item[1:] if item else []
    k = 3
    while k:
        k -= 1
    chain = [1, None, 2, 3]
    link = chain.pop()
    while link is not None:
        link = chain.pop()
    link = None
    while link is None:
        link = chain.pop()
    for v in values:
        pass
    return out, n, item, k, link


def for_over_things(d):
    out = []
    for k in d:
        out.append(k)
    for k, v in d.items():
        out.append((k, v))
    for c in "abc":
        out.append(c)
    for t in (1, 2):
        out.append(t)
    return out


class BadBool:
    def __bool__(self):
        raise ValueError("no truth")


def bad_truth(x):
    if x:
        return 1
    return 2


def not_iterable():
    for _ in 5:
        pass


def failing_iterator():
    def gen():
        yield 1
        raise KeyError("inner")
    return [x for x in gen()]


# ---- calls ------------------------------------------------------------------------------------
def target(a, b=2, *args, c, d=4, **kw):
    return a, b, args, c, d, kw


def positional_only(a, b, /, c):
    return a + b + c


def calls():
    return (target(1, c=3), target(1, 2, 3, 4, c=5, e=6), target(*[1, 2], **{"c": 3}),
            target(1, *(2, 3), c=1, **{"z": 0}), positional_only(1, 2, c=3), len("abc"),
            "x".join(["a", "b"]), sorted([3, 1, 2], key=lambda v: -v, reverse=True), max(1, 2, key=None))


def call_errors(which):
    if which == 0:
        return target()
    if which == 1:
        return target(1, c=1, a=2)
    if which == 2:
        return target(1, *5, c=1)
    if which == 3:
        return target(1, c=1, **[1])
    if which == 4:
        return target(1, **{"c": 1}, **{"c": 2})
    if which == 5:
        return positional_only(a=1, b=2, c=3)
    nothing = None
    return nothing()


def star_calls(args, kwargs):
    return target(*args, **kwargs)


class Base:
    def hello(self):
        return "base"

    @classmethod
    def make(cls):
        return cls.__name__


class Derived(Base):
    def hello(self):
        return "derived+" + super().hello()

    def __init__(self):
        super().__init__()
        self.x = 1


def methods():
    d = Derived()
    return d.hello(), Derived.make(), d.x, Base.hello(d), [1, 2].index(2), "a-b".split("-")


def lambdas_and_defaults(k):
    f = lambda x, y=k: x * y  # noqa: E731
    g = lambda *a, **kw: (a, kw)  # noqa: E731
    return f(2), f(2, 3), g(1, z=2)


def recursion(n):
    return 1 if n <= 1 else n * recursion(n - 1)


# ---- containers ----------------------------------------------------------------------------------
def builds(a, b):
    t = (a, b)
    lst = [a, b, *t]
    s = {a, b, *lst}
    d = {"a": a, "b": b, **{"c": 3}}
    d2 = {a: 1, b: 2}
    fs = f"{a}-{b!r}-{a:>5}-{b!s:^4}-{a!a}"
    sl = lst[a:b]
    return t, lst, s, d, d2, fs, sl, (*t, *lst), [*"xy"]


def comprehensions(n):
    return ([i * i for i in range(n)], {i: i % 3 for i in range(n)}, {i % 4 for i in range(n)},
            [j for i in range(n) for j in range(i) if j % 2])


def unpacking(seq):
    a, b, c = seq
    first, *rest = seq
    *init, last = seq
    x, (y, z), w = 1, (2, 3), 4
    p, *q, r = "hello"
    return a, b, c, first, rest, init, last, x, y, z, w, p, q, r


def unpack_errors(which):
    if which == 0:
        a, b = [1, 2, 3]
    elif which == 1:
        a, b = (1,)
    elif which == 2:
        a, b = 5
    elif which == 3:
        a, *b, c = [1]
    else:
        a, b = iter([1])
    return a, b


class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __iter__(self):
        return iter((self.x, self.y))


def unpack_custom():
    x, y = Point(1, 2)
    import collections
    P = collections.namedtuple("P", "a b")
    a, b = P(3, 4)
    return x, y, a, b


class TupleOf(tuple):
    pass


def _fresh_sequence(kind):
    """A new sequence of three new objects, referred to by nothing else once this returns."""
    items = [object(), [1], "%d" % 12345]
    return {"tuple": tuple, "list": list, "subclass": TupleOf, "iterator": iter}[kind](items)


def unpack_references(kind):
    """The unpacked values outlive the sequence they came from, with one reference each from here."""
    import sys
    a, b, c = _fresh_sequence(kind)
    return type(a).__name__, b, c, sys.getrefcount(a), sys.getrefcount(b), sys.getrefcount(c)


class LineWitness:
    """Records the line its creator's frame is at when it is freed."""
    seen: list = []

    def __del__(self):
        LineWitness.seen.append(sys._getframe(1).f_lineno)


def freed_lines(x):
    """STORE_FAST and POP_TOP point the frame at themselves only when they free something."""
    LineWitness.seen = []
    w = LineWitness()
    w = None
    LineWitness()
    y = x * 2.5
    w = LineWitness()
    w = (
        y * 2.0)
    return LineWitness.seen, w


def set_errors():
    return {[]}


def dict_errors():
    return {**[1]}


def list_extend_error():
    return [*5]


# ---- imports and raise ------------------------------------------------------------------------
def imports():
    import os.path
    from collections import OrderedDict as OD
    from os import path, sep
    import json as j
    return os.path.join("a", "b"), OD is __import__("collections").OrderedDict, path.sep == sep, j.__name__


def import_missing():
    from os import does_not_exist  # noqa: F401


def import_missing_module():
    import does_not_exist_module  # noqa: F401


def raises(kind):
    if kind == 0:
        raise ValueError("v")
    if kind == 1:
        raise KeyError
    if kind == 2:
        raise TypeError("t") from ValueError("cause")


# pytest rewrites assert statements in test modules; compile this one as plain Python.
exec(compile("def plain_assert(kind):\n    assert kind > 10, 'assertion text'\n    return kind\n", __file__, "exec"))


def make_class():
    class Local:
        attr = 1
        tmp = attr + 1
        del tmp

        def m(self):
            return self.attr
    return Local().m(), Local.__qualname__


def name_check_decorator(method):
    """importlib's _check_name; crashed an intermediate build (NULL co_extra read in the hook)."""
    def wrapper(self, name=None, *args, **kwargs):
        if name is None:
            name = self.name
        elif self.name != name:
            raise ImportError("loader for %s cannot handle %s" % (self.name, name), name=name)
        return method(self, name, *args, **kwargs)
    return wrapper


class Loader:
    def __init__(self, name):
        self.name = name

    @name_check_decorator
    def get(self, name):
        return name


def loader_calls():
    name = "".join(["fr", "actions"])
    out = [Loader(name).get("".join(["fr", "actions"])) for _ in range(3)]
    out.append(Loader(name).get())
    return out


def loader_mismatch():
    return Loader("fractions").get("other")


CASES = [
    (fast_locals, (2,)), (fast_locals, (2, 5)), (unbound_local, (True,)), (unbound_local, (False,)),
    (delete_unbound, ()), (closures, (10,)), (unbound_free, ()), (delete_deref, ()), (cell_argument, (4,)),
    (deleted_parameters, (1, 2, 3, 4)), (parameter_unbound_by_except, (1,)),
    (read_global, ()), (write_global, (7,)), (missing_global, ()), (missing_del, ()),
    (attributes, (3,)), (missing_attr, ()), (subscripts, ([1, 2, 3, 4, 5],)), (subscripts, ("hello",)),
    (bad_subscript, ({},)), (arithmetic, (17, 5)), (arithmetic, (2 ** 70, 3)), (inplace, (5, 9)), (matmul, ()),
    (comparisons, (1, 2)), (comparisons, ("b", "a")), (chained, (5,)), (divide_by_zero, (1,)),
    (bad_operand, ()), (loops, (30,)), (loops, (100,)), (truthiness, ([0, 1, None, "", "a", [], [0]],)),
    (for_over_things, ({"x": 1, "y": 2},)), (none_branches, ([None, 1, None, 2],)), (bad_truth, (BadBool(),)), (not_iterable, ()),
    (failing_iterator, ()), (calls, ()), (star_calls, ((1,), {"c": 2})), (star_calls, ([1, 2], {"c": 2})),
    (methods, ()), (lambdas_and_defaults, (3,)), (recursion, (20,)), (builds, (1, 3)), (comprehensions, (10,)),
    (unpacking, ([1, 2, 3],)), (unpacking, ((4, 5, 6),)), (unpacking, ("xyz",)), (unpack_custom, ()),
    (set_errors, ()), (dict_errors, ()), (list_extend_error, ()), (imports, ()), (import_missing, ()),
    (import_missing_module, ()), (raises, (0,)), (raises, (1,)), (raises, (2,)), (plain_assert, (5,)), (plain_assert, (50,)),
    (make_class, ()), (loader_calls, ()), (loader_mismatch, ()),
    (freed_lines, (3.0,)),
    *[(f, (n,)) for f in (bound_after_loop, bound_in_try, bound_by_handler, deleted_on_a_path, deleted_in_loop)
      for n in range(5)],
] + [(call_errors, (k,)) for k in range(7)] + [(unpack_errors, (k,)) for k in range(5)] + [
    (unpack_references, (kind,)) for kind in ("tuple", "list", "subclass", "iterator")]


@pytest.mark.parametrize("func,args", CASES, ids=lambda v: getattr(v, "__name__", None) or repr(v)[:20])
def test_opcode(func, args):
    check(func, *args)


def test_every_emitted_opcode_is_exercised():
    """The cases here and in the other opcode-family modules reach every opcode the compiler supports."""
    import dis

    import test_coroutines
    import test_exceptions
    import test_generators
    import test_namespaces_and_patterns
    from pyjion.compiler.emitters import EMITTERS

    seen = set()
    generators = [(f, ()) for f in test_generators.GENERATORS + test_generators.DRIVERS + test_coroutines.COROUTINES]
    roots = [func.__code__ for func, _ in CASES + test_exceptions.CASES + test_namespaces_and_patterns.CASES
             + generators] + test_namespaces_and_patterns.SOURCE_CODE
    for root in roots:
        stack = [root]
        while stack:
            code = stack.pop()
            seen.update(i.opname for i in dis.get_instructions(code))
            stack.extend(c for c in code.co_consts if hasattr(c, "co_code"))
    missing = set(EMITTERS) - seen
    assert not missing, sorted(missing)
