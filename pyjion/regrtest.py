"""Run CPython 3.11's own regression suite (the installed ``test`` package) plainly and under the JIT.

    python -m pyjion.regrtest                      # fast tier (FAST_TIER below, CI), plain + JIT
    python -m pyjion.regrtest --tier extended      # + the library modules dropped from CI for time
    python -m pyjion.regrtest --tier full          # every module libregrtest would run
    python -m pyjion.regrtest --leaks test_json    # repeat-and-measure leak check (like regrtest -R 3:3)
    python -m pyjion.regrtest test_grammar test_re --jobs 2 --json out.json
    python -m pyjion.regrtest --tier full --json full.json --resume   # continue a run cut short

Every module runs in its own fresh interpreter once per mode. The child is a tiny ``-c`` bootstrap
that loads this file *by path* (so a plain child never imports the ``pyjion`` package), imports the
harness (unittest, doctest, test.support, test.libregrtest), then in ``jit`` mode does
``pyjion.config(threshold=0, level=1); pyjion.enable()`` BEFORE the test module is imported, so the
module's import, its tests and every library and harness function they call are compiled on first call
(level 1: the same IR as the default level 2 with a cheaper LLVM pipeline, as everything is compiled)
(``--enable-at start`` switches the JIT on before anything is imported instead: ~30 s more per
module). The module then runs through libregrtest's own single-test machinery
(``test.libregrtest.single.run_single_test``: the same environment checks, resource handling,
``load_tests`` and package support as ``python -m test``) and the child writes its result as JSON.
In ``jit`` mode the child also reports which code objects the JIT was asked to compile, which it
compiled, and why the others were not.

A module *regresses* when it passes plainly (or only changes the environment) but fails, crashes or
times out under the JIT, or is skipped plainly and fails under the JIT. The exit status is 1 iff a
module regresses (or, with ``--leaks``, leaks under the JIT only) and is not excused by
``regrtest_exclusions.txt`` next to this file: listed as a whole, or failing only in tests listed there
one by one (``test_int::IntStrDigitLimitsTests.test_x``; the rest of the module must pass).
"""
from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Callable

HERE = os.path.dirname(os.path.abspath(__file__))
EXCLUSIONS_FILE = os.path.join(HERE, "regrtest_exclusions.txt")
DEFAULT_TIMEOUT = 600.0
DEFAULT_LEAK_RUNS = (3, 3)  # warmups, measured runs: regrtest -R 3:3

# The modules closest to the compiler: syntax and control flow, exceptions, generators and coroutines,
# frames and tracing, calls and unpacking, threads, and pure-Python-heavy library modules. Run in CI
# (tests/test_regrtest.py), so sized to ~11 minutes on 2 cores: with the JIT at threshold 0 each module
# costs 15-30 s of compilation before its first test.
FAST_TIER = (
    "test_grammar", "test_opcodes", "test_exceptions", "test_raise", "test_except_star",
    "test_exception_group", "test_generators", "test_yield_from", "test_coroutines", "test_asyncgen",
    "test_with", "test_contextlib", "test_scope", "test_class", "test_super", "test_listcomps",
    "test_setcomps", "test_dictcomps", "test_patma", "test_sys_settrace", "test_frame", "test_traceback",
    "test_unpack", "test_unpack_ex", "test_keywordonlyarg", "test_positional_only_arg", "test_extcall",
    "test_named_expressions", "test_decorators", "test_functools", "test_itertools", "test_json",
    "test_re", "test_fractions", "test_statistics", "test_math", "test_format", "test_threading",
)
# Dropped from the CI tier for time (JIT-mode seconds on 2 busy cores, 2026-11-24); --tier extended.
EXTENDED_EXTRA = (
    "test_genexps",           # 26 s, one doctest, covered by test_generators
    "test_contextlib_async",  # 48 s
    "test_enum",              # 71 s
    "test_pickle",            # 106 s
    "test_inspect",           # 112 s
    "test_dataclasses",       # 114 s
    "test_fstring",           # 369 s
)
EXTENDED_TIER = FAST_TIER + EXTENDED_EXTRA

# Modules known to take longest under the JIT, started first so that parallel runs finish together.
SLOW_FIRST = ("test_fstring", "test_dataclasses", "test_inspect.test_inspect", "test_pickle",
              "test_threading", "test_enum", "test_statistics", "test_functools", "test_coroutines",
              "test_re", "test_json", "test_exceptions", "test_traceback", "test_contextlib_async",
              "test_itertools", "test_sys_settrace", "test_asyncgen", "test_math", "test_generators")

PASS, ENV, SKIP, FAIL, CRASH, TIMEOUT, MISSING = "pass", "env", "skip", "FAIL", "CRASH", "TIMEOUT", "-"
OK_STATUSES = (PASS, ENV)
BAD_STATUSES = (FAIL, CRASH, TIMEOUT)

_STATE_TO_STATUS = {
    "PASSED": PASS, "ENV_CHANGED": ENV, "REFLEAK": PASS,  # leaks are reported separately
    "SKIPPED": SKIP, "RESOURCE_DENIED": SKIP, "DID_NOT_RUN": SKIP,
    "FAILED": FAIL, "UNCAUGHT_EXC": FAIL, "INTERRUPTED": CRASH, "TIMEOUT": TIMEOUT,
}

