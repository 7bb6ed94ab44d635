"""Abstract interpretation over value-stack slots: the kind of value each slot holds.

Kinds say what is statically known about a slot: a NULL marker (``PUSH_NULL``, ``LOAD_GLOBAL``'s NULL
bit), a maybe-NULL (``LOAD_METHOD``'s first slot), or the type of the object (constants, BUILD_*,
comparisons). The emitter relies on them for call shapes and reference counting, and later
optimisations for guards. Pops and pushes per opcode are listed explicitly here (``dis.stack_effect``
only gives their difference); a test checks them against ``dis.stack_effect`` for every opcode.
"""
from __future__ import annotations

import enum
import inspect
from dataclasses import dataclass
from types import CodeType
from typing import Callable, Sequence, TypeVar

from .bytecode import Instruction
from .feedback import (TRUE_DIVISIONS, Specialisation, expects_floats, expects_ints, indexes_a_sequence,
                       specialised_for_floats, specialised_for_ints)
from .flow import Block, Handler

State = TypeVar("State")


class Kind(enum.Enum):
    ANY = "any"
    NULL = "null"
    MAYBE_NULL = "maybe-null"
    NONE = "None"
    BOOL = "bool"
    INT = "int"
    FLOAT = "float"
    STR = "str"
    BYTES = "bytes"
    TUPLE = "tuple"
    LIST = "list"
    DICT = "dict"
    SET = "set"
    SLICE = "slice"
    FUNCTION = "function"

    @property
    def may_be_null(self) -> bool:
        return self in (Kind.NULL, Kind.MAYBE_NULL)

    def merge(self, other: "Kind") -> "Kind":
        if self is other:
            return self
        if self.may_be_null or other.may_be_null:
            return Kind.MAYBE_NULL
        return Kind.ANY


_CONST_KINDS = {type(None): Kind.NONE, bool: Kind.BOOL, int: Kind.INT, float: Kind.FLOAT, str: Kind.STR,
                bytes: Kind.BYTES, tuple: Kind.TUPLE}

Kinds = Sequence[Kind]
# opname -> (number popped, function(ins, popped kinds, consts) -> pushed kinds), for the fall-through path
Rule = Callable[[Instruction, Kinds, tuple], list[Kind]]


def _push(*kinds: Kind) -> Rule:
    return lambda ins, popped, consts: list(kinds)


def _passthrough(ins: Instruction, popped: Kinds, consts: tuple) -> list[Kind]:
    return list(popped)


_NOTHING = _push()
_ONE = _push(Kind.ANY)


def effect(ins: Instruction) -> tuple[int, Rule]:
    """Values popped by ``ins`` (fall-through path) and the rule giving the kinds it pushes."""
    name, arg = ins.opname, ins.arg or 0
    if name in _FIXED:
        return _FIXED[name]
    if name == "COPY":
        return arg, lambda ins, popped, consts: [*popped, popped[0]]
    if name == "SWAP":
        return arg, lambda ins, popped, consts: [popped[-1], *popped[1:-1], popped[0]]
    if name == "LOAD_GLOBAL":
        return 0, _push(Kind.NULL, Kind.ANY) if arg & 1 else _ONE
    if name == "CALL":
        return arg + 2, _ONE
    if name == "CALL_FUNCTION_EX":
        return 3 + (arg & 1), _ONE
    if name in ("BUILD_TUPLE", "LIST_TO_TUPLE"):
        return (arg if name == "BUILD_TUPLE" else 1), _push(Kind.TUPLE)
    if name == "BUILD_LIST":
        return arg, _push(Kind.LIST)
    if name == "BUILD_SET":
        return arg, _push(Kind.SET)
    if name == "BUILD_MAP":
        return 2 * arg, _push(Kind.DICT)
    if name == "BUILD_CONST_KEY_MAP":
        return arg + 1, _push(Kind.DICT)
    if name == "BUILD_SLICE":
        return arg, _push(Kind.SLICE)
    if name == "BUILD_STRING":
        return arg, _push(Kind.STR)
    if name == "FORMAT_VALUE":
        return 2 if arg & 4 else 1, _push(Kind.STR)
    if name == "MAKE_FUNCTION":
        return 1 + bin(arg & 0xF).count("1"), _push(Kind.FUNCTION)
    if name == "UNPACK_SEQUENCE":
        return 1, _push(*[Kind.ANY] * arg)
    if name == "UNPACK_EX":
        return 1, lambda ins, popped, consts: [Kind.ANY] * (ins.arg & 0xFF) + [Kind.LIST] + [Kind.ANY] * (ins.arg >> 8)
    if name == "RAISE_VARARGS":
        return arg, _NOTHING
    raise KeyError(name)


def _const_kind(ins: Instruction, popped: Kinds, consts: tuple) -> list[Kind]:
    return [_CONST_KINDS.get(type(consts[ins.arg]), Kind.ANY)]


