"""Hidden libpython functions found through the ELF symbol table."""
from __future__ import annotations

import ctypes
import sys

import pytest

from pyjion.abi import DICT, DICT_KEYS, dict_version_counter, keys_version_function, symtab


def test_an_exported_function_is_found_at_its_address():
    """The load base computed from Py_Initialize, applied to another exported function, gives that
    function's dynamic-linker address."""
    symtab._symbols.cache_clear()
    anchor = ctypes.cast(ctypes.pythonapi.Py_Initialize, ctypes.c_void_p).value
    path = symtab._mapped_file(anchor)
    if path is None:
        pytest.skip("no file mapped at Py_Initialize")
    function = symtab._STT_FUNC
    values = symtab._symbol_values(path, {("Py_Initialize", function), ("PyList_New", function)})
    if ("Py_Initialize", function) not in values:
        pytest.skip("this CPython binary has no symbol table (stripped)")
    base = anchor - values["Py_Initialize", function]
    assert base + values["PyList_New", function] == ctypes.cast(ctypes.pythonapi.PyList_New, ctypes.c_void_p).value
    # A variable is found as one, not as a function.
    data = symtab._symbol_values(path, {("_Py_NoneStruct", symtab._STT_OBJECT), ("_Py_NoneStruct", function)})
    assert list(data) == [("_Py_NoneStruct", symtab._STT_OBJECT)]
    assert base + data["_Py_NoneStruct", symtab._STT_OBJECT] == id(None)


def test_names_the_binary_lacks_give_none():
    assert symtab.hidden_function("pyjion_no_such_function") is None
    path = symtab._mapped_file(ctypes.cast(ctypes.pythonapi.Py_Initialize, ctypes.c_void_p).value)
    assert symtab.hidden_data("pyjion_no_such_variable") is None
    assert symtab._symbol_values(path, {("pyjion_no_such_function", symtab._STT_FUNC)}) == {}


def test_the_keys_version_function_versions_unversioned_keys():
    address = keys_version_function()
    if address is None:
        pytest.skip("this CPython binary does not name _PyDictKeys_GetVersionForCurrentState")
    version_of = ctypes.CFUNCTYPE(ctypes.c_uint32, ctypes.c_void_p)(address)
    mapping = {"a": 1}
    keys = ctypes.c_void_p.from_address(id(mapping) + DICT.ma_keys.offset).value
    version = ctypes.c_uint32.from_address(keys + DICT_KEYS.dk_version.offset)
    assert version.value == 0
    assigned = version_of(keys)
    assert assigned > 1 and version.value == assigned
    mapping["b"] = 2  # a new key clears the version of the (same or new) keys
    keys = ctypes.c_void_p.from_address(id(mapping) + DICT.ma_keys.offset).value
    assert ctypes.c_uint32.from_address(keys + DICT_KEYS.dk_version.offset).value == 0


def test_the_dict_version_counter_is_the_last_version_handed_out():
    if symtab.hidden_data("_pydict_global_version") is None:
        pytest.skip("this CPython binary does not name _pydict_global_version")
    address = dict_version_counter()
    assert address is not None  # named, it is the counter: the live check must not fail
    counter = ctypes.c_uint64.from_address(address)
    mapping = {}
    for key in "abc":
        mapping[key] = 1  # every change takes the next version (PEP 509)
        assert ctypes.c_uint64.from_address(id(mapping) + DICT.ma_version_tag.offset).value == counter.value


def test_the_dict_version_counter_is_found_when_dicts_change_during_its_check():
    """The live check reads the counter after changing a probe dict; a dict changed in between (a tracer
    here; a finalizer, another thread) takes a version too. Interference with the first attempts must
    not make it give up: the optimisations that use the counter would be off for the whole process."""
    if symtab.hidden_data("_pydict_global_version") is None:
        pytest.skip("this CPython binary does not name _pydict_global_version")
    scratch: dict[str, int] = {}
    interfering = iter(range(12))  # the first line events of the check (through its first attempt) change a dict

    def tracer(frame, event, arg):
        if frame.f_code is dict_version_counter.__code__:
            return line_tracer
        return None

    def line_tracer(frame, event, arg):
        step = next(interfering, None) if event == "line" else None
        if step is not None:
            scratch["x"] = step  # a new value: storing the same object leaves the version alone
        return line_tracer

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        found = dict_version_counter()
    finally:
        sys.settrace(previous)
    assert next(interfering, None) is None  # the tracer did interfere
    assert found is not None
