"""Globals, names, attributes, methods and imports.

Where the interpreter has specialised LOAD_GLOBAL, LOAD_ATTR, STORE_ATTR or LOAD_METHOD, the compiled
code checks what its specialisation checks (a dict's keys version, the type's version tag, no instance
dict shadowing a method) against the values the interpreter cached, and reads the slot it found; any
failed check takes the generic path.
"""
from __future__ import annotations

import builtins

from llvmlite import ir

from ...abi.cpython311 import (DICT, DICT_KEYS, FRAME, HEAPTYPE, MANAGED_DICT, MANAGED_VALUES, MODULE,
                               TPFLAGS_TYPE_SUBCLASS, TYPE, UNICODE_ENTRY, VALUES_ORDER_COUNT, Field)
from ...enums import OptimizationFlags
from ...runtime.helpers import HELPER_IMPORT_STAR
from ...runtime.support import (ATTR_CACHE_ENTRIES, ATTR_IN_SLOT, GLOBAL_CACHE, GLOBAL_IN_BUILTINS,
                                GLOBAL_IN_MODULE, METHOD_CACHE_WORDS, NAME_ERROR_MSG, string_global)
from ..analysis import Kind
from ..builder import I8, I32, I64, NULL, PTR, define_global, i32, i64
from ..bytecode import Instruction
from ..feedback import Specialisation
from ..lowering import Lowering


def _name_error(fx: Lowering, name) -> None:
    b = fx.b
    b.call("pyjion_exc_check_arg", b.exception("PyExc_NameError"), b.cstring(NAME_ERROR_MSG), name)


_GLOBAL_FORMS = ("LOAD_GLOBAL_MODULE", "LOAD_GLOBAL_BUILTIN")
_LOAD_ATTR_FORMS = ("LOAD_ATTR_INSTANCE_VALUE", "LOAD_ATTR_SLOT", "LOAD_ATTR_MODULE")
_STORE_ATTR_FORMS = ("STORE_ATTR_INSTANCE_VALUE", "STORE_ATTR_SLOT")
_LOAD_METHOD_FORMS = ("LOAD_METHOD_WITH_VALUES", "LOAD_METHOD_NO_DICT", "LOAD_METHOD_MODULE", "LOAD_METHOD_CLASS")
SPECIALISED = _GLOBAL_FORMS + _LOAD_ATTR_FORMS + _STORE_ATTR_FORMS + _LOAD_METHOD_FORMS


def _u32(value: int) -> ir.Constant:
    return i32(value - (1 << 32) if value >= 1 << 31 else value)


def _keys_with_version(fx: Lowering, bail_if, mapping: ir.Value, version: int | ir.Value) -> ir.Value:
    """The keys of ``mapping``, an exact dict whose keys still have ``version``."""
    bail_if(fx.r.not_(fx.b.is_type(mapping, "PyDict_Type")))
    keys = fx.b.load(mapping, DICT.ma_keys)
    _bail_unless_version(fx, bail_if, keys, DICT_KEYS.dk_version, version)
    return keys


def _bail_unless_version(fx: Lowering, bail_if, obj: ir.Value, field: Field, version: int | ir.Value) -> None:
    """A type's version tag or dict keys' version still the one cached."""
    expected = _u32(version) if isinstance(version, int) else version
    bail_if(fx.r.icmp_unsigned("!=", fx.b.load(obj, field), expected))


def _module_attribute(fx: Lowering, bail_if, module: ir.Value, found: Specialisation) -> ir.Value:
    """New reference to the attribute LOAD_ATTR_MODULE/LOAD_METHOD_MODULE found in a module's dict."""
    bail_if(fx.r.not_(fx.b.is_type(module, "PyModule_Type")))
    keys = _keys_with_version(fx, bail_if, fx.b.load(module, MODULE.md_dict), found.field("version"))
    return _entry_value(fx, bail_if, keys, found.field("index"))


