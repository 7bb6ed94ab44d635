"""What an object file made for one compiled function says about its machine code.

Each compiled code object is one LLVM module with one function, so the object's code section is that
function. Each bytecode instruction starts with an ``llvm.experimental.stackmap`` marker (no live
values, no bytes of code) whose ID is the instruction's bytecode offset; LLVM records the marker's
offset from the function start in the ``.llvm_stackmaps`` section (format version 3,
https://llvm.org/docs/StackMaps.html).
"""
from __future__ import annotations

import struct

import llvmlite.binding as llvm

STACKMAP_SECTION = ".llvm_stackmaps"


def sections(obj: bytes) -> dict[str, tuple[bytes, bool]]:
    """Section name -> (contents, holds code)."""
    found = {}
    for section in llvm.ObjectFileRef.from_data(obj).sections():
        name = section.name()
        if name:
            found[name.decode() if isinstance(name, bytes) else name] = (section.data(), section.is_text())
    return found


def text_size(obj: bytes) -> int:
    """Bytes of code (JIT code uses the large code model: its code is in ``.ltext``)."""
    return sum(len(data) for data, is_text in sections(obj).values() if is_text)


def stackmap_offsets(obj: bytes) -> list[tuple[int, int]]:
    """(stackmap ID, offset of the marker from the function start), in record order."""
    data = sections(obj).get(STACKMAP_SECTION, (b"", False))[0]
    if not data:
        return []
    version, = struct.unpack_from("<B", data, 0)
    if version != 3:
        raise ValueError(f"stack map version {version}, expected 3")
    functions, constants, records = struct.unpack_from("<III", data, 4)
    at = 16 + 24 * functions + 8 * constants
    found = []
    for _ in range(records):
        ident, offset, _flags, locations = struct.unpack_from("<QIHH", data, at)
        at += 16 + 12 * locations
        at += -at % 8
        _padding, live_outs = struct.unpack_from("<HH", data, at)
        at += 4 + 4 * live_outs
        at += -at % 8
        found.append((ident, offset))
    return found
