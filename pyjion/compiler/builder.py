"""An IR builder that reads like the C it replaces: ``b.load(frame, FRAME.prev_instr)``, ``b.incref(v)``,
``b.call("PyNumber_Add", a, b)``.

It wraps ``llvmlite.ir.IRBuilder``; every C-API function is declared on first use from the signature in
:mod:`pyjion.abi.capi`, so emitters never spell out LLVM types for calls.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

from llvmlite import ir

from ..abi import capi
from ..abi.cpython311 import FRAME, OBJECT, RUNTIME, SMALL_INT_SIZE, THREAD, Field

PTR = ir.PointerType()
I64 = ir.IntType(64)
I32 = ir.IntType(32)
I16 = ir.IntType(16)
I8 = ir.IntType(8)
I1 = ir.IntType(1)
F64 = ir.DoubleType()
VOID = ir.VoidType()
NULL = ir.Constant(PTR, None)
FRAME_FUNCTION = ir.FunctionType(PTR, [PTR, PTR, I32])  # PyObject *(*)(PyThreadState *, _PyInterpreterFrame *, int)

_KINDS = {"ptr": PTR, "i64": I64, "i32": I32, "i16": I16, "i8": I8, "i1": I1, "f64": F64, "void": VOID}


def parse_signature(signature: str) -> ir.FunctionType:
    """``"ptr(ptr,i32)"`` -> the LLVM function type; ``...`` as last argument means C varargs."""
    ret, _, rest = signature.partition("(")
    args = [a for a in rest.rstrip(")").split(",") if a]
    varargs = bool(args) and args[-1] == "..."
    if varargs:
        args.pop()
    return ir.FunctionType(_KINDS[ret], [_KINDS[a] for a in args], var_arg=varargs)


def define_global(module: ir.Module, kind: ir.Type, name: str, initializer: object = None,
                  linkage: str = "") -> ir.GlobalVariable:
    """A global variable addressed through an opaque ``ptr`` (llvmlite would otherwise type-check
    every use against the pointee)."""
    gv = ir.GlobalVariable(module, kind, name)
    gv.type = PTR
    if linkage != "external":
        gv.initializer = ir.Constant(kind, initializer)
    if linkage:
        gv.linkage = linkage
    return gv


def i64(value: int) -> ir.Constant:
    return ir.Constant(I64, value)


def i32(value: int) -> ir.Constant:
    return ir.Constant(I32, value)


class Builder:
    """Emits into one LLVM function; helpers for fields, calls, refcounts and control flow."""

    def __init__(self, function: ir.Function, extra_signatures: dict[str, str] | None = None) -> None:
        self.function = function
        self.module: ir.Module = function.module
        self.ir = ir.IRBuilder()
        self.extra_signatures = extra_signatures or {}

    # ---- blocks -------------------------------------------------------------------------------------
    def block(self, name: str = "") -> ir.Block:
        return self.function.append_basic_block(name)

    def position(self, block: ir.Block) -> None:
        self.ir.position_at_end(block)

    def merge(self, done: ir.Block, *arms: tuple[ir.Value, ir.Block]) -> ir.Value:
        """Continue at ``done`` (every arm already branches there) with the value of the arm taken."""
        self.position(done)
        phi = self.ir.phi(arms[0][0].type)
        for value, block in arms:
            phi.add_incoming(value, block)
        return phi

    @property
    def terminated(self) -> bool:
        return self.ir.block.is_terminated

    @contextlib.contextmanager
    def if_then(self, cond: ir.Value, likely: bool | None = None) -> Iterator[None]:
        with self.ir.if_then(cond, likely=likely):
            yield

    def enter_recursive_call(self, ts: ir.Value, where: str) -> ir.Value:
        """``_Py_EnterRecursiveCallTstate(ts, where)``: take a recursion level; true (an i1) when that went
        past the limit: RecursionError set, the level given back by ``_Py_CheckRecursiveCall``."""
        r = self.ir
        remaining = self.load(ts, THREAD.recursion_remaining)
        self.store(ts, THREAD.recursion_remaining, r.sub(remaining, i32(1)))
        within = r.block
        check, checked = self.block("check_recursion"), self.block("recursion_checked")
        r.cbranch(r.icmp_signed("<=", remaining, i32(0)), check, checked)
        self.position(check)
        failed = r.icmp_signed("!=", self.call("_Py_CheckRecursiveCall", ts, self.cstring(where)), i32(0))
        r.branch(checked)
        return self.merge(checked, (ir.Constant(ir.IntType(1), 0), within), (failed, check))

    def leave_recursive_call(self, ts: ir.Value) -> None:
        """``_Py_LeaveRecursiveCallTstate``: give a recursion level back."""
        self.store(ts, THREAD.recursion_remaining, self.ir.add(self.load(ts, THREAD.recursion_remaining), i32(1)))

    # ---- memory ------------------------------------------------------------------------------------
    def addr(self, base: ir.Value, field: Field | int) -> ir.Value:
        offset = field if isinstance(field, int) else field.offset
        if offset == 0:
            return base
        return self.ir.gep(base, [i64(offset)], source_etype=I8)

    def load(self, base: ir.Value, field: Field, atomic: bool = False) -> ir.Value:
        ptr = self.addr(base, field)
        if atomic:
            return self.ir.load_atomic(ptr, "monotonic", 4, typ=_KINDS[field.kind])
        return self.ir.load(ptr, typ=_KINDS[field.kind])

    def call_pointer(self, pointer: ir.Value, signature: ir.FunctionType, args: list[ir.Value],
                     tail: str | bool = False) -> ir.Value:
        """Call through a function pointer held in an opaque ``ptr``.

        llvmlite reads the callee's type from the value's pointer type, and folds a plain ``bitcast``
        between pointers away, so the cast instruction is built directly.
        """
        from llvmlite.ir import instructions

        typed = instructions.CastInstr(self.ir.block, "bitcast", pointer, signature.as_pointer())
        self.ir._insert(typed)
        return self.ir.call(typed, args, tail=tail)

    def store(self, base: ir.Value, field: Field, value: ir.Value) -> None:
        self.ir.store(value, self.addr(base, field))

    def store_atomic(self, base: ir.Value, field: Field, value: ir.Value) -> None:
        """Monotonic store; llvmlite's own ``store_atomic`` rejects opaque pointers."""
        from llvmlite.ir import instructions

        self.ir._insert(instructions.StoreAtomicInstr(self.ir.block, value, self.addr(base, field), "monotonic", 4))

    def slot(self, array: ir.Value, index: ir.Value | int) -> ir.Value:
        """Address of ``array[index]`` for an array of pointers."""
        idx = i64(index) if isinstance(index, int) else index
        return self.ir.gep(array, [idx], source_etype=PTR)

    def load_slot(self, array: ir.Value, index: ir.Value | int) -> ir.Value:
        return self.ir.load(self.slot(array, index), typ=PTR)

    def store_slot(self, array: ir.Value, index: ir.Value | int, value: ir.Value) -> None:
        self.ir.store(value, self.slot(array, index))

    def alloca(self, kind: ir.Type, name: str = "") -> ir.Value:
        """Stack memory in the entry block (allocated once per call, not per loop iteration)."""
        with self.ir.goto_entry_block():
            if self.ir.block.instructions:
                self.ir.position_before(self.ir.block.instructions[0])
            slot = self.ir.alloca(kind, name=name)
        slot.type = PTR
        return slot

    def alloca_array(self, count: int, kind: ir.Type = PTR, name: str = "") -> ir.Value:
        return self.alloca(ir.ArrayType(kind, max(count, 1)), name)

    # ---- symbols -----------------------------------------------------------------------------------
    def declare(self, name: str) -> ir.Function:
        existing = self.module.globals.get(name)
        if existing is not None:
            return existing
        signature = self.extra_signatures.get(name) or capi.FUNCTIONS[name]
        return ir.Function(self.module, parse_signature(signature), name)

    def call(self, name: str, *args: ir.Value) -> ir.Value:
        return self.ir.call(self.declare(name), list(args))

    def global_var(self, name: str, kind: str = "ptr") -> ir.GlobalVariable:
        """An external data symbol (``@name``), declared on first use."""
        existing = self.module.globals.get(name)
        if existing is not None:
            return existing
        return define_global(self.module, _KINDS[kind], name, linkage="external")

    def object(self, name: str) -> ir.Value:
        """Address of a static object such as ``_Py_NoneStruct`` or ``PyFloat_Type``."""
        return self.global_var(name, "i8")

    def exception(self, name: str) -> ir.Value:
        """Value of a ``PyObject *PyExc_...`` variable."""
        return self.ir.load(self.global_var(name), typ=PTR)

    def cstring(self, text: str) -> ir.Value:
        data = bytearray(text.encode("utf-8") + b"\0")
        name = f".str.{len(self.module.globals)}"
        gv = define_global(self.module, ir.ArrayType(I8, len(data)), name, data, linkage="private")
        gv.global_constant = True
        return gv

    # ---- objects -----------------------------------------------------------------------------------
    def small_int(self, value: int) -> ir.Value:
        """Borrowed reference to one of the interpreter's preallocated ints (-5..256)."""
        assert -5 <= value <= 256
        base = self.object("_PyRuntime")
        return self.ir.gep(base, [ir.Constant(I64, RUNTIME.small_ints.offset + (value + 5) * SMALL_INT_SIZE)],
                           source_etype=I8)

    def box_int(self, value: ir.Value) -> ir.Value:
        """New reference to the int ``value`` (i64): one of the preallocated small ints when it is one,
        without a call; else ``PyLong_FromLongLong`` (NULL on memory error)."""
        r = self.ir
        small = self.block("small_int")
        large = self.block("large_int")
        done = self.block("int_boxed")
        shifted = r.add(value, i64(5))
        r.cbranch(r.icmp_unsigned("<=", shifted, i64(256 + 5)), small, large)
        self.position(small)
        cached = r.gep(self.object("_PyRuntime"),
                       [r.add(r.mul(shifted, i64(SMALL_INT_SIZE)), i64(RUNTIME.small_ints.offset))], source_etype=I8)
        self.incref(cached)
        r.branch(done)
        self.position(large)
        made = self.call("PyLong_FromLongLong", value)
        large_end = r.block
        r.branch(done)
        return self.merge(done, (cached, small), (made, large_end))

    def none(self) -> ir.Value:
        return self.object("_Py_NoneStruct")

    def type_of(self, obj: ir.Value) -> ir.Value:
        return self.load(obj, OBJECT.ob_type)

    def is_type(self, obj: ir.Value, type_symbol: str) -> ir.Value:
        return self.ir.icmp_unsigned("==", self.type_of(obj), self.object(type_symbol))

    def is_null(self, value: ir.Value) -> ir.Value:
        return self.ir.icmp_unsigned("==", value, NULL)

    def incref(self, obj: ir.Value) -> None:
        count = self.load(obj, OBJECT.ob_refcnt)
        self.store(obj, OBJECT.ob_refcnt, self.ir.add(count, i64(1)))

    def xincref(self, obj: ir.Value) -> None:
        with self.if_then(self.ir.icmp_unsigned("!=", obj, NULL)):
            self.incref(obj)

    def new_ref(self, obj: ir.Value) -> ir.Value:
        self.incref(obj)
        return obj

    def decref(self, obj: ir.Value, freeing_at: tuple[ir.Value, ir.Value] | None = None) -> None:
        """``Py_DECREF``. ``freeing_at``: (frame, instruction pointer) to store in ``frame->prev_instr``
        before freeing, for instructions that store it only when they free something."""
        self._refcount_call(obj, nullable=False, freeing_at=freeing_at)

    def xdecref(self, obj: ir.Value, freeing_at: tuple[ir.Value, ir.Value] | None = None) -> None:
        self._refcount_call(obj, nullable=True, freeing_at=freeing_at)

    def xdecref_holding(self, obj: ir.Value, held: ir.Value) -> None:
        """``Py_XDECREF(obj)``, holding a reference to ``held`` while ``obj`` is deallocated: ``held`` is
        borrowed (lowering's Entry.borrowed) where the interpreter would own it, and the finalizers
        deallocation runs must see the count the interpreter gives. Its owner keeps it above zero."""
        with self.if_then(self.ir.icmp_unsigned("!=", obj, NULL)):
            count = self.ir.sub(self.load(obj, OBJECT.ob_refcnt), i64(1))
            self.store(obj, OBJECT.ob_refcnt, count)
            with self.if_then(self.ir.icmp_signed("==", count, i64(0)), likely=False):
                self.incref(held)
                self.call("_Py_Dealloc", obj)
                self.store(held, OBJECT.ob_refcnt, self.ir.sub(self.load(held, OBJECT.ob_refcnt), i64(1)))

    def _refcount_call(self, obj: ir.Value, nullable: bool, freeing_at: tuple[ir.Value, ir.Value] | None) -> None:
        name = ("pyjion.xdecref" if nullable else "pyjion.decref") + ("_at" if freeing_at else "")
        self.ir.call(self._refcount_helper(name, nullable, bool(freeing_at)), [obj, *(freeing_at or ())])

    def _refcount_helper(self, name: str, nullable: bool, positioned: bool) -> ir.Function:
        """``Py_DECREF``/``Py_XDECREF`` as one small always-inline function per module."""
        fn = self.module.globals.get(name)
        if fn is not None:
            return fn
        fn = ir.Function(self.module, ir.FunctionType(VOID, [PTR] * (3 if positioned else 1)), name)
        fn.linkage = "internal"
        fn.attributes.add("alwaysinline")
        b = Builder(fn)
        b.position(b.block("entry"))
        obj = fn.args[0]
        if nullable:
            live = b.block("live")
            done = b.block("done")
            b.ir.cbranch(b.is_null(obj), done, live)
            b.position(live)
        count = b.ir.sub(b.load(obj, OBJECT.ob_refcnt), i64(1))
        b.store(obj, OBJECT.ob_refcnt, count)
        with b.if_then(b.ir.icmp_signed("==", count, i64(0)), likely=False):
            if positioned:
                b.store(fn.args[1], FRAME.prev_instr, fn.args[2])
            b.call("_Py_Dealloc", obj)
        if nullable:
            b.ir.branch(done)
            b.position(done)
        b.ir.ret_void()
        return fn
