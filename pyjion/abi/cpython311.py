"""CPython 3.11 on x86-64: the struct layouts and constants pyjion's native code depends on.

This is the only module that knows offsets. Everything else asks for a field by name
(``FRAME.prev_instr``). The numbers come from ``shared/research/offsets_probe.c`` run against 3.11.7;
:func:`check_live` re-verifies them against live objects at start-up, because the internal structs
(frames, thread and interpreter state) carry no ABI guarantee even within a minor version.
"""
from __future__ import annotations

import abc
import array
import builtins
import ctypes
import dis
import sys
import threading
import types
from dataclasses import dataclass
from typing import Callable

SUPPORTED = (3, 11)


@dataclass(frozen=True)
class Field:
    """One member of a C struct: byte offset and scalar kind ('ptr', 'i64', 'i32', 'i16', 'i8', 'f64')."""

    offset: int
    kind: str


class Struct:
    """A C struct as a bag of named fields; analogous to the struct definition in a header."""

    def __init__(self, name: str, size: int, **fields: tuple[int, str]) -> None:
        self.name = name
        self.size = size
        self._fields = {k: Field(*v) for k, v in fields.items()}

    def __getattr__(self, item: str) -> Field:
        try:
            return self._fields[item]
        except KeyError:
            raise AttributeError(f"{self.name} has no field {item!r}") from None


OBJECT = Struct("PyObject", 16, ob_refcnt=(0, "i64"), ob_type=(8, "ptr"))
VAROBJECT = Struct("PyVarObject", 24, ob_size=(16, "i64"))
TYPE = Struct(
    "PyTypeObject", 408,
    tp_name=(24, "ptr"), tp_basicsize=(32, "i64"), tp_as_async=(80, "ptr"), tp_as_number=(96, "ptr"),
    tp_as_sequence=(104, "ptr"),
    tp_as_mapping=(112, "ptr"), tp_getattro=(144, "ptr"), tp_setattro=(152, "ptr"), tp_flags=(168, "i64"), tp_iter=(216, "ptr"), tp_iternext=(224, "ptr"),
    tp_dict=(264, "ptr"), tp_descr_get=(272, "ptr"), tp_dictoffset=(288, "i64"), tp_init=(296, "ptr"),
    tp_alloc=(304, "ptr"), tp_new=(312, "ptr"), tp_mro=(344, "ptr"), tp_version_tag=(384, "i32"),
    tp_vectorcall=(400, "ptr"),
)
MAPPING_METHODS = Struct("PyMappingMethods", 24, mp_subscript=(8, "ptr"))
ASYNC_METHODS = Struct("PyAsyncMethods", 32, am_await=(0, "ptr"), am_aiter=(8, "ptr"), am_anext=(16, "ptr"))
TUPLE = Struct("PyTupleObject", 24, ob_size=(16, "i64"), ob_item=(24, "ptr"))
LIST = Struct("PyListObject", 40, ob_size=(16, "i64"), ob_item=(24, "ptr"), allocated=(32, "i64"))
FLOAT = Struct("PyFloatObject", 24, ob_fval=(16, "f64"))
# array.array (Modules/arraymodule.c): its items, and the descriptor of their type, led by the typecode
ARRAY = Struct("arrayobject", 64, ob_size=(16, "i64"), ob_item=(24, "ptr"), ob_descr=(40, "ptr"))
ARRAY_DESCR = Struct("arraydescr", 48, typecode=(0, "i8"))
LONG = Struct("PyLongObject", 28, ob_size=(16, "i64"), ob_digit=(24, "i32"))
DICT = Struct("PyDictObject", 48, ma_used=(16, "i64"), ma_version_tag=(24, "i64"), ma_keys=(32, "ptr"),
              ma_values=(40, "ptr"))
CELL = Struct("PyCellObject", 24, ob_ref=(16, "ptr"))
CFUNCTION = Struct("PyCFunctionObject", 56, m_ml=(16, "ptr"), m_self=(24, "ptr"))
METHOD_DESCR = Struct("PyMethodDescrObject", 56, d_type=(16, "ptr"), d_method=(40, "ptr"))
METHOD_DEF = Struct("PyMethodDef", 32, ml_meth=(8, "ptr"), ml_flags=(16, "i32"))
RANGE_ITER = Struct("rangeiterobject", 48, index=(16, "i64"), start=(24, "i64"), step=(32, "i64"), len=(40, "i64"))
SEQUENCE_ITER = Struct("listiterobject", 32, it_index=(16, "i64"), it_seq=(24, "ptr"))  # and tupleiterobject
# PyDictKeysObject: the hash index (1 << dk_log2_index_bytes bytes) at dk_indices, then the entries.
DICT_KEYS = Struct("PyDictKeysObject", 32, dk_log2_index_bytes=(9, "i8"), dk_kind=(10, "i8"),
                   dk_version=(12, "i32"), dk_nentries=(24, "i64"), dk_indices=(32, "i8"))
