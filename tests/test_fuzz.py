"""The differential fuzzer (pyjion/fuzz): its own logic, and a short fixed-seed tier of the real thing.

The long run is ``python -m pyjion.fuzz --seed 1 --minutes 30 --out fuzz-findings``; here a few
generated programs go through every mode, and a few hypothesmith programs through plain, jit0 and jit2
(about 40 s on 2 busy cores). Mismatches it finds become regression tests in
``tests/compiler/test_fuzz_findings.py``.
"""
from __future__ import annotations

import json

import pytest

from pyjion.fuzz import reduce as reducing
from pyjion.fuzz import runner
from pyjion.fuzz.programs import generate
from pyjion.fuzz.runner import ALL_MODES, Program, Summary, check_batch, compare, fuzz, run_mode

# Fixed seeds: the same programs on every run. Chosen among the first few for their compile time.
CI_SEEDS = ("ci-3", "ci-19")
PLAIN_SEEDS = tuple(f"ci-{n}" for n in range(30))


def report(*outs: str, **changes) -> dict:
    """A child's report: the module body, then one round per output; changes apply to round 0."""
    result = {"rounds": [{"ret": "None", "out": ""}] + [{"ret": "None", "out": out} for out in outs]}
    result["rounds"][1].update(changes)
    return result


# --- comparison: it must see every kind of difference -------------------------------------------

def test_compare_equal_outcomes() -> None:
    assert compare(report("a\nb\n", "c\n"), report("a\nb\n", "c\n")) == []


@pytest.mark.parametrize("jitted, expected", [
    (report("a\nB\n", "c\n"), "round 0 stdout: line 2: plain 'b' != jit 'B'"),
    (report("a\nb\nextra\n", "c\n"), "round 0 stdout: plain has 2 lines, jit 3"),
    (report("a\nb\n", "c\n", ret="1"), "round 0 ret: plain 'None' != jit '1'"),
    (report("a\nb\n", "c\n", exc=["ValueError", "x"]), "round 0 exc: plain None"),
    (report("a\nb\n", "c\n", tb=[["f", 3]]), "round 0 tb"),
    (report("a\nb\n", "c\n", chain=[["context", False, "KeyError", "1"]]), "round 0 chain"),
    (report("a\nb\n"), "plain ran 3 rounds, jit 2"),
    ({"crash": "killed by SIGSEGV", "stderr": ""}, "crashed (killed by SIGSEGV)"),
    ({"timeout": 5}, "timed out after 5 s"),
    ({"compile": "SyntaxError: x"}, "compile: plain None"),
])
def test_compare_sees_each_difference(jitted: dict, expected: str) -> None:
    differences = compare(report("a\nb\n", "c\n"), jitted)
    assert differences and differences[0].startswith(expected), differences


def test_a_differing_mode_is_reported_and_saved(tmp_path, monkeypatch) -> None:
    program = Program("t-0", "print(1)\n")

    def fake_run_mode(mode: str, programs: list[Program], timeout: float) -> dict:
        out = "1\n" if mode in ("plain", "jit0") else "2\n"
        return {p.id: {"rounds": [{"ret": "None", "out": out}]} for p in programs}

    monkeypatch.setattr(runner, "run_mode", fake_run_mode)
    summary = Summary()
    check_batch([program], ["plain", "jit0", "jit2"], summary, str(tmp_path), 10, 10)
    assert [(f.program, f.mode, f.kind) for f in summary.findings] == [("t-0", "jit2", "mismatch")]
    saved = tmp_path / "t-0"
    assert (saved / "program.py").read_text() == "print(1)\n"
    text = (saved / "jit2.txt").read_text()
    assert text.startswith("module stdout: line 1: plain '1' != jit '2'")
    assert json.loads(text.split("\n\n", 1)[1])["jit2"]["rounds"][0]["out"] == "2\n"


# --- children: a crash or a hang is the running program's, and the batch goes on -----------------

def test_crash_and_hang_are_attributed_to_their_program() -> None:
    programs = [Program("ok-1", "print('before')\n"),
                Program("segv", "import ctypes\nctypes.string_at(0)\n"),
                Program("hang", "while True:\n    pass\n"),
                Program("ok-2", "def main(r):\n    print('round', r)\n")]
    results = run_mode("plain", programs, timeout=3)
    assert results["ok-1"]["rounds"][0]["out"] == "before\n"
    assert results["segv"]["crash"] == "killed by SIGSEGV"
    assert "Segmentation fault" in results["segv"]["stderr"]
    assert results["hang"] == {"timeout": 3}
    assert [r["out"] for r in results["ok-2"]["rounds"]] == ["", "round 0\n", "round 1\n", "round 2\n"]


