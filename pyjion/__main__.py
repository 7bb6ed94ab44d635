"""Run a program under the JIT: ``python -m pyjion script.py args...`` or ``python -m pyjion -m module args...``."""
from __future__ import annotations

import runpy
import sys

import pyjion

USAGE = "usage: python -m pyjion [-m module | script.py] [args...]"


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if args else 2
    if args[0] == "-m":
        if len(args) < 2:
            print(USAGE, file=sys.stderr)
            return 2
        run = lambda: runpy.run_module(args[1], run_name="__main__", alter_sys=True)
        sys.argv = args[1:]
    else:
        run = lambda: runpy.run_path(args[0], run_name="__main__")
        sys.argv = args
    pyjion.enable()
    try:
        run()
    finally:
        pyjion.disable()
    return 0


if __name__ == "__main__":
    sys.exit(main())
