"""Native runtime support functions shared by all compiled code, emitted once per process.

These stand in for ceval.c's static helpers (``unpack_iterable``, ``import_name``, the eval-breaker
handler, ``format_exc_check_arg`` ...) which libpython does not export. Compiled modules call them by
symbol name (``pyjion_*``), so machine code never embeds their addresses.
"""
from __future__ import annotations

from llvmlite import ir

from ..abi.cpython311 import (CFRAME, CO_OPTIMIZED, CO_VARARGS, CO_VARKEYWORDS, CODE, CODE_EXTRA, DICT, DICT_KEYS,
                              DICT_KEYS_SPLIT, DICT_KEYS_UNICODE, FRAME, FRAME_OWNED_BY_THREAD, FRAME_SPECIALS_SIZE,
                              FUNCTION, HEAPTYPE, INTERP, LIST, MANAGED_DICT, MANAGED_VALUES, MAPPING_METHODS,
                              MEMBER_AUDIT_READ, MEMBER_DEF, MEMBER_DESCR, MEMBER_READONLY, METHOD_OBJECT,
                              PY_VECTORCALL_ARGUMENTS_OFFSET, RUNTIME, STACK_CHUNK, T_OBJECT_EX, THREAD,
                              TPFLAGS_BASE_EXC_SUBCLASS, TPFLAGS_HEAPTYPE, TPFLAGS_MANAGED_DICT, TPFLAGS_TYPE_SUBCLASS,
                              TUPLE, TYPE, UNICODE_ENTRY, VAROBJECT, Field)
from ..compiler.builder import FRAME_FUNCTION, I1, I8, I32, I64, NULL, PTR, Builder, define_global, i32, i64
from .caches import (ATTR_CACHE_ENTRIES, ATTR_CLASS_ENTRY, ATTR_IN_DICT, ATTR_IN_SLOT, DICT_VERSION_COUNTER,
                     GLOBAL_CACHE, GLOBAL_IN_BUILTINS, GLOBAL_IN_MODULE, MAX_ATTR_FILLS, MAX_GLOBAL_REFRESHES,
                     METHOD_CLASS_ENTRY, attribute_slot, bail_to, cached_attribute, cached_class_attribute,
                     cached_global, cached_method, store_attribute)
from .state import STATE_LAYOUT

SIGNATURES: dict[str, str] = {
    "pyjion_stack_low": "i64(ptr)",
    "pyjion_eval_breaker": "i32(ptr)",
    "pyjion_exc_check_arg": "void(ptr,ptr,ptr)",
    "pyjion_mapping_get": "ptr(ptr,ptr)",
    "pyjion_load_global": "ptr(ptr,ptr,ptr)",
    "pyjion_load_global_cached": "ptr(ptr,ptr,ptr,ptr,i32)",
    "pyjion_unicode_entry_index": "i64(ptr,ptr,i8)",
    "pyjion_load_attr_cached": "ptr(ptr,ptr,ptr)",
    "pyjion_store_attr_cached": "i32(ptr,ptr,ptr,ptr)",
    "pyjion_load_method_cached": "i32(ptr,ptr,ptr,ptr)",
    "pyjion_vectorcall": "ptr(ptr,ptr,ptr,i64,ptr,ptr)",
    "pyjion_construct": "ptr(ptr,ptr,ptr,i64,ptr,ptr)",
    "pyjion_subscr": "ptr(ptr,ptr,ptr,ptr)",
    "pyjion_load_name": "ptr(ptr,ptr)",
    "pyjion_unpack_iterable": "i32(ptr,i32,i32,ptr)",
    "pyjion_import_name": "ptr(ptr,ptr,ptr,ptr,ptr)",
    "pyjion_import_from": "ptr(ptr,ptr)",
    "pyjion_iter_next": "i32(ptr,ptr)",
    "pyjion_call_helper": "ptr(i64,ptr,ptr,ptr)",
    "pyjion_fetch_call_helper": "void(i64,ptr,ptr)",
    "pyjion_traceback_here": "void(ptr)",
    "pyjion_handler_exception": "ptr()",
    "pyjion_profile_unwind": "void(ptr,ptr)",
    "pyjion_check_exc_match": "i32(ptr,ptr)",
    "pyjion_lookup_special": "ptr(ptr,ptr,ptr)",
    # libc
    "calloc": "ptr(i64,i64)",
    "free": "void(ptr)",
    "_PyCode_SetExtra": "i32(ptr,i64,ptr)",
    "pthread_getattr_np": "i32(i64,ptr)",
    "pthread_attr_getstack": "i32(ptr,ptr,ptr)",
    "pthread_attr_destroy": "i32(ptr)",
}

# Strings the native code needs, in globals that Python fills in at start-up: symbol suffix -> text.
STRING_GLOBALS = {"import": "__import__", "build_class": "__build_class__", "empty": "",
                  "enter": "__enter__", "exit": "__exit__", "aenter": "__aenter__", "aexit": "__aexit__",
                  "annotations": "__annotations__", "init": "__init__",
                  "getitem": "__getitem__"}
HELPER_TABLE = "pyjion_helpers"
HOOK_NAME = "pyjion_eval_frame"  # the frame evaluator (runtime/hook.py), declared here for direct calls
EXTRA_INDEX = "pyjion_extra_index"  # pyjion's co_extra slot, set at start-up
HELPER_TABLE_SIZE = 16

STACK_TABLE_SLOTS = 256  # threads whose native stack bounds are cached
STACK_MARGIN = 256 * 1024  # bytes of C stack kept free below the deepest Python call
# The (pthread id, thread state, guard) pyjion_stack_low gave last; read and written with the GIL held.
STACK_LAST = "pyjion_stack_last"

# Hidden functions (abi/symtab.py) in globals set at start-up; NULL where the binary does not name them.
KEYS_VERSION_FUNCTION = "pyjion_keys_version_function"  # NULL: global caches are never refilled
FRAME_CLEAR_FUNCTION = "pyjion_frame_clear_function"  # NULL: pyjion_vectorcall is PyObject_Vectorcall
# typeobject.c's static slot_tp_init (abi.python_init_slot) and the empty tuple, set at start-up.
INIT_SLOT = "pyjion_init_slot"
EMPTY_TUPLE = "pyjion_empty_tuple"
# typeobject.c's static slot_mp_subscript (abi.python_getitem_slot), set at start-up.
GETITEM_SLOT = "pyjion_getitem_slot"
# A call site's cache (pyjion_vectorcall): function version and argument count, the code's native state.
CALL_SITE_WORDS = 2
# A subscript site's cache (pyjion_subscr): a class version tag, then a call site's cache.
SUBSCR_SITE_WORDS = 1 + CALL_SITE_WORDS
# Function versions pyjion gives, counting down (pyjion_vectorcall's _remember_call); 0 is "none".
FUNCTION_VERSIONS = "pyjion_function_versions"
LAST_FUNCTION_VERSION = 1 << 31

_FALSE = ir.Constant(I1, 0)
PYTRACE_RETURN = 3
TRACE_FUNCTION = ir.FunctionType(I32, [PTR, PTR, I32, PTR])  # Py_tracefunc

CANNOT_CATCH_MSG = "catching classes that do not inherit from BaseException is not allowed"
NAME_ERROR_MSG = "name '%.200s' is not defined"
UNBOUNDLOCAL_ERROR_MSG = "cannot access local variable '%s' where it is not associated with a value"
UNBOUNDFREE_ERROR_MSG = ("cannot access free variable '%s' where it is not associated with a value "
                         "in enclosing scope")


def _kind(dk_kind: int) -> ir.Constant:
    return ir.Constant(I8, dk_kind)


def string_global(name: str) -> str:
    return f"pyjion_str_{name}"


def code_state(b: Builder, code: ir.Value, missing: ir.Block) -> ir.Value:
    """pyjion's native state of ``code`` (runtime/state.py), read from its co_extra slot; branches to
    ``missing`` where the hook has not attached one yet."""
    r = b.ir
    index = r.load(b.function.module.globals[EXTRA_INDEX], typ=I64)
    extra = b.load(code, CODE.co_extra)
    has_extra, in_range, found = b.block("has_extra"), b.block("extra_in_range"), b.block("state")
    r.cbranch(b.is_null(extra), missing, has_extra)
    b.position(has_extra)
    r.cbranch(r.icmp_signed(">", b.load(extra, CODE_EXTRA.ce_size), index), in_range, missing)
    b.position(in_range)
    state = b.load_slot(b.addr(extra, CODE_EXTRA.ce_extras), index)
    r.cbranch(b.is_null(state), missing, found)
    b.position(found)
    return state


def _site_key(b: Builder, version: ir.Value, nargs: ir.Value) -> ir.Value:
    """A call site cache's first word: the function version and the argument count it was filled for."""
    return b.ir.or_(b.ir.zext(version, I64), b.ir.shl(nargs, i64(32)))


def _remembered_stack_low(b: Builder, ts: ir.Value) -> tuple[ir.Value, ir.Value, ir.Value]:
    """The native stack pointer, whether STACK_LAST holds the calling thread's guard, and that guard."""
    r = b.ir
    module = b.function.module
    frameaddress = module.globals.get("llvm.frameaddress.p0") or ir.Function(
        module, ir.FunctionType(PTR, [I32]), "llvm.frameaddress.p0")
    sp = r.ptrtoint(r.call(frameaddress, [i32(0)]), I64)
    last = module.globals[STACK_LAST]
    same = r.and_(r.icmp_unsigned("==", r.load(last, typ=I64), b.load(ts, THREAD.thread_id)),
                  r.icmp_unsigned("==", r.load(r.gep(last, [i64(1)], source_etype=I64), typ=I64), r.ptrtoint(ts, I64)))
    return sp, same, r.load(r.gep(last, [i64(2)], source_etype=I64), typ=I64)


def stack_exhausted(b: Builder, ts: ir.Value) -> ir.Value:
    """True when the native stack is below the calling thread's guard (``pyjion_stack_low``): 3.11
    turns every Python call into C recursion once a hook is installed. The guard of the thread that
    asked last is read inline (STACK_LAST): a thread runs many calls between switches."""
    r = b.ir
    sp, same, remembered = _remembered_stack_low(b, ts)
    before = r.block
    ask, known = b.block("ask_stack_low"), b.block("stack_low_known")
    r.cbranch(same, known, ask)
    b.position(ask)
    asked = b.call("pyjion_stack_low", ts)
    r.branch(known)
    return r.icmp_unsigned("<", sp, b.merge(known, (remembered, before), (asked, ask)))


