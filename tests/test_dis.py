"""pyjion.dis: the IR with the bytecode interleaved, and the machine code through capstone."""
import dis as bytecode_dis
import io
import sys

import pytest

import pyjion
import pyjion.dis
from differential import jit


def polynomial(x, y):
    return x * x + 3 * y - 1


@pytest.fixture(scope="module")
def compiled():
    with jit():
        assert polynomial(2, 3) == 12
    assert pyjion.info(polynomial).compiled
    return polynomial


def listing(view, f, **kwargs) -> str:
    out = io.StringIO()
    view(f, file=out, **kwargs)
    return out.getvalue()


def test_dis_interleaves_every_bytecode_instruction(compiled):
    text = listing(pyjion.dis.dis, compiled)
    for ins in bytecode_dis.get_instructions(compiled):
        assert f"; {ins.offset:>4} {ins.opname}" in text
    assert "define ptr" in text and "; line" in text
    numbered = [line for line in text.splitlines() if not line.startswith(";")]
    assert all(line.split()[0].isdigit() for line in numbered if line.strip())
    plain = listing(pyjion.dis.dis, compiled, print_pc=False)
    assert pyjion.il(compiled).splitlines()[0] in plain.splitlines()
    with_offsets = listing(pyjion.dis.dis, compiled, include_offsets=True)
    assert with_offsets.count("(machine code +0x") == len(list(bytecode_dis.get_instructions(compiled)))


def test_dis_native_names_the_functions_called(compiled):
    text = listing(pyjion.dis.dis_native, compiled, include_offsets=True)
    assert "; PyNumber_Multiply" in text and "; PyNumber_Add" in text
    assert "; " + "   0 RESUME" in text
    code, length, address = pyjion.native(compiled)
    assert f"{address:#x}:" in text
    bare = listing(pyjion.dis.dis_native, compiled, print_pc=False)
    assert "0x" + format(address, "x") + ":" not in bare


def test_dis_native_without_capstone_names_the_extra(compiled, monkeypatch):
    monkeypatch.setitem(sys.modules, "capstone", None)
    with pytest.raises(ImportError, match=r"pyjion\[dis\]"):
        pyjion.dis.dis_native(compiled)


def test_not_compiled_says_so():
    def cold(x):
        return x

    for view in (pyjion.dis.dis, pyjion.dis.dis_native):
        assert "cold is not compiled" in listing(view, cold)
