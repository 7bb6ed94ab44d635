"""pyjion: a JIT compiler for CPython 3.11 built on LLVM (llvmlite).

``import pyjion; pyjion.enable()`` and Python functions are compiled to machine code once they are hot.
"""
import platform
import sys

if sys.implementation.name != "cpython" or sys.version_info[:2] != (3, 11):
    raise ImportError(f"pyjion supports CPython 3.11 only; this is {sys.implementation.name} "
                      f"{sys.version_info.major}.{sys.version_info.minor}")
if platform.machine() not in ("x86_64", "AMD64") or sys.maxsize != 2**63 - 1 or sys.platform != "linux":
    raise ImportError(f"pyjion supports x86-64 Linux only; this is {sys.platform} {platform.machine()}")

from .api import (JitInfo, PyjionUnboxingError, config, disable, enable, graph, il, info, native,  # noqa: E402
                  offsets, symbols)
from .enums import CompilationResult, CompileMode, OptimizationFlags, PgcStatus  # noqa: E402

__version__ = "0.1.0"
__all__ = ["enable", "disable", "config", "info", "il", "native", "offsets", "symbols", "graph", "JitInfo", "PyjionUnboxingError", "CompilationResult",
           "CompileMode", "OptimizationFlags", "PgcStatus"]
