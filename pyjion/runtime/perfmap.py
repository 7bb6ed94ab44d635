"""Linux perf's map of JIT code: ``/tmp/perf-<pid>.map``, one ``start size name`` line (hex) per
compiled function, so that ``perf report`` names the machine code pyjion made."""
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
    global _file, _pid
    with _lock:
        if _file is None or _pid != os.getpid():  # a forked child writes its own map
            _file, _pid = open(path(), "a", encoding="utf-8"), os.getpid()
        _file.write(f"{address:x} {size:x} {symbol(code)}\n")
        _file.flush()
