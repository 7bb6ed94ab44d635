"""Linux perf's map of JIT code: ``/tmp/perf-<pid>.map``, one ``start size name`` line (hex) per
compiled function and per function of the runtime module, so that ``perf report`` names the machine
code pyjion made."""
from __future__ import annotations

import os
import threading
from types import CodeType
from typing import TextIO

_lock = threading.Lock()
_file: TextIO | None = None
_pid = 0


def path(pid: int | None = None) -> str:
    return f"/tmp/perf-{os.getpid() if pid is None else pid}.map"


def symbol(code: CodeType) -> str:
    return f"py::{code.co_qualname}:{code.co_filename}:{code.co_firstlineno}"


def write(address: int, size: int, code: CodeType) -> None:
    _write([(address, size, symbol(code))])


# The runtime module's functions have no recorded size: each is taken to reach the next one's start.
LAST_RUNTIME_FUNCTION_SIZE = 4096
_runtime_written: int | None = None  # the pid whose map lists them


def write_runtime(functions: dict[str, int]) -> None:
    """List the runtime's native functions (the hook, pyjion_vectorcall, ...) once per process."""
    global _runtime_written
    if _runtime_written == os.getpid():
        return
    _runtime_written = os.getpid()
    ordered = sorted((address, name) for name, address in functions.items() if address)
    ends = [address for address, _ in ordered[1:]] + [ordered[-1][0] + LAST_RUNTIME_FUNCTION_SIZE]
    _write([(address, end - address, f"pyjion::{name}") for (address, name), end in zip(ordered, ends)])


def _write(entries: list[tuple[int, int, str]]) -> None:
    global _file, _pid
    with _lock:
        if _file is None or _pid != os.getpid():  # a forked child writes its own map
            _file, _pid = open(path(), "a", encoding="utf-8"), os.getpid()
        _file.writelines(f"{address:x} {size:x} {name}\n" for address, size, name in entries)
        _file.flush()