def stack_known_safe(b: Builder, ts: ir.Value) -> ir.Value:
    """True when STACK_LAST holds the calling thread's guard and the native stack is above it; False
    also where :func:`stack_exhausted` would have to ask (no call here)."""
    sp, same, remembered = _remembered_stack_low(b, ts)
    return b.ir.and_(same, b.ir.icmp_unsigned(">=", sp, remembered))


class SupportModule:
    """Emits the support functions into ``module``."""

    def __init__(self, module: ir.Module) -> None:
        self.module = module
        for name in STRING_GLOBALS:
            define_global(module, PTR, string_global(name))
        define_global(module, ir.ArrayType(PTR, HELPER_TABLE_SIZE), HELPER_TABLE)
        self.stack_table = define_global(module, ir.ArrayType(I64, 3 * STACK_TABLE_SLOTS), "pyjion_stack_table")
        self.stack_last = define_global(module, ir.ArrayType(I64, 3), STACK_LAST)
        self.keys_version_function = define_global(module, PTR, KEYS_VERSION_FUNCTION, None)
        self.frame_clear_function = define_global(module, PTR, FRAME_CLEAR_FUNCTION, None)
        self.init_slot = define_global(module, PTR, INIT_SLOT, None)
        self.getitem_slot = define_global(module, PTR, GETITEM_SLOT, None)
        self.empty_tuple = define_global(module, PTR, EMPTY_TUPLE, None)
        self.dict_version_counter = define_global(module, PTR, DICT_VERSION_COUNTER, None)
        self.extra_index = define_global(module, I64, EXTRA_INDEX, 0)
        self.function_versions = define_global(module, I32, FUNCTION_VERSIONS, -1)  # 2**32 - 1
        self.hook = ir.Function(module, FRAME_FUNCTION, HOOK_NAME)
        for name, emit in (
            ("pyjion_stack_low", self.stack_low), ("pyjion_eval_breaker", self.eval_breaker),
            ("pyjion_exc_check_arg", self.exc_check_arg), ("pyjion_mapping_get", self.mapping_get),
            ("pyjion_load_global", self.load_global), ("pyjion_load_name", self.load_name),
            ("pyjion_load_global_cached", self.load_global_cached),
            ("pyjion_unicode_entry_index", self.unicode_entry_index), ("pyjion_vectorcall", self.vectorcall),
            ("pyjion_construct", self.construct), ("pyjion_subscr", self.subscr),
            ("pyjion_load_attr_cached", self.load_attr_cached),
            ("pyjion_store_attr_cached", self.store_attr_cached),
            ("pyjion_load_method_cached", self.load_method_cached),
            ("pyjion_unpack_iterable", self.unpack_iterable), ("pyjion_import_name", self.import_name),
            ("pyjion_import_from", self.import_from), ("pyjion_iter_next", self.iter_next),
            ("pyjion_call_helper", self.call_helper), ("pyjion_fetch_call_helper", self.fetch_call_helper),
            ("pyjion_traceback_here", self.traceback_here), ("pyjion_handler_exception", self.handler_exception),
            ("pyjion_profile_unwind", self.profile_unwind),
            ("pyjion_check_exc_match", self.check_exc_match), ("pyjion_lookup_special", self.lookup_special),
        ):
            b = self.define(name)
            emit(b, *b.function.args)

    def define(self, name: str) -> Builder:
        from ..compiler.builder import parse_signature

        fn = self.module.globals.get(name)
        if fn is None:
            fn = ir.Function(self.module, parse_signature(SIGNATURES[name]), name)
        b = Builder(fn, SIGNATURES)
        b.position(b.block("entry"))
        return b

    # ---- native stack guard -----------------------------------------------------------------------
    def stack_low(self, b: Builder, ts: ir.Value) -> None:
        """Lowest safe stack address for the calling thread, cached by (pthread id, thread state).

        glibc reuses a thread's stack together with its descriptor (the pthread id), so a cached bound
        stays right for a new thread with the same id; the thread state pointer is a second key.
        0 means "unknown": no check.
        """
        r = b.ir
        tid = b.load(ts, THREAD.thread_id)
        key_ts = r.ptrtoint(ts, I64)
        h = r.and_(r.xor(r.lshr(tid, i64(12)), r.lshr(key_ts, i64(6))), i64(STACK_TABLE_SLOTS - 1))
        entry = r.block
        probe = b.block("probe")
        hit = b.block("hit")
        next_slot = b.block("next")
        miss = b.block("miss")
        r.branch(probe)
        b.position(probe)
        step = r.phi(I64)
        step.add_incoming(i64(0), entry)
        slot = r.and_(r.add(h, step), i64(STACK_TABLE_SLOTS - 1))
        base = r.gep(self.stack_table, [r.mul(slot, i64(3))], source_etype=I64)
        stored_tid = r.load(base, typ=I64)
        stored_ts = r.load(r.gep(base, [i64(1)], source_etype=I64), typ=I64)
        same = r.and_(r.icmp_unsigned("==", stored_tid, tid), r.icmp_unsigned("==", stored_ts, key_ts))
        r.cbranch(same, hit, next_slot)

        def remember(low: ir.Value) -> None:
            for k, word in enumerate((tid, key_ts, low)):
                r.store(word, r.gep(self.stack_last, [i64(k)], source_etype=I64))
            r.ret(low)

        b.position(hit)
        remember(r.load(r.gep(base, [i64(2)], source_etype=I64), typ=I64))
        b.position(next_slot)
        step1 = r.add(step, i64(1))
        step.add_incoming(step1, next_slot)
        empty = r.icmp_unsigned("==", stored_tid, i64(0))
        r.cbranch(r.or_(empty, r.icmp_unsigned("==", step1, i64(8))), miss, probe)
        b.position(miss)
        attr = b.alloca_array(16, I64)
        stack_addr = b.alloca(I64)
        stack_size = b.alloca(I64)
        failed = b.call("pthread_getattr_np", tid, attr)
        unknown = b.block("unknown")
        known = b.block("known")
        r.cbranch(r.icmp_signed("!=", failed, i32(0)), unknown, known)
        b.position(unknown)
        r.ret(i64(0))
        b.position(known)
        b.call("pthread_attr_getstack", attr, stack_addr, stack_size)
        b.call("pthread_attr_destroy", attr)
        size = r.load(stack_size, typ=I64)
        quarter = r.lshr(size, i64(2))
        margin = r.select(r.icmp_unsigned("<", quarter, i64(STACK_MARGIN)), quarter, i64(STACK_MARGIN))
        low = r.add(r.load(stack_addr, typ=I64), margin)
        r.store(tid, base)
        r.store(key_ts, r.gep(base, [i64(1)], source_etype=I64))
        r.store(low, r.gep(base, [i64(2)], source_etype=I64))
        remember(low)

    # ---- eval breaker -----------------------------------------------------------------------------
    def eval_breaker(self, b: Builder, ts: ir.Value) -> None:
        """ceval's ``eval_frame_handle_pending`` with exported API: 0, or -1 with an exception set."""
        r = b.ir
        interp = b.load(ts, THREAD.interp)
        runtime = b.object("_PyRuntime")
        pending = r.or_(b.load(runtime, RUNTIME.signals_pending, atomic=True),
                        b.load(interp, INTERP.calls_to_do, atomic=True))
        fail = b.block("fail")
        with b.if_then(r.icmp_unsigned("!=", pending, i32(0))):
            status = b.call("Py_MakePendingCalls")
            ok = b.block("pending_ok")
            r.cbranch(r.icmp_signed("<", status, i32(0)), fail, ok)
            b.position(ok)
        with b.if_then(r.icmp_unsigned("!=", b.load(interp, INTERP.gil_drop_request, atomic=True), i32(0))):
            b.call("PyEval_RestoreThread", b.call("PyEval_SaveThread"))
        exc = b.load(ts, THREAD.async_exc)
        deliver = b.block("deliver")
        done = b.block("done")
        r.cbranch(b.is_null(exc), done, deliver)
        b.position(deliver)
        b.store(ts, THREAD.async_exc, NULL)
        b.store_atomic(interp, INTERP.async_exc, i32(0))
        rest = r.or_(r.or_(b.load(interp, INTERP.gil_drop_request, atomic=True),
                           b.load(runtime, RUNTIME.signals_pending, atomic=True)),
                     b.load(interp, INTERP.calls_to_do, atomic=True))
        b.store_atomic(interp, INTERP.eval_breaker, rest)
        b.call("PyErr_SetNone", exc)
        b.decref(exc)
        r.branch(fail)
        b.position(done)
        r.ret(i32(0))
        b.position(fail)
        r.ret(i32(-1))

    # ---- names ------------------------------------------------------------------------------------
    def exc_check_arg(self, b: Builder, exc_type: ir.Value, fmt: ir.Value, name: ir.Value) -> None:
        """``format_exc_check_arg``: raise ``exc_type(fmt % name)``; a NameError also gets ``.name``."""
        r = b.ir
        text = b.call("PyUnicode_AsUTF8", name)
        ret = b.block("ret")
        go = b.block("format")
        r.cbranch(b.is_null(text), ret, go)
        b.position(go)
        b.call("PyErr_Format", exc_type, fmt, text)
        with b.if_then(r.icmp_unsigned("==", exc_type, b.exception("PyExc_NameError"))):
            t, v, tb = (b.alloca(PTR) for _ in range(3))
            b.call("PyErr_Fetch", t, v, tb)
            b.call("PyErr_NormalizeException", t, v, tb)
            value = r.load(v, typ=PTR)
            with b.if_then(r.icmp_unsigned("!=", value, NULL)):
                matches = b.call("PyErr_GivenExceptionMatches", value, b.exception("PyExc_NameError"))
                with b.if_then(r.icmp_signed("!=", matches, i32(0))):
                    # Failure is ignored, as in ceval: the NameError is restored either way.
                    with b.if_then(r.icmp_signed("<", b.call("PyObject_SetAttrString", value, b.cstring("name"),
                                                              name), i32(0))):
                        b.call("PyErr_Clear")
            b.call("PyErr_Restore", r.load(t, typ=PTR), value, r.load(tb, typ=PTR))
        r.branch(ret)
        b.position(ret)
        r.ret_void()

    def mapping_get(self, b: Builder, mapping: ir.Value, key: ir.Value) -> None:
        """New reference to ``mapping[key]``; NULL without an exception when the key is missing."""
        r = b.ir
        is_dict = b.is_type(mapping, "PyDict_Type")
        as_dict = b.block("dict")
        generic = b.block("generic")
        r.cbranch(is_dict, as_dict, generic)
        b.position(as_dict)
        found = b.call("PyDict_GetItemWithError", mapping, key)
        with b.if_then(r.icmp_unsigned("!=", found, NULL)):
            b.incref(found)
        r.ret(found)
        b.position(generic)
        value = b.call("PyObject_GetItem", mapping, key)
        with b.if_then(b.is_null(value)):
            with b.if_then(r.icmp_signed("!=", b.call("PyErr_ExceptionMatches", b.exception("PyExc_KeyError")),
                                         i32(0))):
                b.call("PyErr_Clear")
        r.ret(value)

    def _get_or_continue(self, b: Builder, mapping: ir.Value, key: ir.Value) -> None:
        """Return the value (or NULL on error) if found; otherwise fall through."""
        r = b.ir
        value = b.call("pyjion_mapping_get", mapping, key)
        with b.if_then(r.icmp_unsigned("!=", value, NULL)):
            r.ret(value)
        with b.if_then(r.icmp_unsigned("!=", b.call("PyErr_Occurred"), NULL)):
            r.ret(NULL)

    def load_global(self, b: Builder, globals_: ir.Value, builtins: ir.Value, name: ir.Value) -> None:
        self._get_or_continue(b, globals_, name)
        self._get_or_continue(b, builtins, name)
        b.call("pyjion_exc_check_arg", b.exception("PyExc_NameError"), b.cstring(NAME_ERROR_MSG), name)
        b.ir.ret(NULL)

    def load_global_cached(self, b: Builder, globals_: ir.Value, builtins: ir.Value, name: ir.Value,
                           cache: ir.Value, form: ir.Value) -> None:
        """LOAD_GLOBAL's value through the site's cache (GLOBAL_CACHE); where its guards fail, the cache
        is refilled when the name is found where ``form`` says, in string-keyed dicts whose keys get a
        version. The lookups are the interpreter's (_PyDict_LoadGlobal: globals, then builtins)."""
        r = b.ir
        miss = b.block("miss")
        module_form, builtins_form = b.block("module_form"), b.block("builtins_form")
        r.cbranch(r.icmp_unsigned("==", form, i32(GLOBAL_IN_BUILTINS)), builtins_form, module_form)
        for block, in_builtins in ((module_form, False), (builtins_form, True)):
            b.position(block)
            r.ret(cached_global(b, bail_to(b, miss), globals_, builtins, cache, in_builtins))
        b.position(miss)
        version_of = r.load(self.keys_version_function, typ=PTR)
        refreshes = b.load(cache, GLOBAL_CACHE.refreshes)
        exhausted = r.or_(b.is_null(version_of), r.icmp_signed(">=", refreshes, i64(MAX_GLOBAL_REFRESHES)))
        dicts = r.and_(b.is_type(globals_, "PyDict_Type"), b.is_type(builtins, "PyDict_Type"))
        with b.if_then(r.or_(exhausted, r.not_(dicts)), likely=False):
            r.ret(b.call("pyjion_load_global", globals_, builtins, name))
        b.store(cache, GLOBAL_CACHE.refreshes, r.add(refreshes, i64(1)))
        version_type = ir.FunctionType(I32, [PTR])

        def version(keys: ir.Value) -> ir.Value:
            return b.call_pointer(version_of, version_type, [keys])

        def refill(globals_version: ir.Value, builtins_version: ir.Value, index: ir.Value) -> None:
            usable = r.and_(r.icmp_signed(">=", index, i64(0)), r.and_(
                r.icmp_unsigned("!=", globals_version, i32(0)), r.icmp_unsigned("!=", builtins_version, i32(0))))
            with b.if_then(usable):
                b.store(cache, GLOBAL_CACHE.globals_version, globals_version)
                b.store(cache, GLOBAL_CACHE.builtins_version, builtins_version)
                b.store(cache, GLOBAL_CACHE.index, index)

        # Keys are read after the lookups: a lookup in keys that are not all strings may run a key's
        # __eq__, which may change the dict. A builtin's entry is cached only when both dicts' keys
        # are all strings: then neither lookup ran Python code, and the name is still not global.
        found = b.call("PyDict_GetItemWithError", globals_, name)
        with b.if_then(r.icmp_unsigned("!=", found, NULL)):
            with b.if_then(r.icmp_unsigned("==", form, i32(GLOBAL_IN_MODULE))):
                global_keys = b.load(globals_, DICT.ma_keys)
                refill(version(global_keys), i32(-1), b.call("pyjion_unicode_entry_index", global_keys, name, _kind(DICT_KEYS_UNICODE)))
            r.ret(b.new_ref(found))
        with b.if_then(r.icmp_unsigned("!=", b.call("PyErr_Occurred"), NULL)):
            r.ret(NULL)
        found = b.call("PyDict_GetItemWithError", builtins, name)
        with b.if_then(r.icmp_unsigned("!=", found, NULL)):
            global_keys = b.load(globals_, DICT.ma_keys)
            strings = r.icmp_unsigned("==", b.load(global_keys, DICT_KEYS.dk_kind), ir.Constant(I8, DICT_KEYS_UNICODE))
            with b.if_then(r.and_(strings, r.icmp_unsigned("==", form, i32(GLOBAL_IN_BUILTINS)))):
                builtin_keys = b.load(builtins, DICT.ma_keys)
                index = b.call("pyjion_unicode_entry_index", builtin_keys, name, _kind(DICT_KEYS_UNICODE))
                with b.if_then(r.icmp_signed(">=", index, i64(0))):
                    refill(version(global_keys), version(builtin_keys), index)
            r.ret(b.new_ref(found))
        with b.if_then(r.icmp_unsigned("!=", b.call("PyErr_Occurred"), NULL)):
            r.ret(NULL)
        b.call("pyjion_exc_check_arg", b.exception("PyExc_NameError"), b.cstring(NAME_ERROR_MSG), name)
        r.ret(NULL)

    def unicode_entry_index(self, b: Builder, keys: ir.Value, name: ir.Value, kind: ir.Value) -> None:
        """Index of the entry whose key is ``name`` in dict keys of ``kind`` (string-keyed or a type's
        shared keys: every key an exact str), or -1 (another kind of keys, or no such entry). A scan:
        refills are rare, and their keys are few."""
        r = b.ir
        with b.if_then(r.icmp_unsigned("!=", b.load(keys, DICT_KEYS.dk_kind), kind)):
            r.ret(i64(-1))
        count = b.load(keys, DICT_KEYS.dk_nentries)
        index_bytes = r.shl(i64(1), r.zext(b.load(keys, DICT_KEYS.dk_log2_index_bytes), I64))
        entries = r.gep(keys, [r.add(index_bytes, i64(DICT_KEYS.dk_indices.offset))], source_etype=I8)
        start = r.block
        scan, done = b.block("scan"), b.block("not_found")
        r.cbranch(r.icmp_signed(">", count, i64(0)), scan, done)
        b.position(scan)
        index = r.phi(I64)
        index.add_incoming(i64(0), start)
        entry = r.gep(entries, [r.mul(index, i64(UNICODE_ENTRY.size))], source_etype=I8)
        key = b.load(entry, UNICODE_ENTRY.me_key)
        with b.if_then(r.icmp_unsigned("==", key, name)):
            r.ret(index)
        # An equal string that is not ``name`` (a key set through a dict, not interned) is the entry too.
        with b.if_then(r.not_(b.is_null(key))):
            with b.if_then(r.icmp_signed("!=", b.call("_PyUnicode_Equal", key, name), i32(0))):
                r.ret(index)
        following = r.add(index, i64(1))
        index.add_incoming(following, r.block)
        r.cbranch(r.icmp_signed("<", following, count), scan, done)
        b.position(done)
        r.ret(i64(-1))

    def load_attr_cached(self, b: Builder, owner: ir.Value, name: ir.Value, cache: ir.Value) -> None:
        """``owner.name`` through the site's cache (ATTR_CACHE); where it has no entry for the owner's
        type, one is added where the interpreter would specialise LOAD_ATTR_INSTANCE_VALUE (_learn_slot)."""
        miss = b.block("miss")
        class_entry = b.ir.gep(cache, [i64(ATTR_CLASS_ENTRY)], source_etype=I64)
        with b.if_then(b.is_type(owner, "PyType_Type")):
            b.ir.ret(cached_class_attribute(b, bail_to(b, miss), owner, class_entry))
        b.ir.ret(cached_attribute(b, bail_to(b, miss), owner, cache, name))
        b.position(miss)
        result = b.call("PyObject_GetAttr", owner, name)
        with b.if_then(b.is_null(result)):
            b.ir.ret(NULL)
        self._learn_class_attribute(b, owner, name, result, class_entry)
        self._learn_slot(b, owner, name, cache, TYPE.tp_getattro, "PyObject_GenericGetAttr", result)

    def store_attr_cached(self, b: Builder, owner: ir.Value, name: ir.Value, value: ir.Value,
                          cache: ir.Value) -> None:
        """``owner.name = value`` (``value`` borrowed) through the site's cache (ATTR_CACHE); where it has
        no entry for the owner's type, one is added where the interpreter would specialise
        STORE_ATTR_INSTANCE_VALUE."""
        miss = b.block("miss")
        slot = attribute_slot(b, bail_to(b, miss), owner, cache, name, store=True)
        b.incref(value)
        store_attribute(b, slot, value)
        b.ir.ret(i32(0))
        b.position(miss)
        status = b.call("PyObject_SetAttr", owner, name, value)
        with b.if_then(b.ir.icmp_signed("<", status, i32(0))):
            b.ir.ret(status)
        self._learn_slot(b, owner, name, cache, TYPE.tp_setattro, "PyObject_GenericSetAttr", status, store=True)

    def _learn_slot(self, b: Builder, owner: ir.Value, name: ir.Value, cache: ir.Value, access: Field,
                    generic_access: str, result: ir.Value, store: bool = False) -> None:
        """Return ``result``, having added the owner's type and where its instances keep the attribute
        to the cache where the interpreter would specialise the access: a type with the generic
        ``access`` slot and a version tag (``_PyType_Lookup`` gives it one), and either a writable
        object __slots__ entry of that name (LOAD_ATTR_SLOT, STORE_ATTR_SLOT), or no class attribute of
        that name and either managed instance values not materialised into a dict and the name among
        the type's shared keys (LOAD_ATTR_INSTANCE_VALUE, STORE_ATTR_INSTANCE_VALUE) or an instance dict
        of string keys holding the name (LOAD_ATTR_WITH_HINT, STORE_ATTR_WITH_HINT; a ``store`` only
        with the dict version counter known)."""
        r = b.ir
        tp = b.type_of(owner)
        fills_slot = r.gep(cache, [i64(ATTR_CACHE_ENTRIES)], source_etype=I64)
        fills = r.load(fills_slot, typ=I64)
        generic = r.icmp_unsigned("==", b.load(tp, access), b.declare(generic_access))
        with b.if_then(r.not_(r.and_(generic, r.icmp_signed("<", fills, i64(MAX_ATTR_FILLS))))):
            r.ret(result)
        descr = b.call("_PyType_Lookup", tp, name)
        version = b.load(tp, TYPE.tp_version_tag)
        with b.if_then(r.icmp_unsigned("==", version, i32(0))):
            r.ret(result)

        def fill(where: ir.Value) -> None:
            slot = r.gep(cache, [r.urem(fills, i64(ATTR_CACHE_ENTRIES))], source_etype=I64)
            r.store(r.or_(r.zext(version, I64), r.shl(where, i64(32))), slot)
            r.store(r.add(fills, i64(1)), fills_slot)

        with b.if_then(r.not_(b.is_null(descr))):
            with b.if_then(b.is_type(descr, "PyMemberDescr_Type")):
                member = b.load(descr, MEMBER_DESCR.d_member)
                object_slot = r.and_(
                    r.icmp_signed("==", b.load(member, MEMBER_DEF.type), i32(T_OBJECT_EX)),
                    r.icmp_signed("==", r.and_(b.load(member, MEMBER_DEF.flags),
                                               i32(MEMBER_READONLY | MEMBER_AUDIT_READ)), i32(0)))
                offset = b.load(member, MEMBER_DEF.offset)
                with b.if_then(r.and_(object_slot, r.icmp_unsigned("<", offset, i64(ATTR_IN_SLOT)))):
                    fill(r.or_(offset, i64(ATTR_IN_SLOT)))
            r.ret(result)
        # A heap type's: only they have ht_cached_keys.
        heap_managed = i64(TPFLAGS_MANAGED_DICT | TPFLAGS_HEAPTYPE)
        managed = r.icmp_unsigned("==", r.and_(b.load(tp, TYPE.tp_flags), heap_managed), heap_managed)
        with b.if_then(r.not_(managed)):
            r.ret(result)
        instance_dict = b.load(owner, MANAGED_DICT)
        with b.if_then(r.not_(b.is_null(instance_dict))):
            if store:
                with b.if_then(b.is_null(r.load(self.dict_version_counter, typ=PTR))):
                    r.ret(result)
            index = b.call("pyjion_unicode_entry_index", b.load(instance_dict, DICT.ma_keys), name,
                           _kind(DICT_KEYS_UNICODE))
            with b.if_then(r.and_(r.icmp_signed(">=", index, i64(0)), r.icmp_signed("<", index, i64(ATTR_IN_DICT)))):
                fill(r.or_(index, i64(ATTR_IN_DICT)))
            r.ret(result)
        keys = b.load(tp, HEAPTYPE.ht_cached_keys)
        with b.if_then(r.or_(b.is_null(b.load(owner, MANAGED_VALUES)), b.is_null(keys))):
            r.ret(result)
        index = b.call("pyjion_unicode_entry_index", keys, name, _kind(DICT_KEYS_SPLIT))
        with b.if_then(r.icmp_signed(">=", index, i64(0))):
            fill(index)
        r.ret(result)

    def _learn_class_attribute(self, b: Builder, owner: ir.Value, name: ir.Value, value: ir.Value,
                               entry: ir.Value) -> None:
        """Keep ``value``, what ``owner.name`` gave, in the site's class entry (caches.CLASS_ATTR_WORDS)
        where it stays what type_getattro gives while the class's version tag holds: ``owner`` a class
        whose metaclass is exactly type, which has no attribute of the name (type_getattro would try its
        data descriptors first), and the class's attribute a plain value (no __get__), a function
        (whose __get__ on a class gives itself) or a staticmethod (its callable); the class's dicts
        then hold ``value``."""
        r = b.ir
        with b.if_then(b.is_type(owner, "PyType_Type")):
            with b.if_then(b.is_null(b.call("_PyType_Lookup", b.object("PyType_Type"), name))):
                attribute = b.call("_PyType_Lookup", owner, name)
                version = b.load(owner, TYPE.tp_version_tag)
                with b.if_then(r.and_(r.not_(b.is_null(attribute)), r.icmp_unsigned("!=", version, i32(0)))):
                    kind = b.type_of(attribute)
                    unchanged = r.or_(b.is_null(b.load(kind, TYPE.tp_descr_get)),
                                      r.or_(b.is_type(attribute, "PyFunction_Type"),
                                            b.is_type(attribute, "PyStaticMethod_Type")))
                    with b.if_then(unchanged):
                        r.store(r.zext(version, I64), entry)
                        r.store(value, r.gep(entry, [i64(1)], source_etype=I64))

    def load_method_cached(self, b: Builder, owner: ir.Value, name: ir.Value, cache: ir.Value,
                           out: ir.Value) -> None:
        """``_PyObject_GetMethod`` through the site's cache (METHOD_CACHE); where it has no entry for the
        owner's type, one is added where the interpreter would specialise LOAD_METHOD_WITH_VALUES
        or LOAD_METHOD_NO_DICT: the generic __getattribute__, a method descriptor found on the type,
        and no instance attribute of the name: no instance dict at all, or managed values not
        materialised into a dict and shared keys without the name (their version then says so)."""
        r = b.ir
        miss = b.block("miss")
        class_entry = r.gep(cache, [i64(METHOD_CLASS_ENTRY)], source_etype=I64)
        with b.if_then(b.is_type(owner, "PyType_Type")):
            r.store(cached_class_attribute(b, bail_to(b, miss), owner, class_entry), out)
            r.ret(i32(0))
        r.store(cached_method(b, bail_to(b, miss), owner, cache), out)
        r.ret(i32(1))
        b.position(miss)
        found = b.call("_PyObject_GetMethod", owner, name, out)
        method = r.load(out, typ=PTR)
        with b.if_then(r.and_(r.icmp_signed("==", found, i32(0)), r.not_(b.is_null(method)))):
            self._learn_class_attribute(b, owner, name, method, class_entry)
        tp = b.type_of(owner)
        fills_slot = r.gep(cache, [i64(2 * ATTR_CACHE_ENTRIES)], source_etype=I64)
        fills = r.load(fills_slot, typ=I64)
        version_of = r.load(self.keys_version_function, typ=PTR)
        generic = r.icmp_unsigned("==", b.load(tp, TYPE.tp_getattro), b.declare("PyObject_GenericGetAttr"))
        learn = r.and_(r.and_(r.icmp_signed("==", found, i32(1)), generic),
                       r.and_(r.icmp_signed("<", fills, i64(MAX_ATTR_FILLS)), r.not_(b.is_null(version_of))))
        with b.if_then(r.not_(learn)):
            r.ret(found)
        descr = b.call("_PyType_Lookup", tp, name)
        version = b.load(tp, TYPE.tp_version_tag)
        usable = r.and_(r.icmp_unsigned("==", descr, method), r.icmp_unsigned("!=", version, i32(0)))
        with b.if_then(r.not_(usable)):
            r.ret(found)
        flags = b.load(tp, TYPE.tp_flags)
        entry = r.gep(cache, [r.mul(r.urem(fills, i64(ATTR_CACHE_ENTRIES)), i64(2))], source_etype=I64)

        def fill(keys_version: ir.Value) -> None:
            r.store(r.or_(r.zext(version, I64), r.shl(r.zext(keys_version, I64), i64(32))), entry)
            r.store(r.ptrtoint(method, I64), r.gep(entry, [i64(1)], source_etype=I64))
            r.store(r.add(fills, i64(1)), fills_slot)

        heap_managed = i64(TPFLAGS_MANAGED_DICT | TPFLAGS_HEAPTYPE)
        with b.if_then(r.icmp_unsigned("==", r.and_(flags, heap_managed), heap_managed)):
            keys = b.load(tp, HEAPTYPE.ht_cached_keys)
            unshadowed = r.and_(b.is_null(b.load(owner, MANAGED_DICT)), r.not_(b.is_null(keys)))
            with b.if_then(unshadowed):
                with b.if_then(r.icmp_signed("<", b.call("pyjion_unicode_entry_index", keys, name,
                                                         _kind(DICT_KEYS_SPLIT)), i64(0))):
                    keys_version = b.call_pointer(version_of, ir.FunctionType(I32, [PTR]), [keys])
                    with b.if_then(r.icmp_unsigned("!=", keys_version, i32(0))):
                        fill(keys_version)
            r.ret(found)
        # No managed dict: an instance dict elsewhere (tp_dictoffset) could shadow the method.
        with b.if_then(r.icmp_signed("==", b.load(tp, TYPE.tp_dictoffset), i64(0))):
            fill(i32(0))
        r.ret(found)

    # ---- calls ---------------------------------------------------------------------------------------
    def vectorcall(self, b: Builder, ts: ir.Value, callable_: ir.Value, args: ir.Value, nargsf: ir.Value,
                   kwnames: ir.Value, site: ir.Value) -> None:
        """``PyObject_Vectorcall``, with the frame of a Python function given its positional parameters
        (the last ones may be left to their defaults) pushed and evaluated here, as the interpreter's
        CALL_PY_EXACT_ARGS and CALL_PY_WITH_DEFAULTS do when no hook is installed: without
        _PyFunction_Vectorcall, _PyEval_Vector, _PyEvalFramePushAndInit and initialize_locals (a third of
        a call-bound profile). The frame is run by the interpreter's frame evaluator (pyjion's hook:
        compiled code, tracing and thresholds are its business) and cleared as _PyEvalFrameClearAndPop
        clears it; one that a frame object outlives goes to the hidden _PyFrame_Clear, which hands its
        locals over.

        ``site`` (NULL for none): the call site's cache (CALL_SITE_WORDS words), which remembers the last
        function it pushed exactly its parameters for, by function version, with its code's native state.
        Then only the version is compared: CPython resets a function's version whenever its code,
        defaults, keyword defaults or closure change, so a function with the version has the code whose
        parameters were checked, and that code, which the function keeps alive, has that state."""
        r = b.ir
        generic = b.block("generic")
        frame_clear = r.load(self.frame_clear_function, typ=PTR)
        function = r.and_(b.is_type(callable_, "PyFunction_Type"),
                          r.and_(b.is_null(kwnames), r.not_(b.is_null(frame_clear))))
        with_function, not_function, probe, hit, checked = (b.block(name) for name in (
            "function", "not_function", "probe_site", "site_hit", "check_code"))
        r.cbranch(function, with_function, not_function)
        b.position(not_function)
        # A bound method, when the caller lent the slot before the arguments: its function, with self
        # in that slot, as method_vectorcall calls it (a method stored on an instance, a callback).
        offset = r.icmp_unsigned("!=", r.and_(nargsf, i64(PY_VECTORCALL_ARGUMENTS_OFFSET)), i64(0))
        with b.if_then(r.and_(b.is_type(callable_, "PyMethod_Type"), offset)):
            self_slot = r.gep(args, [i64(-1)], source_etype=PTR)
            lent = r.load(self_slot, typ=PTR)
            r.store(b.load(callable_, METHOD_OBJECT.im_self), self_slot)
            result = b.call("pyjion_vectorcall", ts, b.load(callable_, METHOD_OBJECT.im_func), self_slot,
                            r.add(r.and_(nargsf, i64(PY_VECTORCALL_ARGUMENTS_OFFSET - 1)), i64(1)), kwnames, site)
            r.store(lent, self_slot)
            r.ret(result)
        r.branch(generic)
        b.position(with_function)
        code = b.load(callable_, FUNCTION.func_code)
        nargs = r.and_(nargsf, i64(PY_VECTORCALL_ARGUMENTS_OFFSET - 1))
        own_vectorcall = r.icmp_unsigned("==", b.load(callable_, FUNCTION.vectorcall),
                                         b.declare("_PyFunction_Vectorcall"))
        r.cbranch(r.and_(own_vectorcall, r.not_(b.is_null(site))), probe, checked)
        b.position(probe)
        version = b.load(callable_, FUNCTION.func_version)
        r.cbranch(r.and_(r.icmp_unsigned("==", r.load(site, typ=I64), _site_key(b, version, nargs)),
                         r.icmp_unsigned("!=", version, i32(0))), hit, checked)
        b.position(hit)
        state = b.load_slot(site, 1)
        self._push_and_run(b, ts, callable_, code, args, nargs, nargs, generic, frame_clear, state=state)

        b.position(checked)
        flags = b.load(code, CODE.co_flags)
        # A generator's, coroutine's or async generator's frame too: the evaluator runs RETURN_GENERATOR
        # with it, which moves its contents into the new object and leaves it to be cleared and popped.
        plain = r.icmp_unsigned("!=", r.and_(flags, i32(CO_OPTIMIZED)), i32(0))
        # Missing trailing parameters with defaults are filled in, as initialize_locals does.
        argcount = r.sext(b.load(code, CODE.co_argcount), I64)
        defaults = b.load(callable_, FUNCTION.func_defaults)
        before_defaults = r.block
        has_defaults, counted = b.block("has_defaults"), b.block("defaults_counted")
        r.cbranch(b.is_null(defaults), counted, has_defaults)
        b.position(has_defaults)
        defaults_size = b.load(defaults, VAROBJECT.ob_size)
        r.branch(counted)
        ndefaults = b.merge(counted, (i64(0), before_defaults), (defaults_size, has_defaults))
        first_default = r.sub(argcount, ndefaults)
        varargs = r.icmp_unsigned("!=", r.and_(flags, i32(CO_VARARGS)), i32(0))
        varkw = r.icmp_unsigned("!=", r.and_(flags, i32(CO_VARKEYWORDS)), i32(0))
        fits = r.or_(r.icmp_signed("<=", nargs, argcount), varargs)
        exact = r.and_(r.and_(fits, r.icmp_signed(">=", nargs, first_default)),
                       r.icmp_signed("==", b.load(code, CODE.co_kwonlyargcount), i32(0)))
        direct = b.block("direct")
        r.cbranch(r.and_(r.and_(plain, exact), own_vectorcall), direct, generic)
        b.position(direct)
        self._push_and_run(b, ts, callable_, code, args, nargs, argcount, generic, frame_clear,
                           defaults=defaults, first_default=first_default, varargs=varargs, varkw=varkw, site=site)

        b.position(generic)
        with b.if_then(b.is_type(callable_, "PyType_Type")):
            r.ret(b.call("pyjion_construct", ts, callable_, args, nargsf, kwnames, site))
        r.ret(b.call("PyObject_Vectorcall", callable_, args, nargsf, kwnames))

    def _push_and_run(self, b: Builder, ts: ir.Value, callable_: ir.Value, code: ir.Value, args: ir.Value,
                      nargs: ir.Value, argcount: ir.Value, generic: ir.Block, frame_clear: ir.Value, *,
                      state: ir.Value | None = None, defaults: ir.Value = NULL, first_default: ir.Value | None = None,
                      varargs: ir.Value = _FALSE, varkw: ir.Value = _FALSE, site: ir.Value | None = None) -> None:
        """pyjion_vectorcall's frame for the Python function ``callable_`` (``code`` its code, whose flags
        allow it), returned from: pushed if the thread's current chunk has room (else ``generic``), its
        parameters filled from ``nargs`` arguments and the defaults from ``first_default`` on, run, cleared
        and popped. ``state``: the code's native state, when the call site's cache knew it; else it is
        looked up, and a ``site`` whose call passed exactly the parameters remembers it."""
        r = b.ir
        nlocalsplus = r.sext(b.load(code, CODE.co_nlocalsplus), I64)
        words = r.add(r.add(nlocalsplus, r.sext(b.load(code, CODE.co_stacksize), I64)), i64(FRAME_SPECIALS_SIZE))
        base = b.load(ts, THREAD.datastack_top)
        top = r.gep(base, [r.mul(words, i64(8))], source_etype=I8)
        chunk = b.load(ts, THREAD.datastack_chunk)
        # Room in the current chunk, and not its first word: _PyThreadState_PopFrame frees a chunk
        # whose first frame it pops, which the inline pop below does not.
        room = r.and_(r.and_(r.not_(b.is_null(base)), r.icmp_unsigned("<", top, b.load(ts, THREAD.datastack_limit))),
                      r.icmp_unsigned("!=", base, b.addr(chunk, STACK_CHUNK.data)))
        push = b.block("push")
        r.cbranch(room, push, generic)

        b.position(push)
        b.store(ts, THREAD.datastack_top, top)
        frame = base
        b.incref(callable_)
        b.incref(code)
        b.store(frame, FRAME.f_func, callable_)
        b.store(frame, FRAME.f_code, code)
        b.store(frame, FRAME.f_builtins, b.load(callable_, FUNCTION.func_builtins))
        b.store(frame, FRAME.f_globals, b.load(callable_, FUNCTION.func_globals))
        b.store(frame, FRAME.f_locals, NULL)
        b.store(frame, FRAME.frame_obj, NULL)
        b.store(frame, FRAME.stacktop, r.trunc(nlocalsplus, I32))
        b.store(frame, FRAME.prev_instr, r.gep(b.addr(code, CODE.co_code_adaptive), [i64(-2)], source_etype=I8))
        b.store(frame, FRAME.is_entry, ir.Constant(I8, 0))
        b.store(frame, FRAME.owner, ir.Constant(I8, FRAME_OWNED_BY_THREAD))
        locals_ = b.addr(frame, FRAME.localsplus)
        positional = r.select(r.icmp_signed("<", nargs, argcount), nargs, argcount)
        self._for_each(b, i64(0), positional, lambda k: b.store_slot(locals_, k, b.new_ref(b.load_slot(args, k))))
        if defaults is not NULL:
            default_items = b.addr(defaults, TUPLE.ob_item)
            self._for_each(b, positional, argcount, lambda k: b.store_slot(
                locals_, k, b.new_ref(b.load_slot(default_items, r.sub(k, first_default)))))
        self._for_each(b, argcount, nlocalsplus, lambda k: b.store_slot(locals_, k, NULL))
        # *args and **kwargs, as initialize_locals makes them (no keyword-only parameters: they follow the
        # positional ones). Made once the frame is pushed: the collection an allocation may start runs
        # finalizers, whose frames then go above it. If one cannot be made, the frame is cleared unrun.
        called, unpacked = b.block("called"), b.block("unpacked")
        packing_failed = []
        with b.if_then(varargs):
            extra = r.sub(nargs, positional)
            rest = b.call("PyTuple_New", extra)
            with b.if_then(b.is_null(rest), likely=False):
                packing_failed.append(r.block)
                r.branch(called)
            items = b.addr(rest, TUPLE.ob_item)
            self._for_each(b, i64(0), extra, lambda k: b.store_slot(
                items, k, b.new_ref(b.load_slot(args, r.add(argcount, k)))))
            b.store_slot(locals_, argcount, rest)
        with b.if_then(varkw):
            keywords = b.call("PyDict_New")
            with b.if_then(b.is_null(keywords), likely=False):
                packing_failed.append(r.block)
                r.branch(called)
            b.store_slot(locals_, r.add(argcount, r.zext(varargs, I64)), keywords)
        r.branch(unpacked)
        b.position(unpacked)
        evaluate = b.load(b.load(ts, THREAD.interp), INTERP.eval_frame)
        evaluate = r.select(b.is_null(evaluate), b.declare("_PyEval_EvalFrameDefault"), evaluate)
        # Compiled code is entered here, not through the hook, when the hook would enter it: pyjion's
        # hook installed, no tracing or profiling, the native stack not exhausted. Compiled code never runs
        # on the compiler thread nor under on_hot (the hook's other cases).
        through_evaluator, lookup, check_stack = b.block("evaluate"), b.block("lookup"), b.block("check_stack")
        enter = b.block("enter")
        tracing = r.icmp_unsigned("!=", b.load(b.load(ts, THREAD.cframe), CFRAME.use_tracing), ir.Constant(I8, 0))
        r.cbranch(r.and_(r.icmp_unsigned("==", evaluate, self.hook), r.not_(tracing)), lookup, through_evaluator)
        b.position(lookup)
        if state is None:
            state = code_state(b, code, through_evaluator)
            if site is not None:
                exact = r.and_(r.icmp_signed("==", nargs, argcount), r.not_(r.or_(varargs, varkw)))
                with b.if_then(r.and_(r.not_(b.is_null(site)), exact)):
                    self._remember_call(b, site, callable_, code, nargs, state)
        entry = r.load(b.addr(state, STATE_LAYOUT["entry"]), typ=PTR)
        r.cbranch(b.is_null(entry), through_evaluator, check_stack)
        b.position(check_stack)
        r.cbranch(stack_exhausted(b, ts), through_evaluator, enter)
        b.position(enter)
        run_count = b.addr(state, STATE_LAYOUT["run_count"])
        r.store(r.add(r.load(run_count, typ=I64), i64(1)), run_count)
        entered = b.call_pointer(entry, FRAME_FUNCTION, [ts, frame, i32(0)])
        r.branch(called)
        b.position(through_evaluator)
        evaluated = b.call_pointer(evaluate, FRAME_FUNCTION, [ts, frame, i32(0)])
        r.branch(called)
        result = b.merge(called, (entered, enter), (evaluated, through_evaluator),
                         *((NULL, failed) for failed in packing_failed))
        # _PyEvalFrameClearAndPop: the clearing runs one recursion level deeper (finalizers it calls).
        b.store(ts, THREAD.recursion_remaining, r.sub(b.load(ts, THREAD.recursion_remaining), i32(1)))
        owned = b.block("frame_object")
        inline = b.block("clear")
        popped = b.block("pop")
        r.cbranch(b.is_null(b.load(frame, FRAME.frame_obj)), inline, owned)
        b.position(owned)
        b.call_pointer(frame_clear, ir.FunctionType(ir.VoidType(), [PTR]), [frame])
        r.branch(popped)
        b.position(inline)
        self._for_each(b, i64(0), r.sext(b.load(frame, FRAME.stacktop), I64),
                       lambda k: b.xdecref(b.load_slot(locals_, k)))
        b.xdecref(b.load(frame, FRAME.f_locals))  # locals() made it
        b.decref(callable_)
        b.decref(code)
        r.branch(popped)
        b.position(popped)
        b.leave_recursive_call(ts)
        b.store(ts, THREAD.datastack_top, frame)
        r.ret(result)

    def _remember_call(self, b: Builder, site: ir.Value, function: ir.Value, code: ir.Value, nargs: ir.Value,
                       state: ir.Value) -> None:
        """Fill ``site`` with ``function``'s version (given one if it has none) and its code's ``state``.
        Versions pyjion gives count down from 2**32 - 1, CPython's (given while no hook is installed)
        up from 1: they cannot meet. None is given past 2**31 of them; the site then stays as it is."""
        r = b.ir
        version = b.load(function, FUNCTION.func_version)
        counter = r.load(self.function_versions, typ=I32)
        give = r.and_(r.icmp_unsigned("==", version, i32(0)), r.icmp_unsigned(">", counter, i32(LAST_FUNCTION_VERSION)))
        with b.if_then(give):
            b.store(function, FUNCTION.func_version, counter)
            r.store(r.sub(counter, i32(1)), self.function_versions)
        version = r.select(give, counter, version)
        # The function's code is still the one whose parameters were checked: nothing ran since.
        known = r.and_(r.icmp_unsigned("!=", version, i32(0)),
                       r.icmp_unsigned("==", b.load(function, FUNCTION.func_code), code))
        with b.if_then(known):
            b.store_slot(site, 1, state)
            r.store(_site_key(b, version, nargs), site)

    def construct(self, b: Builder, ts: ir.Value, cls: ir.Value, args: ir.Value, nargsf: ir.Value,
                  kwnames: ir.Value, site: ir.Value) -> None:
        """``cls(*args)``, ``cls`` a class (its metaclass exactly type). Where type_call makes the instance
        without looking at the arguments (object.__new__ inherited, an __init__ of Python's: slot_tp_init,
        and no vectorcall of the class's own), the steps of _PyObject_MakeTpCall, type_call and
        slot_tp_init are taken here in their order, but the __init__ that slot_tp_init would look up is
        called through pyjion_vectorcall with the instance in the slot before the arguments: no argument
        tuple, no calls between them (3.11 specialises none of them), and ``site`` (the call site's
        cache, or NULL) remembering the ``__init__``. Otherwise, PyObject_Vectorcall."""
        r = b.ir
        init_slot = r.load(self.init_slot, typ=PTR)
        simple = r.and_(r.and_(b.is_null(kwnames), r.not_(b.is_null(init_slot))),
                        r.icmp_unsigned("!=", r.and_(nargsf, i64(PY_VECTORCALL_ARGUMENTS_OFFSET)), i64(0)))
        made_plainly = r.and_(r.and_(r.icmp_unsigned("==", b.load(cls, TYPE.tp_init), init_slot),
                                     b.is_null(b.load(cls, TYPE.tp_vectorcall))),
                              r.icmp_unsigned("==", b.load(cls, TYPE.tp_new),
                                              b.load(b.object("PyBaseObject_Type"), TYPE.tp_new)))
        generic, plain = b.block("generic"), b.block("made_plainly")
        r.cbranch(r.and_(simple, made_plainly), plain, generic)
        b.position(generic)
        r.ret(b.call("PyObject_Vectorcall", cls, args, nargsf, kwnames))

        b.position(plain)
        # _PyObject_MakeTpCall's recursion level: RecursionError comes at the interpreter's depth.
        with b.if_then(b.enter_recursive_call(ts, " while calling a Python object"), likely=False):
            r.ret(NULL)
        done = b.block("done")
        instance = b.call_pointer(b.load(cls, TYPE.tp_new), ir.FunctionType(PTR, [PTR, PTR, PTR]),
                                  [cls, r.load(self.empty_tuple, typ=PTR), NULL])
        made = r.block
        initialise, through_slot, through_vectorcall = (b.block(name) for name in (
            "initialise", "through_slot", "through_vectorcall"))
        r.cbranch(b.is_null(instance), done, initialise)
        # type_call reads tp_init after tp_new (which can run a finalizer); slot_tp_init then looks __init__ up.
        b.position(initialise)
        nargs = r.and_(nargsf, i64(PY_VECTORCALL_ARGUMENTS_OFFSET - 1))
        tp_init = b.load(cls, TYPE.tp_init)
        init = b.call("_PyType_Lookup", cls, r.load(b.global_var(string_global("init")), typ=PTR))
        r.cbranch(r.and_(r.icmp_unsigned("==", tp_init, init_slot),
                         r.and_(r.not_(b.is_null(init)), b.is_type(init, "PyFunction_Type"))),
                  through_vectorcall, through_slot)

        b.position(through_vectorcall)
        b.incref(init)  # the class's dict may drop it while it runs: slot_tp_init holds a reference too
        # The arguments keep the reference slot_tp_init's tuple would hold (sys.getrefcount in __init__).
        self._for_each(b, i64(0), nargs, lambda k: b.incref(b.load_slot(args, k)))
        self_slot = r.gep(args, [i64(-1)], source_etype=PTR)
        lent = r.load(self_slot, typ=PTR)
        r.store(instance, self_slot)
        result = b.call("pyjion_vectorcall", ts, init, self_slot, r.add(nargs, i64(1)), NULL, site)
        r.store(lent, self_slot)
        self._for_each(b, i64(0), nargs, lambda k: b.decref(b.load_slot(args, k)))
        b.decref(init)
        failed = b.block("init_failed")
        returned = b.block("init_returned")
        r.cbranch(b.is_null(result), failed, returned)
        b.position(returned)
        with b.if_then(r.icmp_unsigned("!=", result, b.none()), likely=False):
            b.call("PyErr_Format", b.exception("PyExc_TypeError"),
                   b.cstring("__init__() should return None, not '%.200s'"), b.load(b.type_of(result), TYPE.tp_name))
            b.decref(result)
            r.branch(failed)
        b.decref(result)
        initialised = r.block
        r.branch(done)

        b.position(through_slot)  # whatever tp_init is now, with the tuple type_call would have made
        with b.if_then(r.not_(b.is_null(tp_init))):
            arguments = b.call("PyTuple_New", nargs)
            with b.if_then(b.is_null(arguments), likely=False):
                r.branch(failed)
            items = b.addr(arguments, TUPLE.ob_item)
            self._for_each(b, i64(0), nargs, lambda k: b.store_slot(items, k, b.new_ref(b.load_slot(args, k))))
            status = b.call_pointer(tp_init, ir.FunctionType(I32, [PTR, PTR, PTR]), [instance, arguments, NULL])
            b.decref(arguments)
            with b.if_then(r.icmp_signed("<", status, i32(0)), likely=False):
                r.branch(failed)
        through_slot_end = r.block
        r.branch(done)

        b.position(failed)
        b.decref(instance)
        r.branch(done)
        result = b.merge(done, (NULL, made), (instance, initialised), (instance, through_slot_end), (NULL, failed))
        b.leave_recursive_call(ts)
        r.ret(result)

    def subscr(self, b: Builder, ts: ir.Value, container: ir.Value, sub: ir.Value, site: ir.Value) -> None:
        """``container[sub]``. Where the container's class has a Python ``__getitem__`` (its mp_subscript
        is slot_mp_subscript, which would look the function up on the class and call it), the function
        is called through pyjion_vectorcall, as the interpreter's BINARY_SUBSCR_GETITEM calls it, which
        3.11 does not specialise once a PEP 523 hook is installed. ``site`` (SUBSCR_SITE_WORDS words):
        the class version tag for which the function was left in the class's ``_spec_cache.getitem``
        (where the interpreter leaves it, and seeded from its cache where it specialised the site), then
        the call's cache. Any change to the class or its bases gives it a new version tag (or none)."""
        r = b.ir
        tp = b.type_of(container)
        version = b.load(tp, TYPE.tp_version_tag)
        hit, probe, generic = b.block("cached_getitem"), b.block("probe_class"), b.block("generic")
        r.cbranch(r.and_(r.icmp_unsigned("!=", version, i32(0)),
                         r.icmp_unsigned("==", r.zext(version, I64), r.load(site, typ=I64))), hit, probe)
        b.position(hit)
        self._call_getitem(b, ts, b.load(tp, HEAPTYPE.spec_cache_getitem), container, sub, site)

        b.position(probe)
        slot = r.load(self.getitem_slot, typ=PTR)
        mapping = b.load(tp, TYPE.tp_as_mapping)
        heap = r.icmp_unsigned("!=", r.and_(b.load(tp, TYPE.tp_flags), i64(TPFLAGS_HEAPTYPE)), i64(0))
        has_slot, lookup, found = b.block("has_mapping"), b.block("lookup_getitem"), b.block("found_getitem")
        r.cbranch(r.and_(heap, r.and_(r.not_(b.is_null(mapping)), r.not_(b.is_null(slot)))), has_slot, generic)
        b.position(has_slot)
        r.cbranch(r.icmp_unsigned("==", b.load(mapping, MAPPING_METHODS.mp_subscript), slot), lookup, generic)
        b.position(lookup)
        function = b.call("_PyType_Lookup", tp, r.load(b.global_var(string_global("getitem")), typ=PTR))
        r.cbranch(b.is_null(function), generic, found)
        b.position(found)
        version = b.load(tp, TYPE.tp_version_tag)  # the lookup gives the class one if it can
        with b.if_then(r.and_(b.is_type(function, "PyFunction_Type"), r.icmp_unsigned("!=", version, i32(0)))):
            b.store(tp, HEAPTYPE.spec_cache_getitem, function)
            r.store(r.zext(version, I64), site)
            self._call_getitem(b, ts, function, container, sub, site)
        r.branch(generic)
        b.position(generic)
        r.ret(b.call("PyObject_GetItem", container, sub))

    @staticmethod
    def _call_getitem(b: Builder, ts: ir.Value, function: ir.Value, container: ir.Value, sub: ir.Value,
                      site: ir.Value) -> None:
        """Return ``function(container, sub)``, called through pyjion_vectorcall with the site's call cache."""
        r = b.ir
        arguments = b.alloca_array(3, name="getitem_args")  # slot 0 lent to the callee (ARGUMENTS_OFFSET)
        b.store_slot(arguments, 1, container)
        b.store_slot(arguments, 2, sub)
        r.ret(b.call("pyjion_vectorcall", ts, function, b.slot(arguments, 1), i64(2 | PY_VECTORCALL_ARGUMENTS_OFFSET),
                     NULL, r.gep(site, [i64(1)], source_etype=I64)))

    @staticmethod
    def _for_each(b: Builder, start: ir.Value, stop: ir.Value, body) -> None:
        """``body(k)`` for k in range(start, stop), as a loop."""
        r = b.ir
        before = r.block
        loop, done = b.block("loop"), b.block("loop_done")
        r.cbranch(r.icmp_signed("<", start, stop), loop, done)
        b.position(loop)
        k = r.phi(I64)
        k.add_incoming(start, before)
        body(k)
        following = r.add(k, i64(1))
        k.add_incoming(following, r.block)
        r.cbranch(r.icmp_signed("<", following, stop), loop, done)
        b.position(done)

    def load_name(self, b: Builder, frame: ir.Value, name: ir.Value) -> None:
        r = b.ir
        locals_ = b.load(frame, FRAME.f_locals)
        with b.if_then(b.is_null(locals_), likely=False):
            b.call("PyErr_Format", b.exception("PyExc_SystemError"), b.cstring("no locals when loading %R"), name)
            r.ret(NULL)
        self._get_or_continue(b, locals_, name)
        self._get_or_continue(b, b.load(frame, FRAME.f_globals), name)
        self._get_or_continue(b, b.load(frame, FRAME.f_builtins), name)
        b.call("pyjion_exc_check_arg", b.exception("PyExc_NameError"), b.cstring(NAME_ERROR_MSG), name)
        r.ret(NULL)

    # ---- unpacking and iteration --------------------------------------------------------------------
    def unpack_iterable(self, b: Builder, v: ir.Value, argcnt: ir.Value, after: ir.Value, out: ir.Value) -> None:
        """ceval's ``unpack_iterable`` into ``out`` in iteration order; 1 ok, 0 error.

        ``out`` receives argcnt values, then (when ``after >= 0``) the starred list and ``after`` values.
        On error every slot is released and NULL.
        """
        r = b.ir
        star = r.icmp_signed(">=", after, i32(0))
        total = r.select(star, r.add(r.add(argcnt, after), i32(1)), argcnt)
        self._fill_null(b, out, total)
        it = b.call("PyObject_GetIter", v)
        start = b.block("start")
        no_iter = b.block("no_iter")
        r.cbranch(b.is_null(it), no_iter, start)
        b.position(no_iter)
        is_type_error = b.call("PyErr_ExceptionMatches", b.exception("PyExc_TypeError"))
        with b.if_then(r.icmp_signed("!=", is_type_error, i32(0))):
            tp = b.type_of(v)
            with b.if_then(b.is_null(b.load(tp, TYPE.tp_iter))):
                with b.if_then(r.icmp_signed("==", b.call("PySequence_Check", v), i32(0))):
                    b.call("PyErr_Format", b.exception("PyExc_TypeError"),
                           b.cstring("cannot unpack non-iterable %.200s object"), b.load(tp, TYPE.tp_name))
        r.ret(i32(0))

        b.position(start)
        error = b.block("error")
        loop = b.block("loop")
        body = b.block("body")
        got = b.block("got")
        short = b.block("short")
        after_loop = b.block("after_loop")
        r.branch(loop)
        b.position(loop)
        i = r.phi(I32)
        i.add_incoming(i32(0), start)
        r.cbranch(r.icmp_signed("<", i, argcnt), body, after_loop)
        b.position(body)
        w = b.call("PyIter_Next", it)
        r.cbranch(b.is_null(w), short, got)
        b.position(got)
        b.store_slot(out, r.sext(i, I64), w)
        i.add_incoming(r.add(i, i32(1)), got)
        r.branch(loop)
        b.position(short)
        with b.if_then(b.is_null(b.call("PyErr_Occurred"))):
            with r.if_else(star) as (starred, exact):
                with starred:
                    b.call("PyErr_Format", b.exception("PyExc_ValueError"),
                           b.cstring("not enough values to unpack (expected at least %d, got %d)"),
                           r.add(argcnt, after), i)
                with exact:
                    b.call("PyErr_Format", b.exception("PyExc_ValueError"),
                           b.cstring("not enough values to unpack (expected %d, got %d)"), argcnt, i)
        r.branch(error)

        b.position(after_loop)
        rest = b.block("rest")
        exact_end = b.block("exact_end")
        r.cbranch(star, rest, exact_end)
        b.position(exact_end)
        extra = b.call("PyIter_Next", it)
        with b.if_then(b.is_null(extra)):
            with b.if_then(r.icmp_unsigned("!=", b.call("PyErr_Occurred"), NULL)):
                r.branch(error)
            b.decref(it)
            r.ret(i32(1))
        b.decref(extra)
        b.call("PyErr_Format", b.exception("PyExc_ValueError"),
               b.cstring("too many values to unpack (expected %d)"), argcnt)
        r.branch(error)

        b.position(rest)
        lst = b.call("PySequence_List", it)
        with b.if_then(b.is_null(lst)):
            r.branch(error)
        b.store_slot(out, r.sext(argcnt, I64), lst)
        size = b.load(lst, VAROBJECT.ob_size)
        after64 = r.sext(after, I64)
        with b.if_then(r.icmp_signed("<", size, after64), likely=False):
            b.call("PyErr_Format", b.exception("PyExc_ValueError"),
                   b.cstring("not enough values to unpack (expected at least %d, got %zd)"),
                   r.add(argcnt, after), r.add(r.sext(argcnt, I64), size))
            r.branch(error)
        # Move the last ``after`` items of the list into out[argcnt+1 ...] and shrink the list.
        kept = r.sub(size, after64)
        items = b.load(lst, LIST.ob_item)
        first_after = r.add(r.sext(argcnt, I64), i64(1))
        move = b.block("move")
        more = b.block("more")
        moved = b.block("moved")
        entry_block = r.block
        r.branch(move)
        b.position(move)
        j = r.phi(I64)
        j.add_incoming(i64(0), entry_block)
        r.cbranch(r.icmp_signed("<", j, after64), more, moved)
        b.position(more)
        b.store_slot(out, r.add(first_after, j), b.load_slot(items, r.add(kept, j)))
        j.add_incoming(r.add(j, i64(1)), more)
        r.branch(move)
        b.position(moved)
        b.store(lst, VAROBJECT.ob_size, kept)
        b.decref(it)
        r.ret(i32(1))

        b.position(error)
        self._release_all(b, out, total)
        b.decref(it)
        r.ret(i32(0))

    @staticmethod
    def _fill_null(b: Builder, out: ir.Value, count: ir.Value) -> None:
        b.ir.call(b.ir.module.declare_intrinsic("llvm.memset", [PTR, I64]),
                  [out, ir.Constant(I8, 0), b.ir.mul(b.ir.sext(count, I64), i64(8)), ir.Constant(I1, 0)])

    @staticmethod
    def _release_all(b: Builder, out: ir.Value, count: ir.Value) -> None:
        r = b.ir
        head = b.block("release")
        body = b.block("release_one")
        done = b.block("released")
        entry_block = r.block
        r.branch(head)
        b.position(head)
        k = r.phi(I64)
        k.add_incoming(i64(0), entry_block)
        r.cbranch(r.icmp_signed("<", k, r.sext(count, I64)), body, done)
        b.position(body)
        b.xdecref(b.load_slot(out, k))
        b.store_slot(out, k, NULL)
        k.add_incoming(r.add(k, i64(1)), body)
        r.branch(head)
        b.position(done)

    def iter_next(self, b: Builder, it: ir.Value, out: ir.Value) -> None:
        """One FOR_ITER step: 1 and a new reference in ``*out``, 0 when exhausted, -1 on error."""
        r = b.ir
        iternext = b.load(b.type_of(it), TYPE.tp_iternext)
        value = b.call_pointer(iternext, ir.FunctionType(PTR, [PTR]), [it])
        r.store(value, out)
        with b.if_then(r.icmp_unsigned("!=", value, NULL), likely=True):
            r.ret(i32(1))
        with b.if_then(r.icmp_unsigned("!=", b.call("PyErr_Occurred"), NULL)):
            stop = b.call("PyErr_ExceptionMatches", b.exception("PyExc_StopIteration"))
            with b.if_then(r.icmp_signed("==", stop, i32(0))):
                r.ret(i32(-1))
            b.call("PyErr_Clear")
        r.ret(i32(0))

    # ---- exceptions ---------------------------------------------------------------------------------
    def traceback_here(self, b: Builder, frame: ir.Value) -> None:
        """ceval's ``PyTraceBack_Here(frame object)`` on the error path; ``frame`` is the current frame."""
        r = b.ir
        frame_object = b.load(frame, FRAME.frame_obj)
        with b.if_then(b.is_null(frame_object), likely=False):
            # PyEval_GetFrame makes the frame object of the current frame; on failure it clears the error.
            made = b.call("PyEval_GetFrame")
            with b.if_then(b.is_null(made), likely=False):
                b.call("PyErr_NoMemory")
                r.ret_void()
        b.call("PyTraceBack_Here", b.load(frame, FRAME.frame_obj))
        r.ret_void()

    def profile_unwind(self, b: Builder, ts: ir.Value, frame: ir.Value) -> None:
        """An exception leaves the current frame while only a profiler is set: ceval's ``error`` path
        without a trace function, then ``exception_unwind`` with no handler (traceback entry, the
        frame's spilled stack popped, the profiler's 'return' event with a NULL result)."""
        r = b.ir
        b.call("pyjion_traceback_here", frame)
        nlocalsplus = b.load(b.load(frame, FRAME.f_code), CODE.co_nlocalsplus)
        depth = r.sub(b.load(frame, FRAME.stacktop), nlocalsplus)
        self._release_all(b, b.slot(b.addr(frame, FRAME.localsplus), r.sext(nlocalsplus, I64)), depth)
        b.store(frame, FRAME.stacktop, nlocalsplus)
        frame_object = b.load(frame, FRAME.frame_obj)
        quiet = r.or_(b.is_null(frame_object), r.icmp_signed("!=", b.load(ts, THREAD.tracing), i32(0)))
        with b.if_then(quiet, likely=False):
            r.ret_void()
        # call_trace_protected: the exception survives unless the profiler raises its own.
        saved = [b.alloca(PTR) for _ in range(3)]
        b.call("PyErr_Fetch", *saved)
        what = b.load(ts, THREAD.tracing_what)
        b.store(ts, THREAD.tracing_what, i32(PYTRACE_RETURN))
        b.call("PyThreadState_EnterTracing", ts)
        failed = b.call_pointer(b.load(ts, THREAD.c_profilefunc), TRACE_FUNCTION,
                                [b.load(ts, THREAD.c_profileobj), frame_object, i32(PYTRACE_RETURN), NULL])
        b.call("PyThreadState_LeaveTracing", ts)
        b.store(ts, THREAD.tracing_what, what)
        with b.if_then(r.icmp_signed("==", failed, i32(0))):
            b.call("PyErr_Restore", *(r.load(s, typ=PTR) for s in saved))
            r.ret_void()
        for s in saved:
            b.xdecref(r.load(s, typ=PTR))
        r.ret_void()

    def handler_exception(self, b: Builder) -> None:
        """The pending exception, normalised, with its traceback attached: what a handler finds on TOS."""
        r = b.ir
        slots = [b.alloca(PTR) for _ in range(3)]
        b.call("PyErr_Fetch", *slots)
        b.call("PyErr_NormalizeException", *slots)
        t, v, tb = (r.load(s, typ=PTR) for s in slots)
        b.call("PyException_SetTraceback", v, r.select(b.is_null(tb), b.none(), tb))
        b.xdecref(tb)
        b.xdecref(t)
        r.ret(v)

    def check_exc_match(self, b: Builder, left: ir.Value, right: ir.Value) -> None:
        """CHECK_EXC_MATCH: 1/0 for a match, -1 with TypeError when ``right`` cannot be caught."""
        r = b.ir
        bad = b.block("bad")

        def require_exception_class(obj: ir.Value) -> None:
            flags = b.load(b.type_of(obj), TYPE.tp_flags)
            is_type = r.icmp_unsigned("!=", r.and_(flags, i64(TPFLAGS_TYPE_SUBCLASS)), i64(0))
            own_flags = b.load(obj, TYPE.tp_flags)
            is_exc = r.icmp_unsigned("!=", r.and_(own_flags, i64(TPFLAGS_BASE_EXC_SUBCLASS)), i64(0))
            ok = b.block("ok")
            check = b.block("check_flags")
            r.cbranch(is_type, check, bad)
            b.position(check)
            r.cbranch(is_exc, ok, bad)
            b.position(ok)

        is_tuple = b.is_type(right, "PyTuple_Type")
        items_loop = b.block("tuple")
        single = b.block("single")
        matches = b.block("matches")
        r.cbranch(is_tuple, items_loop, single)
        b.position(items_loop)
        size = b.load(right, VAROBJECT.ob_size)
        start = r.block
        head = b.block("head")
        body = b.block("body")
        r.branch(head)
        b.position(head)
        k = r.phi(I64)
        k.add_incoming(i64(0), start)
        r.cbranch(r.icmp_signed("<", k, size), body, matches)
        b.position(body)
        require_exception_class(b.load_slot(b.addr(right, TUPLE.ob_item), k))
        k.add_incoming(r.add(k, i64(1)), r.block)
        r.branch(head)
        b.position(single)
        require_exception_class(right)
        r.branch(matches)
        b.position(matches)
        r.ret(b.call("PyErr_GivenExceptionMatches", left, right))
        b.position(bad)
        b.call("PyErr_SetString", b.exception("PyExc_TypeError"), b.cstring(CANNOT_CATCH_MSG))
        r.ret(i32(-1))

    def lookup_special(self, b: Builder, obj: ir.Value, name: ir.Value, message: ir.Value) -> None:
        """``_PyObject_LookupSpecial``, with TypeError ``message % tp_name`` when missing (BEFORE_WITH)."""
        r = b.ir
        found = b.call("_PyObject_LookupSpecial", obj, name)
        with b.if_then(b.is_null(found), likely=False):
            with b.if_then(b.is_null(b.call("PyErr_Occurred"))):
                b.call("PyErr_Format", b.exception("PyExc_TypeError"), message, b.load(b.type_of(obj), TYPE.tp_name))
        r.ret(found)

    # ---- imports ----------------------------------------------------------------------------------
    def import_name(self, b: Builder, ts: ir.Value, frame: ir.Value, name: ir.Value, fromlist: ir.Value,
                    level: ir.Value) -> None:
        """ceval's ``import_name``: the fast path when ``__import__`` is the original builtin."""
        r = b.ir
        key = r.load(self.module.globals[string_global("import")], typ=PTR)
        import_func = b.call("PyDict_GetItemWithError", b.load(frame, FRAME.f_builtins), key)
        with b.if_then(b.is_null(import_func), likely=False):
            with b.if_then(b.is_null(b.call("PyErr_Occurred"))):
                b.call("PyErr_SetString", b.exception("PyExc_ImportError"), b.cstring("__import__ not found"))
            r.ret(NULL)
        locals_ = b.load(frame, FRAME.f_locals)
        locals_ = r.select(b.is_null(locals_), b.none(), locals_)
        globals_ = b.load(frame, FRAME.f_globals)
        interp = b.load(ts, THREAD.interp)
        with b.if_then(r.icmp_unsigned("==", import_func, b.load(interp, INTERP.import_func)), likely=True):
            ilevel = b.call("PyLong_AsLong", level)
            with b.if_then(r.icmp_signed("==", ilevel, i64(-1))):
                with b.if_then(r.icmp_unsigned("!=", b.call("PyErr_Occurred"), NULL)):
                    r.ret(NULL)
            r.ret(b.call("PyImport_ImportModuleLevelObject", name, globals_, locals_, fromlist,
                         r.trunc(ilevel, I32)))
        b.incref(import_func)
        args = b.alloca_array(5)
        for index, value in enumerate((name, globals_, locals_, fromlist, level)):
            b.store_slot(args, index, value)
        result = b.call("PyObject_Vectorcall", import_func, args, i64(5), NULL)
        b.decref(import_func)
        r.ret(result)

    def import_from(self, b: Builder, v: ir.Value, name: ir.Value) -> None:
        """ceval's ``import_from``: attribute, else the helper's sys.modules fallback and error."""
        r = b.ir
        out = b.alloca(PTR)
        found = b.call("_PyObject_LookupAttr", v, name, out)
        with b.if_then(r.icmp_signed("!=", found, i32(0)), likely=True):
            r.ret(r.load(out, typ=PTR))
        from .helpers import HELPER_IMPORT_FROM

        r.ret(b.call("pyjion_call_helper", i64(HELPER_IMPORT_FROM), v, name, b.none()))

    # ---- Python helpers -----------------------------------------------------------------------------
    def call_helper(self, b: Builder, index: ir.Value, a: ir.Value, c1: ir.Value, c2: ir.Value) -> None:
        """Call helpers.HELPERS[index](a, b, c) -> (value, exc): new ref to value, or NULL with exc raised."""
        r = b.ir
        table = self.module.globals[HELPER_TABLE]
        helper = b.load_slot(table, index)
        args = b.alloca_array(3)
        for k, value in enumerate((a, c1, c2)):
            b.store_slot(args, k, value)
        pair = b.call("PyObject_Vectorcall", helper, args, i64(3), NULL)
        with b.if_then(b.is_null(pair), likely=False):
            r.ret(NULL)
        value = b.load_slot(b.addr(pair, TUPLE.ob_item), 0)
        exc = b.load_slot(b.addr(pair, TUPLE.ob_item), 1)
        with b.if_then(r.icmp_unsigned("==", exc, b.none()), likely=True):
            b.incref(value)
            b.decref(pair)
            r.ret(value)
        b.call("PyErr_SetObject", b.type_of(exc), exc)
        b.decref(pair)
        r.ret(NULL)

    def fetch_call_helper(self, b: Builder, index: ir.Value, a: ir.Value, c1: ir.Value) -> None:
        """With an exception pending: let a helper replace it (``(None, exc)``) or keep it (``(None, None)``)."""
        r = b.ir
        slots = [b.alloca(PTR) for _ in range(3)]
        b.call("PyErr_Fetch", *slots)
        t, v, tb = (r.load(s, typ=PTR) for s in slots)
        pending = b.call("PyTuple_New", i64(2))
        keep = b.block("keep")
        with b.if_then(b.is_null(pending), likely=False):
            r.branch(keep)
        items = b.addr(pending, TUPLE.ob_item)
        for k, value in enumerate((t, v)):
            value = r.select(b.is_null(value), b.none(), value)
            b.incref(value)
            b.store_slot(items, k, value)
        replaced = b.call("pyjion_call_helper", index, a, c1, pending)
        b.decref(pending)
        # pyjion_call_helper returns NULL in both outcomes; a new exception is then pending.
        with b.if_then(r.icmp_unsigned("!=", b.call("PyErr_Occurred"), NULL)):
            b.xdecref(t)
            b.xdecref(v)
            b.xdecref(tb)
            r.ret_void()
        b.xdecref(replaced)
        r.branch(keep)
        b.position(keep)
        b.call("PyErr_Restore", t, v, tb)
        r.ret_void()
