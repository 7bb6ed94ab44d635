"""Machine instructions per call in a compiled loop, plain CPython against the JIT, counted by callgrind
(valgrind): a figure that does not move with the machine's load, where wall-clock time on a shared
machine moves by more than a few percent.

    python tools/instructions_per_call.py            (needs valgrind; a few minutes)
    python tools/instructions_per_call.py getitem
    python tools/instructions_per_call.py generators
    python tools/instructions_per_call.py coroutines
    python tools/instructions_per_call.py operators
    python tools/instructions_per_call.py waiting

``method`` (the default): a small method that reads and writes attributes, adds floats and returns a
comparison that 3.11 leaves unspecialised. The loop runs in the interpreter until 3.11 has specialised
it, then is compiled (threshold 0). ``getitem``: a subscript of a class with a Python ``__getitem__``,
the JIT enabled first (threshold 100), as for code first run after the start delay: the interpreter
specialises the rest but never a subscript into a ``__getitem__`` call while a PEP 523 hook is installed.
``generators``: pyperformance's generators benchmark in small, a walk of a binary tree of recursive
generators (``yield from``), per value; each resumption of a generator enters its frame through the hook.
``coroutines``: pyperformance's coroutines benchmark in small (a recursive ``async def`` Fibonacci), per
coroutine made and awaited.
``operators``: a class's Python ``__add__`` and ``__mul__`` (as in chaos and raytrace), called by
CPython's number slots from a compiled loop, per operator call.
``waiting``: a method called in a loop, both hot, queued for a compiler that never delivers: what a
program's frames cost while its hot code waits for the compiler thread (the hook with nothing compiled).
Only the measured loop is counted (``--toggle-collect`` on ``starmap_next``).
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile

CALLS = 20_000
METHOD = f"""
import collections, itertools, sys

class Point:
    def __init__(self, x, y):
        self.x = x
        self.y = y

    def step(self, dx):
        self.x = self.x + dx
        self.y = self.y * 0.5 + self.x
        return self.x < self.y

def loop(points, n):
    count = 0
    for _ in range(n):
        for point in points:
            if point.step(0.25):
                count += 1
            if point is None or not point:
                count -= 1
    return count

points = [Point(float(i), 1.0) for i in range(10)]
for _ in range(200):
    loop(points, 2)
if sys.argv[1] == "jit":
    import pyjion
    pyjion.config(background=False, cache=False, threshold=0)
    pyjion.enable()
    loop(points, 2)
    assert pyjion.info(loop).compiled and pyjion.info(Point.step).compiled
