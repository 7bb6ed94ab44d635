"""The JIT's process-wide machinery: compiling on hot code, and letting compiled code objects go."""
import gc
import os
import subprocess
import sys
import time
import weakref

import pytest

import pyjion
from differential import jit
from pyjion.runtime import state


def make_lambda(n):
    return eval(f"lambda: {n}")


def test_code_objects_die_after_compilation():
    # The code compiled last once stayed referenced by the compiler thread (test_code's CoExtra tests).
    # Nothing else may be compiled between the eval and the check: no Python calls in between.
    with jit():
        make_lambda(0)
        made = make_lambda(1)  # compiles the eval's module code, whose constants hold the lambda's code
        code = weakref.ref(made.__code__)
        del made
        alive = code() is not None
    assert not alive


def test_records_do_not_grow_with_dead_code():
    with jit():
        for n in range(50):
            make_lambda(n)()
        gc.collect()
        before = len(state.records())
        for n in range(500):
            assert make_lambda(n)() == n
        gc.collect()
        assert len(state.records()) <= before + 2


def loop(n):
    total = 0
    for i in range(n):
        total += i % 7
    return total


def test_background_compilation_installs_the_code_while_the_program_runs():
    expected = [loop(k) for k in range(40)]
    with jit(threshold=2, background=True):
        got = [loop(k) for k in range(40)]
        # The call that found it hot did not wait; the compiler thread installs it when done.
        deadline = time.monotonic() + 60
        while not pyjion.info(loop).compiled and time.monotonic() < deadline:
            time.sleep(0.01)
        assert pyjion.info(loop).compiled
        assert loop(1000) == sum(i % 7 for i in range(1000))
    assert got == expected


def test_time_in_the_interpreter_makes_a_loop_hot():
    def long_loop(n):
        total = 0
        for i in range(n):
            total += i % 7
        return total

    def short(n):
        return n + 1

    with jit(threshold=10**6):
        # Millions of cycles per call, far past its size times HOT_CYCLES_PER_UNIT: hot on the next call,
        # whatever the threshold; a cheap function is not.
        long_loop(300_000)
        short(1)
        assert not pyjion.info(long_loop).compiled
        long_loop(10)
        short(2)
        assert pyjion.info(long_loop).compiled
        assert not pyjion.info(short).compiled
        assert long_loop(100) == sum(i % 7 for i in range(100))


EXIT_WHILE_COMPILING = """
import time
import pyjion
pyjion.config(threshold=1, background=True, cache=False)
pyjion.enable()
functions = []
body = "".join(f"        x += i * {k} - (x >> 3)\\n" for k in range(40))  # LLVM takes a while
for n in range(100):
    namespace = {}
    exec(f"def f(x):\\n    for i in range(x):\\n{body}    return x + {n}", namespace)
    functions.append(namespace["f"])
for f in functions:
    f(3)
    f(3)  # hot: queued for the compiler thread, which is still busy when the program ends
time.sleep(0.5)  # into the queue: most of a compilation is spent in LLVM, without the GIL
print("done")
"""


def test_exit_while_the_compiler_thread_is_busy(tmp_path):
    # Compiling while C++ exit handlers destroyed LLVM's context crashed the process (SIGSEGV).
    script = tmp_path / "exit_early.py"
    script.write_text(EXIT_WHILE_COMPILING)
    for _ in range(5):
        run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
        assert (run.returncode, run.stdout) == (0, "done\n"), run.stderr[-2000:]


