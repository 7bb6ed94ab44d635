"""Machine instructions per iteration of pyperformance benchmarks, plain CPython against the JIT's steady
state, counted by callgrind: figures that do not move with the machine's load, where the runner's wall
clock on a shared machine moves by up to 2x between rounds.

    python tools/bench_instructions.py scimark_lu generators --iterations 3   (needs valgrind)

Per benchmark function (a name the runner reports, e.g. scimark_lu, or a benchmark that registers one),
a JIT process without valgrind first runs it until the compiler has nothing left to compile, writing a
code cache; under valgrind the plain process and a JIT process reading that cache each run the function
until settled, then only ``--iterations`` iterations are counted (``--toggle-collect`` on
``starmap_next``, which the measured call is wrapped in). Instructions are not time: cache misses and
mispredicted branches are not counted, so a ratio here says where the work is, the runner how long it
takes.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "pyjion" / "bench.py"
# Loads the runner by path (as its children do: the plain process never imports pyjion), runs the named
# function until settled (at least 3 times), then the counted iterations inside itertools.starmap.
CHILD = """
import collections, importlib.util, itertools, sys
spec = importlib.util.spec_from_file_location("pyjion_bench_child", sys.argv[1])
bench = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = bench
spec.loader.exec_module(bench)
benchmark, function, mode, iterations = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
(run,) = [run for name, run, _ in bench._load(benchmark, mode) if name == function]
done = 0
while done < 3 or not bench.jit_settled() and done < 200:
    run(1)
    done += 1
collections.deque(itertools.starmap(run, [(iterations,)]), maxlen=0)
if mode == "jit":
    from pyjion.runtime import jit
    print("compiled", jit.statistics.compiled, "from cache", jit.statistics.from_cache, file=sys.stderr)
"""


def benchmark_of(function: str) -> str:
    """The pyperformance benchmark that registers ``function`` (scimark_lu -> scimark)."""
    sys.path.insert(0, str(BENCH.parent.parent))
    from pyjion import bench
    known = bench.manifest()
    if function in known:
        return function
    for name in known:
        if function.startswith(name + "_"):
            return name
    raise SystemExit(f"no benchmark registers {function}")


def instructions(benchmark: str, function: str, mode: str, iterations: int, cache: str, keep: str | None) -> int:
    env = {**os.environ, "PYTHONHASHSEED": "0", "PYJION_START_DELAY": "0", "PYJION_CACHE": "1",
           "PYJION_CACHE_DIR": cache}
    args = [sys.executable, "-c", CHILD, str(BENCH), benchmark, function, mode, str(iterations)]
    with tempfile.TemporaryDirectory() as directory:
        out = os.path.join(keep or directory, f"callgrind.out.{function}.{mode}")
        proc = subprocess.run(["valgrind", "--tool=callgrind", "--collect-atstart=no",
                               "--toggle-collect=starmap_next", "--smc-check=all",
                               f"--callgrind-out-file={out}", *args], capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            raise SystemExit(f"{function} {mode}: exit {proc.returncode}\n{proc.stderr[-3000:]}")
        for line in open(out):
            if line.startswith(("totals:", "summary:")):
                return int(line.split()[1])
    raise RuntimeError("no totals in callgrind's output")


def prime(benchmark: str, function: str, cache: str) -> None:
    env = {**os.environ, "PYJION_START_DELAY": "0", "PYJION_CACHE": "1", "PYJION_CACHE_DIR": cache}
    subprocess.run([sys.executable, "-c", CHILD, str(BENCH), benchmark, function, "jit", "1"], check=True, env=env,
                   capture_output=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("functions", nargs="+", help="benchmark functions, as the runner names them")
    ap.add_argument("--iterations", type=int, default=3, help="iterations counted")
    ap.add_argument("--keep", metavar="DIR", help="keep callgrind's profiles here (callgrind_annotate reads them)")
    opts = ap.parse_args()
    print(f"{'function':<28} {'plain':>14} {'jit':>14} {'ratio':>7}   (instructions per iteration)")
    for function in opts.functions:
        benchmark = benchmark_of(function)
        with tempfile.TemporaryDirectory() as cache:
            prime(benchmark, function, cache)
            plain, jit = (instructions(benchmark, function, mode, opts.iterations, cache, opts.keep)
                          for mode in ("plain", "jit"))
        print(f"{function:<28} {plain / opts.iterations:>14,.0f} {jit / opts.iterations:>14,.0f} "
              f"{plain / jit:>6.2f}x", flush=True)


if __name__ == "__main__":
    main()
