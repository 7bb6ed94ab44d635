"""Calls of Python functions from compiled code (FunctionCalls: pyjion_vectorcall pushes the callee's frame
itself), differentially: frames that outlive the call, exceptions, locals(), closures, deep recursion across
the thread's frame-stack chunks, the recursion limit, and the calls left to PyObject_Vectorcall."""
from __future__ import annotations

import abc
import ctypes
import sys

import pytest

import pyjion
from differential import check, jit
from pyjion import OptimizationFlags as Flags
from pyjion.abi.cpython311 import FUNCTION
from pyjion.abi.symtab import hidden_function
from pyjion.compiler.lowering import site_cache_name
from pyjion.runtime.state import record
from pyjion.runtime.support import LAST_FUNCTION_VERSION

pytestmark = pytest.mark.skipif(hidden_function("_PyFrame_Clear") is None,
                                reason="this CPython binary does not name _PyFrame_Clear: no direct calls")


def add(a, b):
    return a + b


def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)


def calls_directly(caller) -> None:
    assert Flags.FunctionCalls in pyjion.info(caller).optimizations


def test_plain_and_recursive_calls():
    def run():
        return [add(1, 2), add("a", "b"), fib(15)]

    check(run)
    calls_directly(run)
    calls_directly(fib)


def frame_of_callee(x):
    local = [x]
    return sys._getframe()


def test_a_frame_that_outlives_its_call():
    """The callee's frame object lives on: _PyFrame_Clear hands its locals over to it."""
    def run():
        frame = frame_of_callee(41)
        return (frame.f_code.co_name, frame.f_lineno, sorted(frame.f_locals.items()),
                frame.f_back.f_code.co_name, frame.f_back is sys._getframe())

    check(run)
    calls_directly(run)


def fails(depth):
    if depth == 0:
        raise ValueError("deep")
    return fails(depth - 1) + 1


def test_exceptions_through_direct_calls():
    def run():
        try:
            fails(5)
        except ValueError as exc:
            tb, frames = exc.__traceback__, []
            while tb is not None:
                frames.append((tb.tb_frame.f_code.co_name, tb.tb_lineno, sorted(tb.tb_frame.f_locals)))
                tb = tb.tb_next
            return frames

    check(run)
    check(fails, 3)
    calls_directly(fails)


def with_locals(a, b):
    pair = (a, b)
    return sorted(locals())


def test_locals_in_the_callee_and_reference_counts():
    """Arguments are owned by the callee's frame and released with it, with the dict locals() made."""
    marker = object()

    def run(n):
        before = sys.getrefcount(marker)
        names = [with_locals(marker, k) for k in range(n)]
        sums = [add((marker,), ()) for _ in range(n)]
        del sums
        return names[-1], sys.getrefcount(marker) - before

    assert check(run, 200)[1][1] == 0
    calls_directly(run)


def test_closures_and_cells():
    def run(n):
        scale = 3

        def inner(x):
            def innermost():
                return x * scale
            return innermost()
        return [inner(k) for k in range(n)]

    check(run, 10)


def many_locals(n):
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = a8 = a9 = n
    b0 = b1 = b2 = b3 = b4 = b5 = b6 = b7 = b8 = b9 = n
    if n == 0:
        return 0
    return many_locals(n - 1) + a0 + a9 + b0 + b9 - 4 * n + 1


def test_deep_recursion_across_frame_stack_chunks():
    """Frames of ~30 words, 900 deep: the thread's 16 KiB chunks fill and new ones are pushed."""
    check(many_locals, 900)


def depth(n):
    try:
        return depth(n + 1)
    except RecursionError:
        return n


def test_the_recursion_limit_is_reached_at_the_same_depth():
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(300)
    try:
        check(depth, 0)
    finally:
        sys.setrecursionlimit(previous)


def defaults(a, b=2, *, c=3):
    return a, b, c


def packed(*args, **kwargs):
    return args, sorted(kwargs.items())


def generator(n):
    yield from range(n)


def positional_defaults(a, b=[], c="c"):
    b.append(a)
    return a, len(b), c


def test_defaults_fill_missing_parameters():
    def run():
        positional_defaults.__defaults__ = ([], "c")  # the same shared default in each mode
        return [positional_defaults(1), positional_defaults(2, [0]), positional_defaults(3, [], "x"),
                positional_defaults(4), positional_defaults.__defaults__[0]]

    check(run)
    calls_directly(run)
    try:
        positional_defaults()
    except TypeError as exc:
        plain = str(exc)
    with jit():
        with pytest.raises(TypeError) as raised:
            positional_defaults()
    assert str(raised.value) == plain


