"""Per-code-object state: a small native struct in ``co_extra`` read by the hook, and a Python record.

The native part is what the hook needs on every call (run count, entry point, failed and queued flags,
cycles spent interpreting it); the hook attaches it when it first sees the code run, allocated with
libc ``calloc``, and CPython releases it with libc ``free`` from ``code_dealloc``, even at shutdown. The
Python record keeps what introspection needs (compile result, reason, IR) and goes away with the code
object through a weak reference.
"""
from __future__ import annotations

import ctypes
import functools
import weakref
from dataclasses import dataclass, field
from types import CodeType
from typing import Any

from .engine import libc_address


class NativeCodeState(ctypes.Structure):
    """Mirrors the struct the hook reads: keep in step with :data:`STATE_LAYOUT`."""

    _fields_ = [("run_count", ctypes.c_int64), ("entry", ctypes.c_void_p), ("failed", ctypes.c_int32),
                ("queued", ctypes.c_int32), ("cycles", ctypes.c_int64)]


STATE_LAYOUT = {"run_count": 0, "entry": 8, "failed": 16, "queued": 20, "cycles": 24}
STATE_SIZE = ctypes.sizeof(NativeCodeState)
assert all(getattr(NativeCodeState, k).offset == v for k, v in STATE_LAYOUT.items())

_api = ctypes.pythonapi
_api._PyEval_RequestCodeExtraIndex.argtypes = [ctypes.c_void_p]
_api._PyEval_RequestCodeExtraIndex.restype = ctypes.c_ssize_t
_api._PyCode_GetExtra.argtypes = [ctypes.py_object, ctypes.c_ssize_t, ctypes.POINTER(ctypes.c_void_p)]
_api._PyCode_GetExtra.restype = ctypes.c_int
_extra_index: int | None = None


def extra_index() -> int:
    """Our co_extra slot, requested once per process with libc ``free`` as its free function."""
    global _extra_index
    if _extra_index is None:
        _extra_index = _api._PyEval_RequestCodeExtraIndex(libc_address("free"))
        if _extra_index < 0:
            raise RuntimeError("no co_extra slot available for pyjion")
    return _extra_index


def native_state(code: CodeType) -> NativeCodeState | None:
    """The native state of ``code``: None until the hook has seen it run (the hook attaches it)."""
    out = ctypes.c_void_p()
    if _api._PyCode_GetExtra(code, extra_index(), ctypes.byref(out)) != 0:
        raise RuntimeError("_PyCode_GetExtra failed")
    return NativeCodeState.from_address(out.value) if out.value else None


@dataclass
class CodeRecord:
    """What pyjion knows about one code object beyond the native state."""

    compile_result: int = 0
    reason: str | None = None
    optimizations: int = 0
    compiled: Any = None  # the compiler's CompiledFunction: IR text, addresses, offsets
    extra: dict = field(default_factory=dict)


_records: dict[int, tuple[weakref.ref, CodeRecord]] = {}


def record(code: CodeType, create: bool = False) -> CodeRecord | None:
    key = id(code)
    found = _records.get(key)
    if found is not None and found[0]() is code:
        return found[1]
    if not create:
        return None
    rec = CodeRecord()
    # A C callable, running no Python code while the code object dies (see runtime/engine.py, _owners).
    _records[key] = (weakref.ref(code, functools.partial(_records.pop, key)), rec)
    return rec


def records() -> list[tuple[CodeType, CodeRecord]]:
    """Every live code object the JIT has considered for compilation, with its record."""
    live = []
    for ref, rec in list(_records.values()):
        code = ref()
        if code is not None:
            live.append((code, rec))
    return live
