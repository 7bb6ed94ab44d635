"""The JIT's process-wide state: settings, the installed hook, and what happens when code gets hot."""
from __future__ import annotations

import atexit
import os
import queue
import threading
import warnings
from collections import Counter
from dataclasses import dataclass, field
from types import CodeType

from ..abi import check_live
from ..abi.cpython311 import thread_state_address
from ..compiler import CompileFailure, compile_code
from ..compiler.cache import CodeCache
from ..enums import CompilationResult
from . import perfmap
from .hook import Hook
from .state import native_state, record

# Calls a code object runs in the interpreter before it is compiled. See README "Threshold" for the
# measurement behind the value.
DEFAULT_THRESHOLD = 100


def default_cache_dir() -> str:
    return os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "pyjion")


@dataclass
class Settings:
    level: int = 1
    threshold: int = DEFAULT_THRESHOLD
    pgc: bool = True
    debug: int = 0
    graph: bool = False
    cache: bool = True  # the on-disk code cache (compiler/cache.py)
    cache_dir: str = field(default_factory=default_cache_dir)
    perf_map: bool = False  # write /tmp/perf-<pid>.map (perfmap.py)


@dataclass
class Statistics:
    """What the JIT has done in this process (``python -m pyjion --stats`` prints it)."""

    compiled: int = 0
    from_cache: int = 0
    failed: Counter = field(default_factory=Counter)  # (CompilationResult name, reason) -> count
    lower_seconds: float = 0.0
    llvm_seconds: float = 0.0


statistics = Statistics()


_TRUE, _FALSE = {"1", "true", "on", "yes"}, {"0", "false", "off", "no"}


def settings_from_environment(environ: dict[str, str]) -> Settings:
    """Settings with PYJION_LEVEL, PYJION_THRESHOLD, PYJION_PGC, PYJION_CACHE, PYJION_CACHE_DIR and
    PYJION_PERF_MAP applied; a value that does not parse is ignored with a RuntimeWarning naming it."""
    found = Settings()

    def bad(name: str, expected: str) -> None:
        warnings.warn(f"pyjion: ignoring {name}={environ[name]!r}: expected {expected}", RuntimeWarning,
                      stacklevel=3)

    for name, attribute, low, high in (("PYJION_LEVEL", "level", 0, 2),
                                       ("PYJION_THRESHOLD", "threshold", 0, 2**31 - 1)):
        if name in environ:
            try:
                value = int(environ[name].strip())
            except ValueError:
                value = None
            if value is None or not low <= value <= high:
                bad(name, f"an integer from {low} to {high}")
            else:
                setattr(found, attribute, value)
    for name, attribute in (("PYJION_PGC", "pgc"), ("PYJION_CACHE", "cache"), ("PYJION_PERF_MAP", "perf_map")):
        if name in environ:
            text = environ[name].strip().lower()
            if text in _TRUE | _FALSE:
                setattr(found, attribute, text in _TRUE)
            else:
                bad(name, "one of 1, 0, true, false, on, off, yes, no")
    if environ.get("PYJION_CACHE_DIR"):
        found.cache_dir = environ["PYJION_CACHE_DIR"]
    return found


settings = settings_from_environment(os.environ)
_code_cache: CodeCache | None = None


def code_cache() -> CodeCache | None:
    """The code cache for the current settings (None when caching is off)."""
    global _code_cache
    if not settings.cache:
        return None
    if _code_cache is None or _code_cache.directory != settings.cache_dir:
        _code_cache = CodeCache(settings.cache_dir)
    return _code_cache
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


