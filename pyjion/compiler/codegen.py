"""LLVM optimisation and machine-code generation for a lowered module.

Levels (``config(level=...)``): 0 runs no IR passes and LLVM's fast instruction selection, the cheapest
machine code to make and the slowest to run (every value spilled to the stack); 1 runs a short cleanup
pipeline (CFG simplification, SROA, instruction combining) and full instruction selection for code with
a loop, fast selection for code without; 2 (the default) runs the whole O2 pipeline. Per bytecode
instruction LLVM took 1.17 ms at level 1 and 1.98 ms at level 2, 0.66 ms with the cleanup pipeline and
fast instruction selection (README, "When code is compiled"); on small loops level 2 code ran 1.15-1.35x
faster than level 1's. Hot code is compiled on a background thread, so the default buys the fastest
code; threshold 0, which compiles everything before it first runs, is cheaper at level 1. At levels 1
and 2 a huge function (HUGE_FUNCTION) gets the cleanup pipeline and fast selection whatever its loops.
"""
from __future__ import annotations

import ctypes
import functools
import re
import time
import zlib
from dataclasses import dataclass, field

import llvmlite.binding as llvm
from llvmlite import ir

from ..runtime import engine as engines
from . import objectcode

CODEGEN_LEVEL = {0: 0, 1: 2, 2: 2}
# Code with no loop gets the cleanup pipeline and fast instruction selection at level 1 (threshold 0:
# everything is compiled, most of it to run a few times; its time goes to the calls it makes): 0.9-1.0
# ms per instruction against 1.4-1.6 ms with full selection (700 loop-free stdlib code objects, thread
# CPU time), with recursive fib and a loop of method calls as fast within the noise of a loaded machine.
# At level 2 so does straight-line code above this many bytecode instructions: full instruction
# selection and register allocation grow faster than the function (one-expression functions at level 1:
# 0.57, 1.2 and 2.4 ms per instruction at 2,500, 10,000 and 41,000 instructions; 0.24, 0.34 and 0.36 ms
# this way), and such code (generated tables, regex_v8's block functions, a huge literal) runs each
# instruction once per call. Code with a loop keeps the full pipeline: fast selection made
# unpack_sequence's 4,800-instruction loop body 2.5x slower (0.37x of the interpreter against 0.88x;
# compiling it took 10 s against 28 s).
LARGE_CODE = 2_000
# And so does any function, loop or not, lowered to more LLVM instructions than this: O2 and full
# instruction selection grow faster than the function, in time and in memory (regex_v8's block11, a
# 4,787-instruction body run twice by ``for i in range(2)``: 152,042 LLVM instructions in 25,558 blocks,
# 100 s and a peak RSS of 1.8 GB, against 3.6 s and 330 MB this way; unpack_sequence's loop, 69,991
# instructions, 22 s and 400 MB, stays below).
HUGE_FUNCTION = 100_000
_DECLARATION = re.compile(r'^declare [^@]*@"?([\w.$]+)"?\(', re.MULTILINE)
CLEANUP_PASSES = ("simplify_cfg", "sroa", "instruction_combine", "simplify_cfg")