def _entry_value(fx: Lowering, bail_if, keys: ir.Value, index: int | ir.Value) -> ir.Value:
    """New reference to the value of entry ``index`` of string-keyed dict keys (bail if it was deleted)."""
    b, r = fx.b, fx.r
    index_bytes = r.shl(i64(1), r.zext(b.load(keys, DICT_KEYS.dk_log2_index_bytes), I64))
    offset = r.add(r.mul(i64(index) if isinstance(index, int) else index, i64(UNICODE_ENTRY.size)),
                   i64(DICT_KEYS.dk_indices.offset + UNICODE_ENTRY.me_value.offset))
    value = r.load(r.gep(keys, [r.add(index_bytes, offset)], source_etype=I8), typ=PTR)
    bail_if(b.is_null(value))
    return b.new_ref(value)


def load_global(fx: Lowering, ins: Instruction) -> None:
    """Where the interpreter specialised the site, its inline cache is copied into a GLOBAL_CACHE of
    the compiled code's own, checked like the interpreter checks it, and refilled by the generic path
    when a check fails (a global added after compilation changes the globals' keys version)."""
    found = fx.specialised(ins, OptimizationFlags.GlobalCache, *_GLOBAL_FORMS)
    if found is None and not fx.fast_paths:
        value = fx.b.call("pyjion_load_global", fx.globals(), fx.builtins(), fx.name(ins.arg >> 1))
    else:
        if found is not None:
            in_builtins = found.opname == "LOAD_GLOBAL_BUILTIN"
            globals_version = found.field("module_keys_version")
            builtins_version = found.field("builtin_keys_version") if in_builtins else 0
            index = found.field("index")
        else:
            # A site the interpreter had not specialised (not run yet): an empty cache (version 0), of
            # the form a builtin's name suggests; a name found elsewhere leaves the site generic. The
            # builtins module's dict, not its attributes: reading builtins.__annotations__ makes one.
            in_builtins = fx.code.co_names[ins.arg >> 1] in vars(builtins)
            globals_version = builtins_version = 0
            index = 0
            fx.optimizations |= OptimizationFlags.GlobalCache
        cache = define_global(fx.b.module, ir.ArrayType(I64, 3), f"global_cache_{ins.index}", [
            _signed64(globals_version | builtins_version << 32), index, 0], linkage="internal")
        value, = fx.guarded(lambda bail_if: _cached_global(fx, bail_if, cache, in_builtins),
                            lambda: _refreshed_global(fx, ins, cache, in_builtins))
    fx.error_if_null(value)
    if ins.arg & 1:
        fx.push(NULL, Kind.NULL)
    fx.push(value)


def _cached_global(fx: Lowering, bail_if, cache: ir.Value, in_builtins: bool) -> tuple[ir.Value]:
    b = fx.b
    globals_version = b.load(cache, GLOBAL_CACHE.globals_version)
    bail_if(fx.r.icmp_unsigned("==", globals_version, i32(0)))  # empty: would match unversioned keys
    keys = _keys_with_version(fx, bail_if, fx.globals(), globals_version)
    if in_builtins:  # the globals' keys unchanged: the name is still not global
        keys = _keys_with_version(fx, bail_if, fx.builtins(), b.load(cache, GLOBAL_CACHE.builtins_version))
    return _entry_value(fx, bail_if, keys, b.load(cache, GLOBAL_CACHE.index)),


def _refreshed_global(fx: Lowering, ins: Instruction, cache: ir.Value, in_builtins: bool) -> tuple[ir.Value]:
    return fx.b.call("pyjion_load_global_refresh", fx.globals(), fx.builtins(), fx.name(ins.arg >> 1), cache,
                     i32(GLOBAL_IN_BUILTINS if in_builtins else GLOBAL_IN_MODULE)),


def _signed64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def store_global(fx: Lowering, ins: Instruction) -> None:
    value = fx.pop()
    fx.error_if_negative(fx.call_releasing("PyDict_SetItem", [fx.globals(), fx.name(ins.arg), value.value], [value]))


def delete_global(fx: Lowering, ins: Instruction) -> None:
    b, r = fx.b, fx.r
    name = fx.name(ins.arg)
    status = b.call("PyDict_DelItem", fx.globals(), name)
    with b.if_then(r.icmp_signed("!=", status, i32(0)), likely=False):
        with b.if_then(r.icmp_signed("!=", b.call("PyErr_ExceptionMatches", b.exception("PyExc_KeyError")),
                                     i32(0))):
            _name_error(fx, name)
        fx.error()


