"""Measure compile cost per bytecode instruction at each optimisation level.

    python tools/compile_cost.py [levels...]

Compiles every function and method (and nested code) of a fixed set of stdlib modules and prints,
per level, the time spent lowering to LLVM IR (Python) and in LLVM (parse, passes, machine code).
"""
from __future__ import annotations

import importlib
import sys
import time
import types

from pyjion.compiler import CompileFailure, bytecode, compile_code
from pyjion.runtime import jit

MODULES = ("textwrap", "difflib", "statistics", "fractions", "json.encoder", "json.decoder", "ast", "inspect",
           "typing", "argparse")


def code_objects() -> list[types.CodeType]:
    found = []
    for name in MODULES:
        module = importlib.import_module(name)
        stack = [v.__code__ for v in vars(module).values() if isinstance(v, types.FunctionType)]
        for cls in (v for v in vars(module).values() if isinstance(v, type)):
            stack += [v.__code__ for v in vars(cls).values() if isinstance(v, types.FunctionType)]
        while stack:
            code = stack.pop()
            found.append(code)
            stack += [c for c in code.co_consts if isinstance(c, types.CodeType)]
    return found


def measure(level: int, codes: list[types.CodeType]) -> str:
    instructions = compiled = unsupported = 0
    lower = llvm = 0.0
    for code in codes:
        try:
            machine = compile_code(code, level)
        except CompileFailure:
            unsupported += 1
            continue
        compiled += 1
        instructions += len(bytecode.decode(code))
        lower += machine.lower_seconds
        llvm += machine.llvm_seconds
    return (f"level {level}: {compiled} code objects ({unsupported} not supported), {instructions} instructions; "
            f"per instruction: lowering {1e3 * lower / instructions:.3f} ms, LLVM {1e3 * llvm / instructions:.3f} ms")


def main() -> None:
    jit.hook()  # builds the runtime module the compiled code links against
    codes = code_objects()
    for level in [int(a) for a in sys.argv[1:]] or [0, 1, 2]:
        start = time.perf_counter()
        print(measure(level, codes), f"({time.perf_counter() - start:.1f} s)", flush=True)


if __name__ == "__main__":
    main()
