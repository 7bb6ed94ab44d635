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
    ({"debug": "x"}, TypeError), ({"cache": 1}, TypeError), ({"cache_dir": 3}, TypeError),
    ({"cache_dir": ""}, TypeError), ({"perf_map": "1"}, TypeError), ({"background": 1}, TypeError),
    ({"start_delay": "1"}, TypeError), ({"start_delay": True}, TypeError), ({"start_delay": -0.5}, ValueError),
    ({"start_delay": float("nan")}, ValueError), ({"start_delay": 1e9}, ValueError),
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
        out = pyjion.config(level=2, threshold=7, pgc=False, graph=True, debug=True, cache=False,
                            cache_dir="/nonexistent/cache", perf_map=True, background=False, start_delay=2)
        assert out == {"level": 2, "threshold": 7, "pgc": False, "graph": True, "debug": pyjion.CompileMode.Debug,
                       "cache": False, "cache_dir": "/nonexistent/cache", "perf_map": True, "background": False,
                       "start_delay": 2.0}
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
        for _ in range(3):  # compiled: the hook's dispatch to compiled code counts them
            f()
    assert pyjion.info(f).run_count == 7


def test_unsupported_code_is_recorded_and_still_runs(monkeypatch):
    from pyjion.compiler import CompileFailure
    from pyjion.runtime import jit as runtime

    def refuse(code, level, cache, graph, use_feedback):
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


def scaled_sum(values, k):
    total = 0
    for v in values:
        try:
            total += v * k
        except TypeError:
            total = None
    return total


def test_introspection_of_a_compiled_function():
    import ctypes
    import dis
    before = pyjion.config()
    pyjion.config(graph=True)
    try:
        with jit():
            assert scaled_sum([1, 2], 3) == 9
    finally:
        pyjion.config(graph=before["graph"])
    code, length, address = pyjion.native(scaled_sum)
    assert length == len(code) > 100 and code == ctypes.string_at(address, length)
    offsets = pyjion.offsets(scaled_sum)
    instructions = {ins.offset: ins.opname for ins in dis.get_instructions(scaled_sum)}
    assert {bytecode for bytecode, _, _ in offsets} == set(instructions)
    assert all(0 <= native < length and instructions[bytecode] == kind for bytecode, native, kind in offsets)
    assert [native for _, native, _ in offsets] == sorted(native for _, native, _ in offsets)
    symbols = pyjion.symbols(scaled_sum)
    multiply = ctypes.cast(ctypes.pythonapi.PyNumber_Multiply, ctypes.c_void_p).value
    assert symbols[multiply] == "PyNumber_Multiply"
    assert "pyjion_traceback_here" in symbols.values()  # the runtime's own support functions too
    dot = pyjion.graph(scaled_sum)
    assert dot.startswith('digraph "scaled_sum"') and dot.count(" -> ") >= 4 and "except" in dot
    assert "FOR_ITER" in dot and "[int]" in dot
    assert "define" in pyjion.il(scaled_sum)


def test_introspection_of_a_function_not_compiled():
    def never_called(x):
        return x

    for view in (pyjion.il, pyjion.native, pyjion.offsets, pyjion.symbols, pyjion.graph):
        assert view(never_called) is None


def test_graph_needs_the_graph_option():
    def compiled_without_graph(x):
        return x * 2

    with jit():
        compiled_without_graph(2)
    assert pyjion.info(compiled_without_graph).compiled
    with pytest.raises(ValueError, match="graph=True"):
        pyjion.graph(compiled_without_graph)
