"""Disassembly of compiled functions, as Pyjion's ``pyjion.dis``: the LLVM IR pyjion generated with the
Python bytecode it came from, and the x86-64 machine code (with capstone, the ``pyjion[dis]`` extra)."""
from __future__ import annotations

import dis as bytecode_dis
import re
import sys
from typing import TextIO

from .api import _code_of, info, il, native, offsets, symbols

_INSTRUCTION_LABEL = re.compile(r"^i(\d+):")
_HEX = re.compile(r"0x[0-9a-fA-F]+")


def _not_compiled(f: object, file: TextIO) -> None:
    jit_info = info(f)
    why = f": {jit_info.reason}" if jit_info.reason else ""
    print(f"; {_code_of(f).co_qualname} is not compiled ({jit_info.compile_result.name}{why})", file=file)


def _bytecode_comments(f: object, include_offsets: bool) -> dict[int, list[str]]:
    """Bytecode offset -> comment lines: the instruction, preceded by its source line when it changes."""
    native_offsets = {bytecode: native_offset for bytecode, native_offset, _ in offsets(f) or ()}
    comments: dict[int, list[str]] = {}
    for ins in bytecode_dis.get_instructions(_code_of(f)):
        lines = []
        if ins.starts_line is not None:
            lines.append(f"; line {ins.starts_line}")
        text = f"; {ins.offset:>4} {ins.opname} {ins.argrepr}".rstrip()
        if include_offsets and ins.offset in native_offsets:
            text += f"   (machine code +{native_offsets[ins.offset]:#x})"
        comments[ins.offset] = lines + [text]
    return comments


def dis(f: object, include_offsets: bool = False, print_pc: bool = True, file: TextIO | None = None) -> None:
    """Print the LLVM IR of compiled ``f``, each instruction's code headed by the Python bytecode.

    ``include_offsets``: add each bytecode instruction's offset into the machine code.
    ``print_pc``: number the IR lines.
    """
    file = file or sys.stdout
    text = il(f)
    if text is None:
        _not_compiled(f, file)
        return
    comments = _bytecode_comments(f, include_offsets)
    number = 0
    for line in text.splitlines():
        label = _INSTRUCTION_LABEL.match(line)
        if label:
            for comment in comments.get(int(label.group(1)), ()):
                print(comment, file=file)
        number += 1
        print(f"{number:>6}  {line}" if print_pc else line, file=file)


def dis_native(f: object, include_offsets: bool = False, print_pc: bool = True, file: TextIO | None = None) -> None:
    """Print the x86-64 machine code of compiled ``f`` (needs capstone: ``pip install 'pyjion[dis]'``).

    Addresses of C API and runtime functions are annotated with their names. ``include_offsets``: head
    each bytecode instruction's machine code with the instruction. ``print_pc``: print each address.
    Coloured with rich when it is installed and ``file`` is a terminal.
    """
    try:
        import capstone
    except ImportError:
        raise ImportError("pyjion.dis.dis_native needs capstone: pip install 'pyjion[dis]'") from None
    file = file or sys.stdout
    machine = native(f)
    if machine is None:
        _not_compiled(f, file)
        return
    code, _, address = machine
    names = symbols(f)
    starts: dict[int, list[str]] = {}
    if include_offsets:
        comments = _bytecode_comments(f, False)
        for bytecode, native_offset, _ in offsets(f):
            starts.setdefault(native_offset, []).extend(comments.get(bytecode, ()))
    decoder = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    lines = []
    for ins in decoder.disasm(code, address):
        lines.extend(starts.get(ins.address - address, ()))
        text = f"{ins.mnemonic} {ins.op_str}".strip()
        called = [names[value] for value in (int(h, 16) for h in _HEX.findall(ins.op_str)) if value in names]
        if called:
            text = f"{text:<40} ; {', '.join(called)}"
        lines.append(f"{ins.address:#x}:  {text}" if print_pc else text)
    _print_assembly("\n".join(lines), file)


def _print_assembly(text: str, file: TextIO) -> None:
    try:
        from rich.console import Console
        from rich.syntax import Syntax
    except ImportError:
        Console = None
    if Console is not None and getattr(file, "isatty", lambda: False)():
        Console(file=file).print(Syntax(text, "nasm", theme="ansi_dark", background_color="default"))
    else:
        print(text, file=file)