_FIXED: dict[str, tuple[int, Rule]] = {
    **{n: (0, _NOTHING) for n in ("NOP", "RESUME", "PRECALL", "KW_NAMES", "JUMP_FORWARD", "JUMP_BACKWARD",
                                  "JUMP_BACKWARD_NO_INTERRUPT", "MAKE_CELL", "COPY_FREE_VARS", "DELETE_FAST",
                                  "DELETE_DEREF", "DELETE_GLOBAL", "DELETE_NAME")},
    **{n: (1, _NOTHING) for n in ("POP_TOP", "STORE_FAST", "STORE_DEREF", "STORE_GLOBAL", "STORE_NAME",
                                  "DELETE_ATTR", "RETURN_VALUE", "POP_JUMP_FORWARD_IF_TRUE",
                                  "POP_JUMP_FORWARD_IF_FALSE", "POP_JUMP_FORWARD_IF_NONE",
                                  "POP_JUMP_FORWARD_IF_NOT_NONE", "POP_JUMP_BACKWARD_IF_TRUE",
                                  "POP_JUMP_BACKWARD_IF_FALSE", "POP_JUMP_BACKWARD_IF_NONE",
                                  "POP_JUMP_BACKWARD_IF_NOT_NONE", "JUMP_IF_TRUE_OR_POP", "JUMP_IF_FALSE_OR_POP",
                                  "LIST_APPEND", "SET_ADD", "LIST_EXTEND", "SET_UPDATE", "DICT_UPDATE",
                                  "DICT_MERGE")},
    **{n: (2, _NOTHING) for n in ("STORE_ATTR", "DELETE_SUBSCR", "MAP_ADD")},
    "STORE_SUBSCR": (3, _NOTHING),
    "PUSH_NULL": (0, _push(Kind.NULL)),
    "LOAD_CONST": (0, _const_kind),
    **{n: (0, _ONE) for n in ("LOAD_FAST", "LOAD_DEREF", "LOAD_CLOSURE", "LOAD_NAME", "LOAD_ASSERTION_ERROR",
                              "LOAD_BUILD_CLASS")},
    **{n: (1, _ONE) for n in ("LOAD_ATTR", "GET_ITER", "UNARY_POSITIVE", "UNARY_NEGATIVE", "UNARY_INVERT")},
    "UNARY_NOT": (1, _push(Kind.BOOL)),
    "LOAD_METHOD": (1, _push(Kind.MAYBE_NULL, Kind.ANY)),
    **{n: (2, _ONE) for n in ("BINARY_SUBSCR", "BINARY_OP", "COMPARE_OP", "IMPORT_NAME")},
    **{n: (2, _push(Kind.BOOL)) for n in ("IS_OP", "CONTAINS_OP")},
    "FOR_ITER": (1, lambda ins, popped, consts: [popped[0], Kind.ANY]),
    # exceptions and with
    "PUSH_EXC_INFO": (1, lambda ins, popped, consts: [Kind.ANY, popped[0]]),
    "POP_EXCEPT": (1, _NOTHING),
    "RERAISE": (1, _NOTHING),
    "CHECK_EXC_MATCH": (2, lambda ins, popped, consts: [popped[0], Kind.BOOL]),
    "CHECK_EG_MATCH": (2, _push(Kind.ANY, Kind.ANY)),
    "PREP_RERAISE_STAR": (2, _ONE),
    "BEFORE_WITH": (1, _push(Kind.ANY, Kind.ANY)),
    "WITH_EXCEPT_START": (0, _ONE),
    # generators and coroutines
    "RETURN_GENERATOR": (0, _ONE),  # what a resumption pushes (dis.stack_effect counts 0)
    "YIELD_VALUE": (1, _ONE),
    "SEND": (2, lambda ins, popped, consts: [popped[0], Kind.ANY]),
    "GET_YIELD_FROM_ITER": (1, _ONE),
    "GET_AWAITABLE": (1, _ONE),
    "GET_AITER": (1, _ONE),
    "GET_ANEXT": (1, lambda ins, popped, consts: [popped[0], Kind.ANY]),
    "END_ASYNC_FOR": (2, _NOTHING),
    "ASYNC_GEN_WRAP": (1, _ONE),
    "BEFORE_ASYNC_WITH": (1, _push(Kind.ANY, Kind.ANY)),
    # pattern matching
    "MATCH_MAPPING": (1, lambda ins, popped, consts: [popped[0], Kind.BOOL]),
    "MATCH_SEQUENCE": (1, lambda ins, popped, consts: [popped[0], Kind.BOOL]),
    "GET_LEN": (1, lambda ins, popped, consts: [popped[0], Kind.INT]),
    "MATCH_CLASS": (3, _ONE),
    "MATCH_KEYS": (2, lambda ins, popped, consts: [*popped, Kind.ANY]),
    # module and class bodies
    "SETUP_ANNOTATIONS": (0, _NOTHING),
    "IMPORT_STAR": (1, _NOTHING),
    "LOAD_CLASSDEREF": (0, _ONE),
    "PRINT_EXPR": (1, _NOTHING),
    "IMPORT_FROM": (1, lambda ins, popped, consts: [popped[0], Kind.ANY]),
}