# The child bootstrap. argv: mode (plain, jit, or jit-start: JIT on before anything else is imported),
# path of this file, child options.
BOOTSTRAP = """\
import sys
if sys.argv[1] == 'jit-start':
    import pyjion
    pyjion.config(threshold=0, level=1)
    pyjion.enable()
import importlib.util
spec = importlib.util.spec_from_file_location('_pyjion_regrtest_child', sys.argv[2])
child = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = child
spec.loader.exec_module(child)
child.child_main(sys.argv[1], sys.argv[3:])
"""


# ---------------------------------------------------------------------------------------------------
# Exclusions and module lists

def load_exclusions(path: str = EXCLUSIONS_FILE) -> dict[str, str]:
    """``name  # reason`` per line; blank lines and lines starting with ``#`` are ignored. ``name`` is a
    test module (``test_dis``) or one test of it (``test_int::IntStrDigitLimitsTests.test_x``)."""
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as fp:
        return parse_exclusions(fp.read(), path)


def parse_exclusions(text: str, source: str = "<exclusions>") -> dict[str, str]:
    out: dict[str, str] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        name, sep, reason = stripped.partition("#")
        name, reason = name.strip(), reason.strip()
        if not sep or not reason:
            raise ValueError(f"{source}:{lineno}: exclusion {name!r} has no '# reason'")
        module, _, test = name.partition("::")
        if (not module.startswith("test_") or any(c.isspace() for c in name)
                or ("::" in name and not re.fullmatch(r"\w+(\.\w+)+", test))):
            raise ValueError(f"{source}:{lineno}: bad test module or test name {name!r}")
        if name in out:
            raise ValueError(f"{source}:{lineno}: {name} listed twice")
        out[name] = reason
    return out


def excluded_modules(exclusions: dict[str, str]) -> set[str]:
    """The modules the exclusions touch, wholly or by one of their tests: the number the issue bounds."""
    return {name.partition("::")[0] for name in exclusions}


def failed_test_id(name: str) -> str:
    """``test.test_int.C.test_x`` from a failure's name, ``test_x (test.test_int.C.test_x) [(subtest)]``."""
    found = re.search(r"\((test\.[\w.]+)\)", name)
    return found.group(1) if found else name


def source_fingerprint() -> str:
    """git HEAD of the pyjion checkout plus a hash of pyjion/**/*.py as they are now (may be dirty)."""
    import hashlib
    digest = hashlib.sha1()
    for root, dirs, files in os.walk(HERE):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(root, name)
                digest.update(os.path.relpath(path, HERE).encode())
                with open(path, "rb") as fp:
                    digest.update(fp.read())
    try:
        head = subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        head = ""
    return f"{head or 'no-git'} pyjion-src:{digest.hexdigest()[:12]}"


def full_tier() -> list[str]:
    """Every test module regrtest would run here (its own discovery, packages split the same way)."""
    from test.libregrtest.findtests import findtests
    return [name.removeprefix("test.") for name in findtests()]


def expand(names) -> list[str]:
    """Split test packages the way regrtest does (test_inspect -> test_inspect.test_inspect)."""
    from test.libregrtest.findtests import split_test_packages
    out = []
    for name in names:
        name = name.removesuffix(".py")
        out.append(name.removeprefix("test."))
    return split_test_packages(out)


# ---------------------------------------------------------------------------------------------------
# Child side (runs inside the bootstrap, in a fresh interpreter)

