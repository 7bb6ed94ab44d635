"""Pattern matching, class bodies (LOAD_CLASSDEREF, annotations), ``import *`` and interactive PRINT_EXPR."""
import dataclasses
import sys
from collections import namedtuple

import pytest

import pyjion
from differential import check, jit, outcome

Point = namedtuple("Point", "x y")


@dataclasses.dataclass
class Record:
    a: int
    b: str = "s"


class NoMatchArgs:
    pass


class BadMatchArgs:
    __match_args__ = ["a"]


class Keys:
    a = "a"
    b = "a"


def match(v):
    match v:
        case 0 | 1:
            return "small"
        case [x, y, *rest]:
            return "seq", x, y, rest
        case {"k": val, **others}:
            return "map", val, others
        case Point(x=0, y=yy):
            return "origin-x", yy
        case Point(a, b):
            return "point", a, b
        case Record(a, b="s"):
            return "record", a
        case int(n) if n > 10:
            return "big", n
        case str() as s:
            return "str", s
        case _:
            return "other"


def match_errors(k):
    match k:
        case 0 if NoMatchArgs() and False:
            pass
    subject = [NoMatchArgs(), BadMatchArgs(), {"a": 1}][k]
    match subject:
        case NoMatchArgs(1):
            return "no"
        case BadMatchArgs(1):
            return "bad"
        case {Keys.a: 1, Keys.b: 2}:  # the same key twice, known only at run time
            return "dup"


def class_body(n):
    x = n

    class Inner:
        y: int = x
        z = [x for _ in range(2)]

        def get(self):
            return x
    return Inner.y, Inner.z, Inner().get(), Inner.__annotations__


MODULE_SOURCE = "from os.path import *\nfrom json import *\nx: int = 1\nclass K:\n    a: str\n"
INTERACTIVE_SOURCES = ("1 + 2\n", "None\n", "'text'\n", "for i in range(3): i * 10\n")
# Code compiled at run time, for the test that every emitter is exercised.
SOURCE_CODE = [compile(MODULE_SOURCE, "<module>", "exec")] + [
    compile(source, "<input>", "single") for source in INTERACTIVE_SOURCES]


def module_level_code():
    namespace = {}
    exec(MODULE_SOURCE, namespace)
    return "join" in namespace, "dumps" in namespace, "_os" in namespace, namespace["__annotations__"], \
        namespace["K"].__annotations__


def interactive_statement():
    shown = []
    saved = sys.displayhook
    sys.displayhook = shown.append
    try:
        for source in INTERACTIVE_SOURCES:
            exec(compile(source, "<input>", "single"))
    finally:
        sys.displayhook = saved
    return shown


CASES = [(match, (v,)) for v in (0, [1, 2, 3, 4], {"k": 1, "j": 2}, Point(0, 5), Point(1, 2), Record(3), 42, "s",
                                 3.5, (1,))] + [(match_errors, (k,)) for k in range(3)] + [
    (class_body, (7,)), (module_level_code, ()), (interactive_statement, ())]


@pytest.mark.parametrize("func,args", CASES, ids=lambda v: getattr(v, "__name__", None) or repr(v)[:20])
def test_namespaces_and_patterns(func, args):
    check(func, *args)


def test_class_bodies_compile():
    with jit():
        outcome(class_body, 3)
    body = next(c for c in class_body.__code__.co_consts if hasattr(c, "co_code"))
    assert pyjion.info(body).compiled