def jump_effect(ins: Instruction) -> tuple[int, Rule]:
    """Like :func:`effect`, for the path where ``ins`` jumps."""
    if ins.opname in ("JUMP_IF_TRUE_OR_POP", "JUMP_IF_FALSE_OR_POP"):
        return 1, _passthrough
    if ins.opname == "FOR_ITER":
        return 1, _NOTHING
    if ins.opname == "SEND":
        return 2, _ONE
    return effect(ins)


def supported(ins: Instruction) -> bool:
    try:
        effect(ins)
    except KeyError:
        return False
    return True


@dataclass
class StackKinds:
    """Kinds of the value-stack slots (bottom first) before each instruction, keyed by ``index``."""

    before: dict[int, tuple[Kind, ...]]
    entry: dict[int, tuple[Kind, ...]]  # per block start
    consts: tuple

    def after(self, ins: Instruction, jump: bool = False) -> tuple[Kind, ...]:
        return apply(ins, self.before[ins.index], self.consts, jump)


def apply(ins: Instruction, kinds: tuple[Kind, ...], consts: tuple, jump: bool = False) -> tuple[Kind, ...]:
    pops, rule = jump_effect(ins) if jump else effect(ins)
    popped = kinds[len(kinds) - pops:]
    return kinds[:len(kinds) - pops] + tuple(rule(ins, popped, consts))


def _fixed_point(blocks: dict[int, Block], initial: State, edges: Callable[[Block, State], list[tuple[int, State]]],
                 merge: Callable[[State, State], State]) -> dict[int, State]:
    """Forward data flow from the entry block: the state each reached block is entered with.
    ``edges(block, state)`` walks a block entered with ``state`` and gives (successor, state) pairs;
    ``merge`` joins two states where paths meet, moving up a finite lattice, so the iteration ends."""
    first = next(iter(blocks))
    entry = {first: initial}
    work = [first]
    while work:
        start = work.pop()
        for successor, out in edges(blocks[start], entry[start]):
            known = entry.get(successor)
            merged = out if known is None else merge(known, out)
            if merged != known:
                entry[successor] = merged
                work.append(successor)
    return entry


def analyse(code: CodeType, blocks: dict[int, Block], handlers: dict[int, Handler] | None = None) -> StackKinds:
    """Kinds of the stack slots before each instruction; kinds only move up the ANY/MAYBE_NULL lattice.

    A handler is entered with the raising instruction's stack cut to the handler's depth, then the
    lasti int and the exception. A generator resumes with the values it spilled when it suspended,
    which are those its ordinary edge (YIELD_VALUE's or SEND's) carries, so resume points need no edge
    of their own.
    """
    handlers = handlers or {}
    consts = code.co_consts
    before: dict[int, tuple[Kind, ...]] = {}

    def edges(block: Block, kinds: tuple[Kind, ...]) -> list[tuple[int, tuple[Kind, ...]]]:
        out = []
        for ins in block.instructions:
            before[ins.index] = kinds
            handler = handlers.get(ins.index)
            if handler is not None:
                out.append((handler.target, kinds[:handler.depth] + (Kind.INT,) * handler.lasti + (Kind.ANY,)))
            if ins is not block.last:
                kinds = apply(ins, kinds, consts)
        if block.fallthrough is not None:
            out.append((block.fallthrough, apply(block.last, kinds, consts)))
        if block.last.is_jump:
            out.append((block.last.target, apply(block.last, kinds, consts, jump=True)))
        return out

    entry = _fixed_point(blocks, (), edges, lambda known, new: tuple(a.merge(b) for a, b in zip(known, new)))
    return StackKinds(before, entry, consts)


