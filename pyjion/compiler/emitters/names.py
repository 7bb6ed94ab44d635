"""Globals, names, attributes, methods and imports."""
from __future__ import annotations

from ...abi.cpython311 import FRAME
from ...runtime.helpers import HELPER_IMPORT_STAR
from ...runtime.support import NAME_ERROR_MSG, string_global
from ..analysis import Kind
from ..builder import NULL, PTR, i32
from ..bytecode import Instruction
from ..lowering import Lowering


def _name_error(fx: Lowering, name) -> None:
    b = fx.b
    b.call("pyjion_exc_check_arg", b.exception("PyExc_NameError"), b.cstring(NAME_ERROR_MSG), name)


def load_global(fx: Lowering, ins: Instruction) -> None:
    value = fx.b.call("pyjion_load_global", fx.globals(), fx.builtins(), fx.name(ins.arg >> 1))
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
    owner = fx.pop()
    fx.push_result(fx.call_releasing("PyObject_GetAttr", [owner.value, fx.name(ins.arg)], [owner]))


def store_attr(fx: Lowering, ins: Instruction) -> None:
    value, owner = fx.popn(2)
    fx.error_if_negative(fx.call_releasing("PyObject_SetAttr", [owner.value, fx.name(ins.arg), value.value],
                                           [value, owner]))


def delete_attr(fx: Lowering, ins: Instruction) -> None:
    owner = fx.pop()
    fx.error_if_negative(fx.call_releasing("PyObject_SetAttr", [owner.value, fx.name(ins.arg), NULL], [owner]))


def load_method(fx: Lowering, ins: Instruction) -> None:
    """Pushes ``[method, self]`` when ``_PyObject_GetMethod`` found an unbound method, else ``[NULL, attr]``."""
    b, r = fx.b, fx.r
    owner = fx.pop()
    out = b.alloca(PTR)
    r.store(NULL, out)  # _PyObject_GetMethod leaves it unwritten when the lookup fails
    found = r.icmp_signed("!=", b.call("_PyObject_GetMethod", owner.value, fx.name(ins.arg), out), i32(0))
    method = r.load(out, typ=PTR)
    fx.error_if_null(method, cleanup=[owner])
    with b.if_then(r.not_(found)):
        fx.release(owner)
    fx.push(r.select(found, method, NULL), Kind.MAYBE_NULL)
    fx.push(r.select(found, owner.value, method))


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
