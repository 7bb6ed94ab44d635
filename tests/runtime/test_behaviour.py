"""More interpreter behaviours that compiled code must keep."""
import collections
import subprocess
import sys
import textwrap
import warnings

import pyjion
from differential import check, jit


def class_with_super_and_cell():
    class A:
        def f(self):
            return "A"

    class B(A):
        def f(self):
            return "B" + super().f() + __class__.__name__

        @classmethod
        def make(cls):
            return cls()
    return B.make().f(), B.__qualname__


def test_class_bodies_with_class_cell():
    check(class_with_super_and_cell)


def test_exec_with_mapping_locals():
    code = compile("x = 1\ny = x + len(z)\ndel x\n", "<mapping>", "exec")

    def run():
        ns = collections.OrderedDict(z="abc")
        exec(code, {"__builtins__": __builtins__}, ns)
        return dict(ns)
    plain = run()
    with jit():
        jitted = run()
    assert jitted == plain == {"z": "abc", "y": 4}
    assert pyjion.info(code).compiled


def warns(x):
    warnings.warn("careful", UserWarning)
    return x


def test_warning_line_numbers():
    def lines():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            warns(1)
        return [(w.filename, w.lineno, str(w.message)) for w in caught]
    plain = lines()
    with jit():
        jitted = lines()
    assert jitted == plain and plain[0][1] == warns.__code__.co_firstlineno + 1
    assert pyjion.info(warns).compiled


def test_small_thread_stack_recursion_raises():
    script = textwrap.dedent("""
        import sys, threading, pyjion
        sys.setrecursionlimit(100000)
        threading.stack_size(512 * 1024)
        def r(n):
            return r(n - 1) + 1 if n else 0
        out = []
        def body():
            try:
                out.append(r(50000))
            except RecursionError:
                out.append("RecursionError")
            out.append(r(100))
        pyjion.config(threshold=0)
        pyjion.enable()
        t = threading.Thread(target=body)
        t.start(); t.join()
        print(out, pyjion.info(r).compiled)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "['RecursionError', 100] True"


def kwargs_errors(which):
    def f(**kw):
        return kw
    if which == 0:
        return f(**{1: 2})
    if which == 1:
        return f(**{"a": 1}, a=2)
    return f(*"ab", **dict(a=1))


def test_keyword_argument_errors():
    for which in range(3):
        check(kwargs_errors, which)
