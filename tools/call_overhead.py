"""Cost of Python-to-Python calls under the JIT against plain CPython: recursive fib, a method called in a
loop and a bound method held in a local (a callback), each in fresh processes, plain and JIT interleaved.

    python tools/call_overhead.py [rounds]      (default 3)

Each process times 25 runs after warming up (compilation finished) and reports the median thread CPU
time, which a busy machine disturbs less than wall time; the ratio is plain / JIT (> 1: JIT faster).
"""
from __future__ import annotations

import statistics
import subprocess
import sys

CHILD = """
import statistics, sys, time
def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)
class Point:
    def __init__(self, x):
        self.x = x
    def get(self):
        return self.x
def method_loop(n):
    p, total = Point(1), 0
    for _ in range(n):
        total += p.get()
    return total
def callback_loop(n):
    get, total = Point(1).get, 0
    for _ in range(n):
        total += get()
    return total
def main(jit):
    if jit:
        import pyjion
        pyjion.enable()
    work = {"fib(22)": lambda: fib(22), "method x 200k": lambda: method_loop(200_000),
            "callback x 200k": lambda: callback_loop(200_000)}
    for run in work.values():
        for _ in range(3):
            run()
    if jit:
        from pyjion.runtime.jit import waiting_to_compile
        while waiting_to_compile():
            time.sleep(0.05)
        assert pyjion.info(fib).compiled and pyjion.info(method_loop).compiled
    for name, run in work.items():
        times = []
        for _ in range(25):
            start = time.thread_time()
            run()
            times.append(time.thread_time() - start)
        print(name, statistics.median(times))
main(sys.argv[1] == "jit")
"""


def measure(mode: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True, text=True, check=True).stdout
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in out.splitlines()}


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    samples: dict[str, dict[str, list[float]]] = {}
    for _ in range(rounds):
        for mode in ("plain", "jit"):
            for name, seconds in measure(mode).items():
                samples.setdefault(name, {}).setdefault(mode, []).append(seconds)
    for name, modes in samples.items():
        plain, jit = statistics.median(modes["plain"]), statistics.median(modes["jit"])
        print(f"{name:16} plain {plain * 1e3:7.2f} ms  jit {jit * 1e3:7.2f} ms  ratio {plain / jit:.2f}x")


if __name__ == "__main__":
    main()
