"""The code cache: machine code by the content of the code object it was compiled from.

Compiled code refers to every object and symbol by name or through the frame (``frame->f_code``,
``co_consts``, ...), never by address, so the object file made for one code object serves any code
object with the same content, in this process or another. The key covers everything the machine code
depends on: the marshalled code object, the optimisation level, which instructions the interpreter had
specialised to which forms (the type feedback's values, versions and addresses of this process, are
not in the code but seeded into its site caches when it is linked), CPython's version, pyjion's own
sources, LLVM's version and the CPU. In memory, a key maps to the loaded code while some code object
runs it, and the last ``RECENT`` loaded stay (so identical code objects, such as the functions of a template
``exec``-ed again and again, share it, without keeping every function ever compiled); on disk, to a file holding the object file and
its IR, checked by a SHA-256 of its contents before LLVM sees it: a damaged or foreign entry is skipped
and compiled afresh.

The cache runs on the compiler thread while the program runs: it calls the file-system functions as
they were when pyjion was imported, not through ``os``, ``pathlib`` or ``tempfile``, whose functions a
program may have replaced meanwhile (test_pathlib patches ``os.mkdir`` with a function that fails when
called more often than the test expects).
"""
from __future__ import annotations

import hashlib
import json
import marshal
import os
import sys
import threading
import weakref
import zlib
from collections import OrderedDict, deque
from itertools import count
from pathlib import Path
from types import CodeType

import llvmlite
import llvmlite.binding as llvm

from .codegen import CodegenError, MachineCode, load

_open, _read, _write, _close, _fstat = os.open, os.read, os.write, os.close, os.fstat
_mkdir, _replace, _unlink, _stat, _utime, _listdir = os.mkdir, os.replace, os.unlink, os.stat, os.utime, os.listdir
_dumps, _loads = json.dumps, json.loads
_temporary_names = count()

MAGIC = b"PYJION-CODE-CACHE 1\n"
SUFFIX = ".pjc"


def _environment() -> bytes:
    package = Path(__file__).resolve().parent.parent
    sources = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        sources.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
    return "\0".join([sys.version, sources.hexdigest(), llvmlite.__version__,
                      ".".join(map(str, llvm.llvm_version_info)), llvm.get_host_cpu_name(),
                      llvm.get_host_cpu_features().flatten()]).encode()


# At import: it reads files, which a program may not let the compiler thread do later (see above).
_ENVIRONMENT = _environment()


def runtime_key(codegen_level: int) -> str:
    """The cache key of the runtime module (hook and support functions): its IR is made from pyjion's
    sources alone (what varies per process, such as addresses, is written into its globals once it is
    linked), so the environment is all it depends on."""
    digest = hashlib.sha256(_ENVIRONMENT)
    digest.update(b"runtime\0" + bytes([codegen_level]))
    return digest.hexdigest()[:40]


def key(code: CodeType, level: int, shape: tuple[tuple[int, str], ...] = ()) -> str | None:
    """The cache key of ``code`` compiled at ``level`` with the feedback ``shape`` (code unit and form of
    each specialised instruction); None when it cannot be marshalled.

    Marshal format 2 writes no back-references, which format 3 and later emit depending on objects'
    reference counts: the same code must give the same key in every process (frozensets are written
    sorted, whatever the string hash seed).
    """
    try:
        body = marshal.dumps(code, 2)
    except ValueError:
        return None
    digest = hashlib.sha256(_ENVIRONMENT)
    digest.update(bytes([level]))
    digest.update(repr(shape).encode())
    digest.update(body)
    return digest.hexdigest()[:40]