def test_environment_settings():
    from pyjion.runtime.jit import settings_from_environment
    parsed = settings_from_environment({"PYJION_LEVEL": "2", "PYJION_THRESHOLD": " 7 ", "PYJION_PGC": "off",
                                        "PYJION_CACHE": "0", "PYJION_CACHE_DIR": "/tmp/x", "PYJION_BACKGROUND": "no"})
    assert (parsed.level, parsed.threshold, parsed.pgc, parsed.cache, parsed.cache_dir, parsed.background) == (
        2, 7, False, False, "/tmp/x", False)
    for text, expected in (("false", False), ("0", False), ("no", False), ("TRUE", True), ("1", True), ("on", True)):
        assert settings_from_environment({"PYJION_PGC": text}).pgc is expected
    assert settings_from_environment({"PYJION_START_DELAY": "0.5"}).start_delay == 0.5
    defaults = settings_from_environment({})
    assert defaults.start_delay == 0.1
    for name, value in (("PYJION_LEVEL", "3"), ("PYJION_THRESHOLD", "-1"), ("PYJION_THRESHOLD", "ten"),
                        ("PYJION_PGC", "maybe"), ("PYJION_START_DELAY", "-1"), ("PYJION_START_DELAY", "nan"),
                        ("PYJION_START_DELAY", "soon")):
        with pytest.warns(RuntimeWarning, match=name):
            ignored = settings_from_environment({name: value})
        assert ignored == defaults


START_DELAY = """
import ctypes, os, sys, time
import pyjion
from pyjion.runtime import jit

get = ctypes.pythonapi._PyInterpreterState_GetEvalFrameFunc
get.argtypes, get.restype = [ctypes.c_void_p], ctypes.c_void_p
interp = ctypes.pythonapi.PyInterpreterState_Get
interp.restype = ctypes.c_void_p

def hooked():
    return get(interp()) == jit.hook().address

def add(a, b):
    return a + b

def calls(n):
    total = 0
    for i in range(n):
        total = add(total, i)
    return total

def wait_for(condition):
    deadline = time.monotonic() + 30
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()

assert pyjion.config()["start_delay"] == 0.1  # the default
pyjion.config(cache=False, background=False, start_delay=1.0)
start = time.monotonic()
assert pyjion.enable() is True and pyjion.enable() is False
# Before the delay: CPython's interpreter alone, the hook sees no call.
early = [calls(300) for _ in range(300)]
assert not hooked() and jit.starting_later() and time.monotonic() - start < 1.0, "hooked at once"
assert pyjion.info(add).run_count == 0 and not pyjion.info(calls).compiled
assert wait_for(hooked), "never hooked"
assert time.monotonic() - start >= 1.0 and not jit.starting_later()
late = [calls(300) for _ in range(300)]
assert pyjion.info(calls).compiled and pyjion.info(add).compiled
assert early == late
assert pyjion.disable() is True and not hooked()

# disable() before the delay: the JIT never starts.
assert pyjion.enable() is True
assert pyjion.disable() is True and pyjion.disable() is False
time.sleep(0.3)
assert not hooked() and not jit.starting_later(), "started after disable()"

# Settings that need the hook now start it now.
for change in ({"threshold": 0}, {"start_delay": 0}):
    pyjion.config(threshold=100, start_delay=60)
    assert pyjion.enable() is True and not hooked()
    pyjion.config(**change)
    assert hooked() and not jit.starting_later(), change
    assert pyjion.disable() is True

# A child forked before the delay starts the JIT itself: its copy of the timer thread does not exist.
pyjion.config(threshold=100, start_delay=60)
assert pyjion.enable() is True
pid = os.fork()
if pid == 0:
    os._exit(0 if hooked() and not jit.starting_later() else 1)
_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0, "the fork child is not hooked"
assert not hooked() and jit.starting_later()
assert pyjion.disable() is True
print("ok")
"""


def test_start_delay(tmp_path):
    # enable() with a threshold above 0 installs the hook start_delay seconds later.
    script = tmp_path / "start_delay.py"
    script.write_text(START_DELAY)
    env = {k: v for k, v in os.environ.items() if k != "PYJION_START_DELAY"}
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, env=env)
    assert (run.returncode, run.stdout) == (0, "ok\n"), run.stderr[-2000:]