@dataclass
class MachineCode:
    """A compiled function: its entry address, the IR and object file that produced it, and where the
    time went (``from_cache``: loaded from the code cache instead of compiled). The IR is kept
    compressed: ~50 KB of text per function, a fifth of that packed, read only by ``pyjion.il``."""

    name: str
    address: int
    packed_ir: bytes
    object: bytes
    lower_seconds: float
    llvm_seconds: float
    from_cache: bool = False
    graph: str | None = None  # Graphviz DOT of the instruction graph, when asked for
    optimizations: int = 0  # OptimizationFlags of the fast paths emitted
    profile_guided: bool = False  # compiled with the interpreter's type feedback (compiler/feedback.py)
    seeded: bool = False  # its site caches hold the feedback of the code object it was made for
    fast_selection: bool = False  # made by LLVM's fast instruction selection (level 0, or code with no loop)
    arena: engines.CodeArena | None = field(default=None, repr=False)

    def seed(self, symbol: str, words: list[int]) -> None:
        """Write ``words`` at the start of the data symbol ``symbol`` (a site cache) if the code has it.
        Done before the code is installed, or with the GIL held, which the code holds while it runs."""
        address = self.arena.data_address(symbol) if self.arena is not None else 0
        if address:
            (ctypes.c_uint64 * len(words)).from_address(address)[:] = [w & (1 << 64) - 1 for w in words]

    @property
    def ir(self) -> str:
        return zlib.decompress(self.packed_ir).decode()

    @functools.cached_property
    def size(self) -> int:
        """Bytes of machine code (the object's text section: the function is all it holds)."""
        return objectcode.text_size(self.object)

    @functools.cached_property
    def offsets(self) -> list[tuple[int, int]]:
        """(bytecode offset, offset into the machine code) for each instruction, in code order."""
        return sorted(objectcode.stackmap_offsets(self.object), key=lambda pair: (pair[1], pair[0]))

    @functools.cached_property
    def external_symbols(self) -> list[str]:
        """The functions and data the machine code refers to by name (the module's declarations)."""
        return sorted(set(_DECLARATION.findall(self.ir)) - {"llvm.experimental.stackmap"})


class CodegenError(Exception):
    """LLVM rejected the module, or it refers to a symbol nobody provides."""


def generate(module: ir.Module, function_name: str, level: int, lower_seconds: float,
             straight_line_instructions: int = 0, llvm_instructions: int = 0) -> MachineCode:
    """Machine code for the lowered ``module``; ``straight_line_instructions``: the size of the code
    object if it has no loop, else 0; ``llvm_instructions``: the size of what it was lowered to."""
    cheap = level >= 1 and (straight_line_instructions > (0 if level == 1 else LARGE_CODE)
                            or llvm_instructions > HUGE_FUNCTION)
    engine = engines.engine(0 if cheap else CODEGEN_LEVEL[level])
    start = time.perf_counter()
    module.triple = engine.triple
    module.data_layout = engine.data_layout
    missing = engines.unresolved(module)
    if missing:
        raise CodegenError(f"unresolved symbols: {', '.join(missing)}")
    text = str(module)
    try:
        parsed = llvm.parse_assembly(text)
        parsed.verify()
    except RuntimeError as exc:
        raise CodegenError(str(exc)) from exc
    if level == 1 or cheap:
        builder = llvm.create_pass_builder(engine.target_machine, llvm.create_pipeline_tuning_options(0))
        passes = llvm.create_new_module_pass_manager()
        for name in CLEANUP_PASSES:
            getattr(passes, f"add_{name}_pass")()
        passes.run(parsed, builder)
    elif level == 2:
        optimise(parsed, engine)
    obj = engine.target_machine.emit_object(parsed)
    packed_ir = zlib.compress(text.encode(), 1)
    machine = MachineCode(function_name, 0, packed_ir, obj, lower_seconds, 0.0, fast_selection=cheap or level == 0)
    return _link(machine, start)


def optimise(parsed: llvm.ModuleRef, engine: engines.Engine) -> None:
    """Run LLVM's O2 pipeline over ``parsed``."""
    builder = llvm.create_pass_builder(engine.target_machine, llvm.create_pipeline_tuning_options(2))
    builder.getModulePassManager().run(parsed, builder)


def load(obj: bytes, packed_ir: bytes, function_name: str, optimizations: int, fast_selection: bool,
         from_cache: bool = True) -> MachineCode:
    """Machine code from an object file :func:`generate` made, in this process or another."""
    return _link(MachineCode(function_name, 0, packed_ir, obj, 0.0, 0.0, from_cache=from_cache,
                             optimizations=optimizations, fast_selection=fast_selection), time.perf_counter())


def _link(machine: MachineCode, start: float) -> MachineCode:
    """Make ``machine``'s object file callable, for as long as ``machine`` is alive."""
    machine.address, machine.arena = engines.load_function(machine.object, machine.name, machine)
    if not machine.address:
        raise CodegenError(f"{machine.name} has no address once its machine code is loaded")
    machine.llvm_seconds += time.perf_counter() - start
    return machine