def test_outcome_includes_exception_traceback_and_chain() -> None:
    source = ("def f():\n    try:\n        1 / 0\n    except ZeroDivisionError as e:\n"
              "        raise KeyError('k') from e\n\ndef main(r):\n    f()\n")
    result = run_mode("plain", [Program("exc", source)], timeout=10)["exc"]["rounds"][1]
    assert result["exc"] == ["KeyError", "'k'"]
    assert result["tb"] == [["main", 8], ["f", 5]]
    assert result["chain"] == [["cause", True, "ZeroDivisionError", "division by zero"]]


# --- the generator ------------------------------------------------------------------------------

def test_generator_is_deterministic_and_its_programs_compile() -> None:
    for seed in PLAIN_SEEDS:
        source = generate(seed)
        assert source == generate(seed)
        compile(source, "<fuzz>", "exec")
    assert len({generate(seed) for seed in PLAIN_SEEDS}) == len(PLAIN_SEEDS)


def test_generated_programs_mostly_run_to_the_end() -> None:
    programs = [Program(seed, generate(seed)) for seed in PLAIN_SEEDS]
    results = run_mode("plain", programs, timeout=20)
    calls = raised = 0
    for program in programs:
        report = results[program.id]
        assert "rounds" in report, (program.id, report)
        assert len(report["rounds"]) == 4 and "exc" not in report["rounds"][0], program.id
        for line in "".join(r["out"] for r in report["rounds"]).splitlines():
            words = line.split(" ")
            if len(words) > 2 and words[1].isdigit():
                calls += 1
            elif len(words) > 2 and words[1] == "raised":
                raised += 1
    # Exceptions are meant (type changes, zero divisors, NaN to int), but most calls must return.
    assert calls > raised > 0


# --- the reducer ----------------------------------------------------------------------------------

def test_block_end() -> None:
    lines = ["def f():", "    if x:", "        y", "    z", "w"]
    assert [reducing._block_end(lines, n) for n in range(5)] == [4, 3, 3, 4, 5]


def test_reducer_keeps_what_goes_wrong(monkeypatch) -> None:
    # A stand-in JIT that goes wrong whenever the program prints "bug".
    def fake_run_mode(mode: str, programs: list[Program], timeout: float) -> dict:
        source = programs[0].source
        out = "ok\n" if mode == "plain" or "print('bug')" not in source else "wrong\n"
        return {"reduce": {"rounds": [{"ret": "None", "out": out}]}}

    monkeypatch.setattr(reducing, "run_mode", fake_run_mode)
    source = ("import sys\n\ndef f(x):\n    if x:\n        y = 1\n        print('bug')\n    return 2\n\n"
              "for i in range(3):\n    f(i)\n")
    assert reducing.reduce_program(source, "jit2") == "def f(x):\n    if x:\n        print('bug')\n"
    with pytest.raises(ValueError, match="does not go wrong"):
        reducing.reduce_program("print(1)\n", "jit2")


# --- the tier -----------------------------------------------------------------------------------

def test_generated_programs_under_every_mode() -> None:
    programs = [Program(seed, generate(seed)) for seed in CI_SEEDS]
    summary = fuzz(programs, ALL_MODES, batch=len(programs))
    assert not summary.findings, summary.format()
    assert not summary.skipped, summary.format()
    for mode in ALL_MODES[1:]:
        assert summary.compiled[mode] > len(programs) * 5, summary.format()
    # the fb mode compiled the code with the interpreter's type feedback
    assert {"IntArithmetic", "LoadAttr", "GlobalCache"} & set(summary.flags), summary.format()


def test_grammar_programs() -> None:
    pytest.importorskip("hypothesmith")
    from pyjion.fuzz.grammar import grammar_programs
    programs = grammar_programs(30, seed=1)
    assert len(programs) > 20
    summary = fuzz(programs, ["plain", "jit0", "jit2"], batch=len(programs), plain_timeout=5)
    assert not summary.findings, summary.format()
