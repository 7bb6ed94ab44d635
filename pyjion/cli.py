"""The ``pyjion`` command: run a script or module under the JIT, optionally printing what it did."""
from __future__ import annotations

import argparse
import gc
import os
import runpy
import sys
import types

import pyjion
from pyjion.runtime import jit
from pyjion.runtime.state import native_state, records

DESCRIPTION = "Run a Python program with the pyjion JIT compiler enabled."
EPILOG = ("Environment: PYJION=1 enables the JIT in every Python process started with it (pytest, "
          "workers, servers); PYJION_LEVEL, PYJION_THRESHOLD, PYJION_PGC, PYJION_CACHE, PYJION_CACHE_DIR, "
          "PYJION_PERF_MAP and PYJION_BACKGROUND set the defaults of the options.")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pyjion", description=DESCRIPTION, epilog=EPILOG,
                                usage="pyjion [options] (script.py | -m module) [args...]")
    p.add_argument("--level", type=int, choices=(0, 1, 2), help="optimisation level (default 2)")
    p.add_argument("--threshold", type=int,
                   help="calls before a function is compiled (default 100; a long-running loop is compiled sooner)")
    p.add_argument("--pgc", action=argparse.BooleanOptionalAction, default=None,
                   help="profile-guided compilation")
    p.add_argument("--cache", action=argparse.BooleanOptionalAction, default=None, help="the on-disk code cache")
    p.add_argument("--cache-dir", help="where the code cache lives")
    p.add_argument("--perf-map", action="store_true", default=None, help="write /tmp/perf-<pid>.map for perf")
    p.add_argument("--background", action=argparse.BooleanOptionalAction, default=None,
                   help="compile on a thread of its own while the program runs (default on)")
    p.add_argument("--start-delay", type=float, metavar="SECONDS",
                   help="seconds from the start to the JIT's hook (default 0.1; threshold 0: none)")
    p.add_argument("--stats", action="store_true", help="print what the JIT did when the program ends")
    p.add_argument("-m", dest="module", help="run a library module as a script")
    p.add_argument("target", nargs=argparse.REMAINDER, help="script.py and its arguments (or the module's)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.module is None and not args.target:
        parser().error("a script or -m module is required")
    if args.threshold is not None and args.threshold < 0:
        parser().error("--threshold must be 0 or more")
    if args.start_delay is not None and not 0 <= args.start_delay <= jit.MAX_START_DELAY:
        parser().error(f"--start-delay must be from 0 to {jit.MAX_START_DELAY:g} seconds")
    pyjion.config(**{k: v for k, v in (("level", args.level), ("threshold", args.threshold), ("pgc", args.pgc),
                                        ("cache", args.cache), ("cache_dir", args.cache_dir),
                                        ("perf_map", args.perf_map), ("background", args.background),
                                        ("start_delay", args.start_delay))
                               if v is not None})
    if args.module is not None:
        sys.argv = [args.module, *args.target]
        run = lambda: runpy.run_module(args.module, run_name="__main__", alter_sys=True)  # noqa: E731
    else:
        sys.argv = list(args.target)
        sys.path[0] = os.path.dirname(os.path.abspath(args.target[0]))  # as `python script.py` does
        run = lambda: runpy.run_path(args.target[0], run_name="__main__")  # noqa: E731
    pyjion.enable()
    try:
        run()
    finally:
        pyjion.disable()
        if args.stats:
            print(statistics_report(), file=sys.stderr)
    return 0


def _code_objects_run() -> list[types.CodeType]:
    """Code objects of live functions (and the code nested in them) that ran at least once under the JIT."""
    seen: dict[int, types.CodeType] = {}
    pending = [f.__code__ for f in gc.get_objects() if isinstance(f, types.FunctionType)]
    pending += [code for code, _ in records()]
    while pending:
        code = pending.pop()
        if id(code) in seen:
            continue
        seen[id(code)] = code
        pending += [c for c in code.co_consts if isinstance(c, types.CodeType)]
    return [code for code in seen.values() if (state := native_state(code)) is not None and state.run_count]


def statistics_report(top: int = 10) -> str:
    stats = jit.statistics
    run = _code_objects_run()
    failed = sum(stats.failed.values())
    lines = ["pyjion statistics",
             f"  code objects run under the JIT (of live functions): {len(run)}",
             f"  compiled: {stats.compiled} ({stats.from_cache} loaded from the code cache); failed: {failed}",
             f"  compile time: {stats.lower_seconds + stats.llvm_seconds:.2f} s "
             f"(lowering {stats.lower_seconds:.2f} s, LLVM {stats.llvm_seconds:.2f} s)"]
    if stats.failed:
        lines.append("  not compiled, by reason:")
        for (result, reason), count in stats.failed.most_common():
            lines.append(f"    {count:>6}  {result}: {reason}")
    lines.append(f"  most run (top {top}):")
    for code in sorted(run, key=lambda c: native_state(c).run_count, reverse=True)[:top]:
        state = native_state(code)
        status = "compiled" if state.entry else "failed" if state.failed else "interpreted"
        lines.append(f"    {state.run_count:>10}  {code.co_qualname} ({code.co_filename}:{code.co_firstlineno}) "
                     f"{status}")
    return "\n".join(lines)
