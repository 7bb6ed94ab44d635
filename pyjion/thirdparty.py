"""Run third-party projects' test suites plainly and under the JIT and compare them test by test.

    python -m pyjion.thirdparty                                    # every package in PACKAGES
    python -m pyjion.thirdparty --packages toolz attrs --json out.json
    python -m pyjion.thirdparty --configs plain jit-t0-l1 --workdir /tmp/thirdparty
    python -m pyjion.thirdparty --json out.json --resume           # continue a run cut short

For each package of PACKAGES (pinned versions) the runner downloads the sdist from PyPI, extracts it
afresh, makes a venv for it in the work directory (default ``.thirdparty/`` at the repository root:
downloads and venvs are kept for the next run) and installs into it pyjion (a wheel built from the
sources next to this file at the start of the run, so every venv tests the same code), pytest, the
suite's pinned test dependencies and the package itself, from the extracted sdist. The suite then runs
with pytest from the extracted tree once per configuration of CONFIGS: plainly (the pyjion.pth hook
stays off), then with ``PYJION=1`` (the JIT on from interpreter start, as ``PYJION=1 pytest`` does)
at threshold 0 and levels 0, 1, 2, and at the default threshold and level. JIT runs set
``PYJION_CACHE=0`` (compile, do not load from the cache); every run has ``PYTHONHASHSEED=0``, so that
set and dict orders match between runs. Configurations run cheapest first for every package (at
threshold 0 every function pytest and the suite call is compiled: hours for all five suites). A run
that passes ``--timeout`` gets SIGABRT, so faulthandler writes its threads' stacks into its log, then
SIGKILL.

The child is a tiny ``-c`` bootstrap that loads this file *by path* (a plain child never imports the
``pyjion`` package; this module imports only the standard library at the top) and calls
``pytest.main`` with ``Recorder``, a plugin that appends each test's outcome (passed, failed, error,
skipped, xfailed, xpassed) to a JSON-lines file as it finishes, and which test started, so a crash or
a timeout still leaves the outcomes so far and names the test that was running. That test gets the
outcome ``crash`` or ``timeout``; tests never reached get ``not-run``. Where Hypothesis is installed the
plugin loads a profile that derandomises it and drops its deadline and too-slow health check: the same
examples in every run, and no failure because compiling made a test slow.

The exit status is 1 iff a test id's outcome differs from the plain run's in some configuration (but for
the tests a package lists as timing-dependent, each with a reproduction in plain CPython: they are
reported apart), or
some run crashed, timed out, ended with a pytest error (usage, internal error, nothing collected) or,
under ``PYJION=1``, compiled nothing (pyjion.pth failing to import pyjion only prints a warning, and
the comparison would pass vacuously).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DEFAULT_WORKDIR = os.path.join(REPO, ".thirdparty")
DEFAULT_TIMEOUT = 1800.0
PYTEST = "pytest==9.2.0"


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    tests: tuple[str, ...]   # pytest arguments naming what to run, relative to the extracted sdist
    deps: tuple[str, ...] = ()   # the suite's test requirements, pinned
    args: tuple[str, ...] = ()   # further pytest arguments (deselects, options)
    note: str = ""           # why the suite runs the way it does
    # Test ids whose outcome depends on thread timing, with the evidence: a difference there is listed
    # as such and does not fail the run. Only with a reproduction in plain CPython (a delayed thread).
    timing: dict[str, str] = field(default_factory=dict, hash=False, compare=False)


# The pinned suites. Each passes plainly as configured here (checked 2026-11-25, CPython 3.11.7).
PACKAGES = (
    Package("more-itertools", "11.2.1", ("tests",), timing={
        "tests/test_more.py::CallbackIterTests::test_exception":
            "asks for the worker thread's result a few microseconds after the worker's callback ran, before "
            "it raises; at threshold 0 the worker's first calls wait for the compiler and it loses. Fails "
            "plainly when the worker sleeps 50 ms in Future.set_exception (tools/timing_races.py)",
        "tests/test_more.py::CallbackIterTests::test_abort":
            "aborts the worker 0.1 s after its first item, before its next callback; at threshold 0 the main "
            "thread's first calls wait for the compiler and the worker finishes first. Fails plainly when "
            "the main thread sleeps 300 ms entering callback_iter.__exit__ (tools/timing_races.py)"}),
    Package("sortedcontainers", "2.4.0", ("--doctest-modules", "sortedcontainers"),
            note="no sdist of sortedcontainers ships its tests/ (MANIFEST.in includes README and LICENSE "
                 "only), so its suite is the doctests of its modules (README's are help() calls, not tests)"),
    Package("toolz", "1.2.0", ("toolz",)),
    Package("attrs", "26.1.0", ("tests",),
            deps=("hypothesis==6.170.15", "pympler==1.1", "cloudpickle==3.1.2", "sortedcontainers==2.4.0"),
            args=("--deselect=tests/test_converters.py::TestPipe::test_wrapped_annotation",),
            note="the tests dependency group without pytest-xdist (runs serially) or the mypy/pyright "
                 "type-checking tools (their tests skip); test_wrapped_annotation fails plainly on 3.11.7: "
                 "pipe() asks inspect.signature() for a Converter instance's return type, and 3.11's "
                 "inspect raises TypeError on the __call__ slot's member descriptor"),
    Package("pyparsing", "3.3.3", ("tests", "examples/tiny/tests"),
            deps=("railroad-diagrams==3.0.1", "jinja2==3.1.6", "markupsafe==3.0.4"),
            note="tox's unit environment (tests and examples/tiny/tests, the diagrams extra) without "
                 "matplotlib: test_matplotlib_cases skips itself"),
)

# Configuration name -> environment of the run. Every JIT run also gets PYJION_CACHE=0.
CONFIGS = {
    "plain": {},
    "jit-t0-l0": {"PYJION": "1", "PYJION_THRESHOLD": "0", "PYJION_LEVEL": "0"},
    "jit-t0-l1": {"PYJION": "1", "PYJION_THRESHOLD": "0", "PYJION_LEVEL": "1"},
    "jit-t0-l2": {"PYJION": "1", "PYJION_THRESHOLD": "0", "PYJION_LEVEL": "2"},
    "jit-l2": {"PYJION": "1", "PYJION_LEVEL": "2"},
}
BASELINE = "plain"
# Relative cost of a configuration, for the run order: threshold 0 compiles every function pytest and
# the suite call, level 0 with no LLVM passes, level 2 with the whole O2 pipeline.
RUN_COST = {"plain": 0, "jit-l2": 1, "jit-t0-l0": 2, "jit-t0-l1": 3, "jit-t0-l2": 4}

PASSED, FAILED, ERROR, SKIPPED, XFAILED, XPASSED = "passed", "failed", "error", "skipped", "xfailed", "xpassed"
CRASH, TIMEOUT, NOT_RUN = "crash", "timeout", "not-run"
OK, NO_JIT = "ok", "no-jit"
# Table columns: passed/failed/error/skipped, with xpassed counted as passed, xfailed as skipped, and
# the test a crash or timeout interrupted as an error.
COLUMN = {PASSED: "p", XPASSED: "p", FAILED: "f", ERROR: "e", CRASH: "e", TIMEOUT: "e", SKIPPED: "s",
          XFAILED: "s"}
# Pytest arguments of every run: no cache (runs must not see each other's last-failed data), no
# test-order randomisation, no parallel workers; a module that fails to import is one error, not the
# end of the run.
PYTEST_ARGS = ("-p", "no:cacheprovider", "-p", "no:randomly", "-p", "no:xdist", "--continue-on-collection-errors",
               "-q", "--tb=short")

# The child. argv: path of this file, output file, pytest arguments.
BOOTSTRAP = """\
import importlib.util, sys
spec = importlib.util.spec_from_file_location('_pyjion_thirdparty_child', sys.argv[1])
child = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = child
spec.loader.exec_module(child)
sys.exit(child.child_main(sys.argv[2], sys.argv[3:]))
"""


# ---------------------------------------------------------------------------------------------------
# Child side (inside the bootstrap, in the package's venv)

def merge(current: str | None, when: str, outcome: str, wasxfail: bool) -> str:
    """A test's outcome after one more phase report (setup, call, teardown) with pytest's
    ``outcome`` and whether it carries ``wasxfail``; ``current`` is the outcome so far."""
    if when == "call":
        if current == FAILED:  # a failed subtest (each reports as a call) fails the test
            return FAILED
        if outcome == "passed":
            return XPASSED if wasxfail else PASSED
        if outcome == "skipped":
            return XFAILED if wasxfail else SKIPPED
        return FAILED
    if outcome == "failed":
        # A failing fixture is an error, as pytest counts it; a teardown error does not hide a failure.
        return FAILED if current == FAILED else ERROR
    if outcome == "skipped":
        return XFAILED if wasxfail else SKIPPED
    return current or PASSED


class Recorder:
    """Pytest plugin: one JSON line per event in ``path``, flushed at once so a crash keeps them:
    ``{"start": id}``, ``{"id": id, "outcome": o, "detail": text}``, ``{"exitstatus": n}``."""

    def __init__(self, path: str) -> None:
        self.fp = open(path, "a", encoding="utf-8")
        self.current: dict[str, str] = {}
        self.details: dict[str, str] = {}

    def _write(self, event: dict) -> None:
        self.fp.write(json.dumps(event) + "\n")
        self.fp.flush()

    def pytest_sessionstart(self, session) -> None:
        # At session start, after the initial conftests' pytest_configure (attrs' loads a profile of its
        # own there) and before the test modules are imported (their @settings copy the default profile).
        try:
            import hypothesis
        except ImportError:
            return
        from hypothesis import HealthCheck, settings
        suppressed = [h for h in settings.default.suppress_health_check if h != HealthCheck.too_slow]
        settings.register_profile("pyjion-thirdparty", settings.default, derandomize=True, deadline=None,
                                  database=None, suppress_health_check=suppressed + [HealthCheck.too_slow])
        settings.load_profile("pyjion-thirdparty")
        self._write({"hypothesis": hypothesis.__version__})

    def pytest_collectreport(self, report) -> None:
        if report.failed:
            self._write({"id": report.nodeid, "outcome": ERROR, "detail": str(report.longrepr)[-3000:]})
        elif report.skipped and not report.result:  # a module that skips itself (importorskip)
            self._write({"id": report.nodeid, "outcome": SKIPPED, "detail": str(report.longrepr)[-300:]})

    def pytest_runtest_logstart(self, nodeid, location) -> None:
        self._write({"start": nodeid})

    def pytest_runtest_logreport(self, report) -> None:
        nodeid = report.nodeid
        self.current[nodeid] = merge(self.current.get(nodeid), report.when, report.outcome,
                                     hasattr(report, "wasxfail"))
        if report.failed:  # the first failure: a test with failed subtests reports that it has some
            self.details.setdefault(nodeid, str(report.longrepr)[-3000:])

    def pytest_runtest_logfinish(self, nodeid, location) -> None:
        event = {"id": nodeid, "outcome": self.current.pop(nodeid, PASSED)}
        detail = self.details.pop(nodeid, None)
        if detail:
            event["detail"] = detail
        self._write(event)

    def pytest_sessionfinish(self, session, exitstatus) -> None:
        if "pyjion" in sys.modules:  # imported by pyjion.pth: PYJION=1
            from pyjion.enums import CompilationResult
            from pyjion.runtime.state import records
            results = [rec.compile_result for _, rec in records()]
            self._write({"jit": {"considered": len(results),
                                 "compiled": results.count(CompilationResult.Success)}})
        self._write({"exitstatus": int(exitstatus)})


def child_main(out: str, args: list[str]) -> int:
    import pytest
    return int(pytest.main(args, plugins=[Recorder(out)]))


# ---------------------------------------------------------------------------------------------------
# Parent side: reading and comparing results

@dataclass
class Run:
    package: str
    config: str
    status: str = NOT_RUN  # ok, crash, timeout, no-jit, or "pytest exit N" (usage/internal error, nothing collected)
    returncode: int | None = None
    jit: dict | None = None  # code objects alive at the end that the JIT considered, and compiled
    detail: str = ""
    duration: float = 0.0
    outcomes: dict[str, str] = field(default_factory=dict)
    details: dict[str, str] = field(default_factory=dict)  # failure text of each test not passing
    log: str | None = None

    def counts(self) -> Counter:
        return Counter(COLUMN.get(outcome) for outcome in self.outcomes.values())

    def cell(self) -> str:
        c = self.counts()
        return f"{c['p']}/{c['f']}/{c['e']}/{c['s']}"


@dataclass
class Events:
    """What a Recorder file says; ``exitstatus`` and ``jit`` are None if the session did not finish."""
    outcomes: dict[str, str] = field(default_factory=dict)
    details: dict[str, str] = field(default_factory=dict)  # failure text per test id
    unfinished: list[str] = field(default_factory=list)    # started, never finished
    exitstatus: int | None = None
    jit: dict | None = None


def read_events(path: str) -> Events:
    """The events of a Recorder file; a torn last line is ignored."""
    events = Events()
    started: dict[str, None] = {}
    try:
        with open(path, encoding="utf-8") as fp:
            lines = fp.read().splitlines()
    except OSError:
        lines = []
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if "start" in event:
            started[event["start"]] = None
        elif "id" in event:
            started.pop(event["id"], None)
            events.outcomes[event["id"]] = event["outcome"]
            if event.get("detail"):
                events.details[event["id"]] = event["detail"]
        elif "jit" in event:
            events.jit = event["jit"]
        elif "exitstatus" in event:
            events.exitstatus = event["exitstatus"]
    events.unfinished = list(started)
    return events


def classify(returncode: int | None, timed_out: bool, exitstatus: int | None, jit_expected: bool = False,
             jit: dict | None = None) -> tuple[str, str]:
    """(status, detail) of a child from its exit status, the exit status its pytest session reported
    and, where the configuration turns the JIT on, what the JIT compiled."""
    if timed_out:
        return TIMEOUT, "killed by the runner's timeout"
    if returncode is not None and returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return CRASH, f"killed by {name}" + (" after the session finished" if exitstatus is not None else "")
    if exitstatus is None:
        return CRASH, f"exit status {returncode} before the session finished"
    if returncode != exitstatus:
        return CRASH, f"pytest finished with {exitstatus}, then the process exited with {returncode}"
    if jit_expected and not (jit and jit["compiled"]):
        # A comparison with a JIT that never ran would pass vacuously (pyjion.pth failing to import
        # pyjion only prints a warning).
        return NO_JIT, f"the JIT compiled nothing ({jit})"
    if exitstatus in (0, 1):  # 1: some tests failed, which the outcomes say
        return OK, ""
    return f"pytest exit {exitstatus}", {2: "interrupted", 3: "internal error", 4: "usage error",
                                         5: "no tests collected"}.get(exitstatus, "")


def complete(outcomes: dict[str, str], unfinished: list[str], status: str,
             expected: list[str] = ()) -> dict[str, str]:
    """The outcomes with the test a crash or timeout interrupted marked as such, and the ``expected``
    tests (the plain run's) that a dead process never reached as not run."""
    out = dict(outcomes)
    if status in (CRASH, TIMEOUT):
        for nodeid in unfinished:
            out[nodeid] = status
        for nodeid in expected:
            out.setdefault(nodeid, NOT_RUN)
    return out


def differences(base: dict[str, str], other: dict[str, str]) -> list[tuple[str, str, str]]:
    """(test id, outcome in base, outcome in other) for each id whose outcome differs; an id missing
    from one side has the outcome ``not-run`` there. Base's order first, then other's new ids."""
    ids = list(base) + [nodeid for nodeid in other if nodeid not in base]
    return [(nodeid, base.get(nodeid, NOT_RUN), other.get(nodeid, NOT_RUN)) for nodeid in ids
            if base.get(nodeid, NOT_RUN) != other.get(nodeid, NOT_RUN)]


@dataclass
class Report:
    packages: list[Package]
    configs: list[str]
    runs: dict[tuple[str, str], Run]
    wall: float = 0.0
    source: str = ""
    installed: dict[str, list[str]] = field(default_factory=dict)  # package -> pip freeze of its venv

    def run(self, package: str, config: str) -> Run:
        return self.runs.get((package, config)) or Run(package, config)

    def diffs(self, package: str, config: str, timing: bool = False) -> list[tuple[str, str, str]]:
        """The differences from plain: those of the package's timing-dependent tests with ``timing``,
        the others without."""
        if config == BASELINE or (package, config) not in self.runs or (package, BASELINE) not in self.runs:
            return []
        known = next((p.timing for p in self.packages if p.name == package), {})
        return [d for d in differences(self.run(package, BASELINE).outcomes, self.run(package, config).outcomes)
                if (d[0] in known) == timing]

    def failing(self) -> list[str]:
        """``package config`` of every run that differs from the plain one or did not end normally."""
        return [f"{p.name} {c}" for p in self.packages for c in self.configs
                if (p.name, c) in self.runs and (self.diffs(p.name, c) or self.run(p.name, c).status != OK)]

    def as_dict(self) -> dict:
        return {
            "python": sys.version, "source": self.source, "wall": self.wall,
            "configs": {c: CONFIGS[c] for c in self.configs},
            "packages": [asdict(p) for p in self.packages],
            "installed": self.installed,
            "runs": [asdict(r) for r in self.runs.values()],
            "differences": {f"{p.name} {c}": self.diffs(p.name, c) for p in self.packages for c in self.configs
                            if self.diffs(p.name, c)},
            "timing_differences": {f"{p.name} {c}": self.diffs(p.name, c, timing=True) for p in self.packages
                                   for c in self.configs if self.diffs(p.name, c, timing=True)},
            "failing": self.failing(),
        }

    def format(self, max_listed: int = 50) -> str:
        w = max([len(p.name) for p in self.packages] + [7])
        head = f"{'package':<{w}} {'version':<8} {'tests':>6}"
        sub = " " * len(head)
        for c in self.configs:
            width = max(len(c), 20)
            head += f" | {c:<{width}}"
            sub += f" | {'p/f/e/s':<14}{'diff':>{width - 14}}"
        lines = [head, sub, "-" * len(head)]
        for p in self.packages:
            line = f"{p.name:<{w}} {p.version:<8} {len(self.run(p.name, BASELINE).outcomes):>6}"
            for c in self.configs:
                width = max(len(c), 20)
                run = self.run(p.name, c)
                if (p.name, c) not in self.runs:
                    cell, diff = "-", ""
                else:
                    cell = run.cell() if run.status == OK else f"{run.cell()} {run.status.upper()}"
                    diff = "" if c == BASELINE else str(len(self.diffs(p.name, c)))
                line += f" | {cell:<14}{diff:>{width - 14}}"
            lines.append(line)
        lines += ["", "p/f/e/s: passed (xpassed too) / failed / error (collection, fixture, the test a crash "
                  "or timeout interrupted) / skipped (xfailed too); diff: test ids whose outcome differs "
                  "from plain, not counting a package's documented timing-dependent tests", "", "wall time (s):"]
        for p in self.packages:
            lines.append(f"  {p.name:<{w}} " + "  ".join(
                f"{c} {self.run(p.name, c).duration:.0f}" for c in self.configs if (p.name, c) in self.runs))
        lines.append(f"  {'total':<{w}} " + "  ".join(
            f"{c} {sum(self.run(p.name, c).duration for p in self.packages):.0f}" for c in self.configs))
        lines.append(f"runner wall time: {self.wall:.0f} s   pyjion: {self.source}")
        details = []
        for p in self.packages:
            for c in self.configs:
                run = self.run(p.name, c)
                if (p.name, c) in self.runs and run.status != OK:
                    details.append(f"--- {p.name} {c}: {run.status} ({run.detail}); log: {run.log}")
                for nodeid, base, other in self.diffs(p.name, c, timing=True):
                    details.append(f"--- {p.name} {c}: timing-dependent, not counted: {nodeid}: {base} -> "
                                   f"{other} ({p.timing[nodeid]})")
                diffs = self.diffs(p.name, c)
                if not diffs:
                    continue
                details.append(f"--- {p.name} {c}: {len(diffs)} differing test id(s)")
                never = [d for d in diffs if d[2] == NOT_RUN]
                listed = [d for d in diffs if d[2] != NOT_RUN]
                for nodeid, base, other in listed[:max_listed]:
                    details.append(f"  {nodeid}: {base} -> {other}")
                    text = run.details.get(nodeid, "").strip().splitlines()
                    details += ["      " + ln for ln in text[-4:]]
                if len(listed) > max_listed:
                    details.append(f"  ... and {len(listed) - max_listed} more (see --json)")
                if never:
                    details.append(f"  {len(never)} test(s) not run: the process died before them")
        if details:
            lines += ["", "Differences and abnormal runs:"] + details
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------
# Parent side: venvs, downloads, children

def _pip(python: str, *args: str, log=None) -> None:
    subprocess.run([python, "-m", "pip", "--disable-pip-version-check", *args], check=True,
                   stdout=log, stderr=subprocess.STDOUT if log else None)


def build_pyjion_wheel(workdir: str) -> str:
    """A wheel of the pyjion sources next to this file, built once per run (a regular install: the
    editable one does not install pyjion.pth, which ``PYJION=1`` needs)."""
    dest = os.path.join(workdir, "wheel")
    shutil.rmtree(dest, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix="pyjion-thirdparty-src-") as tmp:
        # Built from a copy so the build leaves nothing in the checkout.
        src = os.path.join(tmp, "pyjion")
        shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(".git", ".thirdparty", "build", "dist",
                                                                 "*.egg-info", "__pycache__", "tests"))
        subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "wheel", "-q", "--no-deps",
                        "-w", dest, src], check=True)
    (wheel,) = [os.path.join(dest, name) for name in os.listdir(dest) if name.endswith(".whl")]
    return wheel


