"""Machine code lifetime: code that dies gives its memory back, code that can still run keeps it.

``PYJION_MEMORY_FUNCTIONS=100000 python -m pytest tests/runtime/test_engine.py`` runs the churn test at
the scale README "Bounded memory" reports.
"""
import os
import subprocess
import sys
import textwrap

import pyjion
from differential import jit
from pyjion.compiler.cache import CodeCache
from pyjion.runtime import engine

CHURN = textwrap.dedent("""
    import sys, types
    import pyjion
    from pyjion.runtime import engine

    def rss_mb():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096 / 2**20

    TEMPLATE = "def f(x):\\n    y = x + {n}\\n    for k in range(3):\\n        y += k * {m}\\n    return y\\n"

    def make(n, m):
        # A function of its own code object, as template engines make them (exec without a module body).
        module = compile(TEMPLATE.format(n=n, m=m), "<template>", "exec")
        code = next(c for c in module.co_consts if isinstance(c, types.CodeType))
        return types.FunctionType(code, {})

    total = int(sys.argv[1])
    pyjion.config(threshold=0, level=0, background=False)
    pyjion.enable()
    warm = total // 4
    for i in range(total):
        # One function in 20 is new code; the others repeat recent templates (served by the code cache).
        n = i if i % 20 == 0 else i - i % 20
        f = make(n, i % 3)
        assert f(1) == 1 + n + 3 * (i % 3), i
        assert pyjion.info(f).compiled, pyjion.info(f).reason
        del f
        if i == warm:
            before = rss_mb()
    print(rss_mb() - before, engine.arena_count())
""")


def test_machine_code_of_dead_functions_is_freed(tmp_path):
    total = int(os.environ.get("PYJION_MEMORY_FUNCTIONS", "10000"))
    script = tmp_path / "churn.py"
    script.write_text(CHURN)
    env = dict(os.environ, PYJION_CACHE="1", PYJION_CACHE_DIR=str(tmp_path / "cache"))
    run = subprocess.run([sys.executable, str(script), str(total)], capture_output=True, text=True,
                         timeout=3600, env=env)
    assert run.returncode == 0, run.stderr
    growth, arenas = run.stdout.split()
    # Kept: the current arena, those holding the functions the code cache keeps (the last RECENT), and
    # full arenas waiting for the next compilation to close them.
    assert int(arenas) <= CodeCache.RECENT // engine.CodeArena.CAPACITY + 3
    assert float(growth) < 4.0, f"RSS grew by {float(growth):.1f} MB over {total * 3 // 4} functions"


def _generator_source(n):
    return f"def gen():\n    total = {n}\n    for k in range(4):\n        total += yield total\n    return total\n"


def test_suspended_generator_keeps_its_machine_code():
    # The generator's frame holds its code object, whose record holds the machine code: compiling (and
    # dropping) 3 * CAPACITY other functions closes full arenas, never the one it needs to resume.
    namespace = {}
    with jit(level=0):
        exec(_generator_source(1000), namespace)
        gen = namespace.pop("gen")
        running = gen()
        assert next(running) == 1000
        assert pyjion.info(gen).compiled
        del gen
        for n in range(3 * engine.CodeArena.CAPACITY):
            scratch = {}
            exec(f"def f():\n    return {n}\n", scratch)
            assert scratch["f"]() == n
        assert running.send(1) == 1001
        assert running.send(2) == 1003


def test_declarations_nobody_provides_are_refused_before_code_generation():
    # MCJIT would bind an unknown data symbol to address 0 without complaint.
    import pytest
    from llvmlite import ir
    from pyjion.compiler import codegen
    engine.engine(0)  # binds the C API's symbols
    module = ir.Module("refused")
    ir.Function(module, ir.FunctionType(ir.VoidType(), []), "PyObject_GetAttr")  # provided
    ir.Function(module, ir.FunctionType(ir.VoidType(), []), "pyjion_no_such_function")
    ir.GlobalVariable(module, ir.IntType(8), "pyjion_no_such_data")
    defined = ir.GlobalVariable(module, ir.IntType(8), "pyjion_defined_here")
    defined.initializer = ir.Constant(ir.IntType(8), 0)
    assert engine.unresolved(module) == ["pyjion_no_such_function", "pyjion_no_such_data"]
    with pytest.raises(codegen.CodegenError, match="pyjion_no_such_function, pyjion_no_such_data"):
        codegen.generate(module, "refused", 0, 0.0)
