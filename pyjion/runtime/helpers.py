"""Cold paths of ceval.c's static helpers, written in Python and called from native code.

Each helper returns ``(value, None)`` on success or ``(None, exception)`` for native code to raise with
``PyErr_SetObject``; helpers never raise themselves, so their frames never appear in a user's traceback.
``(None, None)`` means "keep the exception that is already pending". They run only when something
unusual happens (a circular import, a bad ``**`` argument), so their speed does not matter; the messages
are ceval.c's, word for word.
"""
from __future__ import annotations

import ctypes
import functools
import sys
import types
from typing import Callable

from ..abi.cpython311 import ASYNC_METHODS, CO_ITERABLE_COROUTINE, TYPE, Field

KEEP = (None, None)
_MISSING = object()


def _function_str(func: object) -> str:
    """``_PyObject_FunctionStr``: how CPython names a callable in argument errors."""
    qualname = getattr(func, "__qualname__", _MISSING)
    if qualname is _MISSING:
        return str(func)
    module = getattr(func, "__module__", None)
    if module is not None and module != "builtins":
        return f"{module}.{qualname}()"
    return f"{qualname}()"


def _type_name(kind: type) -> str:
    """``kind->tp_name`` (it includes the module for static types)."""
    address = ctypes.c_void_p.from_address(id(kind) + TYPE.tp_name.offset).value
    return ctypes.string_at(address).decode("utf-8", "replace")


def _tp_name(obj: object) -> str:
    """``%.200s`` of ``Py_TYPE(obj)->tp_name``."""
    return _type_name(type(obj))[:200]


def import_from(module: object, name: str, _exc: object) -> tuple:
    """IMPORT_FROM after attribute lookup failed: sys.modules fallback, else ceval's ImportError."""
    pkgname = getattr(module, "__name__", None)
    if isinstance(pkgname, str):
        found = sys.modules.get(f"{pkgname}.{name}")
        if found is not None:
            return found, None
    else:
        pkgname = None
    shown = pkgname if pkgname is not None else "<unknown module name>"
    # PyModule_GetFilenameObject reads the module dict, bypassing a module-level __getattr__.
    pkgpath = vars(module).get("__file__") if isinstance(module, types.ModuleType) else None
    if not isinstance(pkgpath, str):
        message = f"cannot import name {name!r} from {shown!r} (unknown location)"
        return None, ImportError(message, name=pkgname)
    spec = getattr(module, "__spec__", None)
    if getattr(spec, "_initializing", False):
        message = (f"cannot import name {name!r} from partially initialized module {shown!r} "
                   f"(most likely due to a circular import) ({pkgpath})")
    else:
        message = f"cannot import name {name!r} from {shown!r} ({pkgpath})"
    return None, ImportError(message, name=pkgname, path=pkgpath)


def kwargs_error(func: object, kwargs: object, pending: tuple) -> tuple:
    """``format_kwargs_error``: turn _PyDict_MergeEx's AttributeError/KeyError into ceval's TypeError."""
    exc_type, value = pending
    if isinstance(exc_type, type) and issubclass(exc_type, AttributeError):
        return None, TypeError(f"{_function_str(func)} argument after ** must be a mapping, "
                               f"not {_tp_name(kwargs)}")
    if isinstance(exc_type, type) and issubclass(exc_type, KeyError) and isinstance(value, tuple) and len(value) == 1:
        return None, TypeError(f"{_function_str(func)} got multiple values for keyword argument '{value[0]}'")
    return KEEP


def args_not_iterable(func: object, args: object, _pending: object) -> tuple:
    """``check_args_iterable``'s error."""
    return None, TypeError(f"{_function_str(func)} argument after * must be an iterable, "
                           f"not {_tp_name(args)}")


def _is_exception_class(obj: object) -> bool:
    """``PyExceptionClass_Check`` (type flags, not ``__class__``)."""
    return issubclass(type(obj), type) and issubclass(obj, BaseException)


def _is_exception_instance(obj: object) -> bool:
    """``PyExceptionInstance_Check``."""
    return issubclass(type(obj), BaseException)


def _call_class(cls: type) -> tuple:
    """``cls()``, or the exception it raised."""
    try:
        return cls(), None
    except BaseException as error:
        return None, _strip_own_frame(error)