def prepare(package: Package, workdir: str, wheel: str, log) -> tuple[str, str]:
    """(venv python, extracted source tree) of ``package``: its pinned sdist extracted afresh, its venv
    (made once, kept) with pyjion's wheel, pytest, the test dependencies and the package installed."""
    home = os.path.join(workdir, f"{package.name}-{package.version}")
    downloads = os.path.join(workdir, "downloads")
    os.makedirs(downloads, exist_ok=True)
    venv = os.path.join(home, "venv")
    python = os.path.join(venv, "bin", "python")
    if not os.path.exists(python):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    spec = f"{package.name}=={package.version}"
    _pip(python, "download", "-q", "--no-deps", "--no-binary", ":all:", "-d", downloads, spec, log=log)
    sdist = _find_sdist(downloads, package)
    src_root = os.path.join(home, "src")
    shutil.rmtree(src_root, ignore_errors=True)  # fresh: runs write into the tree
    with tarfile.open(sdist) as tar:
        tar.extractall(src_root, filter="data")
    (top,) = os.listdir(src_root)
    src = os.path.join(src_root, top)
    if not has_pytest_config(src):
        # Else pytest looks for a configuration in the parent directories and, with the default work
        # directory, finds pyjion's own pyproject.toml: its rootdir, pythonpath and options.
        with open(os.path.join(src, "pytest.ini"), "w", encoding="utf-8") as fp:
            fp.write("[pytest]\n")
    _pip(python, "install", "-q", wheel, PYTEST, *package.deps, log=log)  # pyjion's dependencies too
    # The same version number as the last run's wheel, so pip would keep that one: replace it.
    _pip(python, "install", "-q", "--force-reinstall", "--no-deps", wheel, log=log)
    _pip(python, "install", "-q", "--force-reinstall", "--no-deps", src, log=log)
    return python, src