DICT_KEYS_UNICODE = 1  # dk_kind of string-keyed combined tables: PyDictUnicodeEntry entries
DICT_KEYS_SPLIT = 2  # a type's shared instance keys (ht_cached_keys): PyDictUnicodeEntry entries too
# Keys versions are handed out from 2 up (dictobject.c's next_dict_keys_version); the shared empty keys
# of every empty dict have version 1, and 0 is "none yet".
EMPTY_KEYS_VERSION = 1
UNICODE_ENTRY = Struct("PyDictUnicodeEntry", 16, me_key=(0, "ptr"), me_value=(8, "ptr"))
# spec_cache_getitem: _spec_cache.getitem, the __getitem__ function BINARY_SUBSCR_GETITEM last
# specialised for (borrowed from the type's dict: valid while the type's version tag holds).
HEAPTYPE = Struct("PyHeapTypeObject", 912, ht_qualname=(864, "ptr"), ht_cached_keys=(872, "ptr"),
                  spec_cache_getitem=(896, "ptr"))
MODULE = Struct("PyModuleObject", 24, md_dict=(16, "ptr"))
# Objects of a type with Py_TPFLAGS_MANAGED_DICT carry two pointers before their header: the instance
# dict (once materialised) and the PyDictValues array of attribute values (shared-keys layout).
MANAGED_DICT = Field(-24, "ptr")
MANAGED_VALUES = Field(-32, "ptr")
# The garbage collector's link before every object of a GC type (PyGC_Head._gc_next): 0 while untracked
# (a dict holding only atomic values is not tracked until it gets a container, dictobject.c's
# MAINTAIN_TRACKING).
GC_NEXT = Field(-16, "i64")
# A PyDictValues array is preceded by its insertion order (dictobject.c's _PyDictValues_AddToInsertionOrder):
# the byte before the values is the prefix's size, the one before it the number of values in order, and
# the k-th value set (from 1) has its index at byte -2 - k.
VALUES_ORDER_COUNT = Field(-2, "i8")
# A bound method: the function and the object it was looked up on.
METHOD_OBJECT = Struct("PyMethodObject", 48, im_func=(16, "ptr"), im_self=(24, "ptr"))
# __slots__ entries: a member descriptor on the type, whose PyMemberDef gives the slot's byte offset in
# the instances. T_OBJECT_EX slots hold an object or NULL (unset: AttributeError).
MEMBER_DESCR = Struct("PyMemberDescrObject", 48, d_member=(40, "ptr"))
MEMBER_DEF = Struct("PyMemberDef", 40, type=(8, "i32"), offset=(16, "i64"), flags=(24, "i32"))
T_OBJECT_EX = 16
MEMBER_READONLY, MEMBER_AUDIT_READ = 1, 2
FUNCTION = Struct(
    "PyFunctionObject", 136,
    func_globals=(16, "ptr"), func_builtins=(24, "ptr"), func_name=(32, "ptr"), func_qualname=(40, "ptr"),
    func_code=(48, "ptr"), func_defaults=(56, "ptr"), func_kwdefaults=(64, "ptr"), func_closure=(72, "ptr"),
    func_doc=(80, "ptr"), func_dict=(88, "ptr"), func_module=(104, "ptr"), func_annotations=(112, "ptr"),
    vectorcall=(120, "ptr"), func_version=(128, "i32"),
)
CODE = Struct(
    "PyCodeObject", 192,
    co_consts=(24, "ptr"), co_names=(32, "ptr"), co_exceptiontable=(40, "ptr"), co_flags=(48, "i32"),
    co_argcount=(56, "i32"), co_kwonlyargcount=(64, "i32"), co_stacksize=(68, "i32"), co_firstlineno=(72, "i32"),
    co_nlocalsplus=(76, "i32"), co_nlocals=(80, "i32"), co_nfreevars=(92, "i32"),
    co_localsplusnames=(96, "ptr"), co_name=(120, "ptr"), co_qualname=(128, "ptr"),
    co_firsttraceable=(168, "i32"), co_extra=(176, "ptr"), co_code_adaptive=(184, "i16"),
)
# _PyCodeObjectExtra: {Py_ssize_t ce_size; void *ce_extras[]}
CODE_EXTRA = Struct("_PyCodeObjectExtra", 8, ce_size=(0, "i64"), ce_extras=(8, "ptr"))
FRAME = Struct(
    "_PyInterpreterFrame", 72,
    f_func=(0, "ptr"), f_globals=(8, "ptr"), f_builtins=(16, "ptr"), f_locals=(24, "ptr"), f_code=(32, "ptr"),
    frame_obj=(40, "ptr"), previous=(48, "ptr"), prev_instr=(56, "ptr"), stacktop=(64, "i32"),
    is_entry=(68, "i8"), owner=(69, "i8"), localsplus=(72, "ptr"),
)
FRAME_OBJECT = Struct("PyFrameObject", 56, f_back=(16, "ptr"), f_frame=(24, "ptr"), f_trace=(32, "ptr"))
# PyGenObject (also coroutines and async generators): the frame is embedded at gi_iframe.
GENERATOR = Struct("PyGenObject", 80, gi_frame_state=(75, "i8"), gi_iframe=(80, "ptr"))
FRAME_SUSPENDED = -1
FRAME_CREATED = -2
CFRAME = Struct("_PyCFrame", 24, use_tracing=(0, "i8"), current_frame=(8, "ptr"), previous=(16, "ptr"))
THREAD = Struct(
    "PyThreadState", 360,
    interp=(16, "ptr"), recursion_remaining=(32, "i32"), recursion_limit=(36, "i32"), tracing=(44, "i32"),
    tracing_what=(48, "i32"), cframe=(56, "ptr"), c_profilefunc=(64, "ptr"), c_tracefunc=(72, "ptr"),
    c_profileobj=(80, "ptr"), c_traceobj=(88, "ptr"), curexc_type=(96, "ptr"), exc_info=(120, "ptr"), async_exc=(144, "ptr"), thread_id=(152, "i64"),
    datastack_chunk=(296, "ptr"), datastack_top=(304, "ptr"), datastack_limit=(312, "ptr"),
)
# The thread's frame stack is a list of chunks: {previous, size in bytes, top, data[]}.
STACK_CHUNK = Struct("_PyStackChunk", 24, chunk_size=(8, "i64"), data=(24, "ptr"))
# Words of a frame beyond its locals and value stack (_PyInterpreterFrame up to localsplus).
FRAME_SPECIALS_SIZE = 9
FRAME_OWNED_BY_THREAD = 0
INTERP = Struct(
    "PyInterpreterState", 1448,
    eval_breaker=(100, "i32"), gil_drop_request=(104, "i32"), calls_to_do=(120, "i32"), async_exc=(124, "i32"),
    import_func=(1416, "ptr"), eval_frame=(1424, "ptr"), co_extra_user_count=(1432, "i64"),
)
RUNTIME = Struct("_PyRuntimeState", 0, signals_pending=(352, "i32"), small_ints=(680, "ptr"))
SMALL_INT_SIZE = 32  # sizeof(PyLongObject) for one-digit ints in _PyRuntime.small_ints[-5..256]

