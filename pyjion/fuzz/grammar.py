"""Programs from Python's grammar (hypothesmith): whatever they do, plainly and under the JIT alike.

Most raise within a statement or two (NameError on a made-up name); that outcome, its traceback
included, is compared like any other. Sources that ``compile()`` rejects are dropped here, and those
that run too long plainly are skipped by the runner.
"""
from __future__ import annotations

import warnings

from .runner import Program

GRAMMAR_MODES = ("plain", "jit0", "jit1", "jit2")   # a module body only: nothing for fb modes to warm


def grammar_programs(count: int, seed: int) -> list[Program]:
    """Up to ``count`` distinct compilable sources drawn by hypothesmith, the same for the same seed."""
    import hypothesis
    import hypothesmith
    from hypothesis import HealthCheck, Phase, given, settings

    sources: list[str] = []

    @hypothesis.seed(seed)
    @settings(max_examples=count, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(hypothesmith.from_grammar())
    def collect(source: str) -> None:
        sources.append(source)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # SyntaxWarnings of generated code
        collect()
        programs, seen = [], set()
        for source in sources:
            if source in seen:
                continue
            seen.add(source)
            try:
                compile(source, "<fuzz>", "exec")
            except (SyntaxError, ValueError, OverflowError, RecursionError, MemoryError):
                continue
            programs.append(Program(f"h{seed}-{len(programs)}", source))
    return programs
