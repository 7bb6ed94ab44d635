"""Pyjion 2.0's public functions: enable, disable, config, info, and what a compiled function looks like."""
from __future__ import annotations

import ctypes
import dis
import os
import types
from dataclasses import dataclass

import llvmlite.binding as llvm

from .enums import CompilationResult, CompileMode, OptimizationFlags, PgcStatus
from .compiler.codegen import MachineCode
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
    """Switch the JIT on for this interpreter; True if it was off. With a threshold above 0 its hook is
    installed ``start_delay`` seconds later (config)."""
    return jit.enable()


def disable() -> bool:
    """Restore CPython's own evaluator; True if the JIT was on."""
    return jit.disable()


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
           graph: bool | None = None, threshold: int | None = None, cache: bool | None = None,
           cache_dir: str | os.PathLike | None = None, perf_map: bool | None = None,
           background: bool | None = None, start_delay: float | None = None) -> dict:
    """Set any of the given options (all validated before any is applied); return all of them.

    ``cache``/``cache_dir``: the on-disk code cache (on by default, in ``$XDG_CACHE_HOME/pyjion``).
    ``perf_map``: list each function compiled from now on in ``/tmp/perf-<pid>.map`` for Linux perf.
    ``background``: with a threshold above 0, compile hot code on the compiler thread while the
    interpreter keeps running it (on by default); off, the call that finds it hot waits for it.
    ``start_delay``: with a threshold above 0, seconds from enable() to the hook (default 0.1); until
    then the program runs in CPython's interpreter as without pyjion.
    """
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
    if cache is not None:
        updates["cache"] = _require_bool("cache", cache)
    if perf_map is not None:
        updates["perf_map"] = _require_bool("perf_map", perf_map)
    if background is not None:
        updates["background"] = _require_bool("background", background)
    if start_delay is not None:
        if isinstance(start_delay, bool) or not isinstance(start_delay, (int, float)):
            raise TypeError(f"config() argument 'start_delay' must be a number of seconds, not "
                            f"{type(start_delay).__name__}")
        if not 0 <= start_delay <= jit.MAX_START_DELAY:
            raise ValueError(f"config() argument 'start_delay' must be between 0 and {jit.MAX_START_DELAY:g} "
                             f"seconds, got {start_delay}")
        updates["start_delay"] = float(start_delay)
    if cache_dir is not None:
        if not isinstance(cache_dir, (str, os.PathLike)) or not os.fspath(cache_dir):
            raise TypeError(f"config() argument 'cache_dir' must be a non-empty path, not {cache_dir!r}")
        updates["cache_dir"] = os.fspath(cache_dir)
    for key, value in updates.items():
        if key == "threshold":
            jit.set_threshold(value)
        elif key == "start_delay":
            jit.set_start_delay(value)
        else:
            setattr(s, key, value)
    return {"pgc": s.pgc, "level": s.level, "debug": CompileMode(s.debug), "graph": s.graph,
            "threshold": s.threshold, "cache": s.cache, "cache_dir": s.cache_dir, "perf_map": s.perf_map,
            "background": s.background, "start_delay": s.start_delay}


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
        pgc=PgcStatus.Optimized if compiled and rec and getattr(rec.compiled, "profile_guided", False)
        else PgcStatus.Uncompiled,
        run_count=state.run_count if state else 0,
        tracing=False,
        profiling=False,
        reason=rec.reason if rec else None,
    )


def _machine_code(f: object) -> MachineCode | None:
    rec = record(_code_of(f))
    return rec.compiled if rec else None


def il(f: object) -> str | None:
    """The LLVM IR of the compiled function as text (Pyjion returned CIL bytes), or None."""
    machine = _machine_code(f)
    return machine.ir if machine else None


def native(f: object) -> tuple[bytes, int, int] | None:
    """The compiled function's machine code: (code bytes, length, address), or None."""
    machine = _machine_code(f)
    if machine is None:
        return None
    return ctypes.string_at(machine.address, machine.size), machine.size, machine.address


def offsets(f: object) -> tuple[tuple[int, int, str], ...] | None:
    """(bytecode offset, offset into the machine code, opcode name) for each instruction, in
    machine-code order; None when not compiled."""
    machine = _machine_code(f)
    if machine is None:
        return None
    code = _code_of(f)
    names = {ins.offset: ins.opname for ins in dis.get_instructions(code)}
    return tuple((bytecode, native_offset, names.get(bytecode, "?")) for bytecode, native_offset in machine.offsets)


def symbols(f: object) -> dict[int, str] | None:
    """{address: name} of the functions and data the compiled code refers to (C API, pyjion's runtime)."""
    machine = _machine_code(f)
    if machine is None:
        return None
    return {address: name for name in machine.external_symbols
            if (address := llvm.address_of_symbol(name))}


def graph(f: object) -> str | None:
    """Graphviz DOT of the compiled function's instruction graph with the value kinds on its stack.

    Recorded only for code compiled while ``config(graph=True)``: ValueError otherwise.
    """
    machine = _machine_code(f)
    if machine is None:
        return None
    if machine.graph is None:
        raise ValueError(f"no graph for {_code_of(f).co_qualname}: compile it with pyjion.config(graph=True)")
    return machine.graph