def _locals_or_error(fx: Lowering, message: str, name=None, cleanup=()) -> object:
    """``LOCALS()``, raising ceval's SystemError when the frame has no locals mapping."""
    b = fx.b
    namespace = b.load(fx.frame, FRAME.f_locals)
    with b.if_then(b.is_null(namespace), likely=False):
        if name is None:
            b.call("PyErr_SetString", b.exception("PyExc_SystemError"), b.cstring(message))
        else:
            b.call("PyErr_Format", b.exception("PyExc_SystemError"), b.cstring(message), name)
        fx.error(cleanup)
    return namespace


def load_name(fx: Lowering, ins: Instruction) -> None:
    value = fx.b.call("pyjion_load_name", fx.frame, fx.name(ins.arg))
    fx.error_if_null(value)
    fx.push(value)


def store_name(fx: Lowering, ins: Instruction) -> None:
    b, r = fx.b, fx.r
    name = fx.name(ins.arg)
    value = fx.pop()
    namespace = _locals_or_error(fx, "no locals found when storing %R", name, cleanup=[value])
    with r.if_else(b.is_type(namespace, "PyDict_Type")) as (exact, generic):
        with exact:
            in_dict = b.call("PyDict_SetItem", namespace, name, value.value)
            exact_block = r.block
        with generic:
            in_mapping = b.call("PyObject_SetItem", namespace, name, value.value)
            generic_block = r.block
    status = r.phi(in_dict.type)
    status.add_incoming(in_dict, exact_block)
    status.add_incoming(in_mapping, generic_block)
    fx.release(value)
    fx.error_if_negative(status)


def delete_name(fx: Lowering, ins: Instruction) -> None:
    b, r = fx.b, fx.r
    name = fx.name(ins.arg)
    namespace = _locals_or_error(fx, "no locals when deleting %R", name)
    status = b.call("PyObject_DelItem", namespace, name)
    with b.if_then(r.icmp_signed("!=", status, i32(0)), likely=False):
        _name_error(fx, name)
        fx.error()


def load_attr(fx: Lowering, ins: Instruction) -> None:
    """Attributes of instances (LOAD_ATTR_INSTANCE_VALUE, LOAD_ATTR_SLOT, and sites the interpreter left
    unspecialised) are read through a cache of several types (ATTR_CACHE), the interpreter's entry
    first, the generic path adding the types it meets."""
    b, r = fx.b, fx.r
    owner = fx.pop()

    def cached_instance_attribute(bail_if):
        address, _ = _attribute_slot(fx, bail_if, owner.value, cache)
        value = r.load(address, typ=PTR)
        bail_if(b.is_null(value))
        return b.new_ref(value),

    found = fx.specialised(ins, OptimizationFlags.LoadAttr, *_LOAD_ATTR_FORMS)
    if found is not None and found.opname == "LOAD_ATTR_MODULE":
        value, = fx.guarded(lambda bail_if: (_module_attribute(fx, bail_if, owner.value, found),),
                            lambda: (b.call("PyObject_GetAttr", owner.value, fx.name(ins.arg)),))
    elif found is None and not fx.fast_paths:
        value = b.call("PyObject_GetAttr", owner.value, fx.name(ins.arg))
    else:
        cache = _attr_cache(fx, ins, found)
        value, = fx.guarded(cached_instance_attribute,
                            lambda: (b.call("pyjion_load_attr_refresh", owner.value, fx.name(ins.arg), cache),))
    fx.release(owner)
    fx.push_result(value)


def _attr_cache(fx: Lowering, ins: Instruction, found: Specialisation | None) -> ir.GlobalVariable:
    """The site's ATTR_CACHE, holding the interpreter's entry if it specialised the site to the instance
    values or a slot; where it has not (yet, or not any more: it met several types), it starts empty."""
    entries = []
    if found is not None:
        where = found.field("index") | (ATTR_IN_SLOT if found.opname.endswith("_SLOT") else 0)
        entries = [found.field("version") | where << 32]
    fx.optimizations |= OptimizationFlags.LoadAttr
    return define_global(fx.b.module, ir.ArrayType(I64, ATTR_CACHE_ENTRIES + 1), f"attr_cache_{ins.index}",
                         entries + [0] * (ATTR_CACHE_ENTRIES - len(entries)) + [len(entries)], linkage="internal")


