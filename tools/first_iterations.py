"""Where a benchmark's first iterations lose time under the JIT: the first few iterations of a
pyperformance benchmark (``pyjion.bench``'s names) in fresh processes, in five modes, interleaved.

    python tools/first_iterations.py raytrace [scimark ...] [--rounds N] [--iterations K]

``plain``: CPython alone. ``forward``: a PEP 523 hook that only calls ``_PyEval_EvalFrameDefault`` (the
tax any hook pays: 3.11 stops inlining Python-to-Python calls). ``hook``: pyjion's hook installed from
the start, hot code queued but never compiled (the tax, plus what the hook does for interpreted frames:
counting and timing them until their code is hot, then a look at its state).
``compiling``: no hook, but a thread compiling the script's functions over and over at level 2 (what
the compiler thread's Python half, which holds the GIL, takes from the program). ``jit``: pyjion as a
program gets it, with the hook from the start (start_delay 0). Prints each mode's median per iteration
and its ratio to plain (> 1: faster than plain), ms.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

MODES = ("plain", "forward", "hook", "compiling", "jit")
CHILD = r"""
import runpy, sys, threading, types
name, mode, iterations = sys.argv[1], sys.argv[2], int(sys.argv[3])
import pyperf
from pyjion import bench
script, extra = bench.locate(name)
pyperf.Runner = bench.CollectingRunner
sys.argv = [str(script), *extra]
sys.path.insert(0, str(script.parent))
if mode == "forward":
    # A hook that only calls the interpreter. Not _PyEval_EvalFrameDefault itself: CPython stores NULL
    # for it, which is no hook.
    import ctypes
    import llvmlite.binding as llvm
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    api = ctypes.pythonapi
    evaluator = ctypes.cast(api._PyEval_EvalFrameDefault, ctypes.c_void_p).value
    llvm.add_symbol("_PyEval_EvalFrameDefault", evaluator)
    module = llvm.parse_assembly('''
declare ptr @_PyEval_EvalFrameDefault(ptr, ptr, i32)
define ptr @forward(ptr %ts, ptr %frame, i32 %throw) {
  %result = musttail call ptr @_PyEval_EvalFrameDefault(ptr %ts, ptr %frame, i32 %throw)
  ret ptr %result
}''')
    engine = llvm.create_mcjit_compiler(module, llvm.Target.from_default_triple().create_target_machine())
    engine.finalize_object()
    api.PyInterpreterState_Get.restype = ctypes.c_void_p
    api._PyInterpreterState_SetEvalFrameFunc.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    api._PyInterpreterState_SetEvalFrameFunc(api.PyInterpreterState_Get(), engine.get_function_address("forward"))
if mode in ("hook", "jit"):
    import pyjion
    from pyjion.runtime import jit
    pyjion.config(cache=False, start_delay=0)
    if mode == "hook":
        class NeverCompiles:
            def submit(self, *request, priority):
                pass
        jit._compiler_thread = NeverCompiles
    pyjion.enable()
namespace = runpy.run_path(str(script), run_name="__main__")
if mode == "compiling":
    from pyjion.compiler import CompileFailure, compile_code
    from pyjion.runtime import jit
    jit.hook()
    functions = [v for v in namespace.values() if isinstance(v, types.FunctionType)]
    for cls in (v for v in namespace.values() if isinstance(v, type)):
        functions += [v for v in vars(cls).values() if isinstance(v, types.FunctionType)]
    def compile_forever():
        while True:
            for function in functions:
                try:
                    compile_code(function.__code__, 2)
                except CompileFailure:
                    pass
    threading.Thread(target=compile_forever, daemon=True).start()
_, run, inner = bench.CollectingRunner.last.collected[0]
for _ in range(iterations):
    print(run(1) / (inner or 1))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("benchmarks", nargs="+")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--iterations", type=int, default=4)
    opts = ap.parse_args()
    for name in opts.benchmarks:
        times: dict[str, list[float]] = {mode: [] for mode in MODES}
        for _ in range(opts.rounds):
            for mode in MODES:
                out = subprocess.run([sys.executable, "-c", CHILD, name, mode, str(opts.iterations)],
                                     capture_output=True, text=True, check=True).stdout
                times[mode] += [float(line) for line in out.split()]
        plain = statistics.median(times["plain"])
        cells = [f"{mode} {1e3 * statistics.median(times[mode]):.1f} ({plain / statistics.median(times[mode]):.2f}x)"
                 for mode in MODES]
        print(f"{name}: first {opts.iterations} iterations, {opts.rounds} rounds, median ms: " + ", ".join(cells))


if __name__ == "__main__":
    main()
