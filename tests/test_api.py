"""The public API: argument validation, enable/disable, info, il."""
import subprocess
import sys

import pytest

import pyjion
from differential import jit


def test_enable_disable_return_values():
    assert pyjion.enable() is True
    assert pyjion.enable() is False
    assert pyjion.disable() is True
    assert pyjion.disable() is False


@pytest.mark.parametrize("kwargs,error", [
    ({"level": "1"}, TypeError), ({"level": 3}, ValueError), ({"level": -1}, ValueError),
    ({"level": True}, TypeError), ({"threshold": -1}, ValueError), ({"threshold": 1.5}, TypeError),
    ({"pgc": 1}, TypeError), ({"graph": "yes"}, TypeError), ({"debug": 3}, ValueError),
    ({"debug": "x"}, TypeError),
])
def test_config_rejects_bad_arguments(kwargs, error):
    before = pyjion.config()
    with pytest.raises(error) as err:
        pyjion.config(**kwargs)
    assert next(iter(kwargs)) in str(err.value)
    assert pyjion.config() == before


def test_config_rejects_positional():
    with pytest.raises(TypeError):
        pyjion.config(1)


def test_config_round_trip():
    before = pyjion.config()
    try:
        out = pyjion.config(level=2, threshold=7, pgc=False, graph=True, debug=True)
        assert out == {"level": 2, "threshold": 7, "pgc": False, "graph": True, "debug": pyjion.CompileMode.Debug}
    finally:
        pyjion.config(**{k: v for k, v in before.items()})


def test_info_requires_function_or_code():
    with pytest.raises(TypeError):
        pyjion.info(42)
    assert pyjion.info((lambda: 0).__code__).compile_result == pyjion.CompilationResult.NoResult


def test_threshold_counts_calls():
    def f():
        return 1
    with jit(threshold=3):
        for expected_compiled in (False, False, False, True):
            f()
            assert pyjion.info(f).compiled is expected_compiled
    assert pyjion.info(f).run_count == 4


def test_unsupported_code_is_recorded_and_still_runs(monkeypatch):
    from pyjion.compiler import CompileFailure
    from pyjion.runtime import jit as runtime

    def refuse(code, level):
        raise CompileFailure(pyjion.CompilationResult.IncompatibleOpcode_Unknown, f"refused {code.co_name}")

    def uses_try():
        try:
            return 1 / 0
        except ZeroDivisionError:
            return "caught"
    monkeypatch.setattr(runtime, "compile_code", refuse)
    with jit():
        assert uses_try() == "caught"
        assert uses_try() == "caught"
    info = pyjion.info(uses_try)
    assert not info.compiled and info.failed
    assert info.compile_result == pyjion.CompilationResult.IncompatibleOpcode_Unknown
    assert info.reason == "refused uses_try"


def test_generators_are_recorded():
    def gen():
        yield 1
    with jit():
        assert list(gen()) == [1]
    assert pyjion.info(gen).compile_result == pyjion.CompilationResult.Success


def test_il_of_compiled_function():
    def f(a):
        return a + 1
    assert pyjion.il(f) is None
    with jit():
        f(1)
    text = pyjion.il(f)
    assert "PyNumber_Add" in text and "define" in text


def test_unboxing_error_is_exported():
    assert issubclass(pyjion.PyjionUnboxingError, ValueError)


def test_unsupported_python_version_message():
    """The import guard names the supported versions (simulated by faking sys.version_info)."""
    script = ("import sys\nclass V(tuple):\n    major, minor = 3, 12\nsys.version_info = V((3, 12, 0))\n"
              "try:\n    import pyjion\nexcept ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True).stdout
    assert "CPython 3.11 only" in out
