"""The ``pyjion`` command, the PYJION=1 start-up switch and the perf map, through real processes."""
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent("""
    import sys

    def collatz(n):
        steps = 0
        while n != 1:
            n = n // 2 if n % 2 == 0 else 3 * n + 1
            steps += 1
        return steps

    print(sys.argv[1:], sum(collatz(n) for n in range(1, 400)))
    if "--show" in sys.argv:
        import pyjion
        print("compiled", pyjion.info(collatz).compiled)
""")


def run(cmd, env=None, cwd=None):
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run(cmd, capture_output=True, text=True, env=full_env, cwd=cwd, timeout=600)


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "collatz.py"
    path.write_text(SCRIPT)
    return path


def test_script_with_stats(script):
    plain = run([sys.executable, str(script), "a", "b", "--show"])
    jitted = run([sys.executable, "-m", "pyjion", "--stats", "--threshold", "3", "--no-background", str(script),
                  "a", "b", "--show"])
    assert jitted.returncode == 0, jitted.stderr
    assert jitted.stdout.splitlines()[0] == plain.stdout.splitlines()[0]
    assert "compiled True" in jitted.stdout
    stats = jitted.stderr
    assert "pyjion statistics" in stats and "compiled:" in stats and "compile time:" in stats
    assert "collatz" in stats.split("most run")[1]  # the hot function is listed with its run count


def test_start_delay_option(script):
    # A program shorter than the delay runs in the interpreter alone; without a delay it is compiled.
    for delay, compiled in (("60", False), ("0", True)):
        proc = run([sys.executable, "-m", "pyjion", "--threshold", "3", "--no-background", "--start-delay", delay,
                    str(script), "--show"])
        assert proc.returncode == 0, proc.stderr
        assert f"compiled {compiled}" in proc.stdout


def test_console_script_runs_a_module():
    pyjion_command = shutil.which("pyjion", path=os.path.dirname(sys.executable))
    assert pyjion_command, "the pyjion console script is not installed"
    plain = run([sys.executable, "-m", "calendar", "2026", "3"])
    jitted = run([pyjion_command, "--level", "0", "-m", "calendar", "2026", "3"])
    assert jitted.returncode == 0, jitted.stderr
    assert jitted.stdout == plain.stdout


@pytest.mark.parametrize("args, message", [
    (["--threshold", "-1", "x.py"], "--threshold"), (["--level", "5", "x.py"], "--level"), ([], "script"),
    (["--start-delay", "-1", "x.py"], "--start-delay"), (["--start-delay", "soon", "x.py"], "--start-delay"),
])
def test_bad_arguments(args, message):
    proc = run([sys.executable, "-m", "pyjion", *args])
    assert proc.returncode == 2 and message in proc.stderr


def test_perf_map_lists_compiled_functions(script, tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(script.read_text() + textwrap.dedent("""
        import os
        code, size, address = pyjion.native(collatz)
        print("native", os.getpid(), hex(address), hex(size))
    """))
    proc = run([sys.executable, "-m", "pyjion", "--threshold", "0", str(probe), "--show"],
               env={"PYJION_PERF_MAP": "1"})
    assert proc.returncode == 0, proc.stderr
    _, pid, address, size = proc.stdout.splitlines()[-1].split()
    perf_map = Path(f"/tmp/perf-{pid}.map")
    try:
        lines = perf_map.read_text().splitlines()
    finally:
        perf_map.unlink(missing_ok=True)
    expected = f"{address[2:]} {size[2:]} py::collatz:{probe}:4"
    assert expected in lines, lines[:5]
    assert all(len(line.split(" ", 2)) == 3 and line.split()[2].startswith(("py::", "pyjion::")) for line in lines)
    # The runtime's functions once, the hook and the call helper among them, each ending before the next.
    runtime = sorted((int(line.split()[0], 16), int(line.split()[1], 16), line.split()[2])
                     for line in lines if line.split()[2].startswith("pyjion::"))
    names = [name for _, _, name in runtime]
    assert {"pyjion::pyjion_eval_frame", "pyjion::pyjion_vectorcall"} <= set(names) and len(names) == len(set(names))
    assert all(start + size <= following for (start, size, _), (following, _, _) in zip(runtime, runtime[1:]))


@pytest.fixture(scope="module")
def installed_venv(tmp_path_factory):
    """A venv with pyjion installed as users install it (not editable), so its pyjion.pth is in place."""
    root = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True)
    python = root / "bin" / "python"
    source = Path(__file__).resolve().parent.parent
    build = tmp_path_factory.mktemp("build")
    shutil.copytree(source, build / "src", ignore=shutil.ignore_patterns(".venv", ".git", "build", "*.egg-info"))
    proc = run([str(python), "-m", "pip", "install", "-q", str(build / "src")])
    assert proc.returncode == 0, proc.stderr
    return python


def test_pyjion_environment_variable_enables_at_start(installed_venv, script, tmp_path):
    on = run([str(installed_venv), str(script), "--show"], env={"PYJION": "1", "PYJION_THRESHOLD": "0"},
             cwd=tmp_path)
    assert on.returncode == 0, on.stderr
    assert "compiled True" in on.stdout
    check = "import sys; print('pyjion' in sys.modules)"
    for value in ("0", "off", "false", ""):
        off = run([str(installed_venv), "-c", check], env={"PYJION": value}, cwd=tmp_path)
        assert off.stdout.strip() == "False", (value, off.stderr)
