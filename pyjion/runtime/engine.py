"""The LLVM execution engines: created once, never freed.

Freeing an engine whose code is installed as the eval-frame hook, or referenced from a code object,
crashes the process (verified: ``shared/research/exp_engine_lifetime.py``), including during interpreter
finalisation when module globals are cleared. Engines are therefore made immortal by leaking one
reference to each.
"""
from __future__ import annotations

import ctypes
import threading

import llvmlite.binding as llvm

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


class Engine:
    """One MCJIT engine and its target machine, for one machine-code optimisation level."""

    def __init__(self, codegen_level: int) -> None:
        target = llvm.Target.from_default_triple()
        self.target_machine = target.create_target_machine(opt=codegen_level, jit=True)
        empty = llvm.parse_assembly("")
        empty.triple = self.target_machine.triple
        self._mcjit = llvm.create_mcjit_compiler(empty, self.target_machine)
        self._objects: dict[int, bytes] = {}  # id(module) -> its object file, while add() runs
        self._mcjit.set_object_cache(self._object_made)
        # Immortal: see the module docstring.
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(self))

    @property
    def triple(self) -> str:
        return self.target_machine.triple

    @property
    def data_layout(self) -> str:
        return str(self.target_machine.target_data)

    def _object_made(self, module: llvm.ModuleRef, obj: bytes) -> None:
        self._objects[id(module)] = obj

    def add(self, module: llvm.ModuleRef) -> bytes:
        """Generate machine code for ``module``, make its symbols callable, return the object file.

        The IR module is then dropped: MCJIT would keep it (and llvmlite a Python wrapper for it) for
        the life of the engine, though the machine code and its symbols outlive the module's removal.
        """
        self._mcjit.add_module(module)
        self._mcjit.finalize_object()
        self._mcjit.remove_module(module)
        obj = self._objects.pop(id(module))
        module.close()
        return obj

    def load(self, obj: bytes) -> None:
        """Make the symbols of an object file made by :meth:`add` (in any process) callable."""
        self._mcjit.add_object_file(llvm.ObjectFileRef.from_data(obj))
        self._mcjit.finalize_object()

    def function_address(self, name: str) -> int:
        return self._mcjit.get_function_address(name)

    def global_address(self, name: str) -> int:
        return self._mcjit.get_global_value_address(name)


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


def unresolved(module: llvm.ModuleRef) -> list[str]:
    """Declarations in ``module`` the linker cannot resolve. MCJIT would bind an unknown data symbol
    to address 0 without complaint, so this is checked before code generation."""
    declared = [g.name for g in (*module.functions, *module.global_variables) if g.is_declaration]
    return [name for name in declared if not name.startswith("llvm.") and name not in _resolvable]
