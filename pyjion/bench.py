"""Benchmark runner: pyperformance's benchmarks, plain CPython against pyjion, side by side.

    python -m pyjion.bench                          # the default set, 3 rounds
    python -m pyjion.bench nbody float --rounds 5 --json bench.json
    python -m pyjion.bench --list                   # every benchmark the installed pyperformance ships
    python -m pyjion.bench deltablue --warm-up 10   # programs of 0.1-10 s: start-up and compilation included
    python -m pyjion.bench deltablue --warm-up 10 --code-cache   # the same programs run a second time

The benchmarks are those inside the installed ``pyperformance`` package (``pip install -e '.[bench]'``);
none is copied here. Each runs in a fresh process per mode and round, plain and JIT interleaved. In the
child, ``pyperf.Runner`` is replaced by a stand-in that collects the functions a benchmark script
registers (``bench_func``, ``bench_time_func``, ``bench_async_func``), so they run in-process, with the
JIT switched on (default settings) before the script is executed. Per benchmark the child times:

* the first iteration, compilation included, and whether the JIT's hook was installed when it ended
  (the "hooked" column: rounds of the JIT's; the hook comes ``start_delay`` after enable());
* the steady state: once the JIT's hook is installed, the loop count is calibrated so a sample lasts
  ``--min-time``, then ``--warmups`` samples are discarded, and under the JIT more samples until the
  compiler thread has nothing left to compile (at most 60 s), and the median of ``--samples`` samples,
  per iteration, is kept;

and reports the JIT's compile time and the process's peak RSS. Ratios are plain time / JIT time
(> 1: pyjion is faster), taken from the median over rounds, with their geometric mean.

``--warm-up SECONDS`` asks what a whole program pays instead: each child runs the benchmark's first
function back to back for SECONDS, timed from before ``import pyjion``; the table compares, for programs
that would run 0.1, 0.3, 1, 3, 10, 30 s under plain CPython, the time each mode takes for the same
iterations, and the program length from which the JIT run is never behind (its break-even).
"""
from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import math
import os
import runpy
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

DEFAULT_BENCHMARKS = ("nbody", "spectral_norm", "float", "fannkuch", "richards", "chaos", "deltablue", "go",
                      "hexiom", "nqueens", "raytrace", "unpack_sequence", "generators", "coroutines",
                      "json_dumps", "json_loads", "regex_v8", "pyflate", "logging", "deepcopy",
                      "pickle_pure_python", "unpickle_pure_python", "scimark")


def benchmarks_root() -> Path:
    try:
        import pyperformance
    except ImportError:
        raise SystemExit("pyjion.bench needs pyperformance: pip install -e '.[bench]'") from None
    return Path(pyperformance.__file__).parent / "data-files" / "benchmarks"


def manifest() -> dict[str, str]:
    """Benchmark name -> the directory (bm_<base>) holding it, from pyperformance's MANIFEST."""
    found = {}
    section = None
    for line in (benchmarks_root() / "MANIFEST").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line
            continue
        if section != "[benchmarks]" or line.startswith("name"):
            continue
        name, metafile = line.split()[:2]
        base = metafile[len("<local:"):-1] if metafile.startswith("<local:") else name
        found[name] = f"bm_{base}"
    return found


def locate(name: str) -> tuple[Path, list[str]]:
    """The benchmark's script and the extra arguments its metadata gives it."""
    import tomllib
    directory = benchmarks_root() / manifest()[name]
    meta = directory / f"bm_{name}.toml"
    options = tomllib.loads(meta.read_text()).get("tool", {}).get("pyperformance", {}) if meta.exists() else {}
    return directory / "run_benchmark.py", list(options.get("extra_opts", []))


# ---- the child: one benchmark script, one mode -----------------------------------------------------------
@dataclass
class Measurement:
    name: str
    first: float  # seconds, the first iteration (compilation included under the JIT)
    steady: float  # seconds per iteration, median of the samples
    samples: list[float] = field(default_factory=list)
    loops: int = 1
    # Under the JIT: its hook was installed when the first iteration ended (not: that iteration ran
    # wholly in CPython's interpreter, as start_delay lets a program shorter than it do).
    first_hooked: bool = False
    compiled_while_sampling: int = 0  # compilations that ended during the steady-state samples


