"""The compiler pipeline for one code object: decode -> blocks and depths -> kinds -> LLVM IR -> machine code."""
from __future__ import annotations

import itertools
import re
import time
from types import CodeType

from llvmlite import ir

from ..abi.cpython311 import CO_ASYNC_GENERATOR, CO_COROUTINE, CO_GENERATOR
from ..enums import CompilationResult
from . import analysis, bytecode, cache, codegen, feedback, flow
from .emitters import CACHE_SEEDS, EMITTERS, SPECIALISED
from .graph import to_dot
from .lowering import Lowering, site_cache_name

GENERATOR_FLAGS = CO_GENERATOR | CO_COROUTINE | CO_ASYNC_GENERATOR
_serial = itertools.count()


class CompileFailure(Exception):
    """The code object cannot be compiled; ``result`` says why in Pyjion's terms, ``reason`` in words."""

    def __init__(self, result: CompilationResult, reason: str) -> None:
        super().__init__(reason)
        self.result = result
        self.reason = reason


def check_supported(code: CodeType, instructions: list[bytecode.Instruction]) -> None:
    for ins in instructions:
        if ins.opname in EMITTERS and analysis.supported(ins):
            continue
        # Every 3.11 opcode has an emitter; this guards against bytecode the table does not know.
        raise CompileFailure(CompilationResult.IncompatibleOpcode_Unknown,
                             f"unsupported opcode {ins.opname} at offset {ins.index * 2} (line {ins.line})")


def symbol_name(code: CodeType, key: str | None) -> str:
    """Unique in the process; the same in every process for code with the same cache key."""
    return f"pyjion_{key[:16] if key else next(_serial)}_{re.sub(r'[^A-Za-z0-9_]', '_', code.co_qualname)}"


def compile_code(code: CodeType, level: int, code_cache: cache.CodeCache | None = None,
                 graph: bool = False, use_feedback: bool = True) -> codegen.MachineCode:
    """Compile ``code``, or load it from ``code_cache``; raises :class:`CompileFailure` when it cannot be.

    ``graph``: record the instruction graph (``MachineCode.graph``); the cache, which does not keep
    graphs, is then bypassed. At level 1 and up the code uses the interpreter's type feedback, once it
    has specialised some of its instructions (``use_feedback`` False, ``config(pgc=False)``: it does not):
    the code depends on which forms the instructions took, its site caches start with what the
    interpreter cached.
    """
    specialised = None
    if level >= 1 and use_feedback:
        specialised = {k: v for k, v in feedback.read(code).items() if v.opname in SPECIALISED}
    shape = tuple(sorted((index, found.opname) for index, found in specialised.items())) if specialised else ()
    key = cache.key(code, level, shape) if code_cache is not None and not graph else None
    name = symbol_name(code, key)
    machine = code_cache.get(key, name) if key is not None else None
    if machine is None:
        machine = _compile(code, level, name, graph, specialised)
        if key is not None:
            code_cache.put(key, machine)
    machine.profile_guided = bool(specialised)
    if specialised and not machine.seeded:
        for index, found in specialised.items():
            if found.opname in CACHE_SEEDS:
                machine.seed(site_cache_name(machine.name, index), CACHE_SEEDS[found.opname](found))
        machine.seeded = True
    return machine


def _compile(code: CodeType, level: int, name: str, graph: bool,
             specialised: dict[int, feedback.Specialisation] | None) -> codegen.MachineCode:
    start = time.perf_counter()
    instructions = bytecode.decode(code)
    check_supported(code, instructions)
    try:
        handlers = flow.exception_handlers(code, instructions)
        resumes = flow.resume_points(instructions) if code.co_flags & GENERATOR_FLAGS else {}
        blocks = flow.build_blocks(instructions, handlers, resumes.values())
        kinds = analysis.analyse(code, blocks, handlers)
        unboxed = frozenset() if specialised is None else analysis.unboxed_results(blocks, kinds, specialised)
        module = ir.Module(name)
        lowering = Lowering(code, blocks, kinds, module, name, EMITTERS, handlers, resumes, specialised, unboxed)
        lowering.lower()
    except flow.StackEffectFault as fault:
        raise CompileFailure(CompilationResult.CompilationStackEffectFault, str(fault)) from fault
    lowered = time.perf_counter()
    try:
        loops = any(ins.opname.startswith("JUMP_BACKWARD") for ins in instructions)
        size = sum(len(block.instructions) for block in lowering.function.blocks)
        machine = codegen.generate(module, name, level, lowered - start, 0 if loops else len(instructions), size)
    except codegen.CodegenError as exc:
        raise CompileFailure(CompilationResult.CompilationJitFailure, str(exc)) from exc
    finally:
        _dismantle(module)
    machine.optimizations = lowering.optimizations
    if graph:
        machine.graph = to_dot(code.co_qualname, blocks, kinds, handlers)
    return machine


def _dismantle(module: ir.Module) -> None:
    """Break the reference cycles of llvmlite's IR (an instruction refers to its block, a block to its
    function): ~10,000 objects per function compiled. Left to the cyclic GC, they showed up in the
    program's ``gc.collect()`` counts (test_gc) and held their memory until a full collection."""
    for function in module.functions:
        for block in function.blocks:
            for instruction in block.instructions:
                instruction.__dict__.clear()
            block.__dict__.clear()
        function.__dict__.clear()
    module.__dict__.clear()
