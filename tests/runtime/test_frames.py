"""Frame-level behaviour of compiled code: introspection, recursion, threads, signals, refcounts."""
import gc
import signal
import subprocess
import sys
import textwrap
import threading

import pytest

import pyjion
from differential import check, jit


def frame_info(a, b=2):
    f = sys._getframe()
    back = f.f_back
    loc = {k: v for k, v in locals().items() if k in ("a", "b")}
    return (f.f_code.co_name, f.f_lineno, back.f_code.co_name, sorted(loc), loc,
            sorted(f.f_locals), sys._getframe(0).f_lineno)


def test_getframe_and_locals():
    check(frame_info, 1)


class Base:
    def who(self):
        return "base"


class Child(Base):
    def who(self):
        return "child:" + super().who()

    def explicit(self):
        return super(Child, self).who()


def use_super():
    c = Child()
    return c.who(), c.explicit()


def test_super():
    check(use_super)
    check(Child.who, Child())


def make_adder(n):
    return lambda x: x + n


def test_redefined_function():
    def f():
        return 1
    check(f)

    def f():  # noqa: F811 - a new code object with the same name
        return 2
    check(f)


def test_globals_changed_between_calls():
    ns = {}
    exec("X = 1\ndef f():\n    return X * 2\n", ns)
    f = ns["f"]
    with jit():
        first = f()
        ns["X"] = 21
        second = f()
        del ns["X"]
        with pytest.raises(NameError) as err:
            f()
    assert (first, second) == (2, 42)
    assert err.value.name == "X"
    assert pyjion.info(f).compiled


def test_builtin_shadowed():
    ns = {}
    exec("def f(x):\n    return len(x)\n", ns)
    f = ns["f"]
    with jit():
        before = f("abc")
        ns["len"] = lambda x: "shadowed"
        after = f("abc")
    assert (before, after) == (3, "shadowed")
    assert pyjion.info(f).compiled


def test_closure_variants():
    check(make_adder(3), 4)


def leaf(x):
    return x


def refcount_loop(obj, n):
    r = None
    for _ in range(n):
        r = leaf(obj)
        t = (obj, obj)
        lst = [obj, t]
        d = {"k": obj}
        del t, lst, d
    return r


def test_refcounts_unchanged_after_many_calls():
    obj = object()
    with jit():
        refcount_loop(obj, 10)  # compile first
        gc.collect()
        before = sys.getrefcount(obj)
        for _ in range(1000):
            refcount_loop(obj, 100)
        gc.collect()
        after = sys.getrefcount(obj)
        result = refcount_loop(obj, 1)
        result_refs_before = sys.getrefcount(result)
        for _ in range(1000):
            leaf(result)
        result_refs_after = sys.getrefcount(result)
    assert pyjion.info(refcount_loop).compiled and pyjion.info(leaf).compiled
    assert after == before
    assert result_refs_after == result_refs_before


def fact(n):
    return 1 if n <= 1 else n * fact(n - 1)


def infinite(n):
    return infinite(n + 1)


def test_recursion():
    check(fact, 200)


def test_recursion_error_at_limit():
    outcome = check(infinite, 0)
    assert outcome[1] is RecursionError


def test_deep_recursion_never_crashes():
    script = textwrap.dedent("""
        import sys, pyjion
        sys.setrecursionlimit(1000000)
        def r(n):
            return r(n - 1) + 1 if n else 0
        pyjion.config(threshold=0)
        pyjion.enable()
        print(r(5000))
        try:
            r(900000)
        except RecursionError as e:
            print("RecursionError", e)
        print(r(5000), pyjion.info(r).compiled)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split("\n")[:3] == ["5000", "RecursionError maximum recursion depth exceeded",
                                           "5000 True"]


def spin(flag, n):
    total = 0
    while not flag:
        total += 1
    for i in range(n):
        total += i
    return total


def test_threads_run_compiled_loops():
    results = []
    stop = []

    def worker(k):
        results.append(spin([1], 20000 + k))

    with jit():
        spin([1], 1)
        threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sorted(results) == sorted(spin([1], 20000 + k) for k in range(8))
    assert pyjion.info(spin).compiled
    assert not stop


def busy_forever():
    x = 0
    while True:
        x += 1


class Alarm(Exception):
    pass


def test_sigalrm_interrupts_compiled_while_true():
    def handler(signum, frame):
        raise Alarm(frame.f_code.co_name)

    old = signal.signal(signal.SIGALRM, handler)
    try:
        with jit():
            signal.setitimer(signal.ITIMER_REAL, 0.2)
            with pytest.raises(Alarm) as err:
                busy_forever()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert str(err.value) == "busy_forever"
    assert pyjion.info(busy_forever).compiled


def switcher(counter, n):
    for _ in range(n):
        counter[0] += 1


def test_thread_switching_in_compiled_loop():
    """Without eval-breaker polling a compiled loop starves other threads."""
    other = [0]
    done = threading.Event()

    def background():
        while not done.is_set():
            other[0] += 1

    with jit():
        switcher([0], 1)  # both compiled before the other thread starts
        done.set()
        background()
        done.clear()
        t = threading.Thread(target=background)
        t.start()
        switcher([0], 3_000_000)
        done.set()
        t.join()
    assert other[0] > 0
    assert pyjion.info(switcher).compiled


def raise_in_nested(x):
    return helper_raises(x) + 1


def helper_raises(x):
    return {}[x]


def test_traceback_through_compiled_frames():
    outcome = check(raise_in_nested, "k")
    assert [name for name, _ in outcome[3]] == ["raise_in_nested", "helper_raises"]


def test_settrace_from_compiled_code_deopts():
    events = []

    def tracer(frame, event, arg):
        if frame.f_code.co_name == "traced":
            events.append((event, frame.f_lineno))
        return tracer

    def traced():
        sys.settrace(tracer)
        a = 1
        b = a + 1
        sys.settrace(None)
        return b

    plain_events = []
    traced()
    plain_events, events[:] = list(events), []
    with jit():
        traced()
    assert pyjion.info(traced).compiled
    assert events == plain_events


def test_fork_children_use_compiled_code():
    import os
    script = textwrap.dedent("""
        import os, pyjion
        def work(n):
            return sum(i * i for i in range(n)) + len([i for i in range(n)])
        def child_only(n):
            return n * 2
        pyjion.config(threshold=0)
        pyjion.enable()
        print(work(10))
        pid = os.fork()
        if pid == 0:
            ok = work(10) == 295 and child_only(4) == 8 and pyjion.info(child_only).compiled
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        print("child", os.waitstatus_to_exitcode(status), pyjion.info(work).compiled)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split("\n")[:2] == ["295", "child 0 True"]