class CollectingRunner:
    """Stands in for ``pyperf.Runner``: records what the script asks to benchmark."""

    def __init__(self, *args, **kwargs) -> None:
        self.metadata: dict = {}
        self.argparser = argparse.ArgumentParser(add_help=False)
        self.collected: list[tuple] = []
        CollectingRunner.last = self

    def parse_args(self, args=None):
        parsed, _ = self.argparser.parse_known_args(sys.argv[1:] if args is None else args)
        return parsed

    def bench_func(self, name, func, *args, inner_loops=None, **kwargs):
        self.collected.append((name, _timed_calls(func, args), inner_loops))

    def bench_time_func(self, name, func, *args, inner_loops=None, **kwargs):
        self.collected.append((name, lambda loops: func(loops, *args), inner_loops))

    def bench_async_func(self, name, func, *args, inner_loops=None, **kwargs):
        self.collected.append((name, _timed_calls(lambda *a: asyncio.run(func(*a)), args), inner_loops))


def _timed_calls(func, args):
    def run(loops: int) -> float:
        start = time.perf_counter()
        for _ in range(loops):
            func(*args)
        return time.perf_counter() - start
    return run


def _jit():
    """pyjion's runtime module, None where pyjion was never imported."""
    if "pyjion" not in sys.modules:
        return None
    from pyjion.runtime import jit
    return jit


def jit_hooked() -> bool:
    """The JIT's hook is installed (never without the JIT)."""
    jit = _jit()
    return jit is not None and jit._hook is not None and jit._hook.installed


def jit_compilations() -> int:
    """Compilations ended so far, successful or not (0 without the JIT)."""
    jit = _jit()
    return 0 if jit is None else jit.statistics.compiled + sum(jit.statistics.failed.values())


def jit_starting_later() -> bool:
    """enable() was called and the hook is not installed yet (never without the JIT)."""
    jit = _jit()
    return jit is not None and jit.starting_later()


def jit_settled() -> bool:
    """The hook is installed and nothing waits to be compiled (always true without the JIT)."""
    jit = _jit()
    return jit is None or (not jit.starting_later() and jit.waiting_to_compile() == 0)


def measure(name: str, run, inner_loops: int | None, min_time: float, warmups: int, samples: int,
            settle_time: float = 60.0) -> Measurement:
    per = inner_loops or 1
    first = run(1) / per
    first_hooked = jit_hooked()
    # Under the JIT, the rest runs once the hook is installed (start_delay): the calibration and warm-up
    # samples are where a function that a sample calls once or twice (its loop inside: unpack_sequence's)
    # spends the cycles that make it hot.
    deadline = time.perf_counter() + settle_time
    while jit_starting_later() and time.perf_counter() < deadline:
        run(1)
    loops = 1
    while True:  # calibrate: a sample lasts at least min_time
        took = run(loops)
        if took >= min_time or loops >= 2**20:
            break
        loops *= 2 if took <= 0 else max(2, min(10, math.ceil(min_time / took)))
    for _ in range(warmups):
        run(loops)
    # Then more, until the compiler thread has nothing left to compile (at most settle_time in all): the
    # steady state is the compiled code's, not the interpreter's while it compiles. Code that gets hot
    # during the samples is compiled beside them (its Python half holding the GIL) and may not be done
    # by their end, short samples especially: then they are taken again once it is.
    while True:
        while not jit_settled() and time.perf_counter() < deadline:
            run(loops)
        before = jit_compilations()
        times = [run(loops) / loops / per for _ in range(samples)]
        if jit_settled() or time.perf_counter() >= deadline:
            break
    return Measurement(name, first, statistics.median(times), times, loops, first_hooked,
                       jit_compilations() - before)


def _load(name: str, mode: str) -> list[tuple]:
    """Run the benchmark's script (the JIT on first under mode "jit"); the functions it registered."""
    import pyperf
    script, extra = locate(name)
    pyperf.Runner = CollectingRunner
    sys.argv = [str(script), *extra]
    sys.path.insert(0, str(script.parent))
    if mode == "jit":
        import pyjion
        pyjion.enable()
    runpy.run_path(str(script), run_name="__main__")
    return CollectingRunner.last.collected


