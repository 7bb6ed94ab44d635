"""Globals, names, attributes, methods and imports.

Where the interpreter has specialised LOAD_GLOBAL, LOAD_ATTR, STORE_ATTR or LOAD_METHOD, the compiled
code checks what its specialisation checks (a dict's keys version, the type's version tag, no instance
dict shadowing a method) against the values the interpreter cached, and reads the slot it found; any
failed check takes the generic path. Those values are not in the code: they are in the site's cache,
which the driver seeds with them (CACHE_SEEDS) once the code is linked, so that the same object file,
keyed on which instructions were specialised to what, serves another process through the code cache.
"""
from __future__ import annotations

import builtins
from typing import Callable

from llvmlite import ir

from ...abi.cpython311 import FRAME, MODULE
from ...enums import OptimizationFlags
from ...runtime.caches import (ATTR_CACHE_ENTRIES, ATTR_CLASS_ENTRY, ATTR_IN_DICT, ATTR_IN_SLOT, ATTR_IN_VALUES,
                               CLASS_ATTR_WORDS, GLOBAL_CACHE, GLOBAL_IN_BUILTINS, GLOBAL_IN_MODULE,
                               METHOD_CACHE_WORDS, METHOD_CLASS_ENTRY, attribute_slot, cached_attribute,
                               cached_class_attribute, cached_global, cached_method, store_attribute)
from ...runtime.helpers import HELPER_IMPORT_STAR
from ...runtime.support import NAME_ERROR_MSG, string_global
from ..analysis import Kind
from ..builder import I64, NULL, PTR, i32, i64
from ..bytecode import Instruction
from ..feedback import Specialisation
from ..lowering import Lowering


def _name_error(fx: Lowering, name) -> None:
    b = fx.b
    b.call("pyjion_exc_check_arg", b.exception("PyExc_NameError"), b.cstring(NAME_ERROR_MSG), name)


_GLOBAL_FORMS = ("LOAD_GLOBAL_MODULE", "LOAD_GLOBAL_BUILTIN")
_LOAD_ATTR_FORMS = ("LOAD_ATTR_INSTANCE_VALUE", "LOAD_ATTR_SLOT", "LOAD_ATTR_WITH_HINT", "LOAD_ATTR_MODULE")
_STORE_ATTR_FORMS = ("STORE_ATTR_INSTANCE_VALUE", "STORE_ATTR_SLOT", "STORE_ATTR_WITH_HINT")
_LOAD_METHOD_FORMS = ("LOAD_METHOD_WITH_VALUES", "LOAD_METHOD_NO_DICT", "LOAD_METHOD_MODULE", "LOAD_METHOD_CLASS")
SPECIALISED = _GLOBAL_FORMS + _LOAD_ATTR_FORMS + _STORE_ATTR_FORMS + _LOAD_METHOD_FORMS