def star_args(a, b=2, *rest):
    return a, b, rest, type(rest).__name__


def star_kwargs(a, **options):
    options.setdefault("seen", 0)
    options["seen"] += 1  # a dict of its own at each call
    return a, sorted(options.items())


def star_both(*args, **kwargs):
    frame = sys._getframe()
    return args, kwargs, sorted(frame.f_locals), frame.f_code.co_varnames


def test_packing_parameters():
    """Positional arguments into callees with *args and **kwargs (a tuple of the surplus, a new dict),
    with defaults filling what is missing, the references they take given back."""
    def run():
        item = object()
        before = sys.getrefcount(item)
        out = [star_args(1), star_args(1, 5), star_args(1, 5, 6), star_args(1, 5, 6, 7, 8),
               star_kwargs(1), star_kwargs(2), star_both(), star_both(1, "two", [3])]
        for _ in range(50):
            star_args(item, item, item, item)
            star_both(item)
            star_kwargs(item)
        out.append(sys.getrefcount(item) - before)
        try:
            star_args()
        except TypeError as exc:
            out.append(str(exc))
        return out

    check(run)
    calls_directly(run)


def test_calls_left_to_vectorcall():
    """Keyword-only parameters, keywords, generators, wrong argument counts: the generic path."""
    def run():
        out = [defaults(1), defaults(1, 5), defaults(1, c=7), packed(1, 2, x=3), list(generator(3))]
        try:
            add(1)
        except TypeError as exc:
            out.append(str(exc))
        try:
            add(1, 2, 3)
        except TypeError as exc:
            out.append(str(exc))
        return out

    check(run)
    calls_directly(run)


def test_level_zero_calls_through_vectorcall():
    def run():
        return add(2, 3)

    with jit(level=0):
        assert run() == 5
    info = pyjion.info(run)
    assert info.compiled and Flags.FunctionCalls not in info.optimizations


class Counter:
    def __init__(self):
        self.total = 0

    def add(self, k, scale=1):
        self.total += k * scale
        return self.total

    def fail(self, depth):
        if depth == 0:
            raise KeyError("bottom")
        return self.fail(depth - 1)

    @classmethod
    def make(cls, total):
        made = cls()
        made.total = total
        return made


def test_bound_methods_called_through_their_function():
    """A bound method held in a variable (a callback, a method stored on an instance) is called as its
    function with self first, through the slot the caller lends: arguments, defaults, keywords,
    classmethods, a builtin bound as a method, exceptions and self's reference count."""
    import types

    def run(n):
        counter = Counter()
        before = sys.getrefcount(counter)
        add, fail, make = counter.add, counter.fail, Counter.make
        sizes = types.MethodType(len, "abc")
        out = [add(k) for k in range(n)] + [add(2, 10), add(3, scale=5), make(7).total, sizes()]
        try:
            fail(3)
        except KeyError as exc:
            tb, frames = exc.__traceback__, []
            while tb is not None:
                frames.append((tb.tb_frame.f_code.co_name, tb.tb_lineno))
                tb = tb.tb_next
            out.append(frames)
        try:
            add()
        except TypeError as exc:
            out.append(str(exc))
        del add, fail
        return out, sys.getrefcount(counter) - before

    assert check(run, 50)[1][1] == 0
    calls_directly(run)


def calls_then_disables(n):
    total = 0
    for i in range(n):
        if i == n // 2:
            pyjion.disable()
        total += add(i, 1)
    return total


def test_compiled_callees_are_entered_directly_only_while_the_hook_is_installed():
    """pyjion_vectorcall enters a compiled callee itself, counting the call as the hook does; once
    pyjion is disabled mid-loop, the callee runs in the interpreter (uncounted, as without the hook)."""
    plain = calls_then_disables(6)
    with jit():
        calls_then_disables(2)  # compiles both, and disables pyjion
        pyjion.enable()
        before = pyjion.info(add).run_count
        jitted = calls_then_disables(6)
        counted = pyjion.info(add).run_count - before
    assert jitted == plain
    assert counted == 3
    assert pyjion.info(add).compiled
    calls_directly(calls_then_disables)


class Plain:
    def __init__(self, a, b=2, *rest):
        # sys.getrefcount: the reference the interpreter's argument tuple holds is kept
        self.seen = (a, b, rest, sys.getrefcount(a), sys._getframe(1).f_code.co_name)


class ReturnsValue:
    def __init__(self, a):
        return a


class Raises:
    def __init__(self, a):
        raise KeyError(a)


class WithNew:
    def __new__(cls, *args):
        made = super().__new__(cls)
        made.new_args = args
        return made

    def __init__(self, a):
        self.seen = a


