"""Generators: resumption after every yield and SEND, send/throw/close, yield from, generator state.

Each case is a driver that exercises generators defined here and returns what it observed; the
generators must compile too (``GENERATORS``), not only the drivers.
"""
import sys

import pytest

import pyjion
from differential import check, jit, outcome


def counter(n):
    for i in range(n):
        received = yield i
        if received is not None:
            yield received * 2
    return "done"


def delegator(n):
    result = yield from counter(n)
    yield result


def stack_across_yield(a):
    # Values live on the value stack while suspended: a pending call, a list being built, a NULL slot.
    return len([a, (yield 1), a + 1]), max(a, (yield 2), key=abs), str((yield 3))


def yield_in_handlers():
    try:
        yield "try"
        raise KeyError("k")
    except KeyError as e:
        yield f"except {e}"
    finally:
        yield "finally"


def closing_log(log):
    try:
        while True:
            yield len(log)
    except GeneratorExit:
        log.append("exit")
        raise
    finally:
        log.append("finally")


def sub_catches():
    try:
        yield 1
    except KeyError:
        return "sub handled"
    yield 2


def outer_of_sub():
    got = yield from sub_catches()
    yield got


def raises_stop_iteration():
    yield 1
    raise StopIteration("inside")


def raises_late(x):
    yield x
    yield 1 / x


def tree(depth):
    if depth:
        yield from tree(depth - 1)
        yield depth
        yield from tree(depth - 1)


def drive_basic():
    g = counter(4)
    return [next(g), g.send(10), next(g), next(g), list(g), list(delegator(3)), list(counter(0))]


def drive_stack():
    g = stack_across_yield(5)
    return [next(g), g.send(-7), g.send(-9), _finish(g, "x")]


def _finish(g, value):
    try:
        g.send(value)
    except StopIteration as stop:
        return stop.value


def drive_handlers():
    return list(yield_in_handlers())


def drive_close():
    log = []
    g = closing_log(log)
    next(g)
    next(g)
    g.close()
    return log, g.gi_frame, g.gi_running


def drive_throw():
    out = []
    g = outer_of_sub()
    out.append(next(g))
    out.append(g.throw(KeyError("t")))  # sub returns during throw(): outer resumes at SEND's target
    g = counter(5)
    next(g)
    try:
        g.throw(ValueError("into counter"))
    except ValueError as e:
        out.append(repr(e))
    g = delegator(5)
    next(g)
    try:
        g.throw(IndexError("through yield from"))
    except IndexError as e:
        out.append(repr(e))
    return out


def drive_stop_iteration():
    return list(raises_stop_iteration())


def drive_raise_late():
    return list(raises_late(0))


def drive_state():
    g = counter(3)
    states = [g.gi_frame.f_lasti >= 0, g.gi_running]
    next(g)
    states += [g.gi_frame.f_lineno, sorted(g.gi_frame.f_locals), g.gi_suspended]
    d = delegator(3)
    next(d)
    states.append(d.gi_yieldfrom is not None)
    return states


def drive_expressions():
    data = range(20)
    return (sum(x * x for x in data if x % 3), list(y for x in data for y in (x, -x) if y > 15),
            dict((k, v) for k, v in zip("abc", (x for x in data))), list(tree(3)))


def drive_yield_from_iterables():
    def gen():
        yield from [1, 2]
        yield from "ab"
        yield from range(2)
    return list(gen())


DRIVERS = [drive_basic, drive_stack, drive_handlers, drive_close, drive_throw, drive_stop_iteration,
           drive_raise_late, drive_state, drive_expressions, drive_yield_from_iterables]
GENERATORS = [counter, delegator, stack_across_yield, yield_in_handlers, closing_log, sub_catches, outer_of_sub,
              raises_stop_iteration, raises_late, tree]


@pytest.mark.parametrize("driver", DRIVERS, ids=lambda f: f.__name__)
def test_generators(driver):
    check(driver)


def test_generator_functions_compile():
    for driver in DRIVERS:
        with jit():
            outcome(driver)
    for gen in GENERATORS:
        info = pyjion.info(gen)
        assert info.compiled, f"{gen.__name__}: {info.compile_result!r} {info.reason}"


def test_generator_across_threads():
    import threading

    def work(results, k):
        results[k] = sum(counter(200)) + len(list(tree(4)))

    def run():
        results = [None] * 4
        threads = [threading.Thread(target=work, args=(results, k)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return results
    check(run, compiled=False)


def test_refcounts_after_many_resumptions():
    marker = object()

    def holder():
        while True:
            yield marker

    def spin():
        g = holder()
        for _ in range(10000):
            next(g)
        g.close()
        return sys.getrefcount(marker)

    before = spin()
    with jit():
        after = spin()
    assert pyjion.info(holder).compiled
    assert after == before
