"""``python -m pyjion.fuzz``: see the package docstring."""
from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from typing import Iterator

from .programs import generate
from .runner import ALL_MODES, PLAIN, Program, compare, fuzz, run_mode


def generated(seed: int, count: int | None) -> Iterator[Program]:
    numbers = itertools.count() if count is None else range(count)
    for n in numbers:
        yield Program(f"{seed}-{n}", generate(f"{seed}-{n}"))


def replay(path: str, modes: list[str], timeout: float, plain_timeout: float) -> int:
    with open(path, encoding="utf-8") as fp:
        program = Program("replay", fp.read())
    plain = run_mode(PLAIN, [program], plain_timeout)["replay"]
    status = 0
    for mode in modes:
        if mode == PLAIN:
            continue
        differences = compare(plain, run_mode(mode, [program], timeout)["replay"])
        print(f"{mode}: {'differs' if differences else 'same as plain'}")
        for line in differences:
            print(f"    {line}")
        status |= bool(differences)
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pyjion.fuzz", description=__doc__)
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--programs", type=int, metavar="N", help="generated programs to check (default: "
                      "until --minutes runs out, or 100)")
    what.add_argument("--grammar", type=int, metavar="N", help="check N hypothesmith programs instead")
    what.add_argument("--show", metavar="SEED-N", help="print one generated program")
    what.add_argument("--replay", metavar="FILE", help="run one program in every mode, print the differences")
    what.add_argument("--reduce", metavar="FILE", help="shrink a program that goes wrong in --mode; print it")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--minutes", type=float, help="stop starting batches after this long")
    parser.add_argument("--modes", default=",".join(ALL_MODES), help="comma-separated (default: %(default)s)")
    parser.add_argument("--mode", default="fb2", help="the JIT mode --reduce keeps going wrong")
    parser.add_argument("--out", help="directory for the programs that go wrong (default: not saved)")
    parser.add_argument("--batch", type=int, default=10, help="programs per child process")
    parser.add_argument("--jobs", type=int, default=1, help="modes run at once")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per program in a JIT mode")
    parser.add_argument("--plain-timeout", type=float, default=20.0, help="seconds per program, plainly")
    args = parser.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]

    if args.show:
        print(generate(args.show), end="")
        return 0
    if args.replay:
        return replay(args.replay, modes, args.timeout, args.plain_timeout)
    if args.reduce:
        from .reduce import reduce_program
        with open(args.reduce, encoding="utf-8") as fp:
            source = fp.read()
        print(reduce_program(source, args.mode, args.timeout, args.plain_timeout, progress=sys.stderr), end="")
        return 0
    if args.grammar is not None:
        from .grammar import GRAMMAR_MODES, grammar_programs
        programs: Iterator[Program] | list[Program] = grammar_programs(args.grammar, args.seed)
        print(f"{len(programs)} compilable programs from hypothesmith", file=sys.stderr)
        modes = [m for m in modes if m in GRAMMAR_MODES]
        plain_timeout = min(args.plain_timeout, 5.0)   # most loops there never end
    else:
        count = args.programs if args.programs is not None or args.minutes else 100
        programs = generated(args.seed, count)
        plain_timeout = args.plain_timeout
    deadline = time.monotonic() + args.minutes * 60 if args.minutes else None
    if args.out:
        os.makedirs(args.out, exist_ok=True)
    summary = fuzz(programs, modes, args.out, args.batch, args.timeout, plain_timeout, args.jobs, deadline,
                   progress=sys.stderr)
    print(summary.format())
    return 1 if summary.findings else 0


if __name__ == "__main__":
    sys.exit(main())