def _attribute_slot(fx: Lowering, bail_if, owner: ir.Value, cache: ir.Value) -> tuple[ir.Value, ir.Value]:
    """Where the owner keeps the attribute by the ATTR_CACHE entry for its type: the address of the
    object pointer (in the instance values or a __slots__ entry), and the instance values (NULL for
    a slot)."""
    b, r = fx.b, fx.r
    version = b.load(b.type_of(owner), TYPE.tp_version_tag)
    bail_if(r.icmp_unsigned("==", version, i32(0)))  # no version: matches only empty entries
    where = i64(-1)
    for k in reversed(range(ATTR_CACHE_ENTRIES)):
        entry = r.load(r.gep(cache, [i64(k)], source_etype=I64), typ=I64)
        where = r.select(r.icmp_unsigned("==", r.trunc(entry, I32), version), r.lshr(entry, i64(32)), where)
    bail_if(r.icmp_signed("<", where, i64(0)))
    slot_address = r.gep(owner, [r.xor(where, i64(ATTR_IN_SLOT))], source_etype=I8)
    before = r.block
    in_values, found = b.block("in_values"), b.block("attribute_found")
    in_slot = r.icmp_unsigned("!=", r.and_(where, i64(ATTR_IN_SLOT)), i64(0))
    r.cbranch(in_slot, found, in_values)
    b.position(in_values)
    values = b.load(owner, MANAGED_VALUES)
    bail_if(b.is_null(values))
    value_address = b.slot(values, where)
    values_end = r.block
    r.branch(found)
    b.position(found)
    return (b.merge(found, (slot_address, before), (value_address, values_end)),
            b.merge(found, (NULL, before), (values, values_end)))


def store_attr(fx: Lowering, ins: Instruction) -> None:
    """STORE_ATTR_INSTANCE_VALUE and STORE_ATTR_SLOT sites, and those the interpreter left unspecialised,
    write the attribute through an ATTR_CACHE as LOAD_ATTR reads it; an attribute the object did not
    have yet joins its instance values' insertion order (the order vars() shows), as in the interpreter."""
    b, r = fx.b, fx.r
    value, owner = fx.popn(2)

    def cached(bail_if):
        address, values = _attribute_slot(fx, bail_if, owner.value, cache)
        old = r.load(address, typ=PTR)
        r.store(value.value, address)  # the stack's reference moves into the object
        with b.if_then(r.and_(b.is_null(old), r.not_(b.is_null(values)))):
            count = b.addr(values, VALUES_ORDER_COUNT)
            order = r.add(r.load(count, typ=I8), ir.Constant(I8, 1))
            index = r.ashr(r.sub(r.ptrtoint(address, I64), r.ptrtoint(values, I64)), i64(3))
            r.store(r.trunc(index, I8), r.gep(count, [r.sub(i64(0), r.zext(order, I64))], source_etype=I8))
            r.store(order, count)
        b.xdecref(old)
        return i32(0),

    found = fx.specialised(ins, OptimizationFlags.LoadAttr, *_STORE_ATTR_FORMS)
    if found is None and not fx.fast_paths:
        status = fx.call_releasing("PyObject_SetAttr", [owner.value, fx.name(ins.arg), value.value], [value])
    else:
        cache = _attr_cache(fx, ins, found)
        status, = fx.guarded(cached, lambda: (fx.call_releasing(
            "pyjion_store_attr_refresh", [owner.value, fx.name(ins.arg), value.value, cache], [value]),))
    fx.release(owner)
    fx.error_if_negative(status)


def delete_attr(fx: Lowering, ins: Instruction) -> None:
    owner = fx.pop()
    fx.error_if_negative(fx.call_releasing("PyObject_SetAttr", [owner.value, fx.name(ins.arg), NULL], [owner]))


