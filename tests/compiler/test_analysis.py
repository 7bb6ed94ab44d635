"""The pops/pushes table behind the kind analysis agrees with dis.stack_effect for every opcode it covers."""
import dis

import pytest

from pyjion.compiler import analysis, bytecode, flow
from pyjion.compiler.emitters import EMITTERS


def _instruction(opname, arg):
    return bytecode.Instruction(0, 0, 1, opname, arg, None, 1, 5 if dis.opmap[opname] in dis.hasjrel else None)


VALID_ARGS = {"BUILD_SLICE": [2, 3], "COPY": [1, 2, 5], "SWAP": [2, 3, 5]}


def _dis_effect(opname, arg, jump=False):
    # dis books CALL's stack effect across PRECALL (-n) and CALL (-1); pyjion's CALL does it all.
    if opname == "CALL":
        return dis.stack_effect(dis.opmap["PRECALL"], arg) + dis.stack_effect(dis.opmap["CALL"], arg)
    if opname == "PRECALL":
        return 0
    # dis counts the value a resumed generator finds pushed as part of the next instruction (POP_TOP).
    if opname == "RETURN_GENERATOR":
        return 1
    return dis.stack_effect(dis.opmap[opname], arg, jump=jump)


@pytest.mark.parametrize("opname", sorted(EMITTERS))
def test_effect_table_matches_dis(opname):
    op = dis.opmap[opname]
    args = VALID_ARGS.get(opname, [0, 1, 2, 3, 5, 8, 0x0102, 15]) if op >= dis.HAVE_ARGUMENT else [None]
    for arg in args:
        ins = _instruction(opname, arg)
        pops, rule = analysis.effect(ins)
        pushes = len(rule(ins, [analysis.Kind.ANY] * pops, (1,) * 300))
        assert pushes - pops == _dis_effect(opname, arg), (opname, arg)
        if ins.is_jump:
            pops, rule = analysis.jump_effect(ins)
            pushes = len(rule(ins, [analysis.Kind.ANY] * pops, (1,) * 300))
            assert pushes - pops == _dis_effect(opname, arg, jump=True), (opname, arg, "jump")


def sample(a, b):
    r = [x for x in a if x]
    while b:
        b -= 1
        if b == 3:
            break
    return r or None, a.get(b) if hasattr(a, "get") else print


def test_kinds_track_null_markers_and_merge():
    code = sample.__code__
    blocks = flow.build_blocks(bytecode.decode(code))
    kinds = analysis.analyse(code, blocks)
    below_calls = [kinds.before[ins.index][-(ins.arg + 2)] for ins in bytecode.decode(code) if ins.opname == "CALL"]
    # the comprehension function, hasattr (LOAD_GLOBAL's NULL), a.get (LOAD_METHOD's maybe-NULL)
    assert below_calls == [analysis.Kind.FUNCTION, analysis.Kind.NULL, analysis.Kind.MAYBE_NULL]
    assert all(block.depth is not None for block in blocks.values())
    assert analysis.Kind.NULL.merge(analysis.Kind.ANY) is analysis.Kind.MAYBE_NULL
    assert analysis.Kind.INT.merge(analysis.Kind.FLOAT) is analysis.Kind.ANY


def _bound_at_loads(func):
    """For each LOAD_FAST of ``func``, in order: (local name, whether it is certainly bound there)."""
    code = func.__code__
    instructions = bytecode.decode(code)
    handlers = flow.exception_handlers(code, instructions)
    blocks = flow.build_blocks(instructions, handlers)
    bound = analysis.bound_locals(code, blocks, handlers)
    return [(code.co_varnames[ins.arg], ins.arg in bound[ins.index]) for ins in instructions
            if ins.opname == "LOAD_FAST" and ins.index in bound]


def test_bound_locals():
    def straight(a, *args, k, **kw):
        b = a
        return a, b, args, k, kw

    def branches(a):
        if a:
            b = 1
        else:
            b = 2
            c = 3
        del a
        return b, c

    def handler(a):
        try:
            b = int(a)
            c = b
        except ValueError:
            return c
        return c

    assert all(bound for _, bound in _bound_at_loads(straight))
    assert _bound_at_loads(branches)[-2:] == [("b", True), ("c", False)]
    assert _bound_at_loads(handler) == [("a", True), ("b", True), ("c", False), ("c", True)]