def raise_(exc: object, cause: object, has_cause: bool) -> tuple:
    """RAISE_VARARGS 1 and 2 (ceval's ``do_raise``): always ``(None, exception to raise)``."""
    if _is_exception_class(exc):
        value, error = _call_class(exc)
        if error is not None:
            return None, error
        if not _is_exception_instance(value):
            return None, TypeError(f"calling {exc!r} should have returned an instance of BaseException, "
                                   f"not {type(value)!r}")
    elif _is_exception_instance(exc):
        value = exc
    else:
        return None, TypeError("exceptions must derive from BaseException")
    if has_cause:
        if _is_exception_class(cause):
            cause, error = _call_class(cause)
            if error is not None:
                return None, error
        elif not (_is_exception_instance(cause) or cause is None):
            return None, TypeError("exception causes must derive from BaseException")
        value.__cause__ = cause  # also sets __suppress_context__, as PyException_SetCause does
    return None, value


def _strip_own_frame(error: BaseException) -> BaseException:
    """An exception raised by code a helper called, as if that code had been called from native code."""
    return error.with_traceback(error.__traceback__.tb_next)


def _is_coroutine(obj: object) -> bool:
    """``PyCoro_CheckExact(o) || gen_is_coroutine(o)``."""
    kind = type(obj)
    return kind is types.CoroutineType or (
        kind is types.GeneratorType and bool(obj.gi_code.co_flags & CO_ITERABLE_COROUTINE))


_UNARY_SLOT = ctypes.PYFUNCTYPE(ctypes.py_object, ctypes.py_object)


@functools.lru_cache(maxsize=None)  # one per C slot function: GET_ANEXT asks on every iteration
def _slot_caller(address: int) -> Callable[[object], object]:
    return _UNARY_SLOT(address)


def _async_slot(kind: type, slot: Field) -> Callable[[object], object] | None:
    """The type's ``tp_as_async`` slot (``am_await``, ``am_aiter``, ``am_anext``), callable, or None.

    ceval calls the slot, not the attribute: for a class whose ``__aiter__`` is not a function (a mock's
    is a callable instance) the slot calls it the way ``lookup_maybe_method`` binds it, which a call of
    ``type(obj).__aiter__(obj)`` does not."""
    methods = ctypes.c_void_p.from_address(id(kind) + TYPE.tp_as_async.offset).value
    address = ctypes.c_void_p.from_address(methods + slot.offset).value if methods else None
    return _slot_caller(address) if address else None


def _awaitable_iter(obj: object) -> tuple:
    """``_PyCoro_GetAwaitableIter`` (hidden in libpython)."""
    if _is_coroutine(obj):
        return obj, None
    await_ = _async_slot(type(obj), ASYNC_METHODS.am_await)
    if await_ is None:
        return None, TypeError(f"object {_tp_name(obj)[:100]} can't be used in 'await' expression")
    try:
        result = await_(obj)
    except BaseException as error:
        return None, _strip_own_frame(error)
    if _is_coroutine(result):
        return None, TypeError("__await__() returned a coroutine")
    if not hasattr(type(result), "__next__"):
        return None, TypeError(f"__await__() returned non-iterator of type '{_tp_name(result)[:100]}'")
    return result, None


def get_awaitable(obj: object, where: int, _unused: object) -> tuple:
    """GET_AWAITABLE for anything but a coroutine (native code handles those)."""
    result, error = _awaitable_iter(obj)
    if error is not None:
        if where in (1, 2) and _async_slot(type(obj), ASYNC_METHODS.am_await) is None:
            method = "__aenter__" if where == 1 else "__aexit__"
            error = TypeError(f"'async with' received an object from {method} that does not implement "
                              f"__await__: {_tp_name(obj)[:100]}")
        return None, error
    if type(result) is types.CoroutineType and result.cr_await is not None:
        return None, RuntimeError("coroutine is being awaited already")
    return result, None


def get_aiter(obj: object, _unused1: object, _unused2: object) -> tuple:
    """GET_AITER."""
    aiter_ = _async_slot(type(obj), ASYNC_METHODS.am_aiter)
    if aiter_ is None:
        return None, TypeError(f"'async for' requires an object with __aiter__ method, got {_tp_name(obj)[:100]}")
    try:
        result = aiter_(obj)
    except BaseException as error:
        return None, _strip_own_frame(error)
    if _async_slot(type(result), ASYNC_METHODS.am_anext) is None:
        return None, TypeError(f"'async for' received an object from __aiter__ that does not implement "
                               f"__anext__: {_tp_name(result)[:100]}")
    return result, None


