"""Differential fuzzing: generated programs run plainly and under the JIT, every observable compared.

    python -m pyjion.fuzz --programs 5000 --seed 1 --minutes 30 --out fuzz-findings   # the long run
    python -m pyjion.fuzz --grammar 500 --seed 1 --out fuzz-findings    # hypothesmith's grammar programs
    python -m pyjion.fuzz --show 1-17                                   # print program 17 of seed 1
    python -m pyjion.fuzz --replay fuzz-findings/1-17/program.py        # rerun a saved program, all modes
    python -m pyjion.fuzz --reduce fuzz-findings/1-17/program.py --mode fb2 > small.py   # shrink it

``programs.generate(seed)`` writes a module whose ``main(r)`` calls its functions in a loop, changing
argument types, globals, methods and classes part-way (see ``programs``); ``grammar`` draws arbitrary
compilable sources from hypothesmith. Each program runs in child processes (``child``), once per mode:

* ``plain``: the interpreter;
* ``jit0``, ``jit1``, ``jit2``: the JIT on at threshold 0 and that level, from the module body on;
* ``fb2`` (``fb1`` on request): the module body and round 0 of ``main`` in the interpreter under the
  JIT's hook at the highest threshold, so CPython specialises the code; then threshold 0, so every
  function is compiled on its next call with that type feedback, and rounds 1 and 2 break its guards.
* ``bg2`` (on request, ``--modes plain,bg2``): threshold 5 with background compilation, pyjion's
  default way of running: compiled code is installed whenever the compiler thread finishes it.

Stdout, the return value's repr, the exception's type and message, its traceback as (function, line)
pairs and its cause/context chain must equal plain's in every round. A child that dies or hangs is
reported against the program it was running and restarted for the rest of its batch. A program
whose outcome differs, or that crashes or hangs a JIT child, is written to ``--out`` with both
outcomes for triage; the exit status is 1 if there was any. ``tests/test_fuzz.py`` runs a short,
fixed-seed tier of this in the test suite.
"""
