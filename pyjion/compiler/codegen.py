"""LLVM optimisation and machine-code generation for a lowered module.

Levels (``config(level=...)``): 0 runs no IR passes and uses fast instruction selection; 1 runs LLVM's
O1 pipeline; 2 runs O2 and full instruction selection. The costs per bytecode instruction measured on
the development machine are in the README; level 1 is the default.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import llvmlite.binding as llvm
from llvmlite import ir

from ..runtime import engine as engines

CODEGEN_LEVEL = {0: 0, 1: 1, 2: 2}


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
    if level > 0:
        tuning = llvm.create_pipeline_tuning_options(speed_level=level)
        builder = llvm.create_pass_builder(engine.target_machine, tuning)
        builder.getModulePassManager().run(parsed, builder)
    engine.add(parsed)
    address = engine.function_address(function_name)
    return MachineCode(function_name, address, text, lower_seconds, time.perf_counter() - start)
