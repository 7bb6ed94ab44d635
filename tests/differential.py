"""Differential testing: run code plainly and under the JIT, and compare everything observable.

``check(func, *args)`` runs ``func`` in the interpreter, then with the JIT on at threshold 0 (so it is
compiled on that call), and asserts the same outcome: the return value (== and repr), or the exception
type, message and the traceback as (function, line) pairs; then that ``func`` really was compiled.
"""
from __future__ import annotations

import contextlib
import traceback
from typing import Any, Callable, Iterator

import pyjion


@contextlib.contextmanager
def jit(threshold: int = 0, level: int | None = None, background: bool = False) -> Iterator[None]:
    """The JIT on; by default code is compiled on the call that finds it hot (not in the background)."""
    before = pyjion.config()
    pyjion.config(threshold=threshold, level=before["level"] if level is None else level, background=background)
    pyjion.enable()
    try:
        yield
    finally:
        pyjion.disable()
        pyjion.config(threshold=before["threshold"], level=before["level"], background=before["background"])


def outcome(func: Callable, *args: Any, **kwargs: Any) -> tuple:
    try:
        value = func(*args, **kwargs)
    except BaseException as exc:  # noqa: BLE001 - the exception is the outcome
        frames = [(f.name, f.lineno) for f in traceback.extract_tb(exc.__traceback__)][1:]
        return ("raise", type(exc), str(exc), frames, _chain(exc))
    return ("return", value, repr(value))


def _chain(exc: BaseException) -> list:
    """Causes and contexts, as (link, type, message, traceback lines), down to the first exception."""
    chain, seen = [], {id(exc)}
    while True:
        link, nxt = ("cause", exc.__cause__) if exc.__cause__ is not None else ("context", exc.__context__)
        chain.append((link, exc.__suppress_context__))
        if nxt is None or id(nxt) in seen:
            return chain
        seen.add(id(nxt))
        chain.append((type(nxt), str(nxt), [f.lineno for f in traceback.extract_tb(nxt.__traceback__)]))
        exc = nxt


def check(func: Callable, *args: Any, compiled: bool = True, **kwargs: Any) -> tuple:
    """Assert func(*args, **kwargs) behaves the same with and without the JIT; return the outcome."""
    plain = outcome(func, *args, **kwargs)
    with jit():
        jitted = outcome(func, *args, **kwargs)
    assert jitted == plain, f"JIT {jitted!r} != plain {plain!r}"
    if compiled:
        info = pyjion.info(func)
        assert info.compiled, f"{func.__qualname__} did not compile: {info.compile_result!r} {info.reason}"
    return plain