# Code flags and local kinds (Include/cpython/code.h, Include/internal/pycore_code.h).
CO_OPTIMIZED = 0x1
CO_NEWLOCALS = 0x2
CO_VARARGS = 0x4
CO_VARKEYWORDS = 0x8
CO_GENERATOR = 0x20
CO_COROUTINE = 0x80
CO_ITERABLE_COROUTINE = 0x100
CO_ASYNC_GENERATOR = 0x200
CO_FAST_LOCAL = 0x20
CO_FAST_CELL = 0x40
CO_FAST_FREE = 0x80

# tp_flags bits.
TPFLAGS_MANAGED_DICT = 1 << 4
TPFLAGS_HEAPTYPE = 1 << 9
TPFLAGS_IS_ABSTRACT = 1 << 20
TPFLAGS_LONG_SUBCLASS = 1 << 24
TPFLAGS_LIST_SUBCLASS = 1 << 25
TPFLAGS_TUPLE_SUBCLASS = 1 << 26
TPFLAGS_UNICODE_SUBCLASS = 1 << 28
TPFLAGS_DICT_SUBCLASS = 1 << 29
TPFLAGS_BASE_EXC_SUBCLASS = 1 << 30
TPFLAGS_TYPE_SUBCLASS = 1 << 31

PY_VECTORCALL_ARGUMENTS_OFFSET = 1 << 63
METH_KEYWORDS = 0x2
METH_NOARGS = 0x4
METH_O = 0x8
METH_FASTCALL = 0x80
FRAME_OWNED_BY_GENERATOR = 1