def child(name: str, mode: str, out: str, min_time: float, warmups: int, samples: int) -> None:
    start = time.perf_counter()
    results = [asdict(measure(n, run, inner, min_time, warmups, samples)) for n, run, inner in _load(name, mode)]
    report = {"benchmark": name, "mode": mode, "results": results, "wall": time.perf_counter() - start,
              "peak_rss_kib": peak_rss_kib(),
              "llvm_loaded": "llvmlite" in sys.modules}
    Path(out).write_text(json.dumps({**report, **_jit_statistics(mode)}))


def peak_rss_kib() -> int:
    """This process's peak resident set since it started (VmHWM). Not getrusage's ru_maxrss: Linux keeps
    in it the peak of the memory the process had before exec(), a copy of its parent's when forked: the
    runner's own ~70 MiB (it imports pyjion, and with it LLVM) in every child."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def _jit_statistics(mode: str) -> dict:
    """Under the JIT: switches it off, then gives its compile time and how many functions it compiled and
    loaded from the cache."""
    if mode != "jit":
        return {}
    import pyjion
    from pyjion.runtime import jit
    pyjion.disable()
    return {"compile_seconds": jit.statistics.lower_seconds + jit.statistics.llvm_seconds,
            "compiled": jit.statistics.compiled, "from_cache": jit.statistics.from_cache}


def warm_up_child(name: str, mode: str, out: str, seconds: float) -> None:
    """Iterations of the benchmark's first function, back to back for ``seconds``: when each batch ended,
    counted from before pyjion is imported (its import and enable() are part of a program's run), and how
    many iterations were done by then. Batches double while an iteration takes under a millisecond."""
    start = time.perf_counter()
    _, run, _ = _load(name, mode)[0]
    ends: list[float] = []
    done: list[int] = []
    batch = 1
    while not ends or ends[-1] < seconds:
        took = run(batch)
        ends.append(time.perf_counter() - start)
        done.append((done[-1] if done else 0) + batch)
        if took < 1e-3 * batch:
            batch *= 2
    Path(out).write_text(json.dumps({"benchmark": name, "mode": mode, "ends": ends, "done": done, "wall": ends[-1],
                                     **_jit_statistics(mode)}))


# ---- the parent: rounds of fresh processes, plain and JIT interleaved --------------------------------------
# The child loads this file by its path, not as pyjion.bench: importing the pyjion package would load
# llvmlite and LLVM (~60 MiB) into the plain child too, and its peak RSS would no longer be plain CPython's.
_CHILD_BOOTSTRAP = ("import importlib.util, sys; "
                    "spec = importlib.util.spec_from_file_location('pyjion_bench_child', sys.argv[1]); "
                    "module = importlib.util.module_from_spec(spec); sys.modules[spec.name] = module; "
                    "spec.loader.exec_module(module); sys.exit(module.main(sys.argv[2:]))")


def run_child(name: str, mode: str, opts, cache_dir: str | None = None) -> dict:
    """One child process. ``cache_dir``: the code cache it uses (else none: the first iteration then
    includes every compilation, in every round)."""
    with tempfile.TemporaryDirectory() as scratch:
        out = os.path.join(scratch, "result.json")
        cmd = [sys.executable, "-c", _CHILD_BOOTSTRAP, __file__, "--child", name, "--mode", mode, "--out", out,
               "--min-time", str(opts.min_time), "--warmups", str(opts.warmups), "--samples", str(opts.samples)]
        if opts.warm_up:
            cmd += ["--warm-up", str(opts.warm_up)]
        env = dict(os.environ, PYJION_CACHE="1", PYJION_CACHE_DIR=cache_dir) if cache_dir else dict(
            os.environ, PYJION_CACHE="0")
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=opts.timeout, env=env)
        if proc.returncode != 0 or not os.path.exists(out):
            return {"benchmark": name, "mode": mode, "error": proc.stderr[-2000:] or f"exit {proc.returncode}"}
        return json.loads(Path(out).read_text())


def geomean(values: list[float]) -> float | None:
    values = [v for v in values if v and v > 0]
    return math.exp(sum(map(math.log, values)) / len(values)) if values else None


def summarise(runs: list[dict]) -> dict:
    rows: dict[str, dict] = {}
    for run in runs:
        for result in run.get("results", []):
            row = rows.setdefault(result["name"], {"benchmark": run["benchmark"], "plain": [], "jit": []})
            row[run["mode"]].append({**result, "peak_rss_kib": run["peak_rss_kib"],
                                     "compile_seconds": run.get("compile_seconds", 0.0)})
    table = []
    for name, row in rows.items():
        if not row["plain"] or not row["jit"]:
            continue
        med = {mode: {key: statistics.median(r[key] for r in row[mode])
                      for key in ("first", "steady", "peak_rss_kib", "compile_seconds")} for mode in ("plain", "jit")}
        table.append({"name": name, "plain": med["plain"], "jit": med["jit"],
                      "steady_ratio": med["plain"]["steady"] / med["jit"]["steady"],
                      "first_ratio": med["plain"]["first"] / med["jit"]["first"],
                      "rss_ratio": med["jit"]["peak_rss_kib"] / med["plain"]["peak_rss_kib"],
                      "first_hooked": f'{sum(r.get("first_hooked", True) for r in row["jit"])}/{len(row["jit"])}'})
    return {"rows": table, "geomean_steady": geomean([r["steady_ratio"] for r in table]),
            "geomean_first": geomean([r["first_ratio"] for r in table]),
            "errors": [r for r in runs if "error" in r]}


PROGRAM_LENGTHS = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0)


def _time_to_do(trace: dict, iterations: int) -> float | None:
    """When the run had done ``iterations`` (the end of the batch that got there), None if it never did."""
    at = bisect.bisect_left(trace["done"], iterations)
    return trace["ends"][at] if at < len(trace["done"]) else None


def summarise_warm_up(runs: list[dict], seconds: float) -> dict:
    """Per benchmark, for programs that run the benchmark for L seconds under plain CPython (start-up and
    the script's setup included): plain time / JIT time for the same iterations (median over rounds;
    None where the JIT run had not done them within ``seconds``), and from which length on the JIT run
    is never behind (None: it still was at the end)."""
    traces: dict[str, dict[str, list[dict]]] = {}
    for run in runs:
        if "ends" in run:
            traces.setdefault(run["benchmark"], {"plain": [], "jit": []})[run["mode"]].append(run)
    table = []
    for name, modes in traces.items():
        pairs = list(zip(modes["plain"], modes["jit"]))
        if not pairs:
            continue
        ratios = {}
        for length in (x for x in PROGRAM_LENGTHS if x <= seconds):
            found = []
            for plain, jit in pairs:
                at = bisect.bisect_right(plain["ends"], length) - 1
                took = _time_to_do(jit, plain["done"][at]) if at >= 0 else None
                found.append(plain["ends"][at] / took if took else None)
            ratios[str(length)] = statistics.median(found) if None not in found else None
        break_even = []
        for plain, jit in pairs:
            behind = [i for i, (end, done) in enumerate(zip(plain["ends"], plain["done"]))
                      if (_time_to_do(jit, done) or math.inf) > end]
            last = behind[-1] + 1 if behind else 0
            break_even.append(plain["ends"][last] if last < len(plain["ends"]) else None)
        iteration = statistics.median(p["ends"][-1] - p["ends"][0] for p, _ in pairs) / statistics.median(
            p["done"][-1] - p["done"][0] or 1 for p, _ in pairs)
        table.append({"name": name, "plain_iteration": iteration, "ratios": ratios,
                      "break_even": statistics.median(break_even) if None not in break_even else None})
    return {"rows": table, "errors": [r for r in runs if "error" in r]}


def format_warm_up(summary: dict) -> str:
    lengths = list(summary["rows"][0]["ratios"]) if summary["rows"] else []
    head = f"{'benchmark':<24} {'iteration':>10} " + " ".join(f"{float(k):>6g}s" for k in lengths) + "  break-even"
    lines = [head, "-" * len(head)]
    for row in summary["rows"]:
        cells = " ".join(f"{v:>6.2f}x" if v is not None else f"{'-':>7}" for v in row["ratios"].values())
        even = f"{row['break_even']:.1f} s" if row["break_even"] is not None else "not reached"
        lines.append(f"{row['name']:<24} {_duration(row['plain_iteration']):>10} {cells}  {even}")
    return "\n".join(lines + _error_lines(summary))


def _error_lines(summary: dict) -> list[str]:
    return [f"ERROR {error['benchmark']} {error['mode']}: {error['error'].strip().splitlines()[-1:]}"
            for error in summary["errors"]]


def _duration(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.2f} {unit}"
    return f"{seconds * 1e9:.1f} ns"


def format_table(summary: dict) -> str:
    head = (f"{'benchmark':<28} {'plain':>10} {'jit':>10} {'steady':>7} {'first':>7} "
            f"{'compile s':>9} {'RSS x':>6} {'hooked':>6}")
    lines = [head, "-" * len(head)]
    for row in summary["rows"]:
        lines.append(f"{row['name']:<28} {_duration(row['plain']['steady']):>10} {_duration(row['jit']['steady']):>10} "
                     f"{row['steady_ratio']:>6.2f}x {row['first_ratio']:>6.2f}x "
                     f"{row['jit']['compile_seconds']:>9.2f} {row['rss_ratio']:>5.2f}x {row['first_hooked']:>6}")
    steady, first = summary["geomean_steady"], summary["geomean_first"]
    if steady:
        lines.append(f"{'geometric mean':<28} {'':>10} {'':>10} {steady:>6.2f}x {first:>6.2f}x")
    return "\n".join(lines + _error_lines(summary))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pyjion.bench", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("benchmarks", nargs="*", help=f"default: {' '.join(DEFAULT_BENCHMARKS)}")
    ap.add_argument("--rounds", type=int, default=3, help="fresh processes per benchmark and mode")
    ap.add_argument("--min-time", type=float, default=0.1, help="seconds a steady-state sample lasts at least")
    ap.add_argument("--warmups", type=int, default=3, help="steady-state samples discarded first")
    ap.add_argument("--samples", type=int, default=5, help="steady-state samples kept")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per child")
    ap.add_argument("--json", help="write every run and the summary here")
    ap.add_argument("--list", action="store_true", help="list the benchmarks pyperformance ships")
    ap.add_argument("--warm-up", type=float, metavar="SECONDS",
                    help="instead: time iterations one by one for SECONDS per process, and compare programs of "
                         "several lengths, JIT start-up and compilation included")
    ap.add_argument("--code-cache", action="store_true",
                    help="JIT runs use a code cache, primed by one JIT run of each benchmark first (a program run "
                         "again); default: no code cache")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--mode", choices=("plain", "jit"), help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    opts = ap.parse_args(argv)
    if opts.child:
        if opts.warm_up:
            warm_up_child(opts.child, opts.mode, opts.out, opts.warm_up)
        else:
            child(opts.child, opts.mode, opts.out, opts.min_time, opts.warmups, opts.samples)
        return 0
    known = manifest()
    if opts.list:
        print("\n".join(sorted(known)))
        return 0
    selected = opts.benchmarks or list(DEFAULT_BENCHMARKS)
    unknown = [name for name in selected if name not in known]
    if unknown:
        ap.error(f"unknown benchmark(s): {', '.join(unknown)} (see --list)")
    runs = []
    with tempfile.TemporaryDirectory() as caches:
        cache_dirs = {name: os.path.join(caches, name) if opts.code_cache else None for name in selected}
        for name in selected if opts.code_cache else ():
            primed = run_child(name, "jit", opts, cache_dirs[name])
            print(f"priming the code cache: {name}: " + ("error" if "error" in primed else f"{primed['wall']:.1f}s"),
                  file=sys.stderr, flush=True)
        for round_number in range(opts.rounds):
            for name in selected:
                modes = ("plain", "jit") if round_number % 2 == 0 else ("jit", "plain")
                for mode in modes:
                    run = run_child(name, mode, opts, cache_dirs[name])
                    runs.append(run)
                    print(f"round {round_number + 1}/{opts.rounds} {name} {mode}: "
                          + ("error" if "error" in run else f"{run['wall']:.1f}s"), file=sys.stderr, flush=True)
    print(f"pyjion.bench {time.strftime('%Y-%m-%d')}: python {sys.version.split()[0]}, rounds {opts.rounds}, "
          + (f"warm-up {opts.warm_up}s" if opts.warm_up else
             f"min-time {opts.min_time}s, warmups {opts.warmups}, samples {opts.samples}")
          + (", code cache primed by one JIT run" if opts.code_cache else ", no code cache"))
    summary = summarise_warm_up(runs, opts.warm_up) if opts.warm_up else summarise(runs)
    print(format_warm_up(summary) if opts.warm_up else format_table(summary))
    if opts.json:
        Path(opts.json).write_text(json.dumps({"runs": runs, "summary": summary}, indent=1))
    return 1 if summary["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
