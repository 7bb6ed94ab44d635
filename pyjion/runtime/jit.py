"""The JIT's process-wide state: settings, the installed hook, and what happens when code gets hot."""
from __future__ import annotations

import atexit
import collections
import ctypes
import heapq
import itertools
import logging
import math
import os
import threading
import traceback
import warnings
from collections import Counter
from dataclasses import dataclass, field
from types import CodeType
from typing import Callable

from ..abi import check_live
from ..abi.cpython311 import CO_OPTIMIZED, THREAD, thread_state_address
from ..compiler import CompileFailure, compile_code
from ..compiler.cache import CodeCache
from ..enums import CompilationResult
from . import perfmap
from .hook import Hook
from .state import native_state, record

log = logging.getLogger("pyjion")
# Calls a code object runs in the interpreter before it is compiled. See README "Threshold" for the
# measurement behind the value.
DEFAULT_THRESHOLD = 100
# Or, whatever its calls, once it has spent this many cycles per code unit in the interpreter (a function
# with a loop, called a few times): ~30 us per unit at 3 GHz, against ~1 ms per unit to compile it.
HOT_CYCLES_PER_UNIT = 100_000
# Code larger than this (~20,000 instructions, ten seconds of compilation) is compiled in the background
# even when the caller would wait (threshold 0); module-level code that large (eval of a huge literal, a
# generated table: it runs once) is not compiled at all.
WAIT_FOR_CODE_UNITS = 40_000
# With a threshold above 0, enable() installs the hook this many seconds later: 3.11 stops inlining
# Python-to-Python calls while any hook is installed (calls ~25 % slower), and until the first hot code
# is compiled (~0.1-0.2 s of the compiler thread per function) the hook could only count calls. A
# program shorter than this runs in the interpreter as without pyjion. See README "Start-up delay".
DEFAULT_START_DELAY = 0.1
MAX_START_DELAY = 3600.0


def default_cache_dir() -> str:
    return os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "pyjion")


@dataclass
class Settings:
    level: int = 2
    threshold: int = DEFAULT_THRESHOLD
    pgc: bool = True
    debug: int = 0
    graph: bool = False
    cache: bool = True  # the on-disk code cache (compiler/cache.py)
    cache_dir: str = field(default_factory=default_cache_dir)
    perf_map: bool = False  # write /tmp/perf-<pid>.map (perfmap.py)
    # threshold > 0: compile on the compiler thread while the interpreter keeps running the code
    background: bool = True
    start_delay: float = DEFAULT_START_DELAY  # seconds from enable() to the hook, threshold > 0


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
    """Settings with PYJION_LEVEL, PYJION_THRESHOLD, PYJION_PGC, PYJION_CACHE, PYJION_CACHE_DIR,
    PYJION_PERF_MAP, PYJION_BACKGROUND and PYJION_START_DELAY applied; a value that does not parse is
    ignored with a RuntimeWarning naming it."""
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
    for name, attribute in (("PYJION_PGC", "pgc"), ("PYJION_CACHE", "cache"), ("PYJION_PERF_MAP", "perf_map"),
                            ("PYJION_BACKGROUND", "background")):
        if name in environ:
            text = environ[name].strip().lower()
            if text in _TRUE | _FALSE:
                setattr(found, attribute, text in _TRUE)
            else:
                bad(name, "one of 1, 0, true, false, on, off, yes, no")
    if "PYJION_START_DELAY" in environ:
        try:
            delay = float(environ["PYJION_START_DELAY"].strip())
        except ValueError:
            delay = math.nan
        if 0 <= delay <= MAX_START_DELAY:
            found.start_delay = delay
        else:
            bad("PYJION_START_DELAY", f"seconds from 0 to {MAX_START_DELAY:g}")
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
# The thread that installs the hook start_delay seconds after enable(), while it waits.
_late_start: threading.Timer | None = None
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
            _hook = Hook(on_hot, code_cache())
            _hook.threshold = settings.threshold
            _hook.hot_cycles_per_unit = HOT_CYCLES_PER_UNIT
            atexit.register(_hook.remove)
        return _hook


def enable() -> bool:
    """Switch the JIT on: the hook now, or start_delay seconds from now with a threshold above 0.
    False if it was on, or about to be."""
    global _late_start
    installer = hook()
    with _hook_lock:
        if installer.installed or _late_start is not None:
            return False
        if settings.threshold == 0 or settings.start_delay == 0:
            return installer.install()
        _late_start = threading.Timer(settings.start_delay, _start_late)
        _late_start.daemon = True
        _late_start.name = "pyjion-start"
        _late_start.start()
        return True


def _start_late() -> None:
    global _late_start
    with _hook_lock:
        if _late_start is threading.current_thread():  # not cancelled by disable()
            _late_start = None
            _hook.install()


def _cancel_late_start() -> bool:
    """Cancel a start enable() left for later (called with _hook_lock held); True if there was one."""
    global _late_start
    if _late_start is None:
        return False
    _late_start.cancel()
    _late_start = None
    return True