# Inline cache units that follow each instruction in co_code (trap: they are not instructions).
INLINE_CACHE_ENTRIES: dict[str, int] = {
    dis.opname[op]: n for op, n in enumerate(getattr(__import__("opcode"), "_inline_cache_entries")) if n
}


# The inline caches of specialised instructions (Include/internal/pycore_code.h): field -> (first
# cache unit, counting the counter as 0, and units); a 32-bit field spans two units, low half first.
CACHE_FIELDS: dict[str, dict[str, tuple[int, int]]] = {
    "LOAD_GLOBAL": {"index": (1, 1), "module_keys_version": (2, 2), "builtin_keys_version": (4, 1)},
    "LOAD_ATTR": {"version": (1, 2), "index": (3, 1)},
    "STORE_ATTR": {"version": (1, 2), "index": (3, 1)},
    "LOAD_METHOD": {"type_version": (1, 2), "dict_offset": (3, 1), "keys_version": (4, 2), "descr": (6, 4)},
    "LOAD_METHOD_MODULE": {"version": (1, 2), "index": (3, 1)},  # reads LOAD_ATTR's layout
    "COMPARE_OP": {"mask": (1, 1)},
    "BINARY_SUBSCR": {"type_version": (1, 2)},
}


class ABIMismatch(RuntimeError):
    """The running interpreter's layout differs from the one this module describes."""


def _read(addr: int, kind: str) -> int | float:
    ctype = {"ptr": ctypes.c_void_p, "i64": ctypes.c_int64, "i32": ctypes.c_int32, "i16": ctypes.c_int16,
             "i8": ctypes.c_int8, "f64": ctypes.c_double}[kind]
    return ctype.from_address(addr).value or 0


def _at(obj: object, field: Field) -> int | float:
    return _read(id(obj) + field.offset, field.kind)


