"""Run programs in child processes, one mode per child, and compare each JIT mode's outcome with plain's."""
from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Iterable, TextIO

CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "child.py")
PLAIN = "plain"
ALL_MODES = (PLAIN, "jit0", "jit1", "jit2", "fb2")   # fb1 on request: fb2 uses the same feedback
OUTCOME_KEYS = ("out", "ret", "exc", "tb", "chain")


@dataclass(frozen=True)
class Program:
    id: str
    source: str


def child_env() -> dict[str, str]:
    """Children hash strings alike (set order), and nothing switches the JIT on in a plain child."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYJION")}
    env.update(PYTHONHASHSEED="0", PYTHONFAULTHANDLER="1", PYTHONDONTWRITEBYTECODE="1")
    return env


def _describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit status {returncode}"


def _tail(path: str, size: int = 4000) -> str:
    with open(path, "rb") as fp:
        fp.seek(0, os.SEEK_END)
        fp.seek(max(0, fp.tell() - size))
        return fp.read().decode("utf-8", "replace")


def _run_child(mode: str, programs: list[Program], timeout: float, results: dict[str, dict]) -> None:
    """One child for as many of the programs as it gets through; a crash or hang is the running one's."""
    with tempfile.TemporaryDirectory(prefix="pyjion-fuzz-") as tmp:
        jobfile, errfile = os.path.join(tmp, "job.json"), os.path.join(tmp, "stderr")
        with open(jobfile, "w", encoding="utf-8") as fp:
            json.dump([{"id": p.id, "source": p.source} for p in programs], fp)
        with open(errfile, "wb") as err:
            proc = subprocess.Popen([sys.executable, "-P", CHILD, mode, jobfile], stdout=subprocess.PIPE,
                                    stderr=err, stdin=subprocess.DEVNULL, env=child_env(), cwd=tmp,
                                    start_new_session=True)
        current, buffer = None, b""
        deadline = time.monotonic() + timeout
        fd = proc.stdout.fileno()
        try:
            while True:
                ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
                if not ready:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                    if current is not None:
                        results[current] = {"timeout": timeout}
                    return
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    break
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    message = json.loads(line)
                    if "start" in message:
                        current = message["start"]
                        deadline = time.monotonic() + timeout
                    else:
                        results[message.pop("done")] = message
                        current = None
            returncode = proc.wait()
        finally:
            proc.stdout.close()
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if current is not None:
            results[current] = {"crash": _describe_exit(returncode), "stderr": _tail(errfile)}
        elif returncode != 0:
            raise RuntimeError(f"fuzz child ({mode}) failed outside any program, "
                               f"{_describe_exit(returncode)}:\n{_tail(errfile)}")


def run_mode(mode: str, programs: list[Program], timeout: float) -> dict[str, dict]:
    """Every program's report in one mode: restarted after a program that crashes or hangs its child."""
    results: dict[str, dict] = {}
    pending = list(programs)
    while pending:
        _run_child(mode, pending, timeout, results)
        pending = [p for p in pending if p.id not in results]
    return results


def _show(value: object, limit: int = 300) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def _first_difference(a: str, b: str) -> str:
    la, lb = a.splitlines(), b.splitlines()
    for n, (x, y) in enumerate(zip(la, lb), 1):
        if x != y:
            return f"line {n}: plain {_show(x)} != jit {_show(y)}"
    return f"plain has {len(la)} lines, jit {len(lb)}"


def compare(plain: dict, jitted: dict) -> list[str]:
    """What differs between two reports of one program (empty when they agree)."""
    if "crash" in jitted:
        return [f"crashed ({jitted['crash']})"]
    if "timeout" in jitted:
        return [f"timed out after {jitted['timeout']} s"]
    if plain.get("compile") != jitted.get("compile"):
        return [f"compile: plain {plain.get('compile')!r} != jit {jitted.get('compile')!r}"]
    ours, theirs = plain.get("rounds", []), jitted.get("rounds", [])
    differences = []
    if len(ours) != len(theirs):
        differences.append(f"plain ran {len(ours)} rounds, jit {len(theirs)}")
    for number, (a, b) in enumerate(zip(ours, theirs), -1):
        name = "module" if number < 0 else f"round {number}"
        for key in OUTCOME_KEYS:
            if a.get(key) != b.get(key):
                if key == "out":
                    differences.append(f"{name} stdout: {_first_difference(a['out'], b['out'])}")
                else:
                    differences.append(f"{name} {key}: plain {_show(a.get(key))} != jit {_show(b.get(key))}")
    return differences


@dataclass
class Finding:
    program: str
    mode: str
    kind: str            # mismatch, crash, timeout
    differences: list[str]
    path: str