class CompilerThread:
    """Runs the compiler on a thread of its own with a large stack.

    The thread that finds a code object hot may be deep in a recursion or have a small stack; the compiler
    (Python frames, each nesting C frames under the hook, then LLVM's C++) must not run on what is left of
    it. The caller waits, with the GIL released, for the result.
    """

    STACK_SIZE = 64 * 1024 * 1024

    def __init__(self, hook: Hook) -> None:
        self._requests: queue.SimpleQueue = queue.SimpleQueue()
        # Held while compiling: fork() waits for it, so no child inherits LLVM's locks mid-compile.
        self.busy = threading.Lock()
        started = threading.Event()
        previous = threading.stack_size(self.STACK_SIZE)
        try:
            threading.Thread(target=self._serve, args=(hook, started), name="pyjion-compiler", daemon=True).start()
        finally:
            threading.stack_size(previous)
        started.wait()

    def _serve(self, hook: Hook, started: threading.Event) -> None:
        hook.exempt_compiler_thread(thread_state_address())
        started.set()
        while True:
            # In a call of its own: a local of this loop would keep the last code object compiled alive.
            self._compile_one(*self._requests.get())

    def _compile_one(self, code: CodeType, level: int, cache: CodeCache | None, graph: bool,
                     done: threading.Event, box: dict) -> None:
        with self.busy:
            try:
                box["result"] = compile_code(code, level, cache, graph)
            except BaseException as exc:  # handed to the waiting thread
                box["error"] = exc
        done.set()

    def compile(self, code: CodeType, level: int, cache: CodeCache | None, graph: bool):
        done = threading.Event()
        box: dict = {}
        self._requests.put((code, level, cache, graph, done, box))
        done.wait()
        if "error" in box:
            raise box["error"]
        return box["result"]


_compiler: CompilerThread | None = None
_compiler_lock = threading.Lock()
# on_hot does nothing while the compiler thread starts (threading's bootstrap frames reach it before the
# thread can exempt itself), and while any thread is between fork()'s before and after hooks: that thread
# holds the compiler's busy lock. A list of the forking threads, as several may fork at once.
_starting = False
_forking: list[int] = []
_in_progress: set[CodeType] = set()  # being compiled for a thread that waits (another may call it meanwhile)


def _compiler_thread() -> CompilerThread:
    global _compiler, _starting
    with _compiler_lock:
        if _compiler is None:
            _starting = True
            try:
                _compiler = CompilerThread(hook())
            finally:
                _starting = False
        return _compiler


def _before_fork() -> None:
    _forking.append(threading.get_ident())
    if _compiler is not None:
        _compiler.busy.acquire()


def _after_fork_in_parent() -> None:
    if _compiler is not None:
        _compiler.busy.release()
    _forking.remove(threading.get_ident())


def _after_fork_in_child() -> None:
    """The child has only the forking thread: no compiler thread, nobody waiting in on_hot."""
    global _compiler, _compiler_lock, _in_progress
    _compiler, _compiler_lock, _in_progress = None, threading.Lock(), set()
    if _hook is not None:
        _hook.forget_threads()
    _forking.clear()


os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent,
                    after_in_child=_after_fork_in_child)


def on_hot(code: CodeType) -> None:
    """Called by the hook when a code object's run count passes the threshold: compile it."""
    if _starting or _forking or code in _in_progress:
        return None
    state = native_state(code, create=True)
    if state.entry or state.failed:
        return None
    rec = record(code, create=True)
    _in_progress.add(code)
    try:
        machine = _compiler_thread().compile(code, settings.level, code_cache(), settings.graph)
    except CompileFailure as failure:
        rec.compile_result, rec.reason = failure.result, failure.reason
        state.failed = 1
    except Exception as exc:  # a compiler bug must cost speed, never correctness
        rec.compile_result = CompilationResult.CompilationException
        rec.reason = f"{type(exc).__name__}: {exc}"
        state.failed = 1
    else:
        rec.compile_result, rec.reason, rec.compiled = CompilationResult.Success, None, machine
        if settings.perf_map:
            perfmap.write(machine.address, machine.size, code)
        state.entry = machine.address
        statistics.compiled += 1
        statistics.from_cache += machine.from_cache
        statistics.lower_seconds += machine.lower_seconds
        statistics.llvm_seconds += machine.llvm_seconds
    finally:
        _in_progress.discard(code)
    if state.failed:
        statistics.failed[(CompilationResult(rec.compile_result).name, rec.reason)] += 1
    return None


def set_threshold(value: int) -> None:
    settings.threshold = value
    if _hook is not None:
        _hook.threshold = value