def check_live() -> list[str]:
    """Compare the layouts above against live objects; return a description of every mismatch."""
    bad: list[str] = []

    def expect(what: str, got: object, want: object) -> None:
        if got != want:
            bad.append(f"{what}: read {got!r}, expected {want!r}")

    if sys.version_info[:2] != SUPPORTED or sys.maxsize != 2**63 - 1:
        return [f"layouts are for CPython {SUPPORTED[0]}.{SUPPORTED[1]} 64-bit, running {sys.version}"]

    def sample(a, b=2, *c, d, **e):
        x = a

        def inner():
            return x
        return inner

    code = sample.__code__
    expect("func_globals", _at(sample, FUNCTION.func_globals), id(sample.__globals__))
    expect("func_code", _at(sample, FUNCTION.func_code), id(code))
    expect("func_defaults", _at(sample, FUNCTION.func_defaults), id(sample.__defaults__))
    inner = sample(1, d=0)
    expect("func_closure", _at(inner, FUNCTION.func_closure), id(inner.__closure__))
    expect("co_consts", _at(code, CODE.co_consts), id(code.co_consts))
    expect("co_names", _at(code, CODE.co_names), id(code.co_names))
    expect("co_flags", _at(code, CODE.co_flags), code.co_flags)
    expect("co_argcount", _at(code, CODE.co_argcount), code.co_argcount)
    expect("co_kwonlyargcount", _at(code, CODE.co_kwonlyargcount), code.co_kwonlyargcount)
    expect("co_stacksize", _at(code, CODE.co_stacksize), code.co_stacksize)
    expect("co_firstlineno", _at(code, CODE.co_firstlineno), code.co_firstlineno)
    expect("co_nlocals", _at(code, CODE.co_nlocals), code.co_nlocals)
    nlocalsplus = len(code.co_varnames) + len(set(code.co_cellvars) - set(code.co_varnames)) + len(code.co_freevars)
    expect("co_nlocalsplus", _at(code, CODE.co_nlocalsplus), nlocalsplus)
    expect("co_name", _at(code, CODE.co_name), id(code.co_name))
    expect("co_qualname", _at(code, CODE.co_qualname), id(code.co_qualname))
    adaptive = code._co_code_adaptive
    expect("co_code_adaptive", ctypes.string_at(id(code) + CODE.co_code_adaptive.offset, len(adaptive)), adaptive)
    resume = _at(code, CODE.co_firsttraceable)
    expect("_co_firsttraceable", dis.opname[code.co_code[2 * int(resume)]], "RESUME")
    expect("tp_flags", _at(list, TYPE.tp_flags) & 0xFFFFFFFFFFFFFFFF, list.__flags__)
    expect("tp_mro", _at(bool, TYPE.tp_mro), id(bool.__mro__))
    expect("tp_descr_get", [bool(_at(t, TYPE.tp_descr_get)) for t in (int, property, staticmethod, type)],
           [False, True, True, False])
    async_methods = int(_at(types.AsyncGeneratorType, TYPE.tp_as_async))
    expect("am_aiter", _read(async_methods + ASYNC_METHODS.am_aiter.offset, "ptr"),
           ctypes.cast(ctypes.pythonapi.PyObject_SelfIter, ctypes.c_void_p).value)
    expect("ob_fval", _at(3.25, FLOAT.ob_fval), 3.25)
    for typecode in "di":
        items = array.array(typecode, [3, 4])
        expect("array ob_item", _at(items, ARRAY.ob_item), items.buffer_info()[0])
        expect("array typecode", _read(int(_at(items, ARRAY.ob_descr)) + ARRAY_DESCR.typecode.offset, "i8"),
               ord(typecode))
    expect("m_self", _at(len, CFUNCTION.m_self), id(builtins))
    expect("ml_flags", [_read(int(_at(f, CFUNCTION.m_ml)) + METHOD_DEF.ml_flags.offset, "i32")
                        for f in (len, isinstance, globals)], [METH_O, METH_FASTCALL, METH_NOARGS])
    expect("ml_meth", _read(int(_at([].append, CFUNCTION.m_ml)) + METHOD_DEF.ml_meth.offset, "ptr"),
           _read(int(_at(list.append, METHOD_DESCR.d_method)) + METHOD_DEF.ml_meth.offset, "ptr"))
    expect("d_type", _at(list.index, METHOD_DESCR.d_type), id(list))
    pair = (sample, 1)
    expect("tuple ob_item", _read(id(pair) + TUPLE.ob_item.offset, "ptr"), id(sample))
    lst = [sample]
    expect("list ob_item", _read(_at(lst, LIST.ob_item), "ptr"), id(sample))
    big = -(2**40 + 5)
    expect("long ob_size", _at(big, LONG.ob_size), -2)
    small = 7
    expect("small ints", id(small), _runtime_address() + RUNTIME.small_ints.offset + (7 + 5) * SMALL_INT_SIZE)
    cell = inner.__closure__[0]
    expect("cell ob_ref", _at(cell, CELL.ob_ref), id(1))
    stepped = iter(range(5, 100, 3))
    next(stepped)
    expect("range iterator", [_at(stepped, getattr(RANGE_ITER, f)) for f in ("index", "start", "step", "len")],
           [1, 5, 3, 32])
    for sequence in (lst, pair):
        iterator = iter(sequence)
        next(iterator)
        expect("sequence iterator", [_at(iterator, SEQUENCE_ITER.it_index), _at(iterator, SEQUENCE_ITER.it_seq)],
               [1, id(sequence)])
    _check_specialisation(expect)

    # Frames, thread and interpreter state: read through the running frame.
    frame = sys._getframe()
    iframe = int(_at(frame, FRAME_OBJECT.f_frame))
    expect("frame f_code", _read(iframe + FRAME.f_code.offset, "ptr"), id(frame.f_code))
    expect("frame f_globals", _read(iframe + FRAME.f_globals.offset, "ptr"), id(frame.f_globals))
    expect("frame frame_obj", _read(iframe + FRAME.frame_obj.offset, "ptr"), id(frame))
    first_local = frame.f_code.co_varnames[0]
    expect("frame localsplus[0]", _read(iframe + FRAME.localsplus.offset, "ptr"), id(frame.f_locals[first_local]))
    # A suspended generator's frame holds still while prev_instr is read.
    suspended = (lambda: (yield))()
    next(suspended)
    gframe = int(_at(suspended.gi_frame, FRAME_OBJECT.f_frame))
    prev = _read(gframe + FRAME.prev_instr.offset, "ptr")
    code_start = id(suspended.gi_code) + CODE.co_code_adaptive.offset
    expect("frame prev_instr", prev - code_start, suspended.gi_frame.f_lasti)
    expect("gi_iframe", gframe, id(suspended) + GENERATOR.gi_iframe.offset)
    expect("gi_frame_state", _at(suspended, GENERATOR.gi_frame_state), FRAME_SUSPENDED)
    expect("gi_frame_state", _at((lambda: (yield))(), GENERATOR.gi_frame_state), FRAME_CREATED)
    ts = thread_state_address()
    cframe = _read(ts + THREAD.cframe.offset, "ptr")
    # Read inline: a helper call would make its own frame the current one.
    current = ctypes.c_void_p.from_address(cframe + CFRAME.current_frame.offset).value
    expect("cframe current_frame", current, iframe)
    chunk = _read(ts + THREAD.datastack_chunk.offset, "ptr")
    top, limit = _read(ts + THREAD.datastack_top.offset, "ptr"), _read(ts + THREAD.datastack_limit.offset, "ptr")
    expect("datastack frames in the top chunk", chunk + STACK_CHUNK.data.offset <= iframe < top <= limit, True)
    expect("datastack chunk size", chunk + _read(chunk + STACK_CHUNK.chunk_size.offset, "i64"), limit)
    previous_trace, previous_profile = sys.gettrace(), sys.getprofile()
    sys.settrace(None)
    sys.setprofile(None)
    expect("thread c_tracefunc", _read(ts + THREAD.c_tracefunc.offset, "ptr"), 0)
    expect("thread c_profilefunc", _read(ts + THREAD.c_profilefunc.offset, "ptr"), 0)
    seen = {}

    def tracer(frame, event, arg):
        # Inside a trace call: tstate->tracing is 1 and tracing_what the event.
        seen.setdefault("tracing", _read(ts + THREAD.tracing.offset, "i32"))
        seen.setdefault("what", _read(ts + THREAD.tracing_what.offset, "i32"))

    sys.settrace(tracer)
    traced = _read(ts + THREAD.c_tracefunc.offset, "ptr")
    trace_object = _read(ts + THREAD.c_traceobj.offset, "ptr")
    sys.settrace(previous_trace)
    sys.setprofile(tracer)
    profile_object = _read(ts + THREAD.c_profileobj.offset, "ptr")
    sys.setprofile(previous_profile)
    expect("thread c_tracefunc set", traced != 0, True)
    expect("thread c_traceobj", trace_object, id(tracer))
    expect("thread c_profileobj", profile_object, id(tracer))
    expect("thread tracing", seen.get("tracing"), 1)
    expect("thread tracing_what", seen.get("what"), 0)  # PyTrace_CALL: the first event is _read being called
    expect("thread recursion_limit", _read(ts + THREAD.recursion_limit.offset, "i32"), sys.getrecursionlimit())
    expect("thread thread_id", _read(ts + THREAD.thread_id.offset, "i64") & 0xFFFFFFFFFFFFFFFF,
           threading.get_ident())
    interp = interpreter_address()
    expect("thread interp", _read(ts + THREAD.interp.offset, "ptr"), interp)
    if builtins.__import__.__module__ == "builtins":
        expect("interp import_func", _read(interp + INTERP.import_func.offset, "ptr"), id(builtins.__import__))
    api = ctypes.pythonapi
    api._PyInterpreterState_GetEvalFrameFunc.restype = ctypes.c_void_p
    api._PyInterpreterState_GetEvalFrameFunc.argtypes = [ctypes.c_void_p]
    hook = api._PyInterpreterState_GetEvalFrameFunc(interp) or 0
    default = ctypes.cast(api._PyEval_EvalFrameDefault, ctypes.c_void_p).value
    expect("interp eval_frame", _read(interp + INTERP.eval_frame.offset, "ptr") or default, hook)
    return bad


