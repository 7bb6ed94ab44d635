"""Shrink a program that the JIT gets wrong, keeping it wrong the same way.

Blocks (a line and the lines indented under it) are removed, or replaced by ``pass``, as long as the
program still compiles, runs to the end plainly, and its outcome in the given JIT mode still differs
from plain's in the same way: a crash stays a crash, a timeout a timeout, a mismatch a mismatch in the
same part of the outcome (stdout, return value, exception, traceback).
"""
from __future__ import annotations

from typing import TextIO

from .runner import PLAIN, Program, compare, run_mode


def _signature(plain: dict, jitted: dict) -> tuple | None:
    """What kind of difference there is (None: none), coarse enough to survive shrinking."""
    differences = compare(plain, jitted)
    if not differences:
        return None
    if "crash" in jitted or "timeout" in jitted:
        return ("crash" if "crash" in jitted else "timeout",)
    return tuple(sorted({d.split(":")[0].split(" ")[-1] for d in differences}))


def _block_end(lines: list[str], start: int) -> int:
    indent = len(lines[start]) - len(lines[start].lstrip())
    end = start + 1
    while end < len(lines) and len(lines[end]) - len(lines[end].lstrip()) > indent:
        end += 1
    return end


def reduce_program(source: str, mode: str, timeout: float = 300.0, plain_timeout: float = 20.0,
                   progress: TextIO | None = None) -> str:
    """The smallest variant of ``source`` found that still goes wrong in ``mode`` the way it does now."""
    def outcome(text: str) -> tuple | None:
        try:
            compile(text, "<fuzz>", "exec")
        except (SyntaxError, ValueError):
            return None
        program = Program("reduce", text)
        plain = run_mode(PLAIN, [program], plain_timeout)["reduce"]
        if any(k in plain for k in ("timeout", "crash", "compile")):
            return None
        return _signature(plain, run_mode(mode, [program], timeout)["reduce"])

    target = outcome(source)
    if target is None:
        raise ValueError(f"the program does not go wrong in {mode}")
    lines = [line for line in source.splitlines() if line.strip()]
    changed = True

    def accept(candidate: list[str]) -> bool:
        nonlocal lines, changed
        if outcome("\n".join(candidate) + "\n") != target:
            return False
        lines, changed = candidate, True
        if progress is not None:
            print(f"{len(lines)} lines", file=progress, flush=True)
        return True

    while changed:
        changed = False
        start = 0
        while start < len(lines):
            end = _block_end(lines, start)
            if accept(lines[:start] + lines[end:]):
                continue          # the next block has moved up to start
            stub = lines[start][:len(lines[start]) - len(lines[start].lstrip())] + "pass"
            if lines[start:end] != [stub]:
                accept(lines[:start] + [stub] + lines[end:])
            start += 1
    return "\n".join(lines) + "\n"
