"""The compiler pipeline's footprint on the program that runs it."""
import gc

import pyjion
from differential import jit


def _warm(x):
    return [x + i for i in range(3)]


def _measured(x):
    try:
        return x.missing
    except AttributeError:
        return 5


def test_compiling_leaves_no_cyclic_garbage():
    # Programs (and test_gc) count what gc.collect() finds; llvmlite's IR is thousands of cycles per
    # function unless the driver takes it apart.
    with jit():
        _warm(1)  # first compilation: one-time imports and caches
        gc.collect()
        assert _measured(1) == 5
        found = gc.collect()
    assert pyjion.info(_measured).compiled
    assert found == 0


def test_large_code():
    # A loop-free function above codegen.LARGE_CODE instructions takes the linear-cost pipeline and still
    # runs right; module-level code above WAIT_FOR_CODE_UNITS (a huge literal, evaluated once) is not compiled.
    from pyjion.compiler import codegen
    from pyjion.runtime import jit as runtime
    entries = codegen.LARGE_CODE
    namespace: dict = {}
    exec("def table(x):\n    return {" + ",".join(f"{i}: x * {i}" for i in range(entries)) + "}\n", namespace)
    literal = compile("{" + ",".join(f"{i}: {i}" for i in range(runtime.WAIT_FOR_CODE_UNITS)) + "}", "<huge>", "eval")
    expected = namespace["table"](3), eval(literal)
    with jit():
        got = namespace["table"](3), eval(literal)
    assert got == expected
    assert pyjion.info(namespace["table"]).compiled
    skipped = pyjion.info(literal)
    assert not skipped.compiled and skipped.compile_result == pyjion.CompilationResult.IncompatibleSize
    assert "runs once" in skipped.reason
