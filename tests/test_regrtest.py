"""CPython's own regression suite under the JIT: the fast tier of ``python -m pyjion.regrtest``.

The tier's modules run in fresh interpreters plainly and with the JIT at threshold 0; every module that
passes plainly must pass under the JIT unless ``pyjion/regrtest_exclusions.txt`` lists it with a
reason, and the JIT must actually have compiled code (a JIT that silently compiled nothing would make
the comparison vacuous). The tier run takes about 10 minutes on 2 cores; set ``PYJION_SKIP_REGRTEST=1`` to skip it;
``PYJION_REGRTEST_JOBS`` sets the number of parallel children (default: one per CPU).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from pyjion import regrtest
from pyjion.regrtest import CRASH, ENV, FAIL, PASS, SKIP, TIMEOUT, Run

# Whole-tier budget: measured ~10 min with 2 jobs (see the README); generous for slow CI machines.
TIER_TIMEOUT = 3600


# --- the runner's own logic -------------------------------------------------------------------------

def test_parse_exclusions() -> None:
    text = "# header\n\ntest_a   # needs no PEP 523 hook\ntest_b#reason two\n"
    assert regrtest.parse_exclusions(text) == {"test_a": "needs no PEP 523 hook", "test_b": "reason two"}
    with pytest.raises(ValueError, match="no '# reason'"):
        regrtest.parse_exclusions("test_a\n")
    with pytest.raises(ValueError, match="twice"):
        regrtest.parse_exclusions("test_a # x\ntest_a # y\n")
    one_test = regrtest.parse_exclusions("test_a::C.test_x  # timing\n")
    assert one_test == {"test_a::C.test_x": "timing"}
    with pytest.raises(ValueError, match="bad test"):
        regrtest.parse_exclusions("test_a::test_x # not Class.test\n")


def test_checked_in_exclusions_are_valid_and_few() -> None:
    modules = regrtest.excluded_modules(regrtest.load_exclusions())
    assert len(modules) <= 10
    known = set(regrtest.full_tier())
    assert modules <= known, modules - known


def test_fast_tier_modules_exist() -> None:
    known = set(regrtest.full_tier())
    tier = regrtest.expand(regrtest.EXTENDED_TIER)
    assert set(tier) <= known, set(tier) - known
    assert "test_inspect.test_inspect" in tier  # packages are split the way regrtest splits them


@pytest.mark.parametrize("payload, rc, timed_out, log, expected", [
    ({"state": "PASSED"}, 0, False, "", PASS),
    ({"state": "ENV_CHANGED"}, 0, False, "", ENV),
    ({"state": "RESOURCE_DENIED"}, 0, False, "", SKIP),
    ({"state": "FAILED"}, 0, False, "", FAIL),
    ({"state": "UNCAUGHT_EXC"}, 0, False, "", FAIL),
    ({"state": "PASSED"}, -11, False, "", CRASH),  # tests passed, then a crash at exit
    (None, -11, False, "Fatal Python error: Segmentation fault", CRASH),
    (None, 1, False, "Timeout (0:09:30)!\nThread 0x...", TIMEOUT),
    (None, -9, True, "", TIMEOUT),
])
def test_classify(payload, rc, timed_out, log, expected) -> None:
    assert regrtest.classify(payload, rc, timed_out, log)[0] == expected


def test_regressed_and_leaks() -> None:
    def run(status, failed=()):
        return Run("test_x", "plain", status=status, failed_tests=[[f, ""] for f in failed])
    assert regrtest.regressed(run(PASS), run(FAIL))
    assert regrtest.regressed(run(ENV), run(CRASH))
    assert regrtest.regressed(run(PASS), run(SKIP))
    assert not regrtest.regressed(run(PASS), run(regrtest.MISSING))  # --mode plain
    assert regrtest.regressed(run(SKIP), run(TIMEOUT))
    assert not regrtest.regressed(run(FAIL), run(FAIL))
    assert not regrtest.regressed(run(PASS), run(ENV))
    assert regrtest.jit_only_failures(run(FAIL, ["a", "b"]), run(FAIL, ["b", "c"])) == ["c"]
    assert regrtest.leaked([3, 1, 5]) and not regrtest.leaked([3, 0, 5]) and not regrtest.leaked([])


def test_report_exit_status_honours_exclusions() -> None:
    runs = {("test_a", "plain"): Run("test_a", "plain", status=PASS),
            ("test_a", "jit"): Run("test_a", "jit", status=FAIL)}
    assert regrtest.Report(["test_a"], runs, {}).failing() == ["test_a"]
    assert regrtest.Report(["test_a"], runs, {"test_a": "reason"}).failing() == []
    assert "REGRESSION" in regrtest.Report(["test_a"], runs, {}).format()


def test_an_exclusion_of_one_test_excuses_that_test_only() -> None:
    failure = "test_x (test.test_a.C.test_x) (i=1)"
    exclusions = {"test_a::C.test_x": "timing"}

    def report(*failed, status=FAIL):
        runs = {("test_a", "plain"): Run("test_a", "plain", status=PASS),
                ("test_a", "jit"): Run("test_a", "jit", status=status, failed_tests=[[f, ""] for f in failed])}
        return regrtest.Report(["test_a"], runs, exclusions)
    assert regrtest.failed_test_id(failure) == "test.test_a.C.test_x"
    assert report(failure).failing() == [] and "EXCLUDED" in report(failure).format()
    assert report(failure, "test_y (test.test_a.C.test_y)").failing() == ["test_a"]
    assert report(failure, status=CRASH).failing() == ["test_a"]  # a crash is never excused by a test entry
    assert report(status=PASS).stale_exclusions() == ["test_a::C.test_x"]
    assert report(failure).stale_exclusions() == []


def test_a_regression_is_rerun_alone_once(monkeypatch) -> None:
    outcomes = {"test_flaky": [PASS], "test_broken": [FAIL]}
    monkeypatch.setattr(regrtest, "run_child", lambda m, mode, opts: Run(m, mode, status=outcomes[m].pop(),
                                                                           detail="again"))
    runs = {(m, mode): Run(m, mode, status=PASS if mode == "plain" else TIMEOUT, detail="first")
            for m in outcomes for mode in ("plain", "jit")}
    regrtest._rerun_regressions(list(outcomes), runs, opts=None, progress=None)
    assert runs[("test_flaky", "jit")].status == PASS
    assert "first run TIMEOUT: first" in runs[("test_flaky", "jit")].detail
    assert runs[("test_broken", "jit")].status == TIMEOUT  # failed again: the first run stands
    assert outcomes == {"test_flaky": [], "test_broken": []}  # each rerun exactly once


def test_resume_keeps_finished_runs(tmp_path) -> None:
    out = tmp_path / "report.json"
    cmd = [sys.executable, "-m", "pyjion.regrtest", "--mode", "plain", "--json", str(out), "--resume",
           "--log-dir", str(tmp_path / "logs"), "test_unpack"]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    before = json.loads(out.read_text())
    assert [(r["module"], r["status"]) for r in before["runs"]] == [("test_unpack", PASS)]
    second = subprocess.run(cmd + ["test_keywordonlyarg"], capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    assert "resuming: 1 runs" in second.stderr
    assert "test_unpack plain" not in second.stderr and "test_keywordonlyarg plain: pass" in second.stderr
    after = json.loads(out.read_text())
    assert after["modules"] == ["test_unpack", "test_keywordonlyarg"]
    assert after["runs"][0] == before["runs"][0]


# --- the fast tier ----------------------------------------------------------------------------------

@pytest.mark.skipif(bool(os.environ.get("PYJION_SKIP_REGRTEST")), reason="PYJION_SKIP_REGRTEST is set")
def test_fast_tier(tmp_path) -> None:
    out = tmp_path / "report.json"
    jobs = os.environ.get("PYJION_REGRTEST_JOBS") or str(os.cpu_count() or 1)
    cmd = [sys.executable, "-m", "pyjion.regrtest", "--tier", "fast", "--jobs", jobs, "--json", str(out),
           "--log-dir", str(tmp_path / "logs")]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIER_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the fast tier took over {TIER_TIMEOUT}s; progress:\n{exc.stderr}")
    assert out.exists(), f"no report (exit {proc.returncode})\n{proc.stderr[-5000:]}"
    report = json.loads(out.read_text())
    assert report["failing"] == [], f"regressions under the JIT:\n{proc.stdout}"
    assert proc.returncode == 0, f"exit status {proc.returncode}\n{proc.stdout}\n{proc.stderr[-3000:]}"
    plain_ok = [r for r in report["runs"] if r["mode"] == "plain" and r["status"] in (PASS, ENV)]
    assert len(plain_ok) >= len(report["modules"]) // 2, f"most of the tier should pass plainly:\n{proc.stdout}"
    jit = report["jit"]
    assert jit["compiled"] > 0, f"the JIT compiled nothing:\n{proc.stdout}"
    assert jit["fraction"] >= 0.9, f"only {jit['fraction']:.0%} of code objects compiled:\n{proc.stdout}"
