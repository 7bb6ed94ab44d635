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


def test_level_1_gives_loop_free_code_fast_instruction_selection():
    """Threshold 0 at level 1 compiles everything, most of it to run a few times: code with no loop gets
    the cheaper pipeline, code with a loop the full one; level 2 keeps it for large code only."""
    from pyjion.compiler import compile_code
    from pyjion.runtime import jit as runtime

    def straight(a, b):
        return a * b + len(str(a))

    def looping(n):
        total = 0
        for i in range(n):
            total += i
        return total

    runtime.hook()  # the runtime module the code links against
    assert compile_code(straight.__code__, 1).fast_selection
    assert not compile_code(looping.__code__, 1).fast_selection
    assert not compile_code(straight.__code__, 2).fast_selection
    assert compile_code(straight.__code__, 0).fast_selection
    expected = straight(6, 7), looping(10)
    with jit(level=1):
        assert (straight(6, 7), looping(10)) == expected
    assert pyjion.info(straight).compiled and pyjion.info(looping).compiled


def test_a_new_code_arena_leaves_no_cyclic_garbage():
    # Every CodeArena.CAPACITY functions linked, a new arena (an MCJIT engine) is made; llvmlite's triple
    # setter made a ctypes array type there that died as 9 cyclic objects. The collector is off in the
    # window: the allocations of compiling would run it and hide them.
    from pyjion.runtime import engine
    engine.engine(2)  # LLVM initialised
    gc.collect()
    gc.disable()
    try:
        arena = engine.CodeArena()
        found = gc.collect()
    finally:
        gc.enable()
    arena.close()
    assert found == 0


def _calls_in_a_loop(statements: int):
    namespace: dict = {}
    exec("def calls(f):\n    x = 0\n    for i in range(2):\n"
         + "".join(f"        x = f(x, {k})\n" for k in range(statements)) + "    return x\n", namespace)
    return namespace["calls"]


def test_a_huge_function_gets_fast_instruction_selection_whatever_its_loops():
    """Above codegen.HUGE_FUNCTION LLVM instructions (regex_v8's 4,787-instruction block11: 100 s and
    1.8 GB at O2) a function with a loop takes the cleanup pipeline and fast selection too, and runs
    the same; a small one with a loop keeps O2 and full selection."""
    from pyjion.compiler import codegen, compile_code
    from pyjion.runtime import jit as runtime

    huge, small = _calls_in_a_loop(1500), _calls_in_a_loop(50)
    runtime.hook()
    made = compile_code(huge.__code__, 2)
    assert made.fast_selection and len(made.ir.splitlines()) > codegen.HUGE_FUNCTION
    assert not compile_code(small.__code__, 2).fast_selection

    def add(x, k):
        return x + k

    expected = huge(add), small(add)
    with jit():
        assert (huge(add), small(add)) == expected
    assert pyjion.info(huge).compiled and pyjion.info(small).compiled
