"""Functions libpython defines but does not export, found in its ELF symbol table (``.symtab``).

3.11 hides functions a JIT would like to call (``_PyDictKeys_GetVersionForCurrentState``, ...). Builds
that keep ``.symtab`` (pyenv's, a source build) still name them; distributions strip it. Whatever uses
a function from here works without it: :func:`hidden_function` returns None then.
"""
from __future__ import annotations

import ctypes
import functools
import mmap
import struct

_SHT_SYMTAB = 2
_SECTION = struct.Struct("<IIQQQQIIQQ")  # Elf64_Shdr
_SYMBOL = struct.Struct("<IBBHQQ")  # Elf64_Sym
_STT_OBJECT, _STT_FUNC = 1, 2
_ANCHOR = "Py_Initialize"  # exported: its run-time address minus its symbol value is the load base

# The hidden functions pyjion may call, with their C signatures.
HIDDEN: dict[str, str] = {
    # uint32_t (PyDictKeysObject *): the keys' version, assigning the next one if they have none.
    "_PyDictKeys_GetVersionForCurrentState": "i32(ptr)",
    # void (_PyInterpreterFrame *): release a finished frame's references, or hand its locals over to
    # the frame object that outlives it.
    "_PyFrame_Clear": "void(ptr)",
}
# The hidden variables pyjion may use, with their C types.
HIDDEN_DATA: dict[str, str] = {
    # uint64_t: the last PEP 509 dict version handed out (DICT_NEXT_VERSION increments it).
    "_pydict_global_version": "i64",
}


def hidden_function(name: str) -> int | None:
    """Run-time address of the hidden function ``name`` (one of :data:`HIDDEN`), or None if this
    interpreter's binary does not name it."""
    return _symbols().get((name, _STT_FUNC))


def hidden_data(name: str) -> int | None:
    """Run-time address of the hidden variable ``name`` (one of :data:`HIDDEN_DATA`), or None."""
    return _symbols().get((name, _STT_OBJECT))


@functools.cache
def _symbols() -> dict[tuple[str, int], int]:
    """(name, symbol type) -> run-time address of the hidden symbols found."""
    anchor = ctypes.cast(getattr(ctypes.pythonapi, _ANCHOR), ctypes.c_void_p).value
    path = _mapped_file(anchor)
    if path is None:
        return {}
    wanted = {(_ANCHOR, _STT_FUNC), *((name, _STT_FUNC) for name in HIDDEN),
              *((name, _STT_OBJECT) for name in HIDDEN_DATA)}
    try:
        values = _symbol_values(path, wanted)
    except (OSError, ValueError, struct.error):
        return {}
    if (_ANCHOR, _STT_FUNC) not in values:
        return {}
    base = anchor - values.pop((_ANCHOR, _STT_FUNC))
    return {symbol: base + value for symbol, value in values.items()}


def _mapped_file(address: int) -> str | None:
    """The file whose mapping in this process holds ``address``."""
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                fields = line.split(maxsplit=5)
                start, end = (int(x, 16) for x in fields[0].split("-"))
                if start <= address < end and len(fields) == 6 and fields[5].startswith("/"):
                    return fields[5].strip()
    except OSError:
        return None
    return None


def _symbol_values(path: str, wanted: set[tuple[str, int]]) -> dict[tuple[str, int], int]:
    """Symbol values (link-time addresses) of the ``wanted`` (name, symbol type) in the ELF file's
    ``.symtab``."""
    found: dict[tuple[str, int], int] = {}
    with open(path, "rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as elf:
        if elf[:6] != b"\x7fELF\x02\x01":  # 64-bit little-endian only
            return found
        shoff, = struct.unpack_from("<Q", elf, 0x28)
        shentsize, shnum = struct.unpack_from("<HH", elf, 0x3A)
        sections = [_SECTION.unpack_from(elf, shoff + k * shentsize) for k in range(shnum)]
        for section in sections:
            if section[1] != _SHT_SYMTAB:
                continue
            strings = sections[section[6]]
            strings_start, strings_end = strings[4], strings[4] + strings[5]
            start, end = section[4], section[4] + section[5]
            for name, kind in wanted:
                at = elf.find(b"\0" + name.encode() + b"\0", strings_start, strings_end)
                if at < 0:
                    continue
                st_name = struct.pack("<I", at + 1 - strings_start)
                # mmap.find at C speed over the ~100,000 entries; a hit counts at an entry's start only.
                at = elf.find(st_name, start, end)
                while at >= 0:
                    if (at - start) % _SYMBOL.size == 0:
                        _, st_info, _, shndx, value, _ = _SYMBOL.unpack_from(elf, at)
                        if st_info & 0xF == kind and shndx != 0:
                            found[name, kind] = value
                            break
                    at = elf.find(st_name, at + 1, end)
    return found
