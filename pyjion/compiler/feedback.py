"""Type feedback: what CPython 3.11's specialising interpreter has recorded in a code object.

After a few runs the interpreter rewrites adaptive instructions in ``co_code_adaptive`` into specialised
forms (BINARY_OP_ADD_FLOAT, LOAD_ATTR_INSTANCE_VALUE, LOAD_GLOBAL_MODULE, ...) whose inline caches hold
the type version tags, dict keys versions and indexes their fast paths are checked against. The compiler
reads them once, when it compiles, and emits the same fast paths behind the same checks, with the generic
operation when a check fails. Versions and the cached method pointers belong to this process: they are
not in the machine code but in its site caches, seeded when it is linked (emitters/names.py).
"""
from __future__ import annotations

import dis
from dataclasses import dataclass
from types import CodeType

from ..abi.cpython311 import CACHE_FIELDS, INLINE_CACHE_ENTRIES
from .bytecode import Instruction

_BASE_OF = {specialised: base for base, forms in dis._specializations.items() for specialised in forms}
_NOT_FEEDBACK = ("_ADAPTIVE", "_QUICK")  # still warming up, or the same as the base instruction


@dataclass(frozen=True)
class Specialisation:
    """One specialised instruction: its name and its inline cache, as code units."""

    opname: str
    base: str
    cache: tuple[int, ...]

    def field(self, name: str) -> int:
        first, width = CACHE_FIELDS.get(self.opname, CACHE_FIELDS[self.base])[name]
        value = 0
        for k in reversed(range(width)):
            value = value << 16 | self.cache[first + k]
        return value


def read(code: CodeType) -> dict[int, Specialisation]:
    """Specialised instructions of ``code`` by code unit (``Instruction.index``)."""
    adaptive = code._co_code_adaptive  # one copy, taken with the GIL held: a consistent snapshot
    units = memoryview(adaptive).cast("H")
    found: dict[int, Specialisation] = {}
    unit = 0
    while unit < len(units):
        name = dis._all_opname[adaptive[2 * unit]]
        base = _BASE_OF.get(name, name)
        ncache = INLINE_CACHE_ENTRIES.get(base, 0)
        if base != name and base in INLINE_CACHE_ENTRIES and not name.endswith(_NOT_FEEDBACK):
            found[unit] = Specialisation(name, base, tuple(units[unit + 1:unit + 1 + ncache]))
        unit += 1 + ncache
    return found


FLOAT_FORMS = ("BINARY_OP_ADD_FLOAT", "BINARY_OP_SUBTRACT_FLOAT", "BINARY_OP_MULTIPLY_FLOAT", "COMPARE_OP_FLOAT_JUMP")
TRUE_DIVISIONS = frozenset({11, 24})  # BINARY_OP's oparg for / and /=
UNSPECIALISED_FLOAT_OPERATIONS = frozenset({8, 21}) | TRUE_DIVISIONS  # and ** and **=


INT_FORMS = ("BINARY_OP_ADD_INT", "BINARY_OP_SUBTRACT_INT", "BINARY_OP_MULTIPLY_INT", "COMPARE_OP_INT_JUMP")
# BINARY_OP's oparg for & // << % | >> ^ and their in-place forms: 3.11 specialises none of them.
UNSPECIALISED_INT_OPERATIONS = frozenset(op + inplace for op in (1, 2, 3, 6, 7, 9, 12) for inplace in (0, 13))
_SEQUENCE_SUBSCRIPTS = frozenset({"BINARY_SUBSCR_LIST_INT", "BINARY_SUBSCR_TUPLE_INT", "STORE_SUBSCR_LIST_INT"})


def specialised_for_ints(ins: Instruction, found: dict[int, Specialisation]) -> bool:
    """The interpreter specialised ``ins`` for two ints."""
    specialisation = found.get(ins.index)
    return specialisation is not None and specialisation.opname in INT_FORMS


def expects_ints(ins: Instruction, found: dict[int, Specialisation]) -> bool:
    """``ins`` gets the inline int path: the interpreter specialised it for ints, or it is a floor division,
    a remainder, a shift or a bitwise operation (3.11 specialises none; trying costs a type check where
    the operands are not ints, a string formatted with ``%`` say)."""
    return (ins.opname == "BINARY_OP" and ins.arg in UNSPECIALISED_INT_OPERATIONS) or specialised_for_ints(ins, found)


def indexes_a_sequence(ins: Instruction, found: dict[int, Specialisation]) -> bool:
    """A subscript specialised for a list or tuple, or not specialised (tried on arrays), whose index an
    unboxed int can be."""
    specialisation = found.get(ins.index)
    return specialisation is None or specialisation.opname in _SEQUENCE_SUBSCRIPTS


def specialised_for_floats(ins: Instruction, found: dict[int, Specialisation]) -> bool:
    """The interpreter specialised ``ins`` for two floats: they were floats, its result too."""
    specialisation = found.get(ins.index)
    return specialisation is not None and specialisation.opname in FLOAT_FORMS


def expects_floats(ins: Instruction, found: dict[int, Specialisation]) -> bool:
    """``ins`` gets the inline float path: the interpreter specialised it for floats, or it is a true
    division or a power (3.11 specialises neither; their operands are floats often enough that trying
    costs little)."""
    return (ins.opname == "BINARY_OP" and ins.arg in UNSPECIALISED_FLOAT_OPERATIONS) or specialised_for_floats(
        ins, found)