def bound_locals(code: CodeType, blocks: dict[int, Block], handlers: dict[int, Handler] | None = None
                 ) -> dict[int, frozenset[int]]:
    """The fast locals certainly bound before each instruction, keyed by ``index``: a LOAD_FAST of one
    needs no unbound-local check.

    Parameters are bound on entry, STORE_FAST binds, DELETE_FAST unbinds; where paths meet (an exception
    handler with each instruction it covers) only what all of them bind. A frame the interpreter ran
    part of (a generator's ``throw()``) took one of these paths; a tracer that could unbind a local runs
    the frame in the interpreter.
    """
    handlers = handlers or {}
    parameters = (code.co_argcount + code.co_kwonlyargcount + bool(code.co_flags & inspect.CO_VARARGS)
                  + bool(code.co_flags & inspect.CO_VARKEYWORDS))
    before: dict[int, frozenset[int]] = {}

    def edges(block: Block, bound: frozenset[int]) -> list[tuple[int, frozenset[int]]]:
        out = []
        for ins in block.instructions:
            before[ins.index] = bound
            handler = handlers.get(ins.index)
            if handler is not None:
                out.append((handler.target, bound))
            if ins.opname == "STORE_FAST":
                bound = bound | {ins.arg}
            elif ins.opname == "DELETE_FAST":
                bound = bound - {ins.arg}
        if block.fallthrough is not None:
            out.append((block.fallthrough, bound))
        if block.last.is_jump:
            out.append((block.last.target, bound))
        return out

    _fixed_point(blocks, frozenset(range(parameters)), edges, frozenset.intersection)
    return before


# Emitters that leave unboxed values below their own operands as they are; before any other, the
# lowering boxes every unboxed value on the stack (Lowering.box_stack).
KEEPS_UNBOXED = frozenset({"LOAD_FAST", "LOAD_CONST", "BINARY_OP", "COMPARE_OP", "STORE_FAST", "SWAP",
                           "BINARY_SUBSCR", "STORE_SUBSCR"})


def unboxed_results(blocks: dict[int, Block], kinds: StackKinds, found: dict[int, Specialisation]) -> frozenset[int]:
    """The arithmetic operations whose result can stay an unboxed double or i64 on the value stack.

    A float's result is consumed by another float operation or stored in a local or a list item (whose
    float object can then be reused, Lowering.store_double); an int's by another int operation, a true
    division or as the index of a list, tuple or array subscript. Consumer and producer are in the same
    block, and only instructions that keep values unboxed run in between: anything else would box the
    value again straight away, costing what the unboxing saved.

    A result that is not of its kind sends the frame to the interpreter, so one must have been seen: the
    operation was specialised for floats or ints (a true division or a power is tried on floats
    without), or the float operation consuming it was; or it is a floor division, a remainder, a shift
    or a bitwise operation (3.11 specialises none) of int results and int constants, an int whatever
    path computes it."""
    unboxed = set()
    for block in blocks.values():
        if block.depth is None:
            continue
        # per slot, the operation that pushed it and its kind ("float", "int") if it can stay unboxed
        producers: list[tuple[int, str] | None] = [None] * block.depth
        fed = {ins.index for ins in block.instructions if specialised_for_floats(ins, found)}
        for ins in block.instructions:
            if ins.opname not in KEEPS_UNBOXED:
                producers = [None] * len(producers)
            if ins.opname == "SWAP":
                producers[-1], producers[-ins.arg] = producers[-ins.arg], producers[-1]
                continue
            pops, _ = effect(ins)
            pushes = len(kinds.after(ins)) - len(kinds.before[ins.index]) + pops
            consumed = producers[len(producers) - pops:]
            del producers[len(producers) - pops:]
            if ins.opname == "STORE_SUBSCR":  # the item stored (``a[i] += x``) and the index
                stored, _, index = consumed
                if stored is not None and stored[0] in fed:
                    unboxed.add(stored[0])
                if index is not None and index[1] == "int" and indexes_a_sequence(ins, found):
                    unboxed.add(index[0])
            elif ins.opname == "BINARY_SUBSCR":
                index = consumed[1]
                if index is not None and index[1] == "int" and indexes_a_sequence(ins, found):
                    unboxed.add(index[0])
            elif specialised_for_floats(ins, found):
                unboxed.update(index for index, kind in filter(None, consumed) if kind == "float")
            elif expects_floats(ins, found) or ins.opname == "STORE_FAST":
                divides = ins.opname == "BINARY_OP" and ins.arg in TRUE_DIVISIONS
                unboxed.update(index for index, kind in filter(None, consumed)
                               if index in fed or (kind == "int" and divides))
            elif expects_ints(ins, found):
                unboxed.update(index for index, kind in filter(None, consumed) if kind == "int")
            if ins.opname == "BINARY_OP" and expects_floats(ins, found):
                producers.append((ins.index, "float"))
            elif ins.opname == "BINARY_OP" and specialised_for_ints(ins, found):
                producers.append((ins.index, "int"))
            elif expects_ints(ins, found) and all(operand is not None and operand[1] in ("int", "int constant")
                                                  for operand in consumed):
                producers.append((ins.index, "int"))  # //, %, <<, >>, &, | or ^ of ints: an int
            elif ins.opname == "LOAD_CONST" and kinds.after(ins)[-1] is Kind.INT:
                producers.append((ins.index, "int constant"))  # an operand, never unboxed itself
            else:
                producers.extend([None] * pushes)
    return frozenset(unboxed)