class Meta(type):
    def __call__(cls, *args):
        return "made by the metaclass", args


class WithMeta(metaclass=Meta):
    def __init__(self, a):
        self.seen = a


class Abstract(abc.ABC):
    def __init__(self, a):
        self.seen = a

    @abc.abstractmethod
    def method(self):
        pass


class Patched:
    def __init__(self, a):
        self.seen = ("first", a)


class StaticInit:
    __init__ = staticmethod(lambda *args: None)  # not a function: slot_tp_init binds and calls it itself


class Nested:
    def __init__(self, n):
        self.child = Nested(n - 1) if n else None


def nested_depth():
    n = 0
    while True:
        try:
            Nested(n)
        except RecursionError as exc:
            return n, str(exc)
        n += 1


def instances(n):
    out = []
    for i in range(n):
        for make in (lambda: Plain([i]), lambda: Plain(str(i), 3, 4, 5), lambda: ReturnsValue(None),
                     lambda: ReturnsValue(i), lambda: Raises(i), lambda: WithNew(i), lambda: WithMeta(i),
                     lambda: Abstract(i), lambda: StaticInit(i), lambda: Patched(i), lambda: Plain(a=[i])):
            out.append(outcome(make))
        if i == 1:
            Patched.__init__ = lambda self, a: setattr(self, "seen", ("second", a))
        if i == 2:
            del Patched.__init__  # object's: Patched(i) now takes no arguments
    return [(type(value).__name__, vars(value) if hasattr(value, "__dict__") else value) if ok else value
            for ok, value in out]


def outcome(make):
    try:
        return True, make()
    except Exception as exc:
        return False, (type(exc).__name__, str(exc), exc.__traceback__.tb_next.tb_frame.f_code.co_name)


def test_instances_of_classes_with_a_python_init():
    """A class whose instances type_call makes with object.__new__ and an __init__ of Python's is
    instantiated by pyjion_construct (no argument tuple, no type_call, slot_tp_init); an __init__
    returning a value, raising, patched, deleted or not a function, a __new__ of the class's own, a
    metaclass's __call__, an abstract class, keywords: as in the interpreter."""
    def run():
        original = Patched.__init__
        try:
            return instances(4)
        finally:
            Patched.__init__ = original

    check(run)
    calls_directly(run)


def test_constructing_reaches_the_recursion_limit_at_the_same_depth():
    """_PyObject_MakeTpCall's recursion level is added by pyjion_construct too."""
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(120)
    try:
        check(nested_depth)
    finally:
        sys.setrecursionlimit(previous)


# ---- the call site's cache: the last function pushed directly, by function version ---------------------

def version_of(function) -> int:
    return ctypes.c_uint32.from_address(id(function) + FUNCTION.func_version.offset).value


def few_locals(a, b):
    return a - b


def more_locals(a, b):
    x, y, z = a * 2, b * 3, [a, b]
    return x + y + len(z)


def counts_down(a, b):
    yield a
    yield b


def test_a_site_remembers_the_function_it_called():
    """A call site's cache is filled (the function given a version of pyjion's where the interpreter's
    specialiser gave it none) and then hit: the site holds the callee's version and argument count."""
    def callee(a, b):
        return a * b

    def run(n):
        out = []
        for k in range(n):
            out.append(callee(k, 3))
        return out

    assert version_of(callee) == 0
    with jit():
        assert run(50) == [k * 3 for k in range(50)]
    calls_directly(run)
    version = version_of(callee)
    assert version >= LAST_FUNCTION_VERSION
    assert version | 2 << 32 in _site_keys(run)
    check(run, 50)


