"""The benchmark runner's plumbing (not a timing test: no speed is asserted here)."""
import json
import subprocess
import sys

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
    assert "geometric mean" in proc.stdout