EXEMPT_THREADS = """
import ctypes
import pyjion
from pyjion.abi.cpython311 import thread_state_address
from pyjion.runtime import jit

def f(x):
    return x + 1

pyjion.config(cache=False, background=False, threshold=0, start_delay=0)
pyjion.enable()
hook = jit.hook()
assert f(1) == 2 and pyjion.info(f).compiled
counted = pyjion.info(f).run_count
ts = thread_state_address()
compiler_thread = ctypes.c_void_p.from_address(hook._globals["pyjion_compiler_thread"])
waiting = ctypes.c_void_p.from_address(hook._globals["pyjion_waiting"])
waiting_count = ctypes.c_int64.from_address(hook._globals["pyjion_waiting_count"])
real_compiler_thread = compiler_thread.value
compiler_thread.value = ts
f(1)
compiler_thread.value = real_compiler_thread
waiting.value, waiting_count.value = ts, 1
f(1)
waiting.value, waiting_count.value = None, 0
assert pyjion.info(f).run_count == counted, (pyjion.info(f).run_count, counted)
f(1)
assert pyjion.info(f).run_count == counted + 1
print("ok")
"""


def test_the_compiler_thread_and_threads_waiting_for_it_run_compiled_code_interpreted(tmp_path):
    """The hook runs every frame of the compiler thread, and of a thread inside on_hot, in the
    interpreter, uncounted (their frames are pyjion's own), compiled code or not: its dispatch to
    compiled code checks both before it counts a call."""
    script = tmp_path / "exempt.py"
    script.write_text(EXEMPT_THREADS)
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert (run.returncode, run.stdout) == (0, "ok\n"), run.stderr[-2000:]


WAITING_AND_FAILED_CODE = """
import ctypes
import pyjion
from pyjion.abi.cpython311 import thread_state_address
from pyjion.runtime import jit
from pyjion.runtime.state import native_state

class NeverCompiles:  # hot code is queued and stays so
    def submit(self, *request, priority):
        pass

jit._compiler_thread = NeverCompiles
pyjion.config(cache=False, threshold=10, start_delay=0)
pyjion.enable()

def queued(x):
    return x + 1

def failed(x):
    return x * 2

assert [queued(i) for i in range(30)] == [i + 1 for i in range(30)]
assert native_state(queued.__code__).queued and not pyjion.info(queued).compiled
assert pyjion.info(queued).run_count == 30, pyjion.info(queued).run_count
assert failed(1) == 2
native_state(failed.__code__).failed = 1
assert [failed(i) for i in range(30)] == [2 * i for i in range(30)]
assert pyjion.info(failed).run_count == 31 and not pyjion.info(failed).compiled
hook = jit.hook()
compiler_thread = ctypes.c_void_p.from_address(hook._globals["pyjion_compiler_thread"])
real_compiler_thread, compiler_thread.value = compiler_thread.value, thread_state_address()
assert queued(1) == 2 and failed(1) == 2
compiler_thread.value = real_compiler_thread
assert (pyjion.info(queued).run_count, pyjion.info(failed).run_count) == (30, 31)
print("ok")
"""


def test_code_waiting_for_the_compiler_or_failed_runs_interpreted_and_counted(tmp_path):
    """The hook's dispatch interprets the frames of code queued for the compiler, and of code whose
    compilation failed, counting each call as the general path does; the compiler thread's frames are
    still neither counted nor run otherwise than interpreted."""
    script = tmp_path / "waiting.py"
    script.write_text(WAITING_AND_FAILED_CODE)
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert (run.returncode, run.stdout) == (0, "ok\n"), run.stderr[-2000:]


OTHER_CO_EXTRA_USER = """
import ctypes, gc
import pyjion
pyjion.config(threshold=0, background=False, cache=False)
pyjion.enable()
freed = []
FREE = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(freed.append)
request = ctypes.pythonapi._PyEval_RequestCodeExtraIndex
request.argtypes, request.restype = [ctypes.c_void_p], ctypes.c_ssize_t
assert request(ctypes.cast(FREE, ctypes.c_void_p)) > 0  # after pyjion's
for n in range(20):
    namespace = {}
    exec(f"def f(x):\\n    return x + {n}", namespace)
    assert namespace["f"](1) == n + 1 and pyjion.info(namespace["f"]).compiled
    del namespace
gc.collect()
print(len(freed))
"""


