"""Differential test on real code: pure-Python stdlib modules, plain CPython vs. the JIT at threshold 0.

``stdlib_workload.py`` is run twice in fresh interpreters, plainly and with ``--jit`` (the JIT is
installed before the modules under test are imported), and every recorded result must be identical.
The JIT run also reports how many of the code objects it saw being called it compiled; a floor on
that catches compilation silently stopping (every function falling back to the interpreter would
make the differential comparison vacuous).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

WORKLOAD = Path(__file__).with_name("stdlib_workload.py")
TIMEOUT = 600

# Measured (threshold 0, level 1): 798 code objects called, 798 compiled. Floors leave a little margin.
MIN_CALLED = 700
MIN_COMPILED = 700
MIN_FRACTION = 0.98


def run_workload(*flags: str) -> dict:
    env = dict(os.environ, PYTHONHASHSEED="0", COLUMNS="80")
    try:
        proc = subprocess.run([sys.executable, "-X", "faulthandler", str(WORKLOAD), *flags],
                              capture_output=True, text=True, timeout=TIMEOUT, env=env)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"workload {flags} timed out after {TIMEOUT}s; stderr:\n{exc.stderr}")
    assert proc.returncode == 0, (f"workload {list(flags)} exited with {proc.returncode}\n"
                                  f"stderr:\n{proc.stderr[-5000:]}\nstdout:\n{proc.stdout[-2000:]}")
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def runs() -> tuple[dict, dict]:
    return run_workload(), run_workload("--jit")


def test_results_identical(runs: tuple[dict, dict]) -> None:
    plain, jitted = runs
    stats = json.dumps(jitted["stats"], indent=1)
    assert plain["results"], "the plain run recorded nothing"
    missing = sorted(set(plain["results"]) ^ set(jitted["results"]))
    assert not missing, f"results recorded by only one run: {missing}\nstats: {stats}"
    diffs = [f"{name}:\n  plain: {plain['results'][name]}\n  jit:   {jitted['results'][name]}"
             for name in sorted(plain["results"]) if plain["results"][name] != jitted["results"][name]]
    assert not diffs, f"{len(diffs)} results differ under the JIT:\n" + "\n".join(diffs) + f"\nstats: {stats}"


def test_plain_run_has_no_stats(runs: tuple[dict, dict]) -> None:
    assert runs[0]["stats"] == {}


def test_jit_compiled_most_called_code(runs: tuple[dict, dict]) -> None:
    stats = runs[1]["stats"]
    print(json.dumps(stats, indent=1))
    text = json.dumps(stats, indent=1)
    assert stats["called"] >= MIN_CALLED, f"too few code objects ran under the JIT\n{text}"
    assert stats["compiled"] >= MIN_COMPILED, f"too few code objects compiled\n{text}"
    assert stats["compiled"] >= MIN_FRACTION * stats["called"], f"compiled fraction too low\n{text}"
    # Everything that did not compile must say why.
    for group, entry in stats["reasons"].items():
        assert group not in ("NoResult", "Success"), f"called code without a compile outcome\n{text}"
        assert not any(s.endswith(": ") for s in entry["samples"]), f"{group}: no reason given\n{text}"