def _module_attribute(fx: Lowering, bail_if, ins: Instruction, module: ir.Value) -> ir.Value:
    """New reference to the attribute LOAD_ATTR_MODULE/LOAD_METHOD_MODULE found in a module's dict (its
    keys version and entry index, seeded into a GLOBAL_CACHE)."""
    bail_if(fx.r.not_(fx.b.is_type(module, "PyModule_Type")))
    cache = fx.site_cache(ins, GLOBAL_CACHE.size // 8)
    return cached_global(fx.b, bail_if, fx.b.load(module, MODULE.md_dict), NULL, cache, in_builtins=False)


def load_global(fx: Lowering, ins: Instruction) -> None:
    """Through a GLOBAL_CACHE of the site's own (runtime/caches.py). Where the interpreter specialised
    the site, the cache is seeded with its inline cache's entry and is probed inline; elsewhere (the site
    had not run) it starts empty, of the form a builtin's name suggests, and is probed by the support
    function. Either refills it when a check fails (a global added after compilation changes the
    globals' keys version)."""
    b = fx.b
    found = fx.specialised(ins, OptimizationFlags.GlobalCache, *_GLOBAL_FORMS)
    if found is None and not fx.fast_paths:
        value = b.call("pyjion_load_global", fx.globals(), fx.builtins(), fx.name(ins.arg >> 1))
    else:
        if found is not None:
            in_builtins = found.opname == "LOAD_GLOBAL_BUILTIN"
        else:
            # The builtins module's dict, not its attributes: reading builtins.__annotations__ makes one.
            in_builtins = fx.code.co_names[ins.arg >> 1] in vars(builtins)
            fx.optimizations |= OptimizationFlags.GlobalCache
        cache = fx.site_cache(ins, GLOBAL_CACHE.size // 8)

        def through_cache() -> tuple[ir.Value]:
            return b.call("pyjion_load_global_cached", fx.globals(), fx.builtins(), fx.name(ins.arg >> 1), cache,
                          i32(GLOBAL_IN_BUILTINS if in_builtins else GLOBAL_IN_MODULE)),

        if found is None:
            value, = through_cache()
        else:
            value, = fx.guarded(lambda bail_if: (cached_global(b, bail_if, fx.globals(), fx.builtins(), cache,
                                                               in_builtins),), through_cache)
    fx.error_if_null(value)
    if ins.arg & 1:
        fx.push(NULL, Kind.NULL)
    fx.push(value)


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
    """Attributes of instances (LOAD_ATTR_INSTANCE_VALUE, LOAD_ATTR_SLOT, LOAD_ATTR_WITH_HINT, and sites the
    interpreter left unspecialised) are read through a cache of several types (ATTR_CACHE), the
    interpreter's entry first, the types met later added by the support function: probed inline where
    the interpreter specialised the site, by the support function elsewhere."""
    b = fx.b
    owner = fx.pop()
    found = fx.specialised(ins, OptimizationFlags.LoadAttr, *_LOAD_ATTR_FORMS)

    def get_attribute() -> tuple[ir.Value]:
        return fx.on_objects([owner], lambda objects: b.call("PyObject_GetAttr", *objects, fx.name(ins.arg))),

    if found is not None and found.opname == "LOAD_ATTR_MODULE":
        value, = fx.guarded(lambda bail_if: (_module_attribute(fx, bail_if, ins, owner.value),), get_attribute)
    elif found is None and not fx.fast_paths:
        value, = get_attribute()
    else:
        cache = _attr_cache(fx, ins)

        def through_cache() -> tuple[ir.Value]:
            return fx.on_objects([owner], lambda objects: b.call("pyjion_load_attr_cached", *objects,
                                                                 fx.name(ins.arg), cache)),

        if found is not None:
            value, = fx.guarded(lambda bail_if: (cached_attribute(b, bail_if, owner.value, cache, fx.name(ins.arg),
                                                                  (_attr_place(found),)),), through_cache)
        elif fx.previous is not None and fx.previous.opname == "LOAD_GLOBAL":
            # ``Global.name``: a module's attribute the interpreter would have specialised, so most likely
            # a class's, which it does not specialise (Direction.FORWARD); probed inline as the support
            # function does first.
            def class_attribute(bail_if):
                bail_if(fx.r.not_(b.is_type(owner.value, "PyType_Type")))
                class_entry = fx.r.gep(cache, [i64(ATTR_CLASS_ENTRY)], source_etype=I64)
                return cached_class_attribute(b, bail_if, owner.value, class_entry),

            value, = fx.guarded(class_attribute, through_cache)
        else:
            value, = through_cache()
    fx.release(owner)
    fx.push_result(value)


def _attr_cache(fx: Lowering, ins: Instruction) -> ir.GlobalVariable:
    """The site's ATTR_CACHE, seeded with the interpreter's entry if it specialised the site to the
    instance values or a slot; where it has not (yet, or not any more: it met several types), it starts
    empty."""
    fx.optimizations |= OptimizationFlags.LoadAttr
    return fx.site_cache(ins, ATTR_CLASS_ENTRY + CLASS_ATTR_WORDS)


def store_attr(fx: Lowering, ins: Instruction) -> None:
    """STORE_ATTR_INSTANCE_VALUE, STORE_ATTR_SLOT and STORE_ATTR_WITH_HINT sites, and those the interpreter
    left unspecialised, write the attribute through an ATTR_CACHE as LOAD_ATTR reads it (inline where the
    interpreter specialised the site)."""
    b = fx.b
    value, owner = fx.popn(2)

    def cached(bail_if):
        slot = attribute_slot(b, bail_if, owner.value, cache, fx.name(ins.arg), store=True,
                              places=(_attr_place(found),))
        # the stack's reference moves into the object
        store_attribute(b, slot, value.value, owner.value if owner.borrowed else None)
        return i32(0),

    found = fx.specialised(ins, OptimizationFlags.LoadAttr, *_STORE_ATTR_FORMS)
    if found is None and not fx.fast_paths:
        status = fx.on_objects([owner], lambda objects: fx.call_releasing(
            "PyObject_SetAttr", [*objects, fx.name(ins.arg), value.value], [value]))
    else:
        cache = _attr_cache(fx, ins)

        def through_cache() -> tuple[ir.Value]:
            return fx.on_objects([owner], lambda objects: fx.call_releasing(
                "pyjion_store_attr_cached", [*objects, fx.name(ins.arg), value.value, cache], [value])),

        status, = through_cache() if found is None else fx.guarded(cached, through_cache)
    fx.release(owner)
    fx.error_if_negative(status)


def delete_attr(fx: Lowering, ins: Instruction) -> None:
    owner = fx.pop()
    fx.error_if_negative(fx.call_releasing("PyObject_SetAttr", [owner.value, fx.name(ins.arg), NULL], [owner]))


def load_method(fx: Lowering, ins: Instruction) -> None:
    """Pushes ``[method, self]`` when ``_PyObject_GetMethod`` found an unbound method, else ``[NULL, attr]``.

    Methods found on the owner's type (LOAD_METHOD_WITH_VALUES, LOAD_METHOD_NO_DICT, or a site the
    interpreter left unspecialised) come from a cache of several types (METHOD_CACHE), the support
    function adding the types it meets: probed inline where the interpreter specialised the site."""
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
            function = _module_attribute(fx, bail_if, ins, owner.value)
        else:
            function = cached_class_attribute(b, bail_if, owner.value, fx.site_cache(ins, CLASS_ATTR_WORDS))
        fx.release(owner)
        return NULL, function

    found = fx.specialised(ins, OptimizationFlags.LoadAttr, *_LOAD_METHOD_FORMS)
    if found is not None and found.opname in ("LOAD_METHOD_MODULE", "LOAD_METHOD_CLASS"):
        method, self_or_attr = fx.guarded(cached, generic)
    elif found is None and not fx.fast_paths:
        method, self_or_attr = generic()
    else:
        cache = fx.site_cache(ins, METHOD_CLASS_ENTRY + CLASS_ATTR_WORDS)
        fx.optimizations |= OptimizationFlags.LoadAttr

        def through_cache():
            return generic(lambda out: b.call("pyjion_load_method_cached", owner.value, fx.name(ins.arg), cache, out))

        if found is None:
            method, self_or_attr = through_cache()
        else:
            method, self_or_attr = fx.guarded(
                lambda bail_if: (cached_method(b, bail_if, owner.value, cache), owner.value), through_cache)
    fx.push(method, Kind.MAYBE_NULL)
    fx.push(self_or_attr)


def _global_seed(found: Specialisation) -> list[int]:
    builtins_version = found.field("builtin_keys_version") if found.opname == "LOAD_GLOBAL_BUILTIN" else 0
    return [found.field("module_keys_version") | builtins_version << 32, found.field("index"), 0]


def _module_attribute_seed(found: Specialisation) -> list[int]:
    return [found.field("version"), found.field("index"), 0]


def _attr_place(found: Specialisation) -> int:
    """Where the instances of the type the interpreter specialised a LOAD_ATTR or STORE_ATTR site to keep
    the attribute."""
    return (ATTR_IN_SLOT if found.opname.endswith("_SLOT") else ATTR_IN_DICT if found.opname.endswith("_WITH_HINT")
            else ATTR_IN_VALUES)


def _attr_seed(found: Specialisation) -> list[int]:
    where = found.field("index") | _attr_place(found)
    return [found.field("version") | where << 32] + [0] * (ATTR_CACHE_ENTRIES - 1) + [1]


def _method_seed(found: Specialisation) -> list[int]:
    keys_version = found.field("keys_version") if found.opname == "LOAD_METHOD_WITH_VALUES" else 0
    return ([found.field("type_version") | keys_version << 32, found.field("descr")]
            + [0] * (METHOD_CACHE_WORDS - 3) + [1])


def _class_method_seed(found: Specialisation) -> list[int]:
    return [found.field("type_version"), found.field("descr")]


# What each specialised form's site cache starts with: the interpreter's inline cache, as the probes in
# runtime/caches.py read it.
CACHE_SEEDS: dict[str, Callable[[Specialisation], list[int]]] = {
    "LOAD_GLOBAL_MODULE": _global_seed, "LOAD_GLOBAL_BUILTIN": _global_seed,
    "LOAD_ATTR_MODULE": _module_attribute_seed, "LOAD_METHOD_MODULE": _module_attribute_seed,
    "LOAD_ATTR_INSTANCE_VALUE": _attr_seed, "LOAD_ATTR_SLOT": _attr_seed,
    "LOAD_ATTR_WITH_HINT": _attr_seed,
    "STORE_ATTR_INSTANCE_VALUE": _attr_seed, "STORE_ATTR_SLOT": _attr_seed, "STORE_ATTR_WITH_HINT": _attr_seed,
    "LOAD_METHOD_WITH_VALUES": _method_seed, "LOAD_METHOD_NO_DICT": _method_seed,
    "LOAD_METHOD_CLASS": _class_method_seed,
}


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