class JitStats:
    """Counts the code objects the JIT was asked to compile, cumulatively.

    ``pyjion.runtime.state.records()`` only lists live code objects, so it is polled (at most once a
    second, from the end of each test) and every record is counted once, identified by a weak
    reference; a final poll happens when the module is done.
    """

    def __init__(self) -> None:
        import weakref
        from pyjion.enums import CompilationResult
        from pyjion.runtime.state import records
        self._weakref, self._names, self._records = weakref.ref, CompilationResult, records
        self.seen: dict[int, object] = {}
        self.by_result: Counter = Counter()
        self.reasons: Counter = Counter()
        self.samples: dict[tuple[str, str], str] = {}
        self.last = 0.0

    def _name(self, value: int) -> str:
        try:
            return self._names(value).name
        except ValueError:
            return str(value)

    def poll(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < 1.0:
            return
        self.last = now
        for code, rec in self._records():
            result = rec.compile_result
            if not result:  # NoResult: being compiled for another thread right now
                continue
            ref = self.seen.get(id(rec))
            if ref is not None and ref() is rec:
                continue
            self.seen[id(rec)] = self._weakref(rec)
            name = self._name(result)
            self.by_result[name] += 1
            if name != "Success":
                reason = normalize_reason(rec.reason)
                key = (name, reason)
                self.reasons[key] += 1
                self.samples.setdefault(key, f"{code.co_filename}:{code.co_firstlineno} {code.co_qualname}")

    def as_dict(self) -> dict:
        self.poll(force=True)
        return {
            "considered": sum(self.by_result.values()),
            "compiled": self.by_result.get("Success", 0),
            "by_result": dict(self.by_result.most_common()),
            "reasons": [[name, reason, count, self.samples[(name, reason)]]
                        for (name, reason), count in self.reasons.most_common(25)],
        }


def normalize_reason(reason) -> str:
    """A compile-failure reason without the offsets and line numbers, so that like groups with like."""
    text = " ".join(str(reason or "").split())
    text = re.sub(r"\s*\(line \d+\)", "", text)
    text = re.sub(r"\s*at offset \d+", "", text)
    return text[:160]


_leak_deltas: dict[str, list[int]] = {}


def _runtest_blockleak(test_name, test_func, hunt_refleak, quiet):
    """regrtest's ``runtest_refleak`` for release builds: memory blocks and file descriptors only.

    Same warm-up, same cleanups (``dash_R_cleanup``) and same verdict (every measured delta >= 1) as
    ``test/libregrtest/refleak.py``; release builds have no ``sys.gettotalrefcount``.
    """
    import collections.abc
    import copyreg
    import gc
    import warnings
    from inspect import isabstract
    from test import support
    from test.libregrtest import refleak
    from test.support import os_helper

    refleak.warm_caches()
    fs = warnings.filters[:]
    ps = copyreg.dispatch_table.copy()
    pic = sys.path_importer_cache.copy()
    try:
        import zipimport
        zdc = zipimport._zip_directory_cache.copy()
    except ImportError:
        zdc = None
    abcs = {}
    for abc in [getattr(collections.abc, a) for a in collections.abc.__all__]:
        if not isabstract(abc):
            continue
        for obj in abc.__subclasses__() + [abc]:
            abcs[obj] = refleak._get_dump(obj)[0]
    int_pool = {value: value for value in range(-1000, 1000)}

    def pooled(value):
        return int_pool.setdefault(value, value)

    repcount = hunt_refleak.warmups + hunt_refleak.runs
    rep_range = list(range(repcount))
    alloc_deltas = [0] * repcount
    fd_deltas = [0] * repcount
    getallocatedblocks, fd_count = sys.getallocatedblocks, os_helper.fd_count
    alloc_before = fd_before = 0
    results = None
    refleak.dash_R_cleanup(fs, ps, pic, zdc, abcs)
    support.gc_collect()
    for i in rep_range:
        results = test_func()
        refleak.dash_R_cleanup(fs, ps, pic, zdc, abcs)
        support.gc_collect()
        alloc_after, fd_after = getallocatedblocks(), fd_count()
        print(".", end="", file=sys.stderr, flush=True)
        alloc_deltas[i] = pooled(alloc_after - alloc_before)
        fd_deltas[i] = pooled(fd_after - fd_before)
        alloc_before, fd_before = alloc_after, fd_after
    print(file=sys.stderr)
    gc.collect()
    _leak_deltas["blocks"] = list(alloc_deltas)
    _leak_deltas["fds"] = list(fd_deltas)
    measured_blocks = alloc_deltas[hunt_refleak.warmups:]
    measured_fds = fd_deltas[hunt_refleak.warmups:]
    return (leaked(measured_blocks) or any(measured_fds)), results


def leaked(deltas) -> bool:
    """regrtest's verdict for references and memory blocks: every measured delta is positive."""
    deltas = list(deltas)
    return bool(deltas) and all(d >= 1 for d in deltas)


def parse_resources(specs) -> tuple[str, ...]:
    """regrtest's ``-u`` syntax: ``all,-network``, ``none``, ``cpu,subprocess``."""
    from test.libregrtest.utils import ALL_RESOURCES, RESOURCE_NAMES
    use: list[str] = []
    for spec in specs or ():
        for r in spec.split(","):
            r = r.strip().lower()
            if not r:
                continue
            if r == "all":
                use[:] = ALL_RESOURCES
                continue
            if r == "none":
                use.clear()
                continue
            remove = r.startswith("-")
            r = r.lstrip("-")
            if r not in RESOURCE_NAMES:
                raise ValueError(f"invalid resource: {r}")
            if remove:
                if r in use:
                    use.remove(r)
            elif r not in use:
                use.append(r)
    return tuple(use)


def child_main(mode: str, argv: list[str]) -> None:
    ap = argparse.ArgumentParser(prog="pyjion.regrtest child")
    ap.add_argument("--module", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--timeout", type=float, default=None)
    ap.add_argument("--leaks", default=None)
    ap.add_argument("--use", action="append", default=[])
    ap.add_argument("--match", action="append", default=[])
    ap.add_argument("--verbose", type=int, default=0)
    opts = ap.parse_args(argv)

    start = time.perf_counter()
    # The harness: imported before the JIT is switched on (mode "jit"), because compiling the module
    # bodies of unittest, doctest, test.support and libregrtest at threshold 0 costs ~30 s per child
    # and tests nothing the test modules' own imports do not. Functions of the harness called while
    # the tests run are compiled like everything else.
    import doctest  # noqa: F401  (many modules' load_tests use it)
    import unittest
    from test import support  # noqa: F401
    from test.libregrtest import refleak, save_env, testresult  # noqa: F401
    from test.libregrtest import runtests as rt
    from test.libregrtest import setup, single, utils

    stats = None
    if mode in ("jit", "jit-start"):
        if mode == "jit":
            import pyjion
            pyjion.config(threshold=0, level=1)
            pyjion.enable()
        stats = JitStats()
        if not opts.leaks:  # polling would itself allocate while leaks are measured
            original_stop = unittest.TestResult.stopTest

            def stopTest(self, test, _original=original_stop, _poll=stats.poll):
                _original(self, test)
                _poll()
            unittest.TestResult.stopTest = stopTest

    hunt = None
    if opts.leaks:
        warmups, runs = (int(x) for x in opts.leaks.split(":"))
        hunt = rt.HuntRefleak(warmups, runs, os.path.abspath("refleak.txt"))
        refleak.runtest_refleak = _runtest_blockleak

    setup.setup_test_dir(None)
    setup.setup_process()
    runtests = rt.RunTests(
        tests=(opts.module,), fail_fast=False, fail_env_changed=False,
        match_tests=tuple((pattern, True) for pattern in opts.match) or None, match_tests_dict=None,
        rerun=False, forever=False, pgo=False, pgo_extended=False, output_on_failure=False,
        timeout=opts.timeout, verbose=opts.verbose, quiet=False, hunt_refleak=hunt, test_dir=None,
        use_junit=False, memory_limit=None, gc_threshold=None,
        use_resources=parse_resources(opts.use), python_cmd=None, randomize=False, random_seed=0)
    result = single.run_single_test(opts.module, runtests)

    def trimmed(items):
        return [[str(name), str(text)[-3000:]] for name, text in (items or [])]
    payload = {
        "module": opts.module, "mode": "jit" if stats is not None else "plain", "state": result.state,
        "duration": result.duration, "total_duration": time.perf_counter() - start,
        "tests_run": result.stats.tests_run if result.stats else None,
        "failures": len(result.failures or ()) if result.failures is not None
        else (result.stats.failures if result.stats else None),
        "errors": len(result.errors or ()),
        "skipped": result.stats.skipped if result.stats else None,
        "failed_tests": trimmed(result.errors) + trimmed(result.failures),
        "jit": stats.as_dict() if stats is not None else None,
        "leaks": dict(_leak_deltas) if opts.leaks else None,
    }
    for name, text in payload["failed_tests"]:  # into the log: non-verbose regrtest prints no tracebacks
        print(f"{'=' * 70}\nFAILED: {name}\n{'-' * 70}\n{text}", flush=True)
    tmp = opts.out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fp:
        json.dump(payload, fp)
    os.replace(tmp, opts.out)
    sys.stdout.flush()
    sys.stderr.flush()
    with utils.exit_timeout():
        sys.exit(0)


# ---------------------------------------------------------------------------------------------------
# Parent side

@dataclass
class Run:
    module: str
    mode: str
    status: str = MISSING
    state: str | None = None
    returncode: int | None = None
    duration: float = 0.0
    tests_run: int | None = None
    failures: int | None = None
    errors: int | None = None
    skipped: int | None = None
    failed_tests: list = field(default_factory=list)
    jit: dict | None = None
    leaks: dict | None = None
    detail: str = ""
    log: str | None = None

    def counts(self) -> str:
        if self.tests_run is None:
            return ""
        return f"{self.tests_run}/{self.failures or 0}/{self.errors or 0}/{self.skipped or 0}"

    def compiled_pct(self) -> str:
        if not self.jit or not self.jit.get("considered"):
            return ""
        return f"{100.0 * self.jit['compiled'] / self.jit['considered']:.0f}%"


def classify(payload: dict | None, returncode: int | None, timed_out: bool, log_tail: str) -> tuple[str, str]:
    """(status, detail) of one child run from its JSON result (if any), exit status and log."""
    if timed_out:
        return TIMEOUT, "killed by the runner's timeout"
    if payload is None:
        if re.search(r"^Timeout \(\d+:\d\d:\d\d\)!$", log_tail, re.MULTILINE):
            return TIMEOUT, "faulthandler timeout (see log)"
        if returncode is not None and returncode < 0:
            try:
                name = signal.Signals(-returncode).name
            except ValueError:
                name = f"signal {-returncode}"
            return CRASH, f"killed by {name}"
        return CRASH, f"exit status {returncode} without a result"
    status = _STATE_TO_STATUS.get(payload.get("state"), FAIL)
    detail = str(payload.get("state"))
    if returncode:
        # The tests ran but the interpreter did not exit cleanly (e.g. a crash at shutdown).
        how = (f"killed by {signal.Signals(-returncode).name}" if returncode < 0 and
               -returncode in signal.Signals._value2member_map_ else f"exit status {returncode}")
        return CRASH, f"{detail}, then {how} at exit"
    return status, detail


def crash_excerpt(log: str, frames: int = 8) -> str:
    """The fatal error / timeout line and the top frames of the thread that crashed or hung."""
    lines = log.splitlines()
    out = []
    for i, line in enumerate(lines):
        if line.startswith(("Fatal Python error", "Timeout (")):
            out.append(line)
        elif line.startswith("Current thread") or (line.startswith("Thread 0x") and not any(
                ln.startswith("Current thread") for ln in lines)):
            out += lines[i:i + 1 + frames]
            break
    return "\n".join(out) if out else "\n".join(lines[-frames:])


def _tail(path: str, size: int = 6000) -> str:
    try:
        with open(path, "rb") as fp:
            fp.seek(0, os.SEEK_END)
            fp.seek(max(0, fp.tell() - size))
            return fp.read().decode("utf-8", "replace")
    except OSError:
        return ""


KEEP_PYTHON_ENV = ("PYTHONPATH", "PYTHONHASHSEED")
_stop = threading.Event()  # set on Ctrl-C or when --max-time has passed: start no more children
_running: dict[int, subprocess.Popen] = {}


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_child(module: str, mode: str, opts) -> Run | None:
    """Run one module in one mode in a fresh interpreter; None if the run was cancelled."""
    if _stop.is_set():
        return None
    jobdir = tempfile.mkdtemp(prefix=f"pyjion-regrtest-{mode}-{module}-")
    out = os.path.join(jobdir, "result.json")
    log = os.path.join(opts.log_dir, f"{module}.{mode}.log")
    child_timeout = opts.timeout - min(30.0, opts.timeout * 0.1) if opts.timeout else None
    child_mode = "jit-start" if mode == "jit" and opts.enable_at == "start" else mode
    cmd = [opts.python, "-X", "faulthandler", "-u", "-c", BOOTSTRAP, child_mode, os.path.abspath(__file__),
           "--module", module, "--out", out]
    if child_timeout:
        cmd += ["--timeout", str(child_timeout)]
    if opts.leaks:
        cmd += ["--leaks", opts.leaks]
    for spec in opts.use:
        cmd += ["--use", spec]
    for pattern in opts.match:
        cmd += ["--match", pattern]
    if opts.verbose:
        cmd += ["--verbose", str(opts.verbose)]
    # No PYTHON* variables but these two: PYTHONUNBUFFERED, PYTHONDONTWRITEBYTECODE and the like make
    # tests that check interpreter defaults fail in both modes (test_cmd_line, test_compileall...).
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON") or k in KEEP_PYTHON_ENV}
    env.update(TMPDIR=jobdir, TEMP=jobdir, TMP=jobdir)
    if opts.cache_dir == "off":
        env["PYJION_CACHE"] = "0"
    else:
        env.update(PYJION_CACHE="1", PYJION_CACHE_DIR=opts.cache_dir)
    start = time.perf_counter()
    timed_out = False
    with open(log, "w", encoding="utf-8", errors="replace") as fp:
        fp.write(f"# {mode}: {module}\n")
        fp.flush()
        proc = subprocess.Popen(cmd, stdout=fp, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd=jobdir, env=env, start_new_session=True)
        _running[proc.pid] = proc
        try:
            while True:
                try:
                    returncode = proc.wait(timeout=1.0)
                    break
                except subprocess.TimeoutExpired:
                    if _stop.is_set() and opts.interrupted:
                        _kill(proc)
                        proc.wait()
                        shutil.rmtree(jobdir, ignore_errors=True)
                        return None
                    if opts.timeout and time.perf_counter() - start > opts.timeout:
                        timed_out = True
                        _kill(proc)
                        returncode = proc.wait()
                        break
        finally:
            _running.pop(proc.pid, None)
            _kill(proc)  # whatever it forked and left behind (its own session, so its own group)
    payload = None
    if os.path.exists(out):
        try:
            with open(out, encoding="utf-8") as fp:
                payload = json.load(fp)
        except (OSError, ValueError):
            payload = None
    shutil.rmtree(jobdir, ignore_errors=True)
    status, detail = classify(payload, returncode, timed_out, _tail(log, 4_000_000))
    run = Run(module, mode, status=status, returncode=returncode, log=log, detail=detail,
              duration=time.perf_counter() - start)
    if payload:
        run.state = payload.get("state")
        for key in ("tests_run", "failures", "errors", "skipped", "failed_tests", "jit", "leaks"):
            setattr(run, key, payload.get(key))
    if not payload:
        run.failed_tests = [["<process>", crash_excerpt(_tail(log, 4_000_000))]]
    return run


def regressed(plain: Run, jit: Run) -> bool:
    if jit.status == MISSING:  # not run (--mode plain, interrupted)
        return False
    if plain.status in OK_STATUSES:
        return jit.status not in OK_STATUSES
    if plain.status == SKIP:
        return jit.status in BAD_STATUSES
    return False


def excluded_tests(module: str, exclusions: dict[str, str]) -> dict[str, str]:
    """The single-test entries of ``module``, by the test id its failures carry (``test.module.C.test``)."""
    tests = {}
    for name in exclusions:
        entry_module, _, test = name.partition("::")
        if test and entry_module == module:
            tests[f"test.{module}.{test}"] = name
    return tests


def excused(module: str, plain: Run, jit: Run, exclusions: dict[str, str]) -> bool:
    """A regression the exclusions account for: the whole module is listed, or the JIT run failed
    (no crash, no timeout) only in tests listed one by one."""
    if module in exclusions:
        return True
    listed = excluded_tests(module, exclusions)
    return (bool(listed) and jit.status == FAIL and bool(jit.failed_tests)
            and all(failed_test_id(name) in listed for name in jit_only_failures(plain, jit)))


def jit_only_failures(plain: Run, jit: Run) -> list[str]:
    """Test ids that failed under the JIT but not plainly."""
    before = {name for name, _ in plain.failed_tests or ()}
    return [name for name, _ in jit.failed_tests or () if name not in before]


def leak_verdict(run: Run, warmups: int) -> bool | None:
    if not run.leaks or "blocks" not in run.leaks:
        return None
    return leaked(run.leaks["blocks"][warmups:]) or any(run.leaks.get("fds", [])[warmups:])


@dataclass
class Report:
    modules: list[str]
    runs: dict[tuple[str, str], Run]
    exclusions: dict[str, str]
    leak_warmups: int | None = None
    wall: float = 0.0
    source: str = ""
    not_run: list = field(default_factory=list)
    code_cache: str = "run"  # "run": one code cache shared by the run's processes; "off": none

    def pair(self, module: str) -> tuple[Run, Run]:
        return (self.runs.get((module, "plain")) or Run(module, "plain"),
                self.runs.get((module, "jit")) or Run(module, "jit"))

    def regressions(self) -> list[str]:
        return [m for m in self.modules if regressed(*self.pair(m))]

    def jit_only_leaks(self) -> list[str]:
        if self.leak_warmups is None:
            return []
        out = []
        for m in self.modules:
            plain, jit = self.pair(m)
            if leak_verdict(jit, self.leak_warmups) and not leak_verdict(plain, self.leak_warmups):
                out.append(m)
        return out

    def excused(self, module: str) -> bool:
        return excused(module, *self.pair(module), self.exclusions)

    def failing(self) -> list[str]:
        return ([m for m in self.regressions() if not self.excused(m)]
                + [m for m in self.jit_only_leaks() if m not in self.exclusions])

    def stale_exclusions(self) -> list[str]:
        """Entries for modules of this run that no longer fail under the JIT."""
        regs = self.regressions()
        stale = []
        for module in excluded_modules(self.exclusions) & set(self.modules):
            jit = self.pair(module)[1]
            if jit.status == MISSING:
                continue
            if module in self.exclusions and module not in regs:
                stale.append(module)
            failed = {failed_test_id(name) for name, _ in jit.failed_tests or ()}
            stale += [name for test_id, name in excluded_tests(module, self.exclusions).items()
                      if test_id not in failed]
        return sorted(stale, key=list(self.exclusions).index)

    def jit_totals(self) -> dict:
        considered = compiled = 0
        by_result: Counter = Counter()
        reasons: Counter = Counter()
        samples: dict = {}
        for m in self.modules:
            stats = self.pair(m)[1].jit
            if not stats:
                continue
            considered += stats["considered"]
            compiled += stats["compiled"]
            by_result.update(stats["by_result"])
            for name, reason, count, sample in stats["reasons"]:
                reasons[(name, reason)] += count
                samples.setdefault((name, reason), sample)
        return {"considered": considered, "compiled": compiled,
                "fraction": compiled / considered if considered else None,
                "by_result": dict(by_result.most_common()),
                "reasons": [[n, r, c, samples[(n, r)]] for (n, r), c in reasons.most_common(15)]}

    def as_dict(self) -> dict:
        return {
            "python": sys.version, "source": self.source, "code_cache": self.code_cache, "wall": self.wall,
            "modules": self.modules,
            "not_run": self.not_run,
            "runs": [asdict(r) for r in self.runs.values()],
            "regressions": self.regressions(), "jit_only_leaks": self.jit_only_leaks(),
            "failing": self.failing(), "exclusions": self.exclusions,
            "stale_exclusions": self.stale_exclusions(), "jit": self.jit_totals(),
        }

    def format(self) -> str:
        lines = []
        w = max([len(m) for m in self.modules] + [6])
        stale = self.stale_exclusions()
        leak_cols = self.leak_warmups is not None
        head = (f"{'module':<{w}}  {'plain':<7} {'jit':<7} {'plain r/f/e/s':<15} {'jit r/f/e/s':<15} "
                f"{'compiled':>8} {'plain s':>8} {'jit s':>8}")
        if leak_cols:
            head += "  leaks (blocks, measured runs) plain | jit"
        lines += [head + "  note", "-" * len(head)]
        for m in self.modules:
            plain, jit = self.pair(m)
            note = []
            if regressed(plain, jit):
                note.append("EXCLUDED" if self.excused(m) else "REGRESSION")
                if jit.detail and jit.status in (CRASH, TIMEOUT):
                    note.append(jit.detail)
            elif any(name.partition("::")[0] == m for name in stale):
                note.append("excluded but not failing")
            extra = jit_only_failures(plain, jit)
            if extra and not regressed(plain, jit):
                note.append(f"{len(extra)} JIT-only failing test(s)")
            line = (f"{m:<{w}}  {plain.status:<7} {jit.status:<7} {plain.counts():<15} {jit.counts():<15} "
                    f"{jit.compiled_pct():>8} {plain.duration:>8.1f} {jit.duration:>8.1f}")
            if leak_cols:
                pb = (plain.leaks or {}).get("blocks", [])[self.leak_warmups:]
                jb = (jit.leaks or {}).get("blocks", [])[self.leak_warmups:]
                if m in self.jit_only_leaks():
                    note.append("LEAKS UNDER JIT ONLY")
                line += f"  {str(pb):>20} | {str(jb):<20}"
            lines.append(line + ("  " + "; ".join(note) if note else ""))

        def count(mode: str) -> str:
            c = Counter(self.pair(m)[mode == "jit"].status for m in self.modules)
            return ", ".join(f"{c[s]} {s}" for s in (PASS, ENV, SKIP, FAIL, CRASH, TIMEOUT, MISSING) if c[s])
        ok_plain = [m for m in self.modules if self.pair(m)[0].status in OK_STATUSES]
        ok_both = [m for m in ok_plain if self.pair(m)[1].status in OK_STATUSES]
        regs = self.regressions()
        lines += ["", f"modules: {len(self.modules)}   wall time: {self.wall:.0f} s   pyjion: {self.source}   "
                  f"code cache: {self.code_cache}"
                  + (f"   NOT RUN (interrupted or --max-time): {len(self.not_run)}" if self.not_run else ""),
                  f"plain: {count('plain')}", f"jit:   {count('jit')}",
                  f"passing plain: {len(ok_plain)}; of those passing under the JIT: {len(ok_both)}",
                  f"regressions (not excluded): {len([m for m in regs if not self.excused(m)])}"
                  f" {[m for m in regs if not self.excused(m)]}",
                  f"regressions excluded: {len([m for m in regs if self.excused(m)])}"
                  f" {[m for m in regs if self.excused(m)]}"]
        if stale:
            lines.append(f"exclusions not failing in this run: {stale}")
        if leak_cols:
            lines.append(f"leaking under the JIT only: {self.jit_only_leaks()}")
        totals = self.jit_totals()
        if totals["considered"]:
            lines.append(f"code objects the JIT was asked to compile: {totals['considered']}, compiled "
                         f"{totals['compiled']} ({100 * totals['fraction']:.1f}%)")
            lines.append("  by result: " + ", ".join(f"{k} {v}" for k, v in totals["by_result"].items()))
            for name, reason, cnt, sample in totals["reasons"][:10]:
                lines.append(f"  {cnt:>7}  {name}: {reason[:90]}  (e.g. {sample[-70:]})")
        details = []
        for m in self.modules:
            plain, jit = self.pair(m)
            if not (regressed(plain, jit) or jit_only_failures(plain, jit)):
                continue
            details.append(f"--- {m} under the JIT: {jit.status} ({jit.detail}); log: {jit.log}")
            for name, text in (jit.failed_tests or [])[:8]:
                if name in {n for n, _ in plain.failed_tests or ()}:
                    continue
                excerpt = "\n".join(text.strip().splitlines()[-6:] if name != "<process>"
                                     else text.strip().splitlines()[:10])
                details.append(f"  {name}\n" + "\n".join("      " + ln for ln in excerpt.splitlines()))
        if details:
            lines += ["", "JIT-only failures:"] + details
        return "\n".join(lines)


def run_all(modules: list[str], opts, progress=sys.stderr) -> Report:
    jobs = []
    first = [m for m in SLOW_FIRST if m in modules]
    ordered = first + [m for m in modules if m not in first]
    for m in ordered:
        for mode in opts.modes:
            jobs.append((m, mode))
    runs: dict[tuple[str, str], Run] = dict(opts.resumed)
    jobs = [job for job in jobs if job not in runs]
    start = time.perf_counter()
    done = 0
    opts.interrupted = False
    _stop.clear()

    def job(m: str, mode: str) -> Run | None:
        if opts.max_time and time.perf_counter() - start > opts.max_time:
            _stop.set()
        return run_child(m, mode, opts)

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, opts.jobs))
    futures = {pool.submit(job, m, mode): (m, mode) for m, mode in jobs}
    try:
        for fut in concurrent.futures.as_completed(futures):
            m, mode = futures[fut]
            try:
                run = fut.result()
            except Exception as exc:  # a runner bug: report it on the module, keep going
                run = Run(m, mode, status=CRASH, detail=f"runner error: {exc!r}")
            if run is None:
                continue
            runs[(m, mode)] = run
            done += 1
            if opts.json:  # kept current, so that a long run cut short can be resumed
                _write_report(_report(modules, runs, opts, time.perf_counter() - start), opts.json)
            if progress:
                elapsed = time.perf_counter() - start
                print(f"{elapsed:7.0f}s [{done:>4}/{len(jobs)}] {m} {mode}: {run.status} "
                      f"({run.detail}; {run.counts() or '-'} r/f/e/s; {run.duration:.1f}s)"
                      + (f" compiled {run.compiled_pct()}" if run.jit else ""),
                      file=progress, flush=True)
    except KeyboardInterrupt:
        opts.interrupted = True
        _stop.set()
        for fut in futures:
            fut.cancel()
        for proc in list(_running.values()):
            _kill(proc)
        print("\ninterrupted: reporting the modules that finished", file=sys.stderr, flush=True)
    pool.shutdown(wait=True, cancel_futures=True)
    if not opts.interrupted and not opts.leaks:
        _rerun_regressions(modules, runs, opts, progress)
    return _report(modules, runs, opts, time.perf_counter() - start)


