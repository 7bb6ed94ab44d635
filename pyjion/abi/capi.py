"""Exported CPython symbols that generated code calls or reads, with their C signatures.

Signatures are written like C prototypes over LLVM scalar kinds (``"ptr(ptr,i32)"``), and bound to
their addresses in libpython with :func:`bind_symbols` so that MCJIT resolves them by name. Generated
code refers to symbols only by name, never by address, so machine code stays valid in another process.
"""
from __future__ import annotations

import array
import builtins
import ctypes

# name -> "ret(arg,arg,...)"; a trailing "..." marks a C varargs function.
FUNCTIONS: dict[str, str] = {
    # frames, recursion, eval breaker
    "_PyEval_EvalFrameDefault": "ptr(ptr,ptr,i32)",
    "_Py_CheckRecursiveCall": "i32(ptr,ptr)",
    "Py_MakePendingCalls": "i32()",
    "PyEval_SaveThread": "ptr()",
    "PyEval_RestoreThread": "void(ptr)",
    "PyEval_GetFrame": "ptr()",
    "PyThreadState_EnterTracing": "void(ptr)",
    "PyThreadState_LeaveTracing": "void(ptr)",
    # objects and refcounts
    "_Py_Dealloc": "void(ptr)",
    "PyObject_IsTrue": "i32(ptr)",
    "PyObject_Not": "i32(ptr)",
    "PyObject_RichCompare": "ptr(ptr,ptr,i32)",
    "PyObject_IsInstance": "i32(ptr,ptr)",
    "PySequence_Contains": "i32(ptr,ptr)",
    "PyObject_GetAttr": "ptr(ptr,ptr)",
    "PyObject_GenericGetAttr": "ptr(ptr,ptr)",
    "_PyType_Lookup": "ptr(ptr,ptr)",
    "PyObject_SetAttr": "i32(ptr,ptr,ptr)",
    "PyObject_GenericSetAttr": "i32(ptr,ptr,ptr)",
    "PyObject_SetAttrString": "i32(ptr,ptr,ptr)",
    "_PyObject_GetMethod": "i32(ptr,ptr,ptr)",
    "_PyObject_LookupAttr": "i32(ptr,ptr,ptr)",
    "PyObject_GetItem": "ptr(ptr,ptr)",
    "PyObject_SetItem": "i32(ptr,ptr,ptr)",
    "PyObject_DelItem": "i32(ptr,ptr)",
    "PyObject_GetIter": "ptr(ptr)",
    "PyObject_Format": "ptr(ptr,ptr)",
    "PyObject_Str": "ptr(ptr)",
    "PyObject_Repr": "ptr(ptr)",
    "PyObject_ASCII": "ptr(ptr)",
    "PyObject_Vectorcall": "ptr(ptr,ptr,i64,ptr)",
    "_PyFunction_Vectorcall": "ptr(ptr,ptr,i64,ptr)",
    "PyObject_Call": "ptr(ptr,ptr,ptr)",
    "PyObject_CallOneArg": "ptr(ptr,ptr)",
    "PyCallable_Check": "i32(ptr)",
    # numbers
    **{f"PyNumber_{op}": "ptr(ptr,ptr)" for op in (
        "Add", "Subtract", "Multiply", "TrueDivide", "FloorDivide", "Remainder", "MatrixMultiply",
        "Lshift", "Rshift", "And", "Or", "Xor",
        "InPlaceAdd", "InPlaceSubtract", "InPlaceMultiply", "InPlaceTrueDivide", "InPlaceFloorDivide",
        "InPlaceRemainder", "InPlaceMatrixMultiply", "InPlaceLshift", "InPlaceRshift", "InPlaceAnd",
        "InPlaceOr", "InPlaceXor")},
    "PyNumber_Power": "ptr(ptr,ptr,ptr)",
    "PyNumber_InPlacePower": "ptr(ptr,ptr,ptr)",
    "PyNumber_Negative": "ptr(ptr)",
    "PyNumber_Positive": "ptr(ptr)",
    "PyNumber_Invert": "ptr(ptr)",
    "PyLong_FromSsize_t": "ptr(i64)",
    "PyLong_FromLongLong": "ptr(i64)",
    "PyFloat_FromDouble": "ptr(f64)",
    "_PyUnicode_Equal": "i32(ptr,ptr)",
    "PyLong_AsSsize_t": "i64(ptr)",
    "PyLong_AsLong": "i64(ptr)",
    # containers
    "PyTuple_New": "ptr(i64)",
    "PyList_New": "ptr(i64)",
    "PyList_Append": "i32(ptr,ptr)",
    "_PyList_Extend": "ptr(ptr,ptr)",
    "PyList_AsTuple": "ptr(ptr)",
    "PySet_New": "ptr(ptr)",
    "PySet_Add": "i32(ptr,ptr)",
    "_PySet_Update": "i32(ptr,ptr)",
    "_PyDict_NewPresized": "ptr(i64)",
    "PyDict_New": "ptr()",
    "PyDict_SetItem": "i32(ptr,ptr,ptr)",
    "PyDict_DelItem": "i32(ptr,ptr)",
    "PyDict_GetItemWithError": "ptr(ptr,ptr)",
    "PyDict_Update": "i32(ptr,ptr)",
    "_PyDict_MergeEx": "i32(ptr,ptr,i32)",
    "PySequence_Tuple": "ptr(ptr)",
    "PySequence_Check": "i32(ptr)",
    "PySequence_List": "ptr(ptr)",
    "PyIter_Next": "ptr(ptr)",
    "PyIter_Send": "i32(ptr,ptr,ptr)",
    "PySlice_New": "ptr(ptr,ptr,ptr)",
    "_PyUnicode_JoinArray": "ptr(ptr,ptr,i64)",
    "PyUnicode_FromString": "ptr(ptr)",
    "PyUnicode_AsUTF8": "ptr(ptr)",
    "PyTuple_GetItem": "ptr(ptr,i64)",
    "PyTuple_Pack": "ptr(i64,...)",
    "PyObject_Size": "i64(ptr)",
    "PySys_GetObject": "ptr(ptr)",
    # functions and cells
    "PyFunction_New": "ptr(ptr,ptr)",
    "PyCell_New": "ptr(ptr)",
    # imports
    "PyImport_ImportModuleLevelObject": "ptr(ptr,ptr,ptr,ptr,i32)",
    # errors
    "PyErr_Occurred": "ptr()",
    "PyErr_SetObject": "void(ptr,ptr)",
    "PyErr_SetString": "void(ptr,ptr)",
    "PyErr_SetNone": "void(ptr)",
    "PyErr_Format": "ptr(ptr,ptr,...)",
    "PyErr_ExceptionMatches": "i32(ptr)",
    "PyErr_GivenExceptionMatches": "i32(ptr,ptr)",
    "PyErr_Clear": "void()",
    "PyErr_SetImportError": "ptr(ptr,ptr,ptr)",
    "PyErr_Fetch": "void(ptr,ptr,ptr)",
    "PyErr_Restore": "void(ptr,ptr,ptr)",
    "PyErr_NormalizeException": "void(ptr,ptr,ptr)",
    "PyException_SetCause": "void(ptr,ptr)",
    "_PyErr_GetTopmostException": "ptr(ptr)",
    "PyException_GetTraceback": "ptr(ptr)",
    "PyException_SetTraceback": "i32(ptr,ptr)",
    "PyTraceBack_Here": "i32(ptr)",
    "PyErr_GetHandledException": "ptr()",
    "PyErr_NoMemory": "ptr()",
    "_PyObject_LookupSpecial": "ptr(ptr,ptr)",
    "PyObject_CallNoArgs": "ptr(ptr)",
    "_PyObject_GC_New": "ptr(ptr)",
    "PyObject_GC_Track": "void(ptr)",
    # memory
    "PyMem_RawCalloc": "ptr(i64,i64)",
    "PyMem_Calloc": "ptr(i64,i64)",
    # libc and libm, found through the same process-wide lookup: glibc's errno accessor, and the pow()
    # float_pow calls, under a name LLVM does not know (it would rewrite pow(x, 2.0) as x * x)
    "__errno_location": "ptr()",
    "pyjion_libm_pow": "f64(f64,f64)",
}

