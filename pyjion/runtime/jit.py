"""The JIT's process-wide state: settings, the installed hook, and what happens when code gets hot."""
from __future__ import annotations

import atexit
import threading
from dataclasses import dataclass
from types import CodeType

from ..abi import check_live
from ..compiler import CompileFailure, compile_code
from ..enums import CompilationResult
from .hook import Hook
from .state import native_state, record

# Calls a code object runs in the interpreter before it is compiled. See README "Threshold" for the
# measurement behind the value.
DEFAULT_THRESHOLD = 100


@dataclass
class Settings:
    level: int = 1
    threshold: int = DEFAULT_THRESHOLD
    pgc: bool = True
    debug: int = 0
    graph: bool = False


settings = Settings()
_hook: Hook | None = None
_hook_lock = threading.Lock()
# Checked once, when pyjion is imported: a mismatch makes enable() refuse, the process carries on.
abi_problems: list[str] = check_live()


def hook() -> Hook:
    global _hook
    with _hook_lock:
        if _hook is None:
            problems = abi_problems
            if problems:
                raise RuntimeError("pyjion cannot run on this interpreter, its memory layout differs from "
                                   "the one pyjion was built for: " + "; ".join(problems))
            _hook = Hook(on_hot)
            _hook.threshold = settings.threshold
            atexit.register(_hook.remove)
        return _hook


def on_hot(code: CodeType) -> None:
    """Called by the hook when a code object's run count passes the threshold: compile it."""
    state = native_state(code, create=True)
    if state.entry or state.failed:
        return None
    rec = record(code, create=True)
    try:
        machine = compile_code(code, settings.level)
    except CompileFailure as failure:
        rec.compile_result, rec.reason = failure.result, failure.reason
        state.failed = 1
    except Exception as exc:  # a compiler bug must cost speed, never correctness
        rec.compile_result = CompilationResult.CompilationException
        rec.reason = f"{type(exc).__name__}: {exc}"
        state.failed = 1
    else:
        rec.compile_result, rec.reason, rec.compiled = CompilationResult.Success, None, machine
        state.entry = machine.address
    return None


def set_threshold(value: int) -> None:
    settings.threshold = value
    if _hook is not None:
        _hook.threshold = value
