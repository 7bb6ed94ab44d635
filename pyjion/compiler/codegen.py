"""LLVM optimisation and machine-code generation for a lowered module.

Levels (``config(level=...)``): 0 runs no IR passes; 1 (the default) runs a short cleanup pipeline
(CFG simplification and instruction combining); both use LLVM's fast instruction selection. 2 runs the
full O2 pipeline and instruction selection, which costs about ten times as much per instruction
(``tools/compile_cost.py``) and pays off only for long-running hot code.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import llvmlite.binding as llvm
from llvmlite import ir

from ..runtime import engine as engines

CODEGEN_LEVEL = {0: 0, 1: 0, 2: 2}
CLEANUP_PASSES = ("simplify_cfg", "sroa", "instruction_combine", "simplify_cfg")


@dataclass
class MachineCode:
    """A compiled function: its entry address, the IR that produced it, and where the time went."""

    name: str
    address: int
    ir: str
    lower_seconds: float
    llvm_seconds: float


class CodegenError(Exception):
    """LLVM rejected the module, or it refers to a symbol nobody provides."""


def generate(module: ir.Module, function_name: str, level: int, lower_seconds: float) -> MachineCode:
    engine = engines.engine(CODEGEN_LEVEL[level])
    start = time.perf_counter()
    module.triple = engine.triple
    module.data_layout = engine.data_layout
    text = str(module)
    try:
        parsed = llvm.parse_assembly(text)
        parsed.verify()
    except RuntimeError as exc:
        raise CodegenError(str(exc)) from exc
    missing = engines.unresolved(parsed)
    if missing:
        raise CodegenError(f"unresolved symbols: {', '.join(missing)}")
    if level == 1:
        builder = llvm.create_pass_builder(engine.target_machine, llvm.create_pipeline_tuning_options(0))
        passes = llvm.create_new_module_pass_manager()
        for name in CLEANUP_PASSES:
            getattr(passes, f"add_{name}_pass")()
        passes.run(parsed, builder)
    elif level == 2:
        builder = llvm.create_pass_builder(engine.target_machine, llvm.create_pipeline_tuning_options(2))
        builder.getModulePassManager().run(parsed, builder)
    engine.add(parsed)
    address = engine.function_address(function_name)
    if not address:
        raise CodegenError(f"{function_name} has no address after code generation")
    return MachineCode(function_name, address, text, lower_seconds, time.perf_counter() - start)