def start_now() -> None:
    """Install the hook at once if enable() left it to a later start (the settings that delayed it changed)."""
    with _hook_lock:
        if _cancel_late_start():
            _hook.install()


def starting_later() -> bool:
    """enable() was called and the hook is not installed yet (start_delay)."""
    return _late_start is not None


def disable() -> bool:
    """Switch the JIT off (a later start too); False if it was off."""
    with _hook_lock:
        return _cancel_late_start() or (_hook is not None and _hook.remove())


class CompilerThread:
    """Runs the compiler on a thread of its own with a large stack.

    The thread that finds a code object hot may be deep in a recursion or have a small stack; the compiler
    (Python frames, each nesting C frames under the hook, then LLVM's C++) must not run on what is left of
    it. LLVM releases the GIL while it optimises and generates code, so the program runs on meanwhile.
    """

    STACK_SIZE = 64 * 1024 * 1024
    RECURSION_HEADROOM = 10_000  # Python frames beyond the program's recursion limit; the stack holds them
    # A thread waits this long for a compilation at most, then runs the call in the interpreter (the code
    # is installed when ready): the compiler thread can be stuck behind a lock the waiting thread holds,
    # for instance in a finalizer that its allocations made the garbage collector run.
    WAIT_SECONDS = 30.0

    def __init__(self, hook: Hook) -> None:
        # Hottest first: a heap of (-priority, arrival, request).
        self._requests: list[tuple[float, int, tuple]] = []
        self._arrivals = itertools.count()
        self._pending = threading.Condition()
        # Held while compiling: fork() waits for it, so no child inherits LLVM's locks mid-compile.
        self.busy = threading.Lock()
        self.stopped = False
        self._overdue: threading.Event | None = None  # set once the compilation last waited for in vain ends
        atexit.register(self.stop)
        started = threading.Event()
        previous = threading.stack_size(self.STACK_SIZE)
        try:
            threading.Thread(target=self._serve, args=(hook, started), name="pyjion-compiler", daemon=True).start()
        finally:
            threading.stack_size(previous)
        started.wait()

    def _serve(self, hook: Hook, started: threading.Event) -> None:
        thread_state = thread_state_address()
        hook.exempt_compiler_thread(thread_state)
        # sys.setrecursionlimit() sets every thread's limit, keeping each thread's headroom above it: a
        # program's low limit (test_support sets 14) must not fail the compiler's own calls.
        ctypes.c_int32.from_address(thread_state + THREAD.recursion_remaining.offset).value += self.RECURSION_HEADROOM
        started.set()
        while True:
            # In a call of its own: a local of this loop would keep the last code object compiled alive.
            self._compile_one(*self._next_request())

    def _next_request(self) -> tuple:
        with self._pending:
            while not self._requests:
                self._pending.wait()
            return heapq.heappop(self._requests)[2]

    def stop(self) -> None:
        """At exit: finish the compilation under way and start no other. C++ exit handlers destroy
        LLVM's global context after Python's atexit handlers; a compilation still running in this
        (daemon) thread then would crash the process."""
        with self.busy:
            self.stopped = True

    def _compile_one(self, code: CodeType, level: int, cache: CodeCache | None, graph: bool, feedback: bool,
                     finish: Callable[[CodeType, object], None]) -> None:
        with self.busy:
            if self.stopped:
                outcome: object = CompileFailure(CompilationResult.NoResult, "the process is exiting")
            else:
                try:
                    outcome = compile_code(code, level, cache, graph, feedback)
                except BaseException as exc:  # handed to finish
                    outcome = exc
        try:
            finish(code, outcome)
        except BaseException:  # the compiler thread must survive anything
            try:
                deferred_messages.append(f"pyjion: installing the compiled code of {code.co_qualname} failed\n"
                                         + traceback.format_exc())
            except BaseException:
                pass

    def submit(self, code: CodeType, level: int, cache: CodeCache | None, graph: bool, feedback: bool,
               finish: Callable[[CodeType, object], None], priority: float = math.inf) -> None:
        """Compile ``code``, then call ``finish(code, machine code or exception)`` on the compiler thread.
        Requests with a higher ``priority`` are compiled first (a thread waiting for one: infinite)."""
        with self._pending:
            heapq.heappush(self._requests, (-priority, next(self._arrivals), (code, level, cache, graph, feedback, finish)))
            self._pending.notify()

    def compile(self, code: CodeType, level: int, cache: CodeCache | None, graph: bool, feedback: bool,
                finish: Callable[[CodeType, object], None]) -> None:
        """Compile ``code`` and wait, with the GIL released, until ``finish`` has run on the compiler thread
        (at most WAIT_SECONDS; not at all while a compilation waited for in vain has not ended).

        An exception raised while waiting (a signal handler's) leaves the compilation to finish on its own:
        ``finish`` still runs, so the code is not left queued for ever."""
        done = threading.Event()

        def finish_and_wake(code: CodeType, outcome: object) -> None:
            try:
                finish(code, outcome)
            finally:
                done.set()

        overdue = self._overdue
        self.submit(code, level, cache, graph, feedback, finish_and_wake)
        if overdue is not None and not overdue.is_set():
            return  # stuck behind a compilation waited for in vain: this call is interpreted too
        if not done.wait(self.WAIT_SECONDS):
            self._overdue = done


