"""The ABI layer's layouts match the running interpreter, and a mismatch is reported, not crashed on."""
import os
import subprocess
import sys
import textwrap

import pytest

from pyjion.abi import cpython311


def test_layouts_match_running_interpreter():
    assert cpython311.check_live() == []


def test_mismatch_is_detected(monkeypatch):
    wrong = cpython311.Struct("PyCodeObject", 192, **{**{k: (f.offset, f.kind) for k, f in
                                                         cpython311.CODE._fields.items()}, "co_consts": (32, "ptr")})
    monkeypatch.setattr(cpython311, "CODE", wrong)
    problems = cpython311.check_live()
    assert any(p.startswith("co_consts") for p in problems)


@pytest.mark.parametrize("start_delay", ["0", "0.1"])
def test_enable_refuses_on_mismatch_and_process_continues(start_delay):
    # At once, also when the hook would be installed later.
    script = textwrap.dedent("""
        import pyjion
        from pyjion.runtime import jit
        jit.abi_problems = ["co_consts: read 1, expected 2"]
        try:
            pyjion.enable()
        except RuntimeError as e:
            print("refused:", e)
        print("still running", pyjion.disable())
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, PYJION_START_DELAY=start_delay))
    assert out.returncode == 0, out.stderr
    assert "refused: pyjion cannot run on this interpreter" in out.stdout
    assert "co_consts" in out.stdout and "still running False" in out.stdout


def test_exit_with_jit_enabled_is_clean():
    """Finalisation runs __del__ methods and module teardown through the hook; nothing may crash."""
    script = textwrap.dedent("""
        import pyjion
        pyjion.config(threshold=0)
        pyjion.enable()
        class D:
            def __del__(self):
                print("del ran", sum(i for i in [1, 2]))
        keep = D()
        def f(x):
            return x + 1
        print(f(1))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["2", "del", "ran", "3"]
