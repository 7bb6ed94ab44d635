"""The benchmark runner's plumbing (not a timing test: no speed is asserted here)."""
import json
import subprocess
import sys
import time

import pytest

from pyjion import bench


def test_manifest_knows_the_default_set():
    known = bench.manifest()
    assert all(name in known for name in bench.DEFAULT_BENCHMARKS)
    script, extra = bench.locate("unpickle_pure_python")
    assert script.name == "run_benchmark.py" and "--pure-python" in extra


def test_runner_reports_both_modes(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, "-m", "pyjion.bench", "unpack_sequence", "scimark", "--rounds", "1",
                           "--min-time", "0.01", "--warmups", "0", "--samples", "1", "--json", str(out)],
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    report = json.loads(out.read_text())
    names = {row["name"] for row in report["summary"]["rows"]}
    assert "unpack_sequence" in names and {"scimark_sor", "scimark_fft"} <= names  # scimark registers five
    assert report["summary"]["geomean_steady"] > 0 and report["summary"]["errors"] == []
    assert {(run["benchmark"], run["mode"]) for run in report["runs"]} == {
        ("unpack_sequence", "plain"), ("unpack_sequence", "jit"), ("scimark", "plain"), ("scimark", "jit")}
    # The plain child is plain CPython: the pyjion package (and with it LLVM) only in the JIT's.
    assert {run["mode"]: run["llvm_loaded"] for run in report["runs"]} == {"plain": False, "jit": True}
    # Its peak RSS is its own, not this process's (which has LLVM loaded) inherited through fork and exec.
    plain_peak = max(run["peak_rss_kib"] for run in report["runs"] if run["mode"] == "plain")
    assert plain_peak < 50 * 1024 < bench.peak_rss_kib(), (plain_peak, bench.peak_rss_kib())
    assert "geometric mean" in proc.stdout


def test_warm_up_compares_programs_of_the_same_work():
    """Plain does an iteration per 0.1 s from 0.05 s; the JIT starts at 0.25 s, takes 0.2 s per iteration
    for its first 7, then 0.03 s."""
    plain = {"benchmark": "b", "mode": "plain", "ends": [0.05 + 0.1 * i for i in range(1, 31)],
             "done": list(range(1, 31))}
    ends = [0.25 + 0.2 * i for i in range(1, 8)] + [1.65 + 0.03 * i for i in range(1, 46)]
    jit = {"benchmark": "b", "mode": "jit", "ends": ends, "done": list(range(1, len(ends) + 1))}
    (row,) = bench.summarise_warm_up([plain, jit], 3.0)["rows"]
    assert row["ratios"]["0.1"] is None  # plain had done nothing by then
    assert abs(row["ratios"]["0.3"] - 0.25 / 0.65) < 1e-9  # plain's 2nd iteration ends at 0.25 s, the JIT's at 0.65 s
    assert abs(row["ratios"]["1.0"] - 0.95 / 1.71) < 1e-9  # the 9th
    assert abs(row["ratios"]["3.0"] - 2.95 / 2.31) < 1e-9  # the 29th
    assert abs(row["break_even"] - 2.05) < 1e-9  # behind until the 19th iteration (1.99 s against 1.95 s)
    assert abs(row["plain_iteration"] - 0.1) < 1e-9
    # A JIT run that stopped before doing plain's work: no ratio, no break-even.
    cut = {**jit, "ends": ends[:10], "done": jit["done"][:10]}
    (row,) = bench.summarise_warm_up([plain, cut], 3.0)["rows"]
    assert row["ratios"]["3.0"] is None and row["break_even"] is None


def test_warm_up_break_even_is_where_the_jit_stops_being_behind():
    plain = {"benchmark": "b", "mode": "plain", "ends": [0.1 * i for i in range(1, 21)], "done": list(range(1, 21))}
    # Behind on the first 6 iterations (the 6th: 0.61 s against 0.6 s), ahead from the 7th (0.7 s) on.
    jit = {"benchmark": "b", "mode": "jit", "ends": [0.2, 0.3, 0.4, 0.5, 0.6] + [0.6 + 0.01 * i for i in range(1, 100)],
           "done": list(range(1, 105))}
    (row,) = bench.summarise_warm_up([plain, jit], 2.0)["rows"]
    assert abs(row["break_even"] - 0.7) < 1e-9
    assert abs(row["ratios"]["1.0"] - 1.0 / 0.65) < 1e-9


@pytest.mark.parametrize("code_cache", [False, True])
def test_warm_up_run_reports_both_modes(tmp_path, code_cache):
    out = tmp_path / "warm.json"
    proc = subprocess.run([sys.executable, "-m", "pyjion.bench", "deltablue", "--rounds", "1", "--warm-up", "2",
                           "--json", str(out), *(["--code-cache"] if code_cache else [])],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    report = json.loads(out.read_text())
    assert {run["mode"] for run in report["runs"]} == {"plain", "jit"}
    (jit_run,) = [run for run in report["runs"] if run["mode"] == "jit"]
    # Primed by a run like it, the cache has what that run compiled; without it nothing comes from one.
    assert (jit_run["from_cache"] > 0) == code_cache and jit_run["compiled"] > 0
    assert all(run["ends"][-1] >= 2 and run["done"] == sorted(run["done"]) for run in report["runs"])
    (row,) = report["summary"]["rows"]
    assert list(row["ratios"]) == ["0.1", "0.3", "1.0"] and "break-even" in proc.stdout


def test_steady_state_is_measured_after_the_hook_is_installed():
    # Calibration and warm-up samples before the start delay's end would leave a function that a sample
    # calls once or twice (unpack_sequence's) not hot yet: the steady state would be the interpreter's.
    import pyjion
    from pyjion import bench
    hooked = []

    def run(loops):
        hooked.append(bench.jit_hooked())
        time.sleep(0.01)
        return 0.01

    before = pyjion.config()
    pyjion.config(threshold=100, start_delay=0.3)
    try:
        assert pyjion.enable() is True
        measured = bench.measure("sleep", run, None, 0.01, warmups=2, samples=3)
    finally:
        pyjion.disable()
        pyjion.config(threshold=before["threshold"], start_delay=before["start_delay"])
    assert not measured.first_hooked and hooked[0] is False
    assert hooked[-6:] == [True] * 6  # calibrated in one sample, two warm-ups, then three samples


def test_samples_are_taken_again_when_code_got_hot_during_them(monkeypatch):
    # logging_simple's samples (6 ms each) once ran beside the compilation of code that got hot during
    # them: 9.1, 6.3 and 5.5 us per call, with nothing compiled by their end.
    settled = iter([True, False, False, True, True])  # settled, busy after the first samples, settled
    monkeypatch.setattr(bench, "jit_settled", lambda: next(settled))
    # first iteration, calibration, samples, one run while the compiler works, samples again
    durations = iter([0.5, 0.5, 0.9, 0.8, 0.7, 0.6, 0.5, 0.5, 0.4])

    def run(loops):
        return next(durations)

    measured = bench.measure("resampled", run, None, 0.1, warmups=0, samples=3)
    assert measured.samples == [0.5, 0.5, 0.4] and measured.steady == 0.5
