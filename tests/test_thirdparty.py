"""The third-party suite runner's own logic (``python -m pyjion.thirdparty``), offline.

Nothing is downloaded here: the real run installs five packages and runs each suite five times (see
the module's docstring). These tests check how outcomes are recorded, merged, compared and reported,
running the child plugin on a small generated suite with this interpreter's pytest.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from pyjion import thirdparty
from pyjion.thirdparty import (CRASH, ERROR, FAILED, NOT_RUN, OK, PASSED, SKIPPED, TIMEOUT, XFAILED, XPASSED,
                               Package, Report, Run)

SUITE = '''
import os, signal
import pytest

if os.environ.get("IMPORT_PYJION"):  # as pyjion.pth does with PYJION=1, but not enabled: nothing compiles
    import pyjion

@pytest.fixture
def broken():
    raise RuntimeError("fixture")

@pytest.fixture
def bad_teardown():
    yield
    raise RuntimeError("teardown")

def test_pass(): pass
def test_fail(): assert 1 == 2
def test_fixture_error(broken): pass
def test_teardown_error(bad_teardown): pass
def test_fail_and_teardown_error(bad_teardown): assert False
def test_skip(): pytest.skip("no")
@pytest.mark.xfail
def test_xfail(): assert False
@pytest.mark.xfail
def test_xpass(): pass
def test_subtest_fails(subtests):
    with subtests.test(i=1):
        assert False
@pytest.mark.parametrize("n", [1, 2])
def test_param(n): assert n == 1
def test_zz_crash():
    if os.environ.get("CRASH"):
        os.kill(os.getpid(), signal.SIGSEGV)
def test_zz_after(): pass
'''


def run_child(tmp_path, env_extra=None) -> tuple[int, str]:
    (tmp_path / "test_suite.py").write_text(SUITE)
    (tmp_path / "test_broken_import.py").write_text("import no_such_module_here\n")
    out = tmp_path / "outcomes.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYJION")}
    env.update(env_extra or {})
    proc = subprocess.run([sys.executable, "-c", thirdparty.BOOTSTRAP, thirdparty.__file__, str(out),
                           *thirdparty.PYTEST_ARGS, "-p", "no:faulthandler", str(tmp_path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    return proc.returncode, str(out)


def test_recorder_outcomes(tmp_path) -> None:
    returncode, out = run_child(tmp_path)
    events = thirdparty.read_events(out)
    outcomes, details = events.outcomes, events.details
    assert returncode == events.exitstatus == 1 and events.unfinished == [] and events.jit is None
    assert thirdparty.classify(returncode, False, events.exitstatus) == (OK, "")
    by_name = {nodeid.split("::")[-1] if "::" in nodeid else nodeid: o for nodeid, o in outcomes.items()}
    assert by_name == {
        "test_broken_import.py": ERROR, "test_pass": PASSED, "test_fail": FAILED,
        "test_fixture_error": ERROR, "test_teardown_error": ERROR, "test_fail_and_teardown_error": FAILED,
        "test_skip": SKIPPED, "test_xfail": XFAILED, "test_xpass": XPASSED, "test_subtest_fails": FAILED,
        "test_param[1]": PASSED, "test_param[2]": FAILED, "test_zz_crash": PASSED, "test_zz_after": PASSED,
    }
    assert "assert 1 == 2" in details["test_suite.py::test_fail"]
    assert "no_such_module_here" in details["test_broken_import.py"]
    assert "assert False" in details["test_suite.py::test_subtest_fails"]  # the subtest's, not the summary
    assert "test_suite.py::test_pass" not in details


def test_crash_keeps_outcomes_and_names_the_running_test(tmp_path) -> None:
    returncode, out = run_child(tmp_path, {"CRASH": "1"})
    events = thirdparty.read_events(out)
    assert returncode == -11 and events.exitstatus is None
    assert events.unfinished == ["test_suite.py::test_zz_crash"]
    status, detail = thirdparty.classify(returncode, False, events.exitstatus, True, events.jit)
    assert (status, detail) == (CRASH, "killed by SIGSEGV")
    expected = list(events.outcomes) + events.unfinished + ["test_suite.py::test_zz_after"]
    done = thirdparty.complete(events.outcomes, events.unfinished, status, expected)
    assert done["test_suite.py::test_pass"] == PASSED
    assert done["test_suite.py::test_zz_crash"] == CRASH
    assert done["test_suite.py::test_zz_after"] == NOT_RUN


def test_a_jit_run_that_compiled_nothing_is_flagged(tmp_path) -> None:
    returncode, out = run_child(tmp_path, {"IMPORT_PYJION": "1"})
    events = thirdparty.read_events(out)
    assert events.jit == {"considered": 0, "compiled": 0}
    assert thirdparty.classify(returncode, False, events.exitstatus, True, events.jit)[0] == thirdparty.NO_JIT
    assert thirdparty.classify(returncode, False, events.exitstatus, False, events.jit)[0] == OK


COMPILED = {"considered": 10, "compiled": 9}


@pytest.mark.parametrize("returncode, timed_out, exitstatus, jit_expected, jit, status", [
    (0, False, 0, False, None, OK),
    (1, False, 1, False, None, OK),
    (1, False, 1, True, COMPILED, OK),
    (1, False, 1, True, None, thirdparty.NO_JIT),
    (-9, True, None, True, None, TIMEOUT),
    (-6, False, None, True, None, CRASH),
    (-11, False, 1, True, COMPILED, CRASH),  # the session finished, then the interpreter crashed at exit
    (1, False, None, False, None, CRASH),    # died without a signal before the session finished (os._exit)
    (0, False, 1, False, None, CRASH),       # pytest said 1, the process 0
    (5, False, 5, False, None, "pytest exit 5"),
    (4, False, 4, True, COMPILED, "pytest exit 4"),
])
def test_classify(returncode, timed_out, exitstatus, jit_expected, jit, status) -> None:
    assert thirdparty.classify(returncode, timed_out, exitstatus, jit_expected, jit)[0] == status


def test_read_events_ignores_a_torn_last_line(tmp_path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text('{"start": "a"}\n{"id": "a", "outcome": "passed"}\n{"start": "b"}\n{"id": "b", "outc')
    assert thirdparty.read_events(str(path)) == thirdparty.Events({"a": PASSED}, {}, ["b"], None, None)
    assert thirdparty.read_events(str(tmp_path / "missing.jsonl")) == thirdparty.Events()


def test_differences() -> None:
    base = {"a": PASSED, "b": FAILED, "c": SKIPPED, "d": PASSED}
    other = {"a": PASSED, "b": PASSED, "c": SKIPPED, "e": XFAILED}
    assert thirdparty.differences(base, other) == [("b", FAILED, PASSED), ("d", PASSED, NOT_RUN),
                                                   ("e", NOT_RUN, XFAILED)]
    assert thirdparty.differences(base, dict(base)) == []


def make_report() -> Report:
    pkg = Package("demo", "1.0", ("tests",))
    runs = {
        ("demo", "plain"): Run("demo", "plain", status=OK, duration=2.0,
                               outcomes={"t::a": PASSED, "t::b": FAILED, "t::c": SKIPPED, "t::d": XFAILED}),
        ("demo", "jit-t0-l0"): Run("demo", "jit-t0-l0", status=OK, duration=20.0,
                                   outcomes={"t::a": PASSED, "t::b": FAILED, "t::c": SKIPPED, "t::d": XFAILED}),
        ("demo", "jit-t0-l1"): Run("demo", "jit-t0-l1", status=CRASH, detail="killed by SIGSEGV", duration=5.0,
                                   outcomes={"t::a": FAILED, "t::b": CRASH, "t::c": NOT_RUN, "t::d": NOT_RUN},
                                   details={"t::a": "E   assert 3 == 4"}),
    }
    return Report([pkg], ["plain", "jit-t0-l0", "jit-t0-l1"], runs, wall=30.0, source="abc")


def test_report_table_and_exit_status() -> None:
    report = make_report()
    assert report.diffs("demo", "jit-t0-l0") == []
    assert len(report.diffs("demo", "jit-t0-l1")) == 4
    assert report.failing() == ["demo jit-t0-l1"]
    text = report.format()
    row = next(line for line in text.splitlines() if line.startswith("demo "))
    assert re.search(r"demo\s+1\.0\s+4 \| 1/1/0/2\s+\| 1/1/0/2\s+0 \| 0/1/1/0 CRASH\s+4", row), row
    assert "t::a: passed -> failed" in text and "assert 3 == 4" in text
    assert "t::b: failed -> crash" in text
    assert "2 test(s) not run" in text
    assert "demo jit-t0-l1: crash (killed by SIGSEGV)" in text
    data = report.as_dict()
    assert data["failing"] == ["demo jit-t0-l1"]
    assert data["differences"]["demo jit-t0-l1"][0] == ("t::a", PASSED, FAILED)
    assert data["packages"][0]["name"] == "demo"
    del report.runs[("demo", "jit-t0-l1")]
    assert report.failing() == []


def test_timing_dependent_tests_are_reported_apart() -> None:
    report = make_report()
    report.runs[("demo", "jit-t0-l0")].outcomes["t::a"] = FAILED
    assert report.failing() == ["demo jit-t0-l0", "demo jit-t0-l1"]
    report.packages = [Package("demo", "1.0", ("t",), timing={"t::a": "a race with its worker thread"})]
    assert report.diffs("demo", "jit-t0-l0") == []
    assert report.diffs("demo", "jit-t0-l0", timing=True) == [("t::a", PASSED, FAILED)]
    assert report.failing() == ["demo jit-t0-l1"]  # t::b's crash there still counts
    assert "demo jit-t0-l0: timing-dependent, not counted: t::a: passed -> failed (a race" in report.format()
    assert report.as_dict()["timing_differences"]["demo jit-t0-l0"] == [("t::a", PASSED, FAILED)]


def test_pins_and_configs() -> None:
    names = [p.name for p in thirdparty.PACKAGES]
    assert len(names) == len(set(names))
    assert {"more-itertools", "sortedcontainers", "toolz", "attrs", "pyparsing"} <= set(names)
    for p in thirdparty.PACKAGES:
        assert re.fullmatch(r"[0-9][0-9.]*", p.version), p
        assert all(re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][0-9.]*", dep) for dep in p.deps), p
    assert re.fullmatch(r"pytest==[0-9.]+", thirdparty.PYTEST)
    assert thirdparty.CONFIGS[thirdparty.BASELINE] == {}
    assert all(env.get("PYJION") == "1" for name, env in thirdparty.CONFIGS.items() if name != "plain")


def test_child_env(monkeypatch) -> None:
    monkeypatch.setenv("PYJION_LEVEL", "1")
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    plain = thirdparty.child_env("plain", "/tmp/x")
    assert not any(k.startswith("PYJION") for k in plain) and "PYTHONDONTWRITEBYTECODE" not in plain
    assert plain["PYTHONHASHSEED"] == "0" and plain["TMPDIR"] == "/tmp/x"
    jit = thirdparty.child_env("jit-t0-l1", "/tmp/x")
    assert (jit["PYJION"], jit["PYJION_THRESHOLD"], jit["PYJION_LEVEL"], jit["PYJION_CACHE"]) == ("1", "0", "1", "0")


def test_find_sdist(tmp_path) -> None:
    for name in ("more_itertools-11.2.1.tar.gz", "more_itertools-11.2.0.tar.gz", "toolz-1.2.0.zip"):
        (tmp_path / name).write_bytes(b"")
    found = thirdparty._find_sdist(str(tmp_path), Package("more-itertools", "11.2.1", ()))
    assert os.path.basename(found) == "more_itertools-11.2.1.tar.gz"
    with pytest.raises(FileNotFoundError):
        thirdparty._find_sdist(str(tmp_path), Package("toolz", "1.2.0", ()))


def test_resume_keeps_runs_of_the_same_sources_and_pins(tmp_path) -> None:
    report = make_report()
    report.packages = [thirdparty.PACKAGES[0]]
    name = report.packages[0].name
    report.runs = {(name, c): Run(name, c, status=OK, outcomes={"t::a": PASSED}, jit={"considered": 1, "compiled": 1})
                   for c in ("plain", "jit-t0-l0")}
    path = str(tmp_path / "report.json")
    thirdparty._write_report(report, path)
    opts = type("Opts", (), {"source": "abc", "configs": ["plain", "jit-t0-l0"]})()
    runs, wall = thirdparty._resume(path, opts)
    assert runs == report.runs and wall == 30.0
    opts.configs = ["plain"]
    assert list(thirdparty._resume(path, opts)[0]) == [(name, "plain")]
    opts.source = "other"
    with pytest.raises(ValueError, match="other sources"):
        thirdparty._resume(path, opts)


def test_has_pytest_config(tmp_path) -> None:
    assert not thirdparty.has_pytest_config(str(tmp_path))
    (tmp_path / "setup.cfg").write_text("[egg_info]\ntag_build =\n")
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    assert not thirdparty.has_pytest_config(str(tmp_path))
    (tmp_path / "pyproject.toml").write_text("[tool.pytest.ini_options]\ntestpaths = ['t']\n")
    assert thirdparty.has_pytest_config(str(tmp_path))
    (tmp_path / "pyproject.toml").unlink()
    (tmp_path / "pytest.ini").write_text("")  # pytest.ini counts even when empty
    assert thirdparty.has_pytest_config(str(tmp_path))