class _Probe:
    def __init__(self) -> None:
        self.first = "first"

    def method(self) -> str:
        return self.first

    def __getitem__(self, key: int) -> int:
        return key


class _Abstract(metaclass=abc.ABCMeta):
    @abc.abstractmethod
    def method(self) -> None: ...


def python_init_slot() -> int:
    """Address of typeobject.c's static ``slot_tp_init``: the tp_init of a class whose __init__ is Python's."""
    return int(_at(_Probe, TYPE.tp_init))


def _mp_subscript(cls: type) -> int:
    return int(_read(int(_at(cls, TYPE.tp_as_mapping)) + MAPPING_METHODS.mp_subscript.offset, "ptr"))


def python_getitem_slot() -> int:
    """Address of typeobject.c's static ``slot_mp_subscript``: the mp_subscript of a class whose
    __getitem__ is Python's (it looks __getitem__ up on the class and calls it)."""
    return _mp_subscript(_Probe)


class _Slotted:
    __slots__ = ("before", "slot")

    def __init__(self) -> None:
        self.slot = "slot"


def _check_specialisation(expect: Callable[[str, object, object], None]) -> None:
    """Dict keys, managed instance values, heap types, modules, and the inline caches that name them."""
    namespace = {"key": _Probe}
    keys = _at(namespace, DICT.ma_keys)
    entries = keys + DICT_KEYS.dk_indices.offset + (1 << _read(keys + DICT_KEYS.dk_log2_index_bytes.offset, "i8"))
    expect("dict entry me_key", _read(entries + UNICODE_ENTRY.me_key.offset, "ptr"), id("key"))
    expect("dict entry me_value", _read(entries + UNICODE_ENTRY.me_value.offset, "ptr"), id(_Probe))
    expect("dk_nentries", _read(keys + DICT_KEYS.dk_nentries.offset, "i64"), 1)
    expect("dk_kind", _read(keys + DICT_KEYS.dk_kind.offset, "i8"), DICT_KEYS_UNICODE)
    expect("empty keys dk_version", _read(_at({}, DICT.ma_keys) + DICT_KEYS.dk_version.offset, "i32"),
           EMPTY_KEYS_VERSION)
    expect("shared keys dk_kind", _read(int(_at(_Probe, HEAPTYPE.ht_cached_keys)) + DICT_KEYS.dk_kind.offset, "i8"),
           DICT_KEYS_SPLIT)
    expect("Py_TPFLAGS_MANAGED_DICT", bool(_Probe.__flags__ & TPFLAGS_MANAGED_DICT), True)
    expect("Py_TPFLAGS_HEAPTYPE", [bool(t.__flags__ & TPFLAGS_HEAPTYPE) for t in (_Probe, int)], [True, False])
    expect("tp_dictoffset", [_at(t, TYPE.tp_dictoffset) for t in (_Probe, int)], [_Probe.__dictoffset__, 0])
    expect("tp_getattro", _at(_Probe, TYPE.tp_getattro),
           ctypes.cast(ctypes.pythonapi.PyObject_GenericGetAttr, ctypes.c_void_p).value)
    expect("tp_setattro", _at(_Probe, TYPE.tp_setattro),
           ctypes.cast(ctypes.pythonapi.PyObject_GenericSetAttr, ctypes.c_void_p).value)
    # Instances made as type_call makes them: object_new inherited, __init__ in Python (slot_tp_init), the
    # generic allocator, no vectorcall of the class's own (list has one).
    expect("tp_new", [_at(t, TYPE.tp_new) == _at(object, TYPE.tp_new) for t in (_Probe, _Slotted, int)],
           [True, True, False])
    expect("tp_init", [_at(t, TYPE.tp_init) == _at(object, TYPE.tp_init) for t in (_Probe, _Abstract)], [False, True])
    expect("tp_alloc", _at(_Probe, TYPE.tp_alloc),
           ctypes.cast(ctypes.pythonapi.PyType_GenericAlloc, ctypes.c_void_p).value)
    expect("tp_vectorcall", [_at(t, TYPE.tp_vectorcall) != 0 for t in (_Probe, list)], [False, True])
    expect("Py_TPFLAGS_IS_ABSTRACT", [bool(t.__flags__ & TPFLAGS_IS_ABSTRACT) for t in (_Probe, _Abstract)],
           [False, True])
    member = _at(_Slotted.__dict__["slot"], MEMBER_DESCR.d_member)
    slotted = _Slotted()
    expect("PyMemberDef", [_read(member + f.offset, f.kind) for f in (MEMBER_DEF.type, MEMBER_DEF.flags)]
           + [_read(id(slotted) + _read(member + MEMBER_DEF.offset.offset, "i64"), "ptr")],
           [T_OBJECT_EX, 0, id(slotted.slot)])
    expect("ht_qualname", _at(_Probe, HEAPTYPE.ht_qualname), id(_Probe.__qualname__))
    expect("md_dict", _at(sys, MODULE.md_dict), id(sys.__dict__))
    probe = _Probe()
    bound = probe.method
    expect("PyMethodObject", [_at(bound, METHOD_OBJECT.im_func), _at(bound, METHOD_OBJECT.im_self)],
           [id(_Probe.method), id(probe)])
    values = _read(id(probe) + MANAGED_VALUES.offset, "ptr")
    expect("managed dict", _read(id(probe) + MANAGED_DICT.offset, "ptr"), 0)
    expect("managed values[0]", values and _read(int(values), "ptr"), id("first"))
    first, second = _Probe(), _Probe()
    first.a, first.b = 1, 2  # the shared keys: first, a, b
    second.b, second.a = 3, 4
    order = int(_read(id(second) + MANAGED_VALUES.offset, "ptr"))
    expect("values insertion order", [_read(order + VALUES_ORDER_COUNT.offset - k, "i8") for k in range(4)],
           [3, 0, 2, 1])
    namespace = {"probe": probe}
    exec("def run():\n    return probe.first, probe.method(), probe[1]", namespace)
    run = namespace["run"]
    for _ in range(64):  # quickened and specialised
        run()
    seen = {}
    adaptive = run.__code__._co_code_adaptive
    base_of = {form: base for base, forms in dis._specializations.items() for form in forms}
    unit = 0
    while unit < len(adaptive) // 2:  # instructions only: a cache unit's low byte may look like an opcode
        name = dis._all_opname[adaptive[2 * unit]]
        base = base_of.get(name, name)
        if base in ("LOAD_GLOBAL", "LOAD_ATTR", "LOAD_METHOD", "BINARY_SUBSCR"):
            seen[name] = {field: int.from_bytes(adaptive[2 * (unit + 1 + first):2 * (unit + 1 + first + width)],
                                                "little")
                          for field, (first, width) in CACHE_FIELDS[base].items()}
        unit += 1 + INLINE_CACHE_ENTRIES.get(base, 0)
    expect("LOAD_GLOBAL_MODULE module_keys_version", seen.get("LOAD_GLOBAL_MODULE", {}).get("module_keys_version"),
           _read(_at(namespace, DICT.ma_keys) + DICT_KEYS.dk_version.offset, "i32"))
    expect("LOAD_ATTR_INSTANCE_VALUE version", seen.get("LOAD_ATTR_INSTANCE_VALUE", {}).get("version"),
           _at(_Probe, TYPE.tp_version_tag))
    expect("LOAD_METHOD_WITH_VALUES descr", seen.get("LOAD_METHOD_WITH_VALUES", {}).get("descr"),
           id(_Probe.__dict__["method"]))
    getitem = seen.get("BINARY_SUBSCR_GETITEM", {})
    expect("BINARY_SUBSCR_GETITEM type_version", getitem.get("type_version"), _at(_Probe, TYPE.tp_version_tag))
    expect("_spec_cache.getitem", _at(_Probe, HEAPTYPE.spec_cache_getitem), id(_Probe.__getitem__))
    indexed = type("_Indexed", (), {"__getitem__": lambda self, key: key})
    expect("slot_mp_subscript", _mp_subscript(indexed), python_getitem_slot() or "not NULL")
    cached_keys = _at(_Probe, HEAPTYPE.ht_cached_keys)
    expect("ht_cached_keys dk_version", seen.get("LOAD_METHOD_WITH_VALUES", {}).get("keys_version"),
           _read(int(cached_keys) + DICT_KEYS.dk_version.offset, "i32"))