@dataclass
class Summary:
    programs: int = 0
    executions: int = 0                  # (program, mode) runs, plain included
    skipped: Counter = field(default_factory=Counter)   # why a program was not compared
    findings: list[Finding] = field(default_factory=list)
    code: Counter = field(default_factory=Counter)      # code objects per mode
    ran: Counter = field(default_factory=Counter)       # of which called at least once
    compiled: Counter = field(default_factory=Counter)  # of which compiled
    flags: Counter = field(default_factory=Counter)     # fast paths used (programs per flag, fb modes)
    raised: int = 0                      # rounds (plain) that ended in an exception
    rounds: int = 0
    seconds: float = 0.0

    def count(self, kind: str) -> int:
        return sum(f.kind == kind for f in self.findings)

    def format(self) -> str:
        lines = [f"{self.programs} programs, {self.executions} executions in {self.seconds:.0f} s: "
                 f"{self.count('mismatch')} mismatches, {self.count('crash')} crashes, "
                 f"{self.count('timeout')} timeouts"]
        if self.skipped:
            lines.append("skipped: " + ", ".join(f"{n} {why}" for why, n in sorted(self.skipped.items())))
        if self.rounds:
            lines.append(f"plain rounds ending in an exception: {self.raised}/{self.rounds}")
        for mode in sorted(self.code):
            lines.append(f"  {mode}: {self.compiled[mode]} of the {self.ran[mode]} code objects that ran compiled "
                         f"({self.code[mode]} in the programs)")
        if self.flags:
            lines.append("  fast paths (programs): " + ", ".join(f"{k} {v}" for k, v in self.flags.most_common()))
        for f in self.findings:
            lines.append(f"{f.kind.upper()} {f.program} [{f.mode}] {f.path}")
            lines.extend(f"    {d}" for d in f.differences[:5])
        return "\n".join(lines)


def _save(out_dir: str, program: Program, mode: str, plain: dict, jitted: dict, differences: list[str]) -> str:
    where = os.path.join(out_dir, program.id)
    os.makedirs(where, exist_ok=True)
    with open(os.path.join(where, "program.py"), "w", encoding="utf-8") as fp:
        fp.write(program.source)
    with open(os.path.join(where, f"{mode}.txt"), "w", encoding="utf-8") as fp:
        fp.write("\n".join(differences) + "\n\n")
        json.dump({"plain": plain, mode: jitted}, fp, indent=1)
    return where


def check_batch(programs: list[Program], modes: Iterable[str], summary: Summary, out_dir: str | None,
                timeout: float, plain_timeout: float, jobs: int = 1) -> None:
    """Run a batch plainly, then what ran to the end in every JIT mode; record into summary (and
    out_dir) what differs."""
    modes = [m for m in modes if m != PLAIN]
    plain_reports = run_mode(PLAIN, programs, plain_timeout)
    summary.programs += len(programs)
    summary.executions += len(programs)
    comparable = []
    for program in programs:
        why = next((k for k in ("timeout", "crash", "compile") if k in plain_reports[program.id]), None)
        if why:
            summary.skipped[f"plain {why}"] += 1
        else:
            comparable.append(program)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {m: pool.submit(run_mode, m, comparable, timeout) for m in modes}
        reports = {m: f.result() for m, f in futures.items()}
    for program in comparable:
        plain = plain_reports[program.id]
        summary.executions += len(modes)
        summary.rounds += len(plain["rounds"])
        summary.raised += sum("exc" in r for r in plain["rounds"])
        used: set[str] = set()
        for mode in modes:
            jitted = reports[mode][program.id]
            summary.code[mode] += jitted.get("code", 0)
            summary.ran[mode] += jitted.get("ran", 0)
            summary.compiled[mode] += jitted.get("compiled", 0)
            if mode.startswith("fb"):
                used.update(jitted.get("flags", ()))
            differences = compare(plain, jitted)
            if differences:
                kind = "crash" if "crash" in jitted else "timeout" if "timeout" in jitted else "mismatch"
                path = _save(out_dir, program, mode, plain, jitted, differences) if out_dir else ""
                summary.findings.append(Finding(program.id, mode, kind, differences, path))
        summary.flags.update(used)


def fuzz(programs: Iterable[Program], modes: Iterable[str] = ALL_MODES, out_dir: str | None = None,
         batch: int = 10, timeout: float = 120.0, plain_timeout: float = 20.0, jobs: int = 1,
         deadline: float | None = None, progress: TextIO | None = None) -> Summary:
    """Check programs batch by batch until they run out, or the deadline (time.monotonic()) passes."""
    modes = list(modes)
    summary = Summary()
    start = time.monotonic()
    iterator = iter(programs)
    while True:
        chunk = [p for _, p in zip(range(batch), iterator)]
        if not chunk or (deadline is not None and time.monotonic() > deadline):
            break
        check_batch(chunk, modes, summary, out_dir, timeout, plain_timeout, jobs)
        summary.seconds = time.monotonic() - start
        if progress is not None:
            print(f"[{summary.seconds:6.0f} s] {summary.programs} programs, {summary.executions} executions, "
                  f"{summary.count('mismatch')} mismatches, {summary.count('crash')} crashes, "
                  f"{summary.count('timeout')} timeouts", file=progress, flush=True)
    summary.seconds = time.monotonic() - start
    return summary
