"""The LLVM execution engines, and the lifetime of the machine code they hold.

Freeing an engine whose code is installed as the eval-frame hook, or referenced from a code object,
crashes the process (verified: ``shared/research/exp_engine_lifetime.py``), including during interpreter
finalisation when module globals are cleared. So every engine is immortal (one reference leaked) unless
pyjion closes it itself, when nothing can run its code any more:

- :class:`Engine`, one per codegen level, holds the target machine that generates code and never goes.
- The runtime (hook and support functions, kept by the immortal hook) and compiled functions live in
  :class:`CodeArena` engines, up to ``CodeArena.CAPACITY`` each. MCJIT frees machine code only with its
  engine, so a process that keeps making and dropping functions (templates
  ``exec``-ed, ...) would grow without bound in one engine. A function's machine code is released when the
  last :class:`~pyjion.compiler.codegen.MachineCode` holding it is garbage (the records of the code
  objects running it go with those code objects, and a code object outlives every frame running it); a
  full arena with nothing left alive is closed by the compiler thread before its next compilation.
  Per arena: ~40 KB of engine and target machine and ~0.6 ms, against ~0.7 MB and 2 ms for an engine
  that also generates code, which is why arenas only link object files.
"""
from __future__ import annotations

import collections
import ctypes
import threading
import weakref

import llvmlite.binding as llvm
from llvmlite import ir

from ..abi import capi

LIBC_FUNCTIONS = ("calloc", "free", "pthread_getattr_np", "pthread_attr_getstack", "pthread_attr_destroy")

_lock = threading.Lock()
_resolvable: set[str] = set()  # every symbol registered with the JIT linker
_engines: dict[int, "Engine"] = {}
_initialised = False


def _initialise() -> None:
    global _initialised
    if _initialised:
        return
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    capi.bind_symbols(export_symbol)
    libc = ctypes.CDLL(None)
    for name in LIBC_FUNCTIONS:
        export_symbol(name, ctypes.cast(getattr(libc, name), ctypes.c_void_p).value)
    _initialised = True


def libc_address(name: str) -> int:
    return ctypes.cast(getattr(ctypes.CDLL(None), name), ctypes.c_void_p).value


def _empty_module(target_machine: llvm.TargetMachine) -> llvm.ModuleRef:
    """An empty module for ``target_machine``'s triple. Written in the IR text: llvmlite's ``triple``
    setter makes a ctypes array type for the string, which dies as cyclic garbage that the program's
    next ``gc.collect()`` counts (a new arena is made every CodeArena.CAPACITY functions)."""
    return llvm.parse_assembly(f'target triple = "{target_machine.triple}"')


class Engine:
    """The target machine of one machine-code optimisation level: it generates the object files of the
    runtime and of compiled functions (which :class:`CodeArena` engines link)."""

    def __init__(self, codegen_level: int) -> None:
        target = llvm.Target.from_default_triple()
        self.target_machine = target.create_target_machine(opt=codegen_level, jit=True)
        # Read once: each read is a call into LLVM, which releases the GIL (see unresolved()).
        self.triple: str = self.target_machine.triple
        self.data_layout: str = str(self.target_machine.target_data)
        # Immortal: see the module docstring.
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(self))


def engine(codegen_level: int) -> Engine:
    """The engine for a codegen level (0 = fast instruction selection), created on first use."""
    with _lock:
        _initialise()
        found = _engines.get(codegen_level)
        if found is None:
            found = _engines[codegen_level] = Engine(codegen_level)
        return found


def export_symbol(name: str, address: int) -> None:
    """Make ``name`` resolvable by modules compiled later (C API, runtime support functions)."""
    llvm.add_symbol(name, address)
    _resolvable.add(name)


def unresolved(module: ir.Module) -> list[str]:
    """Declarations in ``module`` the linker cannot resolve. MCJIT would bind an unknown data symbol
    to address 0 without complaint, so this is checked before code generation. Read from llvmlite's
    IR objects, not the parsed module: walking that takes ~100 calls into LLVM per function, each
    releasing the GIL and waiting up to a switch interval to take it back from a busy program."""
    declared = [value.name for value in module.global_values
                if (value.is_declaration if isinstance(value, ir.Function) else value.initializer is None)]
    return [name for name in declared if not name.startswith("llvm.") and name not in _resolvable]


class CodeArena:
    """An MCJIT engine linking the object files of up to CAPACITY compiled functions."""

    CAPACITY = 32

    def __init__(self) -> None:
        target_machine = llvm.Target.from_default_triple().create_target_machine(jit=True)
        self._mcjit = llvm.create_mcjit_compiler(_empty_module(target_machine), target_machine)  # owns the machine
        self.loaded = 0
        self.live = 0
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(self))  # until close(): see the module docstring

    def load(self, obj: bytes, function_name: str) -> int:
        self._mcjit.add_object_file(llvm.ObjectFileRef.from_data(obj))
        self._mcjit.finalize_object()
        self.loaded += 1
        self.live += 1
        return self._mcjit.get_function_address(function_name)

    def data_address(self, name: str) -> int:
        """Address of the data symbol ``name`` an object file loaded here defines (0: none)."""
        return self._mcjit.get_global_value_address(name)

    def function_address(self, name: str) -> int:
        """Address of the function ``name`` an object file loaded here defines (0: none)."""
        return self._mcjit.get_function_address(name)

    def close(self) -> None:
        self._mcjit.close()
        ctypes.pythonapi.Py_DecRef(ctypes.py_object(self))


_arena: CodeArena | None = None
# Arenas that still hold live machine code, besides the current one.
_arenas: set[CodeArena] = set()
# The owner of each function linked, weakly, with its arena. An owner dies on any thread at any
# deallocation, possibly in the middle of one of CPython's own updates (a method replaced in a class
# dies before the class's version tag changes), so its weak reference's callback is a C method that runs
# no Python code (which could switch threads): it only queues the reference, and the counting is done
# later under _lock. (weakref.finalize is not used: its atexit pass iterates its registry unguarded,
# and fails if the compiler thread links a function meanwhile.)
_owners: dict[int, tuple[weakref.ref, CodeArena]] = {}  # by id() of the weak reference
_released: collections.deque[weakref.ref] = collections.deque()


def load_function(obj: bytes, function_name: str, owner: object) -> tuple[int, CodeArena]:
    """Link ``obj``; the address of ``function_name`` in it, valid while ``owner`` lives, and the arena
    that linked it (for its data symbols)."""
    global _arena
    _close_dead_arenas()
    with _lock:
        _initialise()
        if _arena is None or _arena.loaded >= CodeArena.CAPACITY:
            if _arena is not None:
                _arenas.add(_arena)
            _arena = CodeArena()
        address = _arena.load(obj, function_name)
        ref = weakref.ref(owner, _released.append)
        _owners[id(ref)] = (ref, _arena)
        return address, _arena


def _close_dead_arenas() -> None:
    """Close the full arenas none of whose functions is alive: their memory goes back to the system.

    Called on the compiler thread, which the hook leaves alone. On any other thread, a Python function
    called while holding the lock (a comprehension is one) could wait for a compilation needing it.
    """
    dead = set()
    with _lock:
        while _released:
            _owners.pop(id(_released.popleft()))[1].live -= 1
        for arena in _arenas:
            if arena.live == 0:
                dead.add(arena)
        _arenas.difference_update(dead)
    for arena in dead:
        arena.close()


def arena_count() -> int:
    """Arenas holding machine code (the current one included)."""
    return len(_arenas) + (_arena is not None)
