"""Show that third-party tests listed as timing-dependent (``Package.timing`` in pyjion/thirdparty.py) fail
in plain CPython, with no JIT, once one of their threads is delayed as a first-call compilation delays it.

    <venv>/bin/python tools/timing_races.py <extracted more-itertools sdist>

``<venv>`` is the package's venv made by ``python -m pyjion.thirdparty`` (``.thirdparty/more-itertools-
11.2.1/venv``), the sdist the folder holding its ``tests/``. Prints each test's outcome plainly and with
the delay; exits 1 unless every test passes plainly and fails delayed.
"""
from __future__ import annotations

import os
import sys
import threading
import time
import unittest
from typing import Callable


def delay_worker(frame, event: str, arg: object) -> None:
    """A profile function: 50 ms in the worker thread as it completes a Future."""
    if event == "call" and frame.f_code.co_name in ("set_exception", "set_result"):
        time.sleep(0.05)


def delay_main() -> Callable:
    delayed: list[bool] = []

    def profile(frame, event: str, arg: object) -> None:
        """300 ms in the main thread as it first leaves a callback_iter block."""
        if (event == "call" and frame.f_code.co_name == "__exit__" and "more_itertools" in frame.f_code.co_filename
                and not delayed):
            delayed.append(True)
            time.sleep(0.3)
    return profile


def outcome(test: unittest.TestCase) -> str:
    result = unittest.TestResult()
    test.run(result)
    return "passed" if result.wasSuccessful() else "failed"


def main(sdist: str) -> int:
    sys.path.insert(0, os.path.join(sdist, "tests"))
    import test_more
    cases = {"test_exception": ("worker", lambda: threading.setprofile(delay_worker)),
             "test_abort": ("main", lambda: sys.setprofile(delay_main()))}
    status = 0
    for name, (thread, install) in cases.items():
        plain = outcome(test_more.CallbackIterTests(name))
        install()
        delayed = outcome(test_more.CallbackIterTests(name))
        threading.setprofile(None)
        sys.setprofile(None)
        print(f"CallbackIterTests.{name}: plain {plain}; {thread} thread delayed {delayed}")
        status |= (plain, delayed) != ("passed", "failed")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