class CodeCache:
    """Loaded machine code by key, backed by ``directory`` (None: memory only), whose entries are kept
    under ``max_bytes``: past it, the least recently used (written or loaded) go, down to three quarters."""

    RECENT = 64
    # Hot code is cached too, and every pyjion version and feedback shape has its own entries: a few
    # hundred programs' worth of compiled functions at ~20-60 KB each.
    MAX_BYTES = 512 << 20

    def __init__(self, directory: str | os.PathLike | None = None, max_bytes: int = MAX_BYTES) -> None:
        # Absolute: the program may change its working directory.
        self.directory = os.path.abspath(directory) if directory else None
        self.max_bytes = max_bytes
        self._bytes: int | None = None  # the entries' size, counted at the first write
        # Loaded machine code, weakly. Not a WeakValueDictionary: its callbacks are Python code, which must
        # not run while machine code dies (see runtime/engine.py, _owners). Dead entries are swept whenever
        # the dict has doubled since the last sweep.
        self._loaded: dict[str, weakref.ref[MachineCode]] = {}
        self._sweep_at = self.RECENT
        self._recent: OrderedDict[str, MachineCode] = OrderedDict()
        # What went wrong, for the runtime to log from a program's thread: the cache is used on the
        # compiler thread, which must take no lock (logging's) a thread waiting for it may hold.
        self.problems: deque[str] = deque(maxlen=64)

    def get(self, key: str, function_name: str) -> MachineCode | None:
        ref = self._loaded.get(key)
        found = ref() if ref is not None else None
        if found is not None or self.directory is None:
            if found is not None:
                self._keep(key, found)
            return found
        entry = self._read(key)
        if entry is None:
            return None
        obj, packed_ir, optimizations, fast_selection = entry
        try:
            machine = load(obj, packed_ir, function_name, optimizations, fast_selection)
        except (CodegenError, RuntimeError) as exc:
            self.problems.append(f"code cache entry {key} not loaded: {exc}")
            return None
        self._keep(key, machine)
        return machine

    def put(self, key: str, machine: MachineCode) -> None:
        self._keep(key, machine)
        if self.directory is not None:
            self._write(key, machine)

    def _keep(self, key: str, machine: MachineCode) -> None:
        self._loaded[key] = weakref.ref(machine)
        if len(self._loaded) > self._sweep_at:
            self._loaded = {k: ref for k, ref in self._loaded.items() if ref() is not None}
            self._sweep_at = 2 * max(len(self._loaded), self.RECENT)
        self._recent[key] = machine
        self._recent.move_to_end(key)
        if len(self._recent) > self.RECENT:
            self._recent.popitem(last=False)

    def path(self, key: str) -> str:
        return f"{self.directory}/{key[:2]}/{key}{SUFFIX}"

    def _read(self, key: str) -> tuple[bytes, bytes, int, bool] | None:
        """The object file, packed IR, optimisation flags and instruction selection of an entry."""
        path = self.path(key)
        try:
            data = _read_file(path)
        except OSError:
            return None
        try:
            _utime(path)  # used: the last to be evicted
        except OSError:  # a cache directory shared read-only: the entry serves all the same
            pass
        try:
            if not data.startswith(MAGIC):
                raise ValueError("not a pyjion code cache entry")
            end = data.index(b"\n", len(MAGIC))
            header = _loads(data[len(MAGIC):end])
            body = data[end + 1:]
            obj, packed_ir = body[:header["object_size"]], body[header["object_size"]:]
            if header["key"] != key or hashlib.sha256(obj).hexdigest() != header["object_sha256"]:
                raise ValueError("contents do not match their checksum")
            zlib.decompress(packed_ir).decode()  # damaged if it does not unpack
            return obj, packed_ir, int(header["optimizations"]), bool(header["fast_selection"])
        except (ValueError, KeyError, TypeError, zlib.error, UnicodeDecodeError) as exc:
            self.problems.append(f"code cache entry {key} ignored: {exc}")
            return None

    def _write(self, key: str, machine: MachineCode) -> None:
        header = _dumps({"key": key, "name": machine.name, "optimizations": int(machine.optimizations),
                             "fast_selection": machine.fast_selection,
                             "object_size": len(machine.object),
                             "object_sha256": hashlib.sha256(machine.object).hexdigest()}).encode()
        target = self.path(key)
        # Written aside and renamed: a reader in another process sees the whole entry or none.
        temporary = f"{target}.{os.getpid()}.{threading.get_ident()}.{next(_temporary_names)}.tmp"
        data = MAGIC + header + b"\n" + machine.object + machine.packed_ir
        try:
            _make_directories(target.rpartition("/")[0])
            _write_file(temporary, data)
            _replace(temporary, target)
        except OSError as exc:
            self.problems.append(f"code cache entry {key} not written: {exc}")
            _unlink_quietly(temporary)
            return
        self._bytes = self._bytes + len(data) if self._bytes is not None else sum(size for *_, size in self._entries())
        if self._bytes > self.max_bytes:
            self._evict()

    def _entries(self) -> list[tuple[float, str, int]]:
        """(last use, path, size) of each entry in the directory (other processes' too)."""
        found = []
        try:
            folders = [f"{self.directory}/{name}" for name in _listdir(self.directory)]
        except OSError:
            return found
        for folder in folders:
            try:
                names = [name for name in _listdir(folder) if name.endswith(SUFFIX)]
            except OSError:  # not a folder, or gone
                continue
            for name in names:
                try:
                    stat = _stat(f"{folder}/{name}")
                except OSError:  # evicted by another process meanwhile
                    continue
                found.append((stat.st_mtime, f"{folder}/{name}", stat.st_size))
        return found

    def _evict(self) -> None:
        entries = sorted(self._entries())
        total = sum(size for *_, size in entries)
        for _, path, size in entries:
            if total <= self.max_bytes * 3 // 4:
                break
            _unlink_quietly(path)
            total -= size
        self._bytes = total


def _read_file(path: str) -> bytes:
    fd = _open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        size = _fstat(fd).st_size
        chunks = []
        while size > 0:
            chunk = _read(fd, size)
            if not chunk:
                break
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)
    finally:
        _close(fd)


def _write_file(path: str, data: bytes) -> None:
    fd = _open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[_write(fd, view):]
    finally:
        _close(fd)


def _make_directories(path: str) -> None:
    try:
        _mkdir(path)
    except FileExistsError:
        pass
    except FileNotFoundError:
        parent = path.rpartition("/")[0]
        if not parent:
            raise
        _make_directories(parent)
        _mkdir(path)


def _unlink_quietly(path: str) -> None:
    try:
        _unlink(path)
    except OSError:
        pass
