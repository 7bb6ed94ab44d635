"""The compiler pipeline's footprint on the program that runs it."""
import gc

import pyjion
from differential import jit


def _warm(x):
    return [x + i for i in range(3)]


def _measured(x):
    try:
        return x.missing
    except AttributeError:
        return 5


def test_compiling_leaves_no_cyclic_garbage():
    # Programs (and test_gc) count what gc.collect() finds; llvmlite's IR is thousands of cycles per
    # function unless the driver takes it apart.
    with jit():
        _warm(1)  # first compilation: one-time imports and caches
        gc.collect()
        assert _measured(1) == 5
        found = gc.collect()
    assert pyjion.info(_measured).compiled
    assert found == 0