def keys_version_function() -> int | None:
    """Address of the hidden ``_PyDictKeys_GetVersionForCurrentState``, if this binary names it and it
    behaves: it gives unversioned keys the next version and returns a versioned one's own."""
    from .symtab import hidden_function

    address = hidden_function("_PyDictKeys_GetVersionForCurrentState")
    if address is None:
        return None
    version_of = ctypes.CFUNCTYPE(ctypes.c_uint32, ctypes.c_void_p)(address)
    probe = {"fresh": None}
    keys = _at(probe, DICT.ma_keys)
    current = ctypes.c_uint32.from_address(keys + DICT_KEYS.dk_version.offset)
    if current.value != 0:
        return None
    version = version_of(keys)
    if version in (0, EMPTY_KEYS_VERSION) or current.value != version:
        return None
    return address if version_of(keys) == version else None


DICT_VERSION_ATTEMPTS = 100


def dict_version_counter() -> int | None:
    """Address of the hidden ``_pydict_global_version`` (the last PEP 509 dict version handed out), if
    this binary names it and it counts: a dict changed twice gets it, one more each time."""
    from .symtab import hidden_data

    address = hidden_data("_pydict_global_version")
    if address is None:
        return None
    counter = ctypes.c_uint64.from_address(address)
    probe: dict[str, int] = {}
    tag = ctypes.c_uint64.from_address(id(probe) + DICT.ma_version_tag.offset)
    # Another thread (or a finalizer) may change a dict between a change of the probe and the reads,
    # taking a version of its own: only a counter that never matches is the wrong one.
    for attempt in range(DICT_VERSION_ATTEMPTS):
        probe["key"] = attempt
        first, at_first = tag.value, counter.value
        probe["key"] = -1
        second, at_second = tag.value, counter.value
        if first == at_first and second == at_second == first + 1:
            return address
    return None


def thread_state_address() -> int:
    api = ctypes.pythonapi
    api.PyThreadState_Get.restype = ctypes.c_void_p
    return api.PyThreadState_Get()


def interpreter_address() -> int:
    api = ctypes.pythonapi
    api.PyInterpreterState_Get.restype = ctypes.c_void_p
    return api.PyInterpreterState_Get()


def _runtime_address() -> int:
    return ctypes.addressof(ctypes.c_char.in_dll(ctypes.pythonapi, "_PyRuntime"))