def _site_keys(function) -> list[int]:
    """The first word of each site cache of ``function``'s machine code, by code unit (0 where there is
    none or it is empty)."""
    machine = record(function.__code__).compiled
    words = []
    for index in range(len(function.__code__.co_code) // 2):
        address = machine.arena.data_address(site_cache_name(machine.name, index))
        words.append(ctypes.c_uint64.from_address(address).value if address else 0)
    return words


def with_defaults_and_rest(a, b=2, *rest):
    cell = [a]

    def inner():
        return cell
    yield inner()
    yield b
    yield rest


async def add_later(a, b):
    return a + b


async def counts_async(n):
    for i in range(n):
        yield i


def result_of(awaitable):
    try:
        awaitable.send(None)
    except StopIteration as stop:
        return stop.value
    raise AssertionError("suspended")


def test_generators_and_coroutines_are_made_by_direct_calls():
    """pyjion_vectorcall pushes the frame of a generator, coroutine or async generator function like any
    other: the interpreter, entered with it, runs RETURN_GENERATOR, which copies the frame into the new
    object and returns it; the pushed frame is then cleared and popped (its references now the object's).
    The sites of exact calls remember the functions. Compared with the interpreter: values, the objects'
    reference counts, a coroutine's origin (the caller's line), an error raised while it is made."""
    def run(n):
        out = []
        previous = sys.get_coroutine_origin_tracking_depth()
        sys.set_coroutine_origin_tracking_depth(2)
        try:
            for k in range(n):
                out.append(list(counts_down(k, 1)))
                made = with_defaults_and_rest(k)
                out.append(sys.getrefcount(made))
                out.append(list(made)[1:])
                out.append(list(with_defaults_and_rest(k, 5, 6, 7))[1:])
                coroutine = add_later(k, 1)
                out.append([(name, line) for _, line, name in coroutine.cr_origin])
                out.append(result_of(coroutine))
                out.append(result_of(counts_async(2).__anext__()))
            out.append(result_of(add_later(1, b=2)))  # a keyword: through PyObject_Vectorcall
            try:
                counts_down(1)
            except TypeError as exc:  # raised by the interpreter's argument binding, not made
                out.append([str(exc)])
        finally:
            sys.set_coroutine_origin_tracking_depth(previous)
        return out

    with jit():
        run(3)
    calls_directly(run)
    keys = _site_keys(run)
    assert version_of(counts_down) >= LAST_FUNCTION_VERSION and version_of(counts_down) | 2 << 32 in keys
    assert version_of(add_later) >= LAST_FUNCTION_VERSION and version_of(add_later) | 2 << 32 in keys
    check(run, 20)


def test_a_function_whose_code_or_defaults_change_between_calls():
    """The same function object at one site, its ``__code__`` replaced (more locals, then a generator's
    code, then a code needing a default) and its defaults changed: each change resets its version, so
    the site's cache misses and the new code is pushed as what it is."""
    def run(n):
        def target(a, b):
            return a + b
        out = []
        for k in range(n):
            if k == n // 4:
                target.__code__ = more_locals.__code__
            elif k == n // 2:
                target.__code__ = counts_down.__code__
            elif k == 3 * n // 4:
                target.__code__ = positional_defaults.__code__
                target.__defaults__ = ([k],)
            elif k == 3 * n // 4 + 2:
                target.__defaults__ = ("changed",)
            result = target(k, 1)
            out.append(list(result) if hasattr(result, "__next__") else result)
        return out

    check(run, 40)
    calls_directly(run)


def test_one_site_calling_many_functions():
    """A site whose callable changes every call (functions of other argument counts, defaults, methods,
    builtins, classes): the cache follows the last function, the others go the checked way."""
    functions = [few_locals, more_locals, add, positional_defaults, lambda a, b=0: (a, b), max, Counter,
                 Counter().add, defaults, star_args]

    def run(n):
        out = []
        for k in range(n):
            function = functions[k % len(functions)]
            try:
                out.append(repr(function(k, 2)))
            except TypeError as exc:
                out.append(str(exc))
        return out

    check(run, 60)
    calls_directly(run)


def test_a_rebound_global_and_a_replaced_method_mid_loop():
    original = Counter.__dict__["add"]

    def run(n):
        global few_locals
        saved, total = few_locals, []
        counter = Counter()
        try:
            for k in range(n):
                if k == n // 2:
                    few_locals = more_locals
                    Counter.add = lambda self, k, scale=1: -k
                total.append((few_locals(k, 2), counter.add(k)))
        finally:
            few_locals = saved
            Counter.add = original
        return total

    check(run, 40)
    calls_directly(run)


class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y


class Labelled(Point):
    def __init__(self, x, y):
        super().__init__(x, y)
        self.label = f"{x},{y}"


def test_a_site_making_instances_remembers_their_init():
    """Instantiation at a site goes through pyjion_construct, whose ``__init__`` call uses the site's
    cache: classes alternating at the site, an ``__init__`` replaced, then its code, mid-loop."""
    original = Point.__dict__["__init__"]

    def run(n):
        out = []
        try:
            for k in range(n):
                if k == n // 2:
                    Point.__init__ = lambda self, x, y: setattr(self, "x", -x)
                elif k == 3 * n // 4:
                    Point.__init__.__code__ = (lambda self, x, y: setattr(self, "x", x * 100)).__code__
                made = (Point if k % 3 else Labelled)(k, 2)
                out.append(sorted(vars(made).items()))
        finally:
            Point.__init__ = original
        return out

    check(run, 40)
    calls_directly(run)