# Data symbols: the symbol's address *is* the object (types, singletons) or holds a PyObject* (exceptions).
OBJECTS = (
    "_Py_NoneStruct", "_Py_TrueStruct", "_Py_FalseStruct", "_Py_NotImplementedStruct", "_Py_EllipsisObject",
    "PyFloat_Type", "PyLong_Type", "PyBool_Type", "PyTuple_Type", "PyList_Type", "PyDict_Type",
    "PyUnicode_Type", "PySlice_Type", "PyFunction_Type", "PyMethod_Type", "PyCell_Type", "PyType_Type",
    "PyRange_Type", "PyRangeIter_Type", "PyGen_Type", "PyCoro_Type", "PyCFunction_Type", "PyMethodDescr_Type",
    "PyMemberDescr_Type", "PyBaseObject_Type",
    "_PyAsyncGenWrappedValue_Type", "PyListIter_Type", "PyTupleIter_Type", "PyModule_Type",
    "_PyRuntime",
)
EXCEPTION_POINTERS = (
    "PyExc_TypeError", "PyExc_ValueError", "PyExc_NameError", "PyExc_UnboundLocalError", "PyExc_KeyError",
    "PyExc_StopIteration", "PyExc_RecursionError", "PyExc_ImportError", "PyExc_RuntimeError",
    "PyExc_SystemError", "PyExc_AttributeError", "PyExc_BaseException", "PyExc_AssertionError",
    "PyExc_StopAsyncIteration",
)

# Objects CPython makes at start-up and exports no symbol for: compiled code names them by these symbols,
# bound to their addresses in this process, so that its object file holds no address of the process.
RUNTIME_OBJECTS = {"pyjion_builtin_len": builtins.len, "pyjion_list_append": list.append,
                   "pyjion_array_type": array.array}


# Our name -> the symbol bound under it.
RENAMED = {"pyjion_libm_pow": "pow"}


def symbol_address(name: str) -> int:
    """Address of an exported libpython symbol (function or data)."""
    return ctypes.addressof(ctypes.c_char.in_dll(ctypes.pythonapi, RENAMED.get(name, name)))


def bind_symbols(add_symbol) -> None:
    """Register every symbol above with the JIT linker (``llvmlite.binding.add_symbol``)."""
    for name in (*FUNCTIONS, *OBJECTS, *EXCEPTION_POINTERS):
        add_symbol(name, symbol_address(name))
    for name, obj in RUNTIME_OBJECTS.items():
        add_symbol(name, id(obj))