def _rerun_regressions(modules: list[str], runs: dict[tuple[str, str], Run], opts, progress) -> None:
    """Run each module that regressed under the JIT once more, alone (as regrtest's -w reruns failures):
    timing-sensitive tests (thread events, 30 s timeouts) can fail when every core is busy. A module
    that then passes counts as passing; its detail keeps what the first run gave."""
    for m in modules:
        plain, first = runs.get((m, "plain")), runs.get((m, "jit"))
        if plain is None or first is None or not regressed(plain, first):
            continue
        again = run_child(m, "jit", opts)
        if again is None:
            continue
        if not regressed(plain, again):
            again.detail = f"{again.detail}; passed when rerun alone, first run {first.status}: {first.detail}"
            runs[(m, "jit")] = again
        if progress:
            print(f"rerun {m} jit: {again.status} ({again.detail})", file=progress, flush=True)


def _report(modules: list[str], runs: dict[tuple[str, str], Run], opts, wall: float) -> Report:
    complete = [m for m in modules if all((m, mode) in runs for mode in opts.modes)]
    report = Report(complete, runs, opts.exclusions,
                    leak_warmups=int(opts.leaks.split(":")[0]) if opts.leaks else None)
    report.not_run = [m for m in modules if m not in complete]
    report.wall = opts.resumed_wall + wall
    report.source = opts.source
    report.code_cache = "off" if opts.cache_dir == "off" else "run"
    return report


