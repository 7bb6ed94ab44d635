"""Pyjion 2.0's public enumerations (same names and values), shared by the compiler and the API."""
from __future__ import annotations

import enum


class CompilationResult(enum.IntEnum):
    NoResult = 0
    Success = 1
    CompilationException = 10
    CompilationJitFailure = 11
    CompilationStackEffectFault = 12
    IncompatibleCompilerFlags = 100
    IncompatibleSize = 101
    IncompatibleOpcode_Yield = 102
    IncompatibleOpcode_WithExcept = 103
    IncompatibleOpcode_With = 104
    IncompatibleOpcode_Unknown = 110
    IncompatibleFrameGlobal = 120


class OptimizationFlags(enum.IntFlag):
    InlineIs = 1
    InlineDecref = 2
    InternRichCompare = 4
    InlineFramePushPop = 8
    KnownStoreSubscr = 16
    KnownBinarySubscr = 32
    InlineIterators = 64
    HashedNames = 128
    BuiltinMethods = 256
    TypeSlotLookups = 512
    FunctionCalls = 1024
    LoadAttr = 2048
    Unboxing = 4096
    IsNone = 8192
    IntegerUnboxingMultiply = 16384
    OptimisticIntegers = 32768
    # pyjion for 3.11: fast paths guided by the interpreter's specialisations (compiler/feedback.py)
    FloatArithmetic = 1 << 16
    IntArithmetic = 1 << 17
    GlobalCache = 1 << 18
    BorrowedReferences = 1 << 19


class PgcStatus(enum.IntEnum):
    Uncompiled = 0
    CompiledWithProbes = 1
    Optimized = 2


class CompileMode(enum.IntEnum):
    Release = 0
    Debug = 1
    ReleaseWithDebugInfo = 2
