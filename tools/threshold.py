"""Wall time of small real programs under the JIT at several thresholds, relative to plain CPython.

    python tools/threshold.py [thresholds...]     (default: 0 10 100 1000)

Each program runs in a fresh process (best of 3); the ratio is plain time / JIT time, so > 1 means the
JIT made the whole run, compilation included, faster.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

PROGRAMS = {
    "calendar": "import calendar\nfor y in range(2000, 2400): calendar.TextCalendar().formatyear(y)",
    "difflib": ("import difflib, random\nrandom.seed(1)\n"
                "a = [f'line {random.randint(0, 50)}' for _ in range(4000)]\n"
                "b = [x if random.random() < 0.9 else 'changed' for x in a]\n"
                "list(difflib.unified_diff(a, b)); difflib.SequenceMatcher(None, a, b).ratio()"),
    "statistics": ("import statistics, random\nrandom.seed(2)\n"
                   "data = [random.random() for _ in range(20000)]\n"
                   "for _ in range(40): statistics.stdev(data); statistics.median(data); statistics.quantiles(data)"),
    "json": ("import json.encoder as e, json\ne.c_make_encoder = None\n"
             "doc = {'k%d' % i: [i, str(i), {'x': i / 3}] for i in range(3000)}\n"
             "for _ in range(30): json.loads(json.dumps(doc, indent=1))"),
    "textwrap": ("import textwrap\ntext = ' '.join('word%d' % i for i in range(20000))\n"
                 "for w in range(30, 90, 5): textwrap.fill(text, w)"),
}


# Byte-compiled modules, as after a normal install (some environments set PYTHONDONTWRITEBYTECODE).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def run(program: str, threshold: int | None) -> float:
    prefix = "" if threshold is None else f"import pyjion\npyjion.config(threshold={threshold})\npyjion.enable()\n"
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", prefix + program], check=True, env=ENV)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    thresholds = [int(a) for a in sys.argv[1:]] or [0, 10, 100, 1000]
    print(f"{'program':12s} {'plain s':>8s} " + " ".join(f"{'t=' + str(t):>8s}" for t in thresholds))
    for name, program in PROGRAMS.items():
        plain = run(program, None)
        ratios = [plain / run(program, t) for t in thresholds]
        print(f"{name:12s} {plain:8.2f} " + " ".join(f"{r:8.2f}" for r in ratios), flush=True)


if __name__ == "__main__":
    main()