def test_code_objects_call_no_other_tools_free_function():
    # code_dealloc calls every registered free function of the slots a code object's extras array has.
    # pyjion's state made that array as long as the interpreter's count of requested slots, so a tool's
    # free function ran for every dead code object pyjion had seen: test_code's ctypes one, freed at
    # shutdown, crashed the process.
    run = subprocess.run([sys.executable, "-c", OTHER_CO_EXTRA_USER], capture_output=True, text=True, timeout=300)
    assert (run.returncode, run.stdout) == (0, "0\n"), run.stderr[-2000:]


LOW_RECURSION_LIMIT = """
import sys
import pyjion
pyjion.config(threshold=0, background=False, cache=False)
pyjion.enable()
sys.setrecursionlimit(30)  # every thread's, the compiler thread's too
results = []
for n in range(5):
    namespace = {}
    exec(f"def f(x):\\n    return sorted(str(i * x) for i in range({n + 3}))", namespace)
    results.append((namespace["f"](7), pyjion.info(namespace["f"]).compiled))
print(results == [(sorted(str(i * 7) for i in range(n + 3)), True) for n in range(5)])
"""


def test_a_low_recursion_limit_does_not_stop_the_compiler():
    # sys.setrecursionlimit(30) applied to the compiler thread: its own calls raised RecursionError,
    # logging that failed too, the thread died and the next call waiting for it hung.
    run = subprocess.run([sys.executable, "-c", LOW_RECURSION_LIMIT], capture_output=True, text=True, timeout=120)
    assert (run.returncode, run.stdout, run.stderr) == (0, "True\n", "")


@pytest.mark.parametrize("background", [False, True])
def test_a_call_from_c_finds_errno_as_it_left_it(background):
    # C code that calls back into Python reads errno afterwards (OpenSSL's password callback: _ssl.c
    # raises OSError from errno if it is set). Waiting for the compiler on the first call left EAGAIN
    # there, so test_ssl's load_cert_chain raised BlockingIOError instead of SSLError.
    import ctypes
    location = ctypes.pythonapi["__errno_location"]
    location.restype = ctypes.c_void_p
    errno = ctypes.c_int.from_address(location())  # this thread's
    seen, compiled = [], []
    with jit(threshold=0, background=background):
        for n in range(3):
            namespace: dict = {}
            exec(f"def callback():\n    return sum(i * {n} for i in range(50))", namespace)
            through_c = ctypes.CFUNCTYPE(ctypes.c_int)(namespace["callback"])
            errno.value = 0
            assert through_c() == 1225 * n
            seen.append(errno.value)
            compiled.append(pyjion.info(namespace["callback"]).compiled)
    assert compiled == [True, True, True]
    assert seen == [0, 0, 0]


HOLDS_LOGGING_LOCK = """
import logging, threading, time
import pyjion
from pyjion.runtime import jit
pyjion.config(threshold=0, background=False, cache=False)
pyjion.enable()
namespace = {}
exec("def f(x):\\n    return [i * x for i in range(3)]", namespace)
logging.Logger.manager._clear_cache()  # as a new logger or level does: each logger takes the lock to refill it
logging._acquireLock()  # as logging.getLogger holds it while it calls _fixupParents, compiled on first call
try:
    print(namespace["f"](2), pyjion.info(namespace["f"]).compiled)
finally:
    logging._releaseLock()
# A compilation stuck longer than WAIT_SECONDS: the call runs in the interpreter, the code comes later.
jit.CompilerThread.WAIT_SECONDS = 0.5
exec("def g(x):\\n    return x + 1", namespace)
with jit._compiler.busy:
    print(namespace["g"](2), pyjion.info(namespace["g"]).compiled)
while not pyjion.info(namespace["g"]).compiled:
    time.sleep(0.01)
print(namespace["g"](3))
"""


def test_a_thread_holding_a_lock_the_compiler_could_want_does_not_hang():
    # test_lib2to3 hung: the thread waiting for a compilation held logging's lock, and the compiler
    # thread logged each compilation.
    run = subprocess.run([sys.executable, "-c", HOLDS_LOGGING_LOCK], capture_output=True, text=True, timeout=120)
    assert (run.returncode, run.stdout) == (0, "[0, 2, 4] True\n3 False\n4\n"), run.stderr[-2000:]
