"""Lower one code object to one LLVM function with the frame-evaluator signature.

The function keeps the frame interpreter-compatible (``shared/cpython311-jit-notes.md`` §0): locals live
in ``frame->localsplus``, ``prev_instr`` is stored before anything that can call out, and every exit
restores the thread's C frame and recursion depth. The value stack is a list of SSA values; where
control flow merges, each slot becomes a phi.

An exception raised where the exception table has a handler is unwound natively, as ceval's
``exception_unwind`` does: traceback entry, stack cut to the handler's depth, lasti and the exception
pushed, jump to the handler block. Two exits hand the frame to the interpreter instead:

* the error exit (exception set, no handler here, or tracing on): spills the stack, points
  ``prev_instr`` at the failing instruction and calls ``_PyEval_EvalFrameDefault(ts, frame, 1)``, which
  adds the traceback entry, reports the trace event and unwinds exactly as the interpreter would;
* the deopt exit (no exception): spills the stack, points ``prev_instr`` just before the instruction to
  resume at, and lets the interpreter run the rest of the frame.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import CodeType
from typing import Callable, Iterable

from llvmlite import ir

from ..abi.cpython311 import (CFRAME, CODE, FLOAT, FRAME, FRAME_OWNED_BY_GENERATOR, FRAME_SUSPENDED, FUNCTION,
                              GENERATOR, INTERP, OBJECT, THREAD, TUPLE)
from ..enums import OptimizationFlags
from .analysis import KEEPS_UNBOXED, Kind, StackKinds, bound_locals
from .builder import F64, FRAME_FUNCTION, I8, I16, I32, I64, NULL, PTR, Builder, define_global, i32, i64
from .bytecode import Instruction
from .feedback import Specialisation
from .flow import Block, Handler, StackEffectFault
from ..runtime.support import SIGNATURES

# Instructions that cannot run other code (no call-out, no decref), so prev_instr need not be current.
_NO_CALL_OUT = frozenset({"NOP", "LOAD_FAST", "LOAD_CONST", "PUSH_NULL", "COPY", "SWAP", "PRECALL", "KW_NAMES",
                          "JUMP_FORWARD", "LOAD_CLOSURE", "LOAD_DEREF", "LOAD_ASSERTION_ERROR"})
# Instructions whose only call-out is freeing the value they drop: they store prev_instr on that path
# alone (Lowering.release, Lowering.xdecref), not on every run. A stack holding an unboxed value makes
# them box it first, a call-out like any other, so then they store it up front.
_POSITION_WHEN_FREEING = frozenset({"STORE_FAST", "POP_TOP"})
# At levels 1 and 2 a local or a constant is pushed without a reference of its own (Entry.borrowed,
# OptimizationFlags.BorrowedReferences): the frame's local or the code's constants keep it alive, and
# nothing in compiled code rebinds a local but STORE_FAST and DELETE_FAST. Such a value stays borrowed
# only while no code of the program can run, which could see the reference count differ
# (sys.getrefcount) or rebind the local: through the loads of the operands that follow it, up to one of
# these instructions consuming it (the number of operands, from the top, it may take borrowed). Any
# other instruction first takes a reference to each borrowed value.
_PUSHES_ONLY = frozenset({"NOP", "LOAD_FAST", "LOAD_CONST"})
_BORROWS = {"BINARY_OP": 2, "COMPARE_OP": 2, "BINARY_SUBSCR": 2, "IS_OP": 2, "LOAD_ATTR": 1, "STORE_ATTR": 1,
            "POP_TOP": 1,
            **{f"POP_JUMP_{way}_IF_{test}": 1 for way in ("FORWARD", "BACKWARD")
               for test in ("TRUE", "FALSE", "NONE", "NOT_NONE")}}


def site_cache_name(function_name: str, index: int) -> str:
    """The data symbol of the cache of the site at code unit ``index`` in compiled function ``function_name``."""
    return f"{function_name}_cache_{index}"


@dataclass
class Entry:
    """One value-stack slot: an SSA value (an owned reference unless its kind is NULL) and its kind; or,
    for the result of an arithmetic operation consumed by another (analysis.unboxed_results), no object
    but ``unboxed``, the double or i64 it would hold."""

    value: ir.Value | None
    kind: Kind = Kind.ANY
    unboxed: ir.Value | None = None
    borrowed: bool = False  # no reference owned: see _BORROWS


class Lowering:
    """Emission state for one code object; emitters (``emitters/``) drive it one instruction at a time."""

    def __init__(self, code: CodeType, blocks: dict[int, Block], kinds: StackKinds, module: ir.Module,
                 name: str, emitters: dict[str, Callable[["Lowering", Instruction], None]],
                 handlers: dict[int, Handler] | None = None, resumes: dict[int, int] | None = None,
                 feedback: dict[int, Specialisation] | None = None,
                 unboxed: frozenset[int] = frozenset()) -> None:
        self.code = code
        self.fast_paths = feedback is not None  # None: generic code only (level 0)
        self.feedback = feedback or {}  # what the interpreter specialised, by instruction index
        self.unboxed = unboxed  # operations whose result stays a double or i64 (analysis.unboxed_results)
        self.optimizations = OptimizationFlags(0)  # the feedback-guided fast paths emitted
        self.blocks = blocks
        self.handlers = handlers or {}
        self.resumes = resumes or {}  # generators: prev_instr of a suspended frame -> block to resume at
        self.kinds = kinds
        self.emitters = emitters
        self.nlocalsplus = code.co_nlocals + len(set(code.co_cellvars) - set(code.co_varnames)) + len(
            code.co_freevars)
        self.bound = bound_locals(code, blocks, handlers)  # locals bound before each instruction
        self.function = ir.Function(module, FRAME_FUNCTION, name)
        self.b = Builder(self.function, SIGNATURES)
        self.r = self.b.ir
        self.ts, self.frame, self.throwflag = self.function.args
        self.stack: list[Entry] = []
        self.current: Instruction | None = None
        self.freeing_at: tuple[ir.Value, ir.Value] | None = None  # see _POSITION_WHEN_FREEING
        self.previous: Instruction | None = None  # the one before ``current`` in its block, if any
        self.kwnames: int | None = None  # co_consts index set by KW_NAMES for the next CALL
        self._llvm_blocks: dict[int, ir.Block] = {}
        self._phis: dict[int, list[ir.PhiInstr]] = {}
        self._error_exit: ir.Block | None = None
        self._error_phis: tuple[ir.PhiInstr, ir.PhiInstr] | None = None
        self._deopt_exit: ir.Block | None = None
        self._deopt_phis: tuple[ir.PhiInstr, ir.PhiInstr] | None = None
        self.instruction_blocks: list[tuple[Instruction, ir.Block]] = []
        self._stackmap = ir.Function(module, ir.FunctionType(ir.VoidType(), [I64, I32], var_arg=True),
                                     "llvm.experimental.stackmap")

    # ---- driver -------------------------------------------------------------------------------------
    def lower(self) -> ir.Function:
        self._prologue()
        handler_targets = {handler.target for handler in self.handlers.values()}
        for start, block in self.blocks.items():
            if block.depth is None:
                continue  # unreachable
            self.r.position_at_end(self._llvm_block(start))
            self.stack = [Entry(phi, kind) for phi, kind in zip(self._phis[start], self.kinds.entry[start])]
            if start in handler_targets:
                self.deopt_if_tracing(start)  # a profiler is on: see error()
            self.previous = None
            for ins in block.instructions:
                self._emit(ins)
                self.previous = ins
                if self.b.terminated:
                    break
            if not self.b.terminated:
                self.jump(block.fallthrough)
        return self.function

    def _emit(self, ins: Instruction) -> None:
        self.current = ins
        marker = self.b.block(f"i{ins.index * 2}")
        self.r.branch(marker)
        self.r.position_at_end(marker)
        self.instruction_blocks.append((ins, marker))
        # Records where the instruction's machine code starts (objectcode.stackmap_offsets).
        self.r.call(self._stackmap, [i64(ins.index * 2), i32(0)])
        self.freeing_at = None
        if ins.opname in _POSITION_WHEN_FREEING and all(entry.unboxed is None for entry in self.stack):
            self.freeing_at = (self.frame, self.instruction_pointer(ins.index))
        elif ins.opname not in _NO_CALL_OUT:
            self.set_lasti(ins.index)
        if ins.opname not in _PUSHES_ONLY:
            self._own_borrowed(ins)
        if ins.opname not in KEEPS_UNBOXED:
            self.box_stack()
        self.emitters[ins.opname](self, ins)
        if not self.b.terminated:
            after = self.kinds.after(ins)
            if len(after) != len(self.stack):
                raise StackEffectFault(f"{ins}: emitter left depth {len(self.stack)}, expected {len(after)}")
            for entry, kind in zip(self.stack, after):
                entry.kind = kind

    def _own_borrowed(self, ins: Instruction) -> None:
        """Take a reference to each borrowed value on the stack, but for the operands ``ins`` may take
        borrowed: when all it consumes is borrowed or unboxed (no object whose release could run code
        that sees the others' reference counts)."""
        operands = _BORROWS.get(ins.opname, 0)
        consumed = self.stack[len(self.stack) - operands:] if operands else []
        if not all(entry.borrowed or entry.unboxed is not None for entry in consumed):
            operands = 0
        elif any(entry.borrowed for entry in consumed):
            self.optimizations |= OptimizationFlags.BorrowedReferences
        for position in range(len(self.stack) - operands):
            if self.stack[position].borrowed:
                self.stack[position] = self.owned(self.stack[position])

    def owned(self, entry: Entry) -> Entry:
        """``entry`` holding a reference of its own (a borrowed value's taken)."""
        if not entry.borrowed:
            return entry
        self.b.incref(entry.value)
        return Entry(entry.value, entry.kind)

    def _llvm_block(self, start: int) -> ir.Block:
        found = self._llvm_blocks.get(start)
        if found is None:
            found = self._llvm_blocks[start] = self.b.block(f"b{start * 2}")
            with self.r.goto_block(found):
                self._phis[start] = [self.r.phi(PTR) for _ in range(self.blocks[start].depth)]
        return found

    # ---- frame entry and exits ------------------------------------------------------------------------
    def _prologue(self) -> None:
        b, r = self.b, self.r
        b.position(b.block("entry"))
        if self.resumes:
            # The call that creates a generator runs RETURN_GENERATOR in the interpreter (it needs the
            # hidden _Py_MakeCoro); every resumption of the generator's own frame then comes here.
            created = b.block("create_generator")
            run = b.block("run_generator")
            owned = r.icmp_unsigned("==", b.load(self.frame, FRAME.owner), ir.Constant(I8, FRAME_OWNED_BY_GENERATOR))
            r.cbranch(owned, run, created)
            b.position(created)
            self._interpret(self.throwflag)
            b.position(run)
        self.cframe = b.alloca(ir.ArrayType(I8, CFRAME.size), "cframe")
        caller_cframe = b.load(self.ts, THREAD.cframe)
        self.caller_cframe = caller_cframe
        b.store(self.cframe, CFRAME.use_tracing, b.load(caller_cframe, CFRAME.use_tracing))
        b.store(self.cframe, CFRAME.current_frame, self.frame)
        b.store(self.cframe, CFRAME.previous, caller_cframe)
        b.store(self.frame, FRAME.previous, b.load(caller_cframe, CFRAME.current_frame))
        b.store(self.ts, THREAD.cframe, self.cframe)
        b.store(self.frame, FRAME.is_entry, ir.Constant(I8, 1))
        code = b.load(self.frame, FRAME.f_code)
        self.code_units = b.addr(code, CODE.co_code_adaptive)
        self.consts = b.addr(b.load(code, CODE.co_consts), TUPLE.ob_item)
        self.names = b.addr(b.load(code, CODE.co_names), TUPLE.ob_item)
        self.localsplus_names = b.addr(b.load(code, CODE.co_localsplusnames), TUPLE.ob_item)
        self.localsplus = b.addr(self.frame, FRAME.localsplus)
        self.interp = b.load(self.ts, THREAD.interp)
        with b.if_then(b.enter_recursive_call(self.ts, ""), likely=False):
            # As ceval's exit_unwind: no traceback entry, frame left as it came.
            b.store(self.ts, THREAD.recursion_remaining, r.sub(b.load(self.ts, THREAD.recursion_remaining), i32(1)))
            self._leave()
            r.ret(NULL)
        if self.resumes:
            self._dispatch_resumption()
        else:
            r.branch(self._llvm_block(next(iter(self.blocks))))

    def _dispatch_resumption(self) -> None:
        """Jump to where the suspended generator left off, its spilled value stack back in SSA values."""
        b, r = self.b, self.r
        unknown = b.block("resume_unknown")
        switch = r.switch(self.lasti(), unknown)
        for lasti, start in self.resumes.items():
            entry = b.block(f"resume_{start * 2}")
            switch.add_case(i64(lasti), entry)
            b.position(entry)
            depth = self.blocks[start].depth
            stack = [Entry(self.local(self.nlocalsplus + k)) for k in range(depth)]
            # While the frame runs, its stack lives in SSA values: GC must not see stale slots.
            b.store(self.frame, FRAME.stacktop, i32(self.nlocalsplus))
            self.jump(start, stack)
        b.position(unknown)
        self._leave()
        self._interpret(self.throwflag)

    def _interpret(self, throwflag: ir.Value) -> None:
        """Return what the interpreter makes of the frame from here (a tail call)."""
        b = self.b
        self.r.ret(self.r.call(b.declare("_PyEval_EvalFrameDefault"), [self.ts, self.frame, throwflag], tail=True))

    def _leave(self) -> None:
        """Undo the entry: recursion depth, and the caller's C frame (copying use_tracing back)."""
        b = self.b
        b.leave_recursive_call(self.ts)
        b.store(self.ts, THREAD.cframe, self.caller_cframe)
        b.store(self.caller_cframe, CFRAME.use_tracing, b.load(self.cframe, CFRAME.use_tracing))

    def suspend(self, value: ir.Value) -> None:
        """YIELD_VALUE: spill the stack into the frame, mark the generator suspended, return ``value``."""
        depth = self._spill(self.stack)
        self.b.store(self.frame, FRAME.stacktop, i32(self.nlocalsplus + depth))
        state = self.r.gep(self.frame, [i64(GENERATOR.gi_frame_state.offset - GENERATOR.gi_iframe.offset)],
                           source_etype=I8)
        self.r.store(ir.Constant(I8, FRAME_SUSPENDED), state)
        self._leave()
        self.r.ret(value)

    def return_value(self, value: ir.Value) -> None:
        self.b.store(self.frame, FRAME.stacktop, i32(self.nlocalsplus))
        self._leave()
        self.r.ret(value)

    def _spill(self, entries: Iterable[Entry]) -> int:
        """Store ``entries`` in the frame's stack. An unboxed value is boxed here, where a memory error
        leaves NULL: only the error exit spills them (the interpreter's unwinding skips NULLs); a deopt
        boxes them first (box_stack), checked."""
        depth = 0
        for depth, entry in enumerate(entries, 1):
            value = entry.value if entry.unboxed is None else self.box(entry.unboxed)
            if entry.borrowed:
                self.b.incref(value)
            self.b.store_slot(self.localsplus, self.nlocalsplus + depth - 1, value)
        return depth

    def _interpreter_exit(self, name: str, throwflag: int) -> tuple[ir.Block, ir.PhiInstr, ir.PhiInstr]:
        b, r = self.b, self.r
        block = b.block(name)
        with r.goto_block(block):
            unit = r.phi(I64)
            depth = r.phi(I32)
            self.set_lasti(unit)
            b.store(self.frame, FRAME.stacktop, r.add(depth, i32(self.nlocalsplus)))
            if throwflag:
                self._untraced_entry()
            self._leave()
            self._interpret(i32(throwflag))
        return block, unit, depth

    def _untraced_entry(self) -> None:
        """Keep the interpreter, entered with an exception, from reporting a 'call' event for this frame.

        With a trace function set, the interpreter is entered with tracing off: its ``error`` path still
        reports the 'exception' event (it checks the trace function, not the flag), and that call turns
        tracing back on, so the handler's line events and the 'return' event are the interpreter's own.
        With only a profiler set, nothing would turn it back on: the frame is unwound here instead.
        """
        b, r = self.b, self.r
        with b.if_then(self.tracing(), likely=False):
            profiled = b.block("profile_unwind")
            traced = b.block("trace_unwind")
            r.cbranch(b.is_null(b.load(self.ts, THREAD.c_tracefunc)), profiled, traced)
            b.position(profiled)
            b.call("pyjion_profile_unwind", self.ts, self.frame)
            self._leave()
            r.ret(NULL)
            b.position(traced)
            b.store(self.cframe, CFRAME.use_tracing, ir.Constant(I8, 0))

    def error(self, cleanup: Iterable[Entry] = ()) -> None:
        """Raise from here (an exception is set), releasing ``cleanup`` first: ceval's ``goto error``."""
        for entry in cleanup:
            self.release(entry)
        handler = self.handlers.get(self.current.index)
        if handler is None:
            self._to_error_exit()
            return
        b, r = self.b, self.r
        traced = b.block("traced_error")
        native = b.block("unwind")
        # Only a trace function sees the unwinding (the 'exception' event, the handler's line events);
        # under a profiler alone the handler block hands the frame to the interpreter itself.
        r.cbranch(self.tracing(), traced, native)
        b.position(traced)
        trace_function = b.block("trace_function")
        r.cbranch(b.is_null(b.load(self.ts, THREAD.c_tracefunc)), native, trace_function)
        b.position(trace_function)
        self._to_error_exit()
        b.position(native)
        self.set_lasti(self.current.index)
        b.call("pyjion_traceback_here", self.frame)
        self._unwind(handler, i64(self.current.index))

    def reraise(self) -> None:
        """Unwind the exception set without a new traceback entry: ceval's ``goto exception_unwind``.

        Emitters call this only once tracing is known to be off (they deopt first otherwise).
        """
        handler = self.handlers.get(self.current.index)
        if handler is None:
            for entry in self.stack:
                self.release(entry)
            self.b.store(self.frame, FRAME.stacktop, i32(self.nlocalsplus))
            self._leave()
            self.r.ret(NULL)
            return
        self._unwind(handler, self.lasti())

    def _unwind(self, handler: Handler, lasti: ir.Value) -> None:
        b, r = self.b, self.r
        for entry in self.stack[handler.depth:]:
            self.release(entry)
        stack = self.stack[:handler.depth]
        if handler.lasti:
            make = b.block("push_lasti")
            r.branch(make)
            b.position(make)
            value = b.call("PyLong_FromSsize_t", lasti)
            # As ceval: failing to box lasti unwinds again, now with the MemoryError.
            made = b.block("lasti_made")
            r.cbranch(b.is_null(value), make, made)
            b.position(made)
            stack.append(Entry(value, Kind.INT))
        stack.append(Entry(b.call("pyjion_handler_exception")))
        self.jump(handler.target, stack)

    def _to_error_exit(self) -> None:
        if self._error_exit is None:
            self._error_exit, *phis = self._interpreter_exit("error_exit", 1)
            self._error_phis = tuple(phis)
        depth = self._spill(self.stack)
        unit, depth_phi = self._error_phis
        unit.add_incoming(i64(self.current.index), self.r.block)
        depth_phi.add_incoming(i32(depth), self.r.block)
        self.r.branch(self._error_exit)

    def error_if(self, condition: ir.Value, cleanup: Iterable[Entry] = ()) -> None:
        with self.b.if_then(condition, likely=False):
            self.error(cleanup)

    def error_if_null(self, value: ir.Value, cleanup: Iterable[Entry] = ()) -> None:
        self.error_if(self.b.is_null(value), cleanup)

    def error_if_negative(self, status: ir.Value, cleanup: Iterable[Entry] = ()) -> None:
        self.error_if(self.r.icmp_signed("<", status, ir.Constant(status.type, 0)), cleanup)

    def deopt(self, resume_at: int) -> None:
        """Hand the frame to the interpreter, which resumes at code unit ``resume_at``."""
        if self._deopt_exit is None:
            self._deopt_exit, *phis = self._interpreter_exit("deopt_exit", 0)
            self._deopt_phis = tuple(phis)
        kept = self.stack
        self.stack = list(kept)  # boxed on this path only
        self.box_stack()
        depth = self._spill(self.stack)
        self.stack = kept
        unit, depth_phi = self._deopt_phis
        unit.add_incoming(i64(resume_at - 1), self.r.block)
        depth_phi.add_incoming(i32(depth), self.r.block)
        self.r.branch(self._deopt_exit)

    # ---- stack ---------------------------------------------------------------------------------------
    def push(self, value: ir.Value, kind: Kind = Kind.ANY, borrowed: bool = False) -> None:
        self.stack.append(Entry(value, kind, borrowed=borrowed))

    def pop(self) -> Entry:
        return self.stack.pop()

    def popn(self, n: int) -> list[Entry]:
        """The top ``n`` entries, deepest first."""
        if n == 0:
            return []
        taken = self.stack[-n:]
        del self.stack[-n:]
        return taken

    def peek(self, depth: int) -> Entry:
        """``PEEK(depth)``: 1 is the top of the stack."""
        return self.stack[-depth]

    def release(self, entry: Entry) -> None:
        if entry.kind is Kind.NULL or entry.unboxed is not None or entry.borrowed:
            return
        if entry.kind is Kind.MAYBE_NULL:
            self.b.xdecref(entry.value, self.freeing_at)
        else:
            self.b.decref(entry.value, self.freeing_at)

    def xdecref(self, value: ir.Value) -> None:
        self.b.xdecref(value, self.freeing_at)

    def box(self, unboxed: ir.Value) -> ir.Value:
        """A new float or int object holding a double or an i64 (NULL on a memory error)."""
        return self.b.call("PyFloat_FromDouble", unboxed) if unboxed.type == F64 else self.b.box_int(unboxed)

    def box_stack(self) -> None:
        """Replace each unboxed value on the stack by an object (a memory error raises here)."""
        for position, entry in enumerate(self.stack):
            if entry.unboxed is not None:
                boxed = self.stack[position] = Entry(self.box(entry.unboxed), Kind.MAYBE_NULL)
                self.error_if_null(boxed.value)
                boxed.kind = entry.kind

    def boxed(self, entries: list[Entry]) -> list[Entry]:
        """``entries``, popped and owned by the caller, with each unboxed value boxed into a new object
        and a reference taken to each borrowed one (code may run with them); on a memory error the
        others are released and the error raised."""
        result: list[Entry] = []
        for position, entry in enumerate(entries):
            if entry.unboxed is not None:
                entry = Entry(self.box(entry.unboxed), entry.kind)
                self.error_if_null(entry.value, [*result, *entries[position + 1:]])
            result.append(self.owned(entry))
        return result

    def on_objects(self, entries: list[Entry], use: Callable[[list[ir.Value]], ir.Value]) -> ir.Value:
        """``use(objects)`` with the entries as objects: each unboxed value boxed, and a reference held to
        each borrowed one, for the call only (code it runs sees the counts the interpreter's stack gives)."""
        held = self.boxed(entries)
        result = use([entry.value for entry in held])
        for entry, passed in zip(entries, held):
            if passed is not entry:
                self.release(passed)
        return result

    def unshared_float(self, obj: ir.Value) -> ir.Value:
        """``obj`` is an exact float with a single reference: whoever holds it may overwrite its value
        (no one else can see it change)."""
        b, r = self.b, self.r
        return r.and_(b.is_type(obj, "PyFloat_Type"), r.icmp_signed("==", b.load(obj, OBJECT.ob_refcnt), i64(1)))

    def store_double(self, slot: ir.Value, value: ir.Value, may_be_null: bool = False,
                     cleanup: Iterable[Entry] = ()) -> None:
        """Store an unboxed float in an object slot (a local, a list item): into the float object it
        holds when the slot has the only reference to it (no one can see it change; ``locals()``,
        tracers and aliases hold references), else into a new float, releasing the old object. A loop
        body's float locals and list items are then reused from one iteration to the next."""
        b, r = self.b, self.r
        old = r.load(slot, typ=PTR)
        reuse = b.block("reuse_float")
        allocate = b.block("new_float")
        done = b.block("float_stored")
        present = b.block("slot_filled")
        if may_be_null:
            r.cbranch(b.is_null(old), allocate, present)
        else:
            r.branch(present)
        b.position(present)
        r.cbranch(self.unshared_float(old), reuse, allocate)
        b.position(reuse)
        b.store(old, FLOAT.ob_fval, value)
        r.branch(done)
        b.position(allocate)
        boxed = b.call("PyFloat_FromDouble", value)
        self.error_if_null(boxed, cleanup)
        r.store(boxed, slot)
        if may_be_null:
            b.xdecref(old)
        else:
            b.decref(old)
        r.branch(done)
        b.position(done)

    def call_releasing(self, function: str, args: list[ir.Value], consumed: Iterable[Entry]) -> ir.Value:
        """Call a C-API function, then release the stack entries it consumed (ceval's pattern)."""
        result = self.b.call(function, *args)
        for entry in consumed:
            self.release(entry)
        return result

    def call_helper(self, helper: int, *args: ir.Value) -> ir.Value:
        """A Python helper of ``runtime.helpers`` (up to three arguments): a new reference, or NULL with
        the helper's exception set."""
        padded = [*args, *[self.b.none()] * (3 - len(args))]
        return self.b.call("pyjion_call_helper", i64(helper), *padded)

    def push_result(self, result: ir.Value) -> None:
        """A new reference, or NULL with an exception set."""
        self.error_if_null(result)
        self.push(result)

    # ---- fast paths ----------------------------------------------------------------------------------
    def site_cache(self, ins: Instruction, words: int) -> ir.GlobalVariable:
        """The zeroed cache of ``words`` 64-bit words of the site ``ins`` (runtime/caches.py). Exported
        by name (:func:`site_cache_name`): the driver seeds it from the interpreter's inline cache once
        the machine code is linked, so the object file holds no value of this process."""
        return define_global(self.b.module, ir.ArrayType(I64, words), site_cache_name(self.function.name, ins.index),
                             [0] * words)

    def specialised(self, ins: Instruction, flag: OptimizationFlags, *opnames: str,
                    units_before: int = 0) -> Specialisation | None:
        """The interpreter's specialisation of ``ins`` (or of the instruction ``units_before`` code units
        before it) if it is one of ``opnames``; records ``flag``."""
        found = self.feedback.get(ins.index - units_before)
        if found is None or found.opname not in opnames:
            return None
        self.optimizations |= flag
        return found

    def guarded(self, fast: Callable[[Callable[[ir.Value], None]], tuple[ir.Value, ...]],
                generic: Callable[[], tuple[ir.Value, ...]]) -> tuple[ir.Value, ...]:
        """``fast(bail_if)``, which calls ``bail_if(condition)`` for each of its guards, or ``generic()``
        once a guard fails. Both give the same values (new references, or NULL with an exception set);
        the values of the path taken come back."""
        b, r = self.b, self.r
        slow = b.block("generic")
        done = b.block("guarded_done")

        def bail_if(condition: ir.Value) -> None:
            passed = b.block("guard_passed")
            r.cbranch(condition, slow, passed).set_weights([1, 1000])
            b.position(passed)

        fast_values = fast(bail_if)
        fast_end = r.block
        r.branch(done)
        b.position(slow)
        slow_values = generic()
        slow_end = r.block
        r.branch(done)
        return tuple(b.merge(done, (fast_value, fast_end), (slow_value, slow_end))
                     for fast_value, slow_value in zip(fast_values, slow_values))

    # ---- control flow ----------------------------------------------------------------------------------
    def jump(self, target: int, stack: list[Entry] | None = None) -> None:
        """Branch to the block starting at code unit ``target`` with ``stack`` (default: the current one)."""
        stack = self.stack if stack is None else stack
        block = self._llvm_block(target)
        phis = self._phis[target]
        if any(entry.unboxed is not None for entry in stack):
            # analysis.unboxed_results keeps unboxed values within a block; a handler entered mid-
            # expression would need them boxed on the way.
            raise StackEffectFault(f"{self.current}: unboxed value on the stack jumping to {target * 2}")
        if len(phis) != len(stack):
            raise StackEffectFault(f"{self.current}: jumping to {target * 2} with depth {len(stack)}, "
                                   f"expected {len(phis)}")
        for phi, entry in zip(phis, stack):
            if entry.borrowed:
                self.b.incref(entry.value)
            phi.add_incoming(entry.value, self.r.block)
        self.r.branch(block)

    def branch(self, condition: ir.Value, target: int, stack: list[Entry] | None = None) -> None:
        """If ``condition``: jump to ``target``; otherwise continue here."""
        taken = self.b.block()
        rest = self.b.block()
        self.r.cbranch(condition, taken, rest)
        self.r.position_at_end(taken)
        self.jump(target, stack)
        self.r.position_at_end(rest)

    # ---- frame access -----------------------------------------------------------------------------------
    def set_lasti(self, unit: int | ir.Value) -> None:
        self.b.store(self.frame, FRAME.prev_instr, self.instruction_pointer(unit))

    def instruction_pointer(self, unit: int | ir.Value) -> ir.Value:
        """The address of code unit ``unit``, as ``prev_instr`` holds it."""
        return self.r.gep(self.code_units, [i64(unit) if isinstance(unit, int) else unit], source_etype=I16)

    def lasti(self) -> ir.Value:
        """The code unit ``prev_instr`` names now (RERAISE may have moved it back to the original raise)."""
        r = self.r
        delta = r.sub(r.ptrtoint(self.b.load(self.frame, FRAME.prev_instr), I64), r.ptrtoint(self.code_units, I64))
        return r.ashr(delta, i64(1))

    def const(self, index: int) -> ir.Value:
        return self.b.load_slot(self.consts, index)

    def name(self, index: int) -> ir.Value:
        return self.b.load_slot(self.names, index)

    def local_name(self, index: int) -> ir.Value:
        return self.b.load_slot(self.localsplus_names, index)

    def local(self, index: int) -> ir.Value:
        return self.b.load_slot(self.localsplus, index)

    def set_local(self, index: int, value: ir.Value) -> None:
        self.b.store_slot(self.localsplus, index, value)

    def globals(self) -> ir.Value:
        return self.b.load(self.frame, FRAME.f_globals)

    def builtins(self) -> ir.Value:
        return self.b.load(self.frame, FRAME.f_builtins)

    def function_object(self) -> ir.Value:
        return self.b.load(self.frame, FRAME.f_func)

    def closure(self) -> ir.Value:
        return self.b.load(self.function_object(), FUNCTION.func_closure)

    def bool_object(self, condition: ir.Value) -> ir.Value:
        """New reference to True or False."""
        result = self.r.select(condition, self.b.object("_Py_TrueStruct"), self.b.object("_Py_FalseStruct"))
        self.b.incref(result)
        return result

    # ---- interpreter duties ------------------------------------------------------------------------------
    def check_eval_breaker(self) -> None:
        """Poll the eval breaker (signals, GIL drop requests, async exceptions, pending calls)."""
        b, r = self.b, self.r
        pending = b.load(self.interp, INTERP.eval_breaker, atomic=True)
        with b.if_then(r.icmp_unsigned("!=", pending, i32(0)), likely=False):
            self.error_if_negative(b.call("pyjion_eval_breaker", self.ts))

    def tracing(self) -> ir.Value:
        """sys.settrace/setprofile is active for this frame (a call-out may have switched it on)."""
        return self.r.icmp_unsigned("!=", self.b.load(self.cframe, CFRAME.use_tracing), ir.Constant(I8, 0))

    def deopt_if_tracing(self, resume_at: int) -> None:
        """Let the interpreter trace the rest of the frame, from ``resume_at``."""
        with self.b.if_then(self.tracing(), likely=False):
            self.deopt(resume_at)

