"""The JIT's process-wide machinery: compiling on hot code, and letting compiled code objects go."""
import gc
import weakref

import pytest

import pyjion
from differential import jit
from pyjion.runtime import state


def make_lambda(n):
    return eval(f"lambda: {n}")


def test_code_objects_die_after_compilation():
    # The code compiled last once stayed referenced by the compiler thread (test_code's CoExtra tests).
    # Nothing else may be compiled between the eval and the check: no Python calls in between.
    with jit():
        make_lambda(0)
        made = make_lambda(1)  # compiles the eval's module code, whose constants hold the lambda's code
        code = weakref.ref(made.__code__)
        del made
        alive = code() is not None
    assert not alive


def test_records_do_not_grow_with_dead_code():
    with jit():
        for n in range(50):
            make_lambda(n)()
        gc.collect()
        before = len(state.records())
        for n in range(500):
            assert make_lambda(n)() == n
        gc.collect()
        assert len(state.records()) <= before + 2


def test_environment_settings():
    from pyjion.runtime.jit import settings_from_environment
    parsed = settings_from_environment({"PYJION_LEVEL": "2", "PYJION_THRESHOLD": " 7 ", "PYJION_PGC": "off",
                                        "PYJION_CACHE": "0", "PYJION_CACHE_DIR": "/tmp/x"})
    assert (parsed.level, parsed.threshold, parsed.pgc, parsed.cache, parsed.cache_dir) == (2, 7, False, False, "/tmp/x")
    for text, expected in (("false", False), ("0", False), ("no", False), ("TRUE", True), ("1", True), ("on", True)):
        assert settings_from_environment({"PYJION_PGC": text}).pgc is expected
    defaults = settings_from_environment({})
    for name, value in (("PYJION_LEVEL", "3"), ("PYJION_THRESHOLD", "-1"), ("PYJION_THRESHOLD", "ten"),
                        ("PYJION_PGC", "maybe")):
        with pytest.warns(RuntimeWarning, match=name):
            ignored = settings_from_environment({name: value})
        assert ignored == defaults