def get_anext(aiter_: object, _unused1: object, _unused2: object) -> tuple:
    """GET_ANEXT: the awaitable for the next item of an ``async for``."""
    anext_ = _async_slot(type(aiter_), ASYNC_METHODS.am_anext)
    if anext_ is None:
        return None, TypeError(f"'async for' requires an iterator with __anext__ method, got "
                               f"{_tp_name(aiter_)[:100]}")
    try:
        result = anext_(aiter_)
    except BaseException as error:
        return None, _strip_own_frame(error)
    if type(aiter_) is types.AsyncGeneratorType:
        return result, None
    awaitable, error = _awaitable_iter(result)
    if error is not None:
        # _PyErr_FormatFromCause: the new TypeError is caused by the original one.
        new = TypeError(f"'async for' received an invalid object from __anext__: {_tp_name(result)[:100]}")
        new.__cause__ = error
        new.__context__ = error
        return None, new
    return awaitable, None


def import_star(locals_: object, module: object, _unused: object) -> tuple:
    """IMPORT_STAR (ceval's ``import_all_from``) into the frame's locals mapping."""
    try:
        try:
            names = module.__all__
            skip_private = False
        except AttributeError:
            try:
                names = module.__dict__
            except AttributeError:
                return None, ImportError("from-import-* object has no __dict__ and no __all__")
            names = names.keys()
            skip_private = True
        for name in names:
            if type(name) is not str:
                what = "Key in %s.__dict__" if skip_private else "Item in %s.__all__"
                return None, TypeError(f"{what % module.__name__} must be str, not {_tp_name(name)[:100]}")
            if skip_private and name.startswith("_"):
                continue
            locals_[name] = getattr(module, name)
    except BaseException as error:
        return None, _strip_own_frame(error)
    return None, None


_MATCH_SELF = 1 << 22  # _Py_TPFLAGS_MATCH_SELF: bool, int, str... match themselves positionally


def _match_class_attr(subject: object, kind: type, name: str, seen: set) -> object:
    if name in seen:
        raise TypeError(f"{_type_name(kind)}() got multiple sub-patterns for attribute {name!r}")
    seen.add(name)
    return getattr(subject, name, _MISSING)


def match_class(subject: object, kind: object, shape: tuple) -> tuple:
    """MATCH_CLASS (ceval's ``match_class``): ``(attributes, None)``, ``(None, None)`` for no match."""
    nargs, keywords = shape
    try:
        if not isinstance(kind, type):
            return None, TypeError("called match pattern must be a type")
        if not isinstance(subject, kind):
            return None, None
        seen: set = set()
        attrs = []
        if nargs:
            match_self = False
            try:
                match_args = kind.__match_args__
            except AttributeError:
                match_args = ()
                match_self = bool(kind.__flags__ & _MATCH_SELF)
            if type(match_args) is not tuple:
                return None, TypeError(f"{_type_name(kind)}.__match_args__ must be a tuple (got "
                                       f"{_tp_name(match_args)})")
            allowed = 1 if match_self else len(match_args)
            if allowed < nargs:
                plural = "" if allowed == 1 else "s"
                return None, TypeError(f"{_type_name(kind)}() accepts {allowed} positional sub-pattern{plural} "
                                       f"({nargs} given)")
            if match_self:
                attrs.append(subject)
            else:
                for name in match_args[:nargs]:
                    if type(name) is not str:
                        return None, TypeError(f"__match_args__ elements must be strings (got {_tp_name(name)})")
                    attrs.append(_match_class_attr(subject, kind, name, seen))
                    if attrs[-1] is _MISSING:
                        return None, None
        for name in keywords:
            attrs.append(_match_class_attr(subject, kind, name, seen))
            if attrs[-1] is _MISSING:
                return None, None
    except BaseException as error:
        return None, _strip_own_frame(error)
    return tuple(attrs), None


def match_keys(subject: object, keys: tuple, _unused: object) -> tuple:
    """MATCH_KEYS (ceval's ``match_keys``): the values for ``keys``, or None if one is missing."""
    if not keys:
        return (), None
    try:
        get = subject.get
        seen: set = set()
        missing = object()
        values = []
        for key in keys:
            if key in seen:
                return None, ValueError(f"mapping pattern checks duplicate key ({key!r})")
            seen.add(key)
            value = get(key, missing)
            if value is missing:
                return None, None
            values.append(value)
    except BaseException as error:
        return None, _strip_own_frame(error)
    return tuple(values), None


# Index in this tuple = the helper number native code passes to pyjion_call_helper.
HELPERS = (import_from, kwargs_error, args_not_iterable, raise_, get_awaitable, get_aiter, get_anext, import_star,
           match_class, match_keys)
(HELPER_IMPORT_FROM, HELPER_KWARGS_ERROR, HELPER_ARGS_NOT_ITERABLE, HELPER_RAISE, HELPER_GET_AWAITABLE,
 HELPER_GET_AITER, HELPER_GET_ANEXT, HELPER_IMPORT_STAR, HELPER_MATCH_CLASS, HELPER_MATCH_KEYS) = range(10)
