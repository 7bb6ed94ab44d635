"""Pyjion 2.0's public functions: enable, disable, config, info, il."""
from __future__ import annotations

import types
from dataclasses import dataclass

from .enums import CompilationResult, CompileMode, OptimizationFlags, PgcStatus
from .runtime import jit
from .runtime.state import native_state, record

MAX_THRESHOLD = 2**31 - 1


class PyjionUnboxingError(ValueError):
    """Kept for compatibility with Pyjion 2.0. pyjion never raises it: a failed guard deoptimises."""


@dataclass(frozen=True)
class JitInfo:
    failed: bool
    compile_result: CompilationResult
    compiled: bool
    optimizations: OptimizationFlags
    pgc: PgcStatus
    run_count: int
    tracing: bool
    profiling: bool
    reason: str | None = None  # why it did not compile (pyjion addition)


def enable() -> bool:
    """Install the JIT for this interpreter; True if it was off."""
    return jit.hook().install()


def disable() -> bool:
    """Restore CPython's own evaluator; True if the JIT was on."""
    if jit._hook is None:
        return False
    return jit._hook.remove()


def _require_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"config() argument '{name}' must be a bool, not {type(value).__name__}")
    return value


def _require_int(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"config() argument '{name}' must be an int, not {type(value).__name__}")
    if not low <= value <= high:
        raise ValueError(f"config() argument '{name}' must be between {low} and {high}, got {value}")
    return value


def config(*, pgc: bool | None = None, level: int | None = None, debug: bool | int | None = None,
           graph: bool | None = None, threshold: int | None = None) -> dict:
    """Set any of the given options (all validated before any is applied); return all of them."""
    s = jit.settings
    updates = {}
    if pgc is not None:
        updates["pgc"] = _require_bool("pgc", pgc)
    if level is not None:
        updates["level"] = _require_int("level", level, 0, 2)
    if debug is not None:
        updates["debug"] = int(debug) if isinstance(debug, bool) else _require_int("debug", debug, 0, 2)
    if graph is not None:
        updates["graph"] = _require_bool("graph", graph)
    if threshold is not None:
        updates["threshold"] = _require_int("threshold", threshold, 0, MAX_THRESHOLD)
    for key, value in updates.items():
        if key == "threshold":
            jit.set_threshold(value)
        else:
            setattr(s, key, value)
    return {"pgc": s.pgc, "level": s.level, "debug": CompileMode(s.debug), "graph": s.graph,
            "threshold": s.threshold}


def _code_of(f: object) -> types.CodeType:
    if isinstance(f, types.CodeType):
        return f
    code = getattr(f, "__code__", None)
    if isinstance(code, types.CodeType) and isinstance(f, (types.FunctionType, types.MethodType)):
        return code
    raise TypeError(f"expected a function or code object, got {type(f).__name__}")


def info(f: object) -> JitInfo:
    """What the JIT did with a function or code object."""
    code = _code_of(f)
    state = native_state(code) if jit._hook is not None else None
    rec = record(code)
    compiled = bool(state and state.entry)
    return JitInfo(
        failed=bool(state and state.failed),
        compile_result=CompilationResult(rec.compile_result) if rec else CompilationResult.NoResult,
        compiled=compiled,
        optimizations=OptimizationFlags(rec.optimizations if rec else 0),
        pgc=PgcStatus.Uncompiled,
        run_count=state.run_count if state else 0,
        tracing=False,
        profiling=False,
        reason=rec.reason if rec else None,
    )


def il(f: object) -> str | None:
    """The LLVM IR of the compiled function as text (Pyjion returned CIL bytes), or None."""
    rec = record(_code_of(f))
    return rec.compiled.ir if rec and rec.compiled else None