collections.deque(itertools.starmap(loop, [(points, {CALLS // 10})]), maxlen=0)
"""
def enabled_first(body: str, warm_up: str, compiled: str, measured: str) -> str:
    """A program that enables the JIT (in the ``jit`` run) before ``body``'s code first runs, as for code
    first run after the start delay; runs ``warm_up`` until ``compiled`` (functions) are, then measures
    ``measured``, a call of ``loop`` with these arguments."""
    return f"""
import collections, itertools, sys
{body}
if sys.argv[1] == "jit":
    import pyjion
    pyjion.config(background=False, cache=False, start_delay=0)
    pyjion.enable()
{warm_up}
if sys.argv[1] == "jit":
    assert all(pyjion.info(f).compiled for f in ({compiled},))
collections.deque(itertools.starmap(loop, [({measured},)]), maxlen=0)
"""


GETITEM = enabled_first("""
class Rows:
    def __init__(self, rows):
        self.rows = rows

    def __getitem__(self, i):
        return self.rows[i]

def loop(grid, n):
    total = 0.0
    for _ in range(n):
        for i in range(10):
            total += grid[i]
    return total

grid = Rows([float(i) for i in range(10)])""", "for _ in range(200):\n    loop(grid, 2)", "loop, Rows.__getitem__",
                        f"grid, {CALLS // 10}")
GENERATORS = enabled_first("""
class Tree:
    def __init__(self, left, value, right):
        self.left = left
        self.value = value
        self.right = right

    def __iter__(self):
        if self.left:
            yield from self.left
        yield self.value
        if self.right:
            yield from self.right

def tree(values):
    if not values:
        return None
    i = len(values) // 2
    return Tree(tree(values[:i]), values[i], tree(values[i + 1:]))

def loop(iterable, n):
    for _ in range(n):
        for _ in iterable:
            pass

iterable = tree(range(1000))""", "for _ in range(30):\n    loop(iterable, 1)", "loop, Tree.__iter__",
                           f"iterable, {CALLS // 1000}")
COROUTINE_RUNS = 10
COROUTINES_PER_RUN = 1973  # fibonacci(15) makes 2 * F(16) - 1
COROUTINES = enabled_first("""
async def fibonacci(n):
    if n <= 1:
        return n
    return await fibonacci(n - 1) + await fibonacci(n - 2)

def loop(n):
    for _ in range(n):
        coroutine = fibonacci(15)
        try:
            while True:
                coroutine.send(None)
        except StopIteration:
            pass""", "for _ in range(30):\n    loop(1)", "loop, fibonacci", f"{COROUTINE_RUNS}")
OPERATORS = enabled_first("""
class Vector:
    def __init__(self, x, y):
        self.x = x
        self.y = y

    def __add__(self, other):
        return Vector(self.x + other.x, self.y + other.y)

    def __mul__(self, k):
        return Vector(self.x * k, self.y * k)

def loop(n):
    v, w = Vector(0.0, 1.0), Vector(1.0, 0.5)
    for _ in range(n):
        v = v + w * 0.5
    return v""", "for _ in range(200):\n    loop(10)", "loop, Vector.__add__, Vector.__mul__, Vector.__init__",
                          f"{CALLS // 2}")
WAITING = f"""
import collections, itertools, sys

class Point:
    def __init__(self, x):
        self.x = x

    def get(self):
        return self.x

def loop(point, n):
    total = 0
    for _ in range(n):
        total += point.get()
    return total

if sys.argv[1] == "jit":
    import pyjion
    from pyjion.runtime import jit
    from pyjion.runtime.state import native_state

    class NeverCompiles:
        def submit(self, *request, priority):
            pass

    jit._compiler_thread = NeverCompiles
    pyjion.config(cache=False, start_delay=0)
    pyjion.enable()
point = Point(1)
for _ in range(5):
    loop(point, 200)
if sys.argv[1] == "jit":
    assert all(native_state(f.__code__).queued for f in (loop, Point.get))
collections.deque(itertools.starmap(loop, [(point, {CALLS})]), maxlen=0)
"""
# name -> (program, calls it makes in the measured loop)
SCENARIOS = {"method": (METHOD, CALLS), "getitem": (GETITEM, CALLS), "generators": (GENERATORS, CALLS),
             "coroutines": (COROUTINES, COROUTINE_RUNS * COROUTINES_PER_RUN), "operators": (OPERATORS, CALLS),
             "waiting": (WAITING, CALLS)}


def instructions(child: str, mode: str) -> int:
    with tempfile.TemporaryDirectory() as directory:
        out = os.path.join(directory, "callgrind.out")
        subprocess.run(["valgrind", "--tool=callgrind", "--collect-atstart=no", "--toggle-collect=starmap_next",
                        "--smc-check=all", f"--callgrind-out-file={out}", sys.executable, "-c", child, mode],
                       check=True, capture_output=True, env={**os.environ, "PYTHONHASHSEED": "0"})
        for line in open(out):
            if line.startswith(("totals:", "summary:")):
                return int(line.split()[1])
    raise RuntimeError("no totals in callgrind's output")


def main() -> None:
    name = sys.argv[1] if len(sys.argv) > 1 else "method"
    if name not in SCENARIOS:
        raise SystemExit(f"usage: {sys.argv[0]} [{' | '.join(SCENARIOS)}]")
    program, calls = SCENARIOS[name]
    plain, jit = instructions(program, "plain"), instructions(program, "jit")
    print(f"{name}: instructions per call: plain {plain / calls:.0f}, jit {jit / calls:.0f}, ratio {plain / jit:.2f}x")


if __name__ == "__main__":
    main()
