"""The fuzzer's child process: run a batch of programs in one mode and report each as a line of JSON.

    python -P child.py MODE JOBFILE       # JOBFILE: JSON list of {"id": ..., "source": ...}, in a
                                          # directory of its own (the code cache goes there)

MODE is ``plain`` (the interpreter), ``jitL`` (JIT on at threshold 0 and level L from the module body
on: everything is compiled on its first call) or ``fbL`` (module body and round 0 in the interpreter
under the JIT's hook at the highest threshold, so CPython specialises the code; then threshold 0 at
level L, so each function is compiled on its next call with that type feedback, and the later rounds
break its guards) or ``bgL`` (JIT on from the module body at threshold 5 with background compilation,
as programs run by default: machine code replaces the interpreter whenever the compiler thread is
done; after each round the child waits for the compiler thread, so later rounds run what it made).
A program is a module: its body runs, then ``main(r)`` for each round r if it
defines one.

Loaded by path (``-P``: not from inside the package) so that a plain child never imports pyjion.
Before a program the child writes ``{"start": id}``, after it ``{"done": id, ...}``: a child that dies
or hangs in between is the program's fault, and the parent restarts the batch after it.
"""
from __future__ import annotations

import gc
import io
import json
import os
import sys
import time
import types

ROUNDS = 3
HIGHEST_THRESHOLD = 2**31 - 1
BACKGROUND_THRESHOLD = 5
BACKGROUND_WAIT = 120.0   # seconds a bg round waits at most for the compiler thread


class Mode:
    def __init__(self, name: str, cache_dir: str) -> None:
        self.name = name
        self.kind = name.rstrip("012")
        self.level = int(name[len(self.kind):] or 0)
        if self.kind not in ("plain", "jit", "fb", "bg") or (self.kind != "plain") != (name != self.kind):
            raise ValueError(f"unknown mode {name!r}")
        self.pyjion = None
        if self.kind != "plain":
            import pyjion
            from pyjion.runtime import jit
            self.pyjion, self.jit = pyjion, jit
            # The batch's own code cache, deleted with it: the programs' common code (their prelude) is
            # compiled once per child.
            pyjion.config(cache=True, cache_dir=cache_dir, background=self.kind == "bg", level=self.level)

    def settle(self) -> None:
        """Wait until the compiler thread has compiled what got hot (a round takes milliseconds)."""
        deadline = time.monotonic() + BACKGROUND_WAIT
        while self.jit.waiting_to_compile() and time.monotonic() < deadline:
            time.sleep(0.005)

    def threshold(self, round_: int) -> int | None:
        """The JIT's threshold for a round (-1: the module body), None for no JIT."""
        if self.kind == "plain":
            return None
        if self.kind == "fb" and round_ < 1:
            return HIGHEST_THRESHOLD
        if self.kind == "bg":
            return BACKGROUND_THRESHOLD
        return 0


def code_objects(code: types.CodeType) -> list[types.CodeType]:
    found = [code]
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            found.extend(code_objects(const))
    return found


def _describe(exc: BaseException, filename: str) -> dict:
    def text(e: BaseException) -> str:
        try:
            return str(e)
        except Exception as failure:  # noqa: BLE001 - a broken __str__ is part of the outcome
            return f"<str() raised {type(failure).__name__}>"

    frames, tb = [], exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            frames.append([tb.tb_frame.f_code.co_name, tb.tb_lineno])
        tb = tb.tb_next
    chain, seen, link = [], {id(exc)}, exc
    while True:
        nxt = link.__cause__ if link.__cause__ is not None else link.__context__
        if nxt is None or id(nxt) in seen:
            break
        seen.add(id(nxt))
        chain.append(["cause" if link.__cause__ is not None else "context", link.__suppress_context__,
                      type(nxt).__name__, text(nxt)])
        link = nxt
    return {"exc": [type(exc).__qualname__, text(exc)], "tb": frames, "chain": chain}


def run_round(mode: Mode, round_: int, func, args: tuple, filename: str) -> dict:
    """Call func(*args) with stdout captured and the JIT set up for the round; the outcome as JSON data."""
    buf = io.StringIO()
    sys.stdout = buf
    threshold = mode.threshold(round_)
    try:
        if threshold is not None:
            mode.pyjion.config(threshold=threshold, start_delay=0)  # each round is far shorter than the delay
            mode.pyjion.enable()
        try:
            value = func(*args)
        finally:
            if threshold is not None:
                mode.pyjion.disable()
                if mode.kind == "bg":
                    mode.settle()
    except BaseException as exc:  # noqa: BLE001 - SystemExit and KeyboardInterrupt are outcomes too
        result = _describe(exc, filename)
        del exc
    else:
        try:
            result = {"ret": repr(value)}
        except Exception as failure:  # noqa: BLE001
            result = {"ret": f"<repr() raised {type(failure).__name__}>"}
        del value
    # Cyclic garbage is collected here, at the same point in every mode (the collector is off while
    # programs run): finalisers that print must print into the same round.
    gc.collect()
    sys.stdout = sys.__stdout__
    result["out"] = buf.getvalue()
    return result


def run_program(mode: Mode, program: dict) -> dict:
    # One name for every program, so that their identical parts are identical code objects.
    filename = "<fuzz>"
    try:
        code = compile(program["source"], filename, "exec")
    except (SyntaxError, ValueError, OverflowError, RecursionError, MemoryError) as exc:
        return {"compile": f"{type(exc).__name__}: {exc}"}
    namespace = {"__name__": "__fuzz__"}
    rounds = [run_round(mode, -1, exec, (code, namespace), filename)]
    main = namespace.get("main")
    if "exc" not in rounds[0] and isinstance(main, types.FunctionType):
        rounds.extend(run_round(mode, r, main, (r,), filename) for r in range(ROUNDS))
    report = {"rounds": rounds}
    if mode.pyjion is not None:
        codes = code_objects(code)
        infos = [mode.pyjion.info(c) for c in codes]
        flags = mode.pyjion.OptimizationFlags(0)
        for info in infos:
            flags |= info.optimizations
        report["code"] = len(codes)
        report["ran"] = sum(info.run_count > 0 for info in infos)
        report["compiled"] = sum(info.compiled for info in infos)
        report["flags"] = sorted(f.name for f in type(flags) if f in flags)
    namespace.clear()
    return report


def main(argv: list[str]) -> None:
    mode = Mode(argv[0], os.path.dirname(os.path.abspath(argv[1])))
    with open(argv[1], encoding="utf-8") as fp:
        programs = json.load(fp)
    # The protocol gets its own descriptor; fd 1 goes to /dev/null so nothing a program writes to it
    # can corrupt the protocol.
    proto = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    gc.disable()
    for program in programs:
        proto.write(json.dumps({"start": program["id"]}) + "\n")
        report = run_program(mode, program)
        proto.write(json.dumps({"done": program["id"], **report}) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