def _write_report(report: Report, path: str) -> None:
    with open(path + ".tmp", "w", encoding="utf-8") as fp:
        json.dump(report.as_dict(), fp, indent=1)
    os.replace(path + ".tmp", path)


def load_resumed(ap: argparse.ArgumentParser, opts: argparse.Namespace,
                 resume: Callable[[str, argparse.Namespace], tuple[dict, float]]) -> None:
    """Set ``opts.source`` and, with ``--resume``, ``opts.resumed`` and ``opts.resumed_wall``: the runs
    ``resume`` reads from the report at ``opts.json`` that a run cut short left (shared with thirdparty)."""
    opts.source = source_fingerprint()
    opts.resumed, opts.resumed_wall = {}, 0.0
    if not opts.resume:
        return
    if not opts.json:
        ap.error("--resume needs --json")
    if os.path.exists(opts.json):
        try:
            opts.resumed, opts.resumed_wall = resume(opts.json, opts)
        except (ValueError, KeyError, TypeError) as exc:
            ap.error(f"cannot resume: {exc}")
        print(f"resuming: {len(opts.resumed)} runs from {opts.json}", file=sys.stderr, flush=True)


def _resume(path: str, opts) -> tuple[dict[tuple[str, str], Run], float]:
    """The runs of an earlier report at ``path`` made from the same sources and options, and its wall time."""
    with open(path, encoding="utf-8") as fp:
        data = json.load(fp)
    if data.get("source") != opts.source:
        raise ValueError(f"{path} was made from other sources ({data.get('source')}, now {opts.source})")
    runs = {}
    for fields in data["runs"]:
        run = Run(**fields)
        if run.mode in opts.modes and run.status != MISSING:
            runs[(run.module, run.mode)] = run
    return runs, data.get("wall", 0.0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pyjion.regrtest", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("modules", nargs="*", help="test modules (default: the tier's)")
    ap.add_argument("--tier", choices=("fast", "extended", "full"), default="fast",
                    help="fast: the CI tier (FAST_TIER); extended: + EXTENDED_EXTRA; full: every module")
    ap.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--json", help="write the full report (every run, failures, JIT stats) here, "
                                   "updated as each child finishes")
    ap.add_argument("--resume", action="store_true",
                    help="keep the runs already in the --json report (same sources) and run the rest")
    ap.add_argument("--leaks", action="store_true",
                    help="repeat each module in one process and watch sys.getallocatedblocks() and the "
                         "open file descriptors after each run, like regrtest -R")
    ap.add_argument("--leak-runs", default="%d:%d" % DEFAULT_LEAK_RUNS, metavar="WARMUPS:RUNS",
                    help="repetitions for --leaks (default 3:3, like regrtest -R 3:3)")
    ap.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="per module and mode, seconds")
    ap.add_argument("--max-time", type=float, default=None,
                    help="start no new child after this many seconds; report what finished")
    ap.add_argument("--mode", choices=("both", "plain", "jit"), default="both")
    ap.add_argument("--use", "-u", action="append", default=[], help="regrtest resources, e.g. cpu,-network")
    ap.add_argument("--match", "-m", action="append", default=[], help="only tests matching (regrtest -m)")
    ap.add_argument("--exclude", action="append", default=[], help="skip these modules entirely")
    ap.add_argument("--exclusions", default=EXCLUSIONS_FILE, help="expected-failure list")
    ap.add_argument("--enable-at", choices=("module", "start"), default="module",
                    help="switch the JIT on just before the test module is imported (default: the "
                         "harness - unittest, doctest, test.support, libregrtest - is imported plainly "
                         "first) or at interpreter start (everything compiled, ~30 s more per module)")
    ap.add_argument("--cache-dir", default=None,
                    help="the code cache the JIT children share: each distinct code object (by content "
                         "and by what the interpreter specialised in it) is compiled by the first process "
                         "that runs it and loaded by the others (default: a new directory, removed at the "
                         "end); 'off': every process compiles everything it runs")
    ap.add_argument("--python", default=sys.executable, help="interpreter for the children")
    ap.add_argument("--log-dir", default=None, help="where child logs go (default: a temp dir)")
    ap.add_argument("--verbose", "-v", action="count", default=0)
    ap.add_argument("--list", action="store_true", help="print the selected modules and exit")
    opts = ap.parse_args(argv)

    opts.leaks = opts.leak_runs if opts.leaks else None
    if opts.leaks:
        try:
            warmups, runs = (int(x) for x in opts.leaks.split(":"))
            assert warmups >= 0 and runs >= 1
        except (ValueError, AssertionError):
            ap.error("--leak-runs takes WARMUPS:RUNS, e.g. 3:3")
    try:
        opts.exclusions = load_exclusions(opts.exclusions)
    except ValueError as exc:
        ap.error(str(exc))
    if opts.modules:
        modules = expand(opts.modules)
    elif opts.tier == "full":
        modules = full_tier()
    else:
        modules = expand(FAST_TIER if opts.tier == "fast" else EXTENDED_TIER)
    modules = [m for m in modules if m not in set(expand(opts.exclude))]
    if opts.list:
        print("\n".join(modules))
        return 0
    opts.modes = ("plain", "jit") if opts.mode == "both" else (opts.mode,)
    opts.log_dir = opts.log_dir or tempfile.mkdtemp(prefix="pyjion-regrtest-logs-")
    os.makedirs(opts.log_dir, exist_ok=True)
    print(f"pyjion.regrtest: {len(modules)} modules x {len(opts.modes)} modes, {opts.jobs} jobs, "
          f"timeout {opts.timeout:.0f}s{', leak check ' + opts.leaks if opts.leaks else ''}; "
          f"logs in {opts.log_dir}", file=sys.stderr, flush=True)
    load_resumed(ap, opts, _resume)

    def on_sigterm(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_sigterm)  # like Ctrl-C: kill the children, report what finished
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:  # started in the background by a shell
        signal.signal(signal.SIGINT, signal.default_int_handler)
    temporary_cache = opts.cache_dir is None
    if temporary_cache:
        opts.cache_dir = tempfile.mkdtemp(prefix="pyjion-regrtest-cache-")
    elif opts.cache_dir != "off":
        opts.cache_dir = os.path.abspath(opts.cache_dir)  # the children run in directories of their own
    try:
        report = run_all(modules, opts)
    finally:
        if temporary_cache:
            shutil.rmtree(opts.cache_dir, ignore_errors=True)
    print(report.format())
    if opts.json:
        _write_report(report, opts.json)
    if opts.mode != "both":
        return 0 if all(r.status not in BAD_STATUSES for r in report.runs.values()) else 1
    return 1 if report.failing() else 0


if __name__ == "__main__":
    sys.exit(main())