def load_method(fx: Lowering, ins: Instruction) -> None:
    """Pushes ``[method, self]`` when ``_PyObject_GetMethod`` found an unbound method, else ``[NULL, attr]``.

    Methods found on the owner's type (LOAD_METHOD_WITH_VALUES, LOAD_METHOD_NO_DICT, or a site the
    interpreter left unspecialised) come from a cache of several types (METHOD_CACHE), the generic path
    adding the types it meets."""
    b, r = fx.b, fx.r
    owner = fx.pop()

    def generic(lookup=lambda out: b.call("_PyObject_GetMethod", owner.value, fx.name(ins.arg), out)):
        out = b.alloca(PTR)
        r.store(NULL, out)  # _PyObject_GetMethod leaves it unwritten when the lookup fails
        is_method = r.icmp_signed("!=", lookup(out), i32(0))
        method = r.load(out, typ=PTR)
        fx.error_if_null(method, cleanup=[owner])
        with b.if_then(r.not_(is_method)):
            fx.release(owner)
        return r.select(is_method, method, NULL), r.select(is_method, owner.value, method)

    def cached(bail_if):
        if found.opname == "LOAD_METHOD_MODULE":
            function = _module_attribute(fx, bail_if, owner.value, found)
            fx.release(owner)
            return NULL, function
        is_class = r.and_(b.load(b.type_of(owner.value), TYPE.tp_flags), i64(TPFLAGS_TYPE_SUBCLASS))
        bail_if(r.icmp_unsigned("==", is_class, i64(0)))
        # The class's own version tag (its attributes), not its metaclass's.
        _bail_unless_version(fx, bail_if, owner.value, TYPE.tp_version_tag, found.field("type_version"))
        fx.release(owner)
        return NULL, b.new_ref(r.inttoptr(i64(found.field("descr")), PTR))

    found = fx.specialised(ins, OptimizationFlags.LoadAttr, *_LOAD_METHOD_FORMS)
    if found is not None and found.opname in ("LOAD_METHOD_MODULE", "LOAD_METHOD_CLASS"):
        method, self_or_attr = fx.guarded(cached, generic)
    elif found is None and not fx.fast_paths:
        method, self_or_attr = generic()
    else:
        entries = []
        if found is not None:
            keys_version = found.field("keys_version") if found.opname == "LOAD_METHOD_WITH_VALUES" else 0
            entries = [found.field("type_version") | keys_version << 32, found.field("descr")]
        cache = define_global(fx.b.module, ir.ArrayType(I64, METHOD_CACHE_WORDS), f"method_cache_{ins.index}",
                              [_signed64(v) for v in entries] + [0] * (2 * ATTR_CACHE_ENTRIES - len(entries))
                              + [len(entries) // 2], linkage="internal")
        fx.optimizations |= OptimizationFlags.LoadAttr
        method, self_or_attr = fx.guarded(
            lambda bail_if: (_cached_method(fx, bail_if, owner.value, cache), owner.value),
            lambda: generic(lambda out: b.call("pyjion_load_method_refresh", owner.value, fx.name(ins.arg),
                                               cache, out)))
    fx.push(method, Kind.MAYBE_NULL)
    fx.push(self_or_attr)


def _cached_method(fx: Lowering, bail_if, owner: ir.Value, cache: ir.Value) -> ir.Value:
    """New reference to the method a METHOD_CACHE entry for the owner's type holds."""
    b, r = fx.b, fx.r
    tp = b.type_of(owner)
    version = b.load(tp, TYPE.tp_version_tag)
    bail_if(r.icmp_unsigned("==", version, i32(0)))  # no version: matches only empty entries
    versions, method = i64(0), i64(0)
    for k in reversed(range(ATTR_CACHE_ENTRIES)):
        entry = r.load(r.gep(cache, [i64(2 * k)], source_etype=I64), typ=I64)
        hit = r.icmp_unsigned("==", r.trunc(entry, I32), version)
        versions = r.select(hit, entry, versions)
        method = r.select(hit, r.load(r.gep(cache, [i64(2 * k + 1)], source_etype=I64), typ=I64), method)
    bail_if(r.icmp_unsigned("==", method, i64(0)))
    keys_version = r.trunc(r.lshr(versions, i64(32)), I32)
    # Managed instance values: no instance attribute shadows the method, as LOAD_METHOD_WITH_VALUES checks.
    with b.if_then(r.icmp_unsigned("!=", keys_version, i32(0))):
        bail_if(r.icmp_unsigned("!=", b.load(owner, MANAGED_DICT), NULL))
        _bail_unless_version(fx, bail_if, b.load(tp, HEAPTYPE.ht_cached_keys), DICT_KEYS.dk_version, keys_version)
    # The method is owned by the type's dict, which cannot change while the version tag holds.
    return b.new_ref(r.inttoptr(method, PTR))


def import_name(fx: Lowering, ins: Instruction) -> None:
    level, fromlist = fx.popn(2)
    fx.push_result(fx.call_releasing("pyjion_import_name",
                                     [fx.ts, fx.frame, fx.name(ins.arg), fromlist.value, level.value],
                                     [level, fromlist]))


def import_from(fx: Lowering, ins: Instruction) -> None:
    value = fx.b.call("pyjion_import_from", fx.peek(1).value, fx.name(ins.arg))
    fx.error_if_null(value)
    fx.push(value)


def load_build_class(fx: Lowering, ins: Instruction) -> None:
    b, r = fx.b, fx.r
    key = r.load(b.global_var(string_global("build_class")), typ=PTR)
    value = b.call("pyjion_mapping_get", fx.builtins(), key)
    with b.if_then(b.is_null(value), likely=False):
        with b.if_then(b.is_null(b.call("PyErr_Occurred"))):
            b.call("PyErr_SetString", b.exception("PyExc_NameError"), b.cstring("__build_class__ not found"))
        fx.error()
    fx.push(value)


def load_assertion_error(fx: Lowering, ins: Instruction) -> None:
    fx.push(fx.b.new_ref(fx.b.exception("PyExc_AssertionError")))


def setup_annotations(fx: Lowering, ins: Instruction) -> None:
    """Create ``__annotations__`` in the namespace unless it is there already."""
    b, r = fx.b, fx.r
    name = r.load(b.global_var(string_global("annotations")), typ=PTR)
    namespace = _locals_or_error(fx, "no locals found when setting up annotations")
    found = b.call("pyjion_mapping_get", namespace, name)
    present = b.block("annotations_present")
    absent = b.block("annotations_absent")
    done = b.block("annotations_done")
    r.cbranch(b.is_null(found), absent, present)
    b.position(present)
    b.decref(found)
    r.branch(done)
    b.position(absent)
    with b.if_then(r.icmp_unsigned("!=", b.call("PyErr_Occurred"), NULL), likely=False):
        fx.error()
    fresh = b.call("PyDict_New")
    fx.error_if_null(fresh)
    status = b.call("PyObject_SetItem", namespace, name, fresh)
    b.decref(fresh)
    fx.error_if_negative(status)
    r.branch(done)
    b.position(done)


def import_star(fx: Lowering, ins: Instruction) -> None:
    """Only at module level, where there are no fast locals to synchronise."""
    b = fx.b
    module = fx.pop()
    namespace = _locals_or_error(fx, "no locals found during 'import *'", cleanup=[module])
    result = fx.call_helper(HELPER_IMPORT_STAR, namespace, module.value)
    fx.release(module)
    fx.error_if_null(result)
    b.decref(result)


def print_expr(fx: Lowering, ins: Instruction) -> None:
    """The interactive interpreter's expression statement: ``sys.displayhook(value)``."""
    b = fx.b
    value = fx.pop()
    hook = b.call("PySys_GetObject", b.cstring("displayhook"))
    with b.if_then(b.is_null(hook), likely=False):
        b.call("PyErr_SetString", b.exception("PyExc_RuntimeError"), b.cstring("lost sys.displayhook"))
        fx.error(cleanup=[value])
    result = fx.call_releasing("PyObject_CallOneArg", [hook, value.value], [value])
    fx.error_if_null(result)
    b.decref(result)


EMITTERS = {
    "LOAD_GLOBAL": load_global, "STORE_GLOBAL": store_global, "DELETE_GLOBAL": delete_global,
    "LOAD_NAME": load_name, "STORE_NAME": store_name, "DELETE_NAME": delete_name,
    "LOAD_ATTR": load_attr, "STORE_ATTR": store_attr, "DELETE_ATTR": delete_attr, "LOAD_METHOD": load_method,
    "IMPORT_NAME": import_name, "IMPORT_FROM": import_from, "LOAD_BUILD_CLASS": load_build_class,
    "LOAD_ASSERTION_ERROR": load_assertion_error, "SETUP_ANNOTATIONS": setup_annotations,
    "IMPORT_STAR": import_star, "PRINT_EXPR": print_expr,
}