def has_pytest_config(src: str) -> bool:
    """Whether pytest finds its configuration in ``src`` itself (the files and sections it looks for)."""
    sections = {"pytest.ini": "", ".pytest.ini": "", "pyproject.toml": "[tool.pytest.ini_options]",
                "tox.ini": "[pytest]", "setup.cfg": "[tool:pytest]"}
    for name, section in sections.items():
        path = os.path.join(src, name)
        if os.path.exists(path):
            with open(path, encoding="utf-8", errors="replace") as fp:
                if section in fp.read():
                    return True
    return False


def _find_sdist(downloads: str, package: Package) -> str:
    # Sdist names normalise the project name in several ways (more_itertools-, more-itertools-).
    key = re.sub(r"[-_.]+", "_", package.name).lower()
    for name in os.listdir(downloads):
        project, _, version = name.removesuffix(".tar.gz").rpartition("-")
        if name.endswith(".tar.gz") and re.sub(r"[-_.]+", "_", project).lower() == key \
                and version == package.version:
            return os.path.join(downloads, name)
    raise FileNotFoundError(f"no sdist of {package.name} {package.version} in {downloads}")


def child_env(config: str, tmpdir: str) -> dict[str, str]:
    """The parent's environment without PYTHON* and PYJION* variables (a parent run under the JIT must
    not leak into a plain child), plus the configuration's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PYJION"))}
    env.update(CONFIGS[config], PYTHONHASHSEED="0", TMPDIR=tmpdir, TEMP=tmpdir, TMP=tmpdir)
    if config != BASELINE:
        env["PYJION_CACHE"] = "0"
    return env


def run_suite(package: Package, config: str, python: str, src: str, opts, expected: list[str] = ()) -> Run:
    from pyjion.regrtest import _kill
    log = os.path.join(opts.log_dir, f"{package.name}.{config}.log")
    tmp = tempfile.mkdtemp(prefix=f"pyjion-thirdparty-{package.name}-{config}-")
    out = os.path.join(tmp, "outcomes.jsonl")
    cmd = [python, "-X", "faulthandler", "-c", BOOTSTRAP, os.path.abspath(__file__), out,
           *PYTEST_ARGS, *package.args, *package.tests]
    start = time.perf_counter()
    timed_out = False
    with open(log, "w", encoding="utf-8", errors="replace") as fp:
        fp.write(f"# {package.name} {package.version} {config}: {' '.join(cmd[5:])}\n")
        fp.flush()
        proc = subprocess.Popen(cmd, stdout=fp, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=src,
                                env=child_env(config, tmp), start_new_session=True)
        try:
            returncode = proc.wait(timeout=opts.timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            # SIGABRT first: faulthandler (-X faulthandler) writes every thread's stack into the log,
            # which shows whether the run hung or was still compiling.
            proc.send_signal(signal.SIGABRT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
            _kill(proc)
            returncode = proc.wait()
        finally:
            _kill(proc)  # whatever it forked and left behind (its own session, so its own group)
    events = read_events(out)
    shutil.rmtree(tmp, ignore_errors=True)
    status, detail = classify(returncode, timed_out, events.exitstatus, "PYJION" in CONFIGS[config], events.jit)
    return Run(package.name, config, status=status, returncode=returncode, jit=events.jit, detail=detail,
               duration=time.perf_counter() - start, details=events.details, log=log,
               outcomes=complete(events.outcomes, events.unfinished, status, expected))


def run_all(packages: list[Package], opts, progress=sys.stderr) -> Report:
    report = Report(packages, opts.configs, dict(opts.resumed), source=opts.source,
                    wall=opts.resumed_wall)
    start = time.perf_counter() - opts.resumed_wall
    wheel = build_pyjion_wheel(opts.workdir)
    trees = {}
    for package in packages:
        with open(os.path.join(opts.log_dir, f"{package.name}.install.log"), "w") as log:
            trees[package.name] = prepare(package, opts.workdir, wheel, log)
        report.installed[package.name] = subprocess.run(
            [trees[package.name][0], "-m", "pip", "--disable-pip-version-check", "freeze"], capture_output=True,
            text=True).stdout.split()
    # Every package's cheap configurations before anyone's expensive ones: a run cut short (or a
    # --resume'd one) has compared the most packages it could.
    order = sorted(opts.configs, key=lambda c: RUN_COST[c])
    for config in order:
        for package in packages:
            if (package.name, config) in report.runs:
                continue
            python, src = trees[package.name]
            expected = list(report.run(package.name, BASELINE).outcomes)
            run = run_suite(package, config, python, src, opts, expected)
            report.runs[(package.name, config)] = run
            report.wall = time.perf_counter() - start
            if opts.json:  # kept current, so that a long run cut short leaves what finished
                _write_report(report, opts.json)
            if progress:
                diff = "" if config == BASELINE else f", {len(report.diffs(package.name, config))} differ"
                if run.jit:
                    diff += f", {run.jit['compiled']}/{run.jit['considered']} code objects compiled"
                print(f"{report.wall:7.0f}s {package.name} {config}: {run.status}"
                      f"{' (' + run.detail + ')' if run.detail else ''}; p/f/e/s {run.cell()}{diff}; "
                      f"{run.duration:.1f}s", file=progress, flush=True)
    return report


def _resume(path: str, opts) -> tuple[dict[tuple[str, str], Run], float]:
    """The runs of an earlier report at ``path`` made from the same sources, and its wall time."""
    with open(path, encoding="utf-8") as fp:
        data = json.load(fp)
    if data.get("source") != opts.source:
        raise ValueError(f"{path} was made from other sources ({data.get('source')}, now {opts.source})")
    pins = {(p.name, p.version) for p in PACKAGES}
    versions = {p["name"]: p["version"] for p in data["packages"]}
    runs = {}
    for fields in data["runs"]:
        run = Run(**fields)
        if run.config in opts.configs and (run.package, versions.get(run.package)) in pins:
            runs[(run.package, run.config)] = run
    return runs, data.get("wall", 0.0)


def _write_report(report: Report, path: str) -> None:
    with open(path + ".tmp", "w", encoding="utf-8") as fp:
        json.dump(report.as_dict(), fp, indent=1)
    os.replace(path + ".tmp", path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pyjion.thirdparty", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    names = [p.name for p in PACKAGES]
    ap.add_argument("--packages", nargs="+", choices=names, default=names, metavar="NAME",
                    help=f"default: all of {' '.join(names)}")
    ap.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS), metavar="CONFIG",
                    help=f"default: all of {' '.join(CONFIGS)} ({BASELINE} always runs, first)")
    ap.add_argument("--json", help="write the full report (every test's outcome per run) here, updated as "
                                   "each run finishes")
    ap.add_argument("--workdir", default=DEFAULT_WORKDIR,
                    help="downloads, venvs, extracted sources and logs (default: .thirdparty/ in the repo)")
    ap.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="per suite and configuration, seconds")
    ap.add_argument("--resume", action="store_true",
                    help="keep the runs already in the --json report (same sources and pins), run the rest")
    ap.add_argument("--list", action="store_true", help="print the pinned packages and exit")
    opts = ap.parse_args(argv)
    packages = [p for p in PACKAGES if p.name in opts.packages]
    if opts.list:
        for p in packages:
            print(f"{p.name}=={p.version}  tests: {' '.join(p.tests)}"
                  + (f"  deps: {' '.join(p.deps)}" if p.deps else "") + (f"  ({p.note})" if p.note else ""))
        return 0
    opts.configs = [BASELINE] + [c for c in CONFIGS if c in opts.configs and c != BASELINE]
    opts.workdir = os.path.abspath(opts.workdir)
    opts.log_dir = os.path.join(opts.workdir, "logs")
    os.makedirs(opts.log_dir, exist_ok=True)
    from pyjion.regrtest import load_resumed
    load_resumed(ap, opts, _resume)
    print(f"pyjion.thirdparty: {len(packages)} packages x {len(opts.configs)} configs, timeout "
          f"{opts.timeout:.0f}s; work dir {opts.workdir}", file=sys.stderr, flush=True)
    report = run_all(packages, opts)
    print(report.format())
    if opts.json:
        _write_report(report, opts.json)
    return 1 if report.failing() else 0


if __name__ == "__main__":
    sys.exit(main())