_compiler: CompilerThread | None = None
_compiler_lock = threading.Lock()
# on_hot does nothing while the compiler thread starts (threading's bootstrap frames reach it before the
# thread can exempt itself), and while any thread is between fork()'s before and after hooks: that thread
# holds the compiler's busy lock. A list of the forking threads, as several may fork at once.
_starting = False
_forking: list[int] = []
# Being compiled (state.queued set: the hook interprets them meanwhile); a fork child compiles them anew.
_queued: set[CodeType] = set()
# What the compiler thread has to say, logged by the next thread that finds code hot. The compiler thread
# takes no lock a program's thread may hold while it waits for a compilation: logging's is one (a thread
# in logging.getLogger, holding it, called logging's _fixupParents for the first time: with threshold 0
# it waited for the compiler thread, which waited for the lock to log; test_lib2to3 hung).
deferred_messages: collections.deque[str] = collections.deque(maxlen=64)


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
    """The child has only the forking thread: no compiler thread, nobody waiting in on_hot, no thread
    to start the JIT later (the child starts it now)."""
    global _compiler, _compiler_lock, _late_start
    _compiler, _compiler_lock = None, threading.Lock()
    for code in _queued:
        native_state(code).queued = 0
    _queued.clear()
    if _hook is not None:
        _hook.forget_threads()
    _forking.clear()
    if _late_start is not None:
        _late_start = None
        _hook.install()


os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent,
                    after_in_child=_after_fork_in_child)


def on_hot(code: CodeType) -> None:
    """Called by the hook when a code object gets hot: compile it, on the compiler thread.

    At threshold 0 the calling thread waits for the machine code (the first call runs compiled);
    otherwise, with ``settings.background``, it goes on interpreting and the code is installed when ready.
    """
    if _starting or _forking or (_compiler is not None and _compiler.stopped):
        return None
    if deferred_messages or (_code_cache is not None and _code_cache.problems):
        _log_deferred_messages()
    state = native_state(code)
    if state is None or state.entry or state.failed or state.queued:
        return None
    state.queued = 1
    _queued.add(code)
    units = len(code.co_code) // 2
    if units > WAIT_FOR_CODE_UNITS and not code.co_flags & CO_OPTIMIZED:
        _install(code, CompileFailure(CompilationResult.IncompatibleSize,
                                      f"module-level code of {units} code units runs once: not worth compiling"))
        return None
    request = (code, settings.level, code_cache(), settings.graph, settings.pgc)
    try:
        compiler = _compiler_thread()
        if (settings.background and settings.threshold > 0) or units > WAIT_FOR_CODE_UNITS:
            # What compiling saves is proportional to the time spent in the code, what it costs to its size.
            compiler.submit(*request, _install, priority=state.cycles / max(units, 1))
            return None
    except BaseException:  # nothing was submitted: the code may get hot again
        state.queued = 0
        _queued.discard(code)
        raise
    compiler.compile(*request, _install)
    return None


def _log_deferred_messages() -> None:
    while deferred_messages:
        log.error("%s", deferred_messages.popleft())
    while _code_cache is not None and _code_cache.problems:
        log.warning("%s", _code_cache.problems.popleft())


def waiting_to_compile() -> int:
    """Hot code objects not compiled yet (queued for, or being compiled by, the compiler thread)."""
    return len(_queued)


def _install(code: CodeType, outcome: object) -> None:
    """Record what compiling ``code`` gave; on success the hook runs the machine code from the next call."""
    state = native_state(code)  # on_hot's: it queued the code
    rec = record(code, create=True)
    if isinstance(outcome, CompileFailure):
        rec.compile_result, rec.reason = outcome.result, outcome.reason
        state.failed = 1
    elif isinstance(outcome, BaseException):  # a compiler bug must cost speed, never correctness
        rec.compile_result = CompilationResult.CompilationException
        rec.reason = f"{type(outcome).__name__}: {outcome}"
        state.failed = 1
    else:
        rec.compile_result, rec.reason, rec.compiled = CompilationResult.Success, None, outcome
        rec.optimizations = outcome.optimizations
        if settings.perf_map:
            perfmap.write_runtime(hook().functions)
            perfmap.write(outcome.address, outcome.size, code)
        state.entry = outcome.address
        statistics.compiled += 1
        statistics.from_cache += outcome.from_cache
        statistics.lower_seconds += outcome.lower_seconds
        statistics.llvm_seconds += outcome.llvm_seconds
    if state.failed:
        statistics.failed[(CompilationResult(rec.compile_result).name, rec.reason)] += 1
    state.queued = 0
    _queued.discard(code)


def set_threshold(value: int) -> None:
    settings.threshold = value
    if _hook is not None:
        _hook.threshold = value
    if value == 0:  # compile on the first call: from now on
        start_now()


def set_start_delay(value: float) -> None:
    settings.start_delay = value
    if value == 0:
        start_now()
