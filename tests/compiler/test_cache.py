"""The code cache: keys, a second process loading instead of compiling, damaged entries, sharing."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pyjion
from differential import jit
from pyjion.compiler import cache
from pyjion.runtime.hook import RUNTIME_CODEGEN_LEVEL

PROGRAM = textwrap.dedent("""
    import fractions, json, sys, textwrap
    import pyjion
    pyjion.config(threshold=0)
    pyjion.enable()
    diff = textwrap.wrap("the quick brown fox jumps over the lazy dog " * 12, 25)
    total = sum(fractions.Fraction(1, n) for n in range(1, 30))
    pyjion.disable()
    from pyjion.runtime import jit, state
    machines = [r.compiled for c, r in state.records() if r.compiled]
    print(json.dumps({"result": [diff, str(total)], "compiled": len(machines),
                      "from_cache": sum(m.from_cache for m in machines),
                      "runtime_from_cache": jit.hook()._runtime.from_cache}))
""")


def run(tmp_path: Path, cache_dir: Path) -> dict:
    script = tmp_path / "program.py"
    script.write_text(PROGRAM)
    env = dict(os.environ, PYJION_CACHE_DIR=str(cache_dir))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def entries(cache_dir: Path) -> list[Path]:
    return sorted(cache_dir.rglob("*" + cache.SUFFIX))


def test_key_depends_on_content_level_and_feedback_shape():
    def f(x):
        return x + 1

    def g(x):
        return x + 2

    assert cache.key(f.__code__, 1) == cache.key(f.__code__, 1)
    assert cache.key(f.__code__, 1) != cache.key(f.__code__, 2)
    assert cache.key(f.__code__, 1) != cache.key(g.__code__, 1)
    assert cache.key(f.__code__, 1) != cache.key(f.__code__, 1, ((2, "BINARY_OP_ADD_INT"),))
    assert cache.key(f.__code__.replace(co_consts=(None, object())), 1) is None  # cannot be marshalled


def test_second_run_loads_instead_of_compiling(tmp_path):
    cache_dir = tmp_path / "cache"
    cold = run(tmp_path, cache_dir)
    assert cold["from_cache"] == 0 and cold["compiled"] >= 15 and not cold["runtime_from_cache"]
    assert len(entries(cache_dir)) >= cold["compiled"] - 2
    assert Path(cache.CodeCache(str(cache_dir)).path(cache.runtime_key(RUNTIME_CODEGEN_LEVEL))).exists()
    warm = run(tmp_path, cache_dir)
    assert warm["result"] == cold["result"]
    assert warm["runtime_from_cache"]  # the hook and support functions too: enable() generates nothing
    assert abs(warm["compiled"] - cold["compiled"]) <= 2  # short-lived code objects may be gone already
    assert warm["from_cache"] >= cold["compiled"] - 2  # code made afresh each run (exec'd source) misses


def test_damaged_entries_are_compiled_afresh(tmp_path):
    cache_dir = tmp_path / "cache"
    cold = run(tmp_path, cache_dir)
    files = entries(cache_dir)
    for n, path in enumerate(files):
        data = path.read_bytes()
        if n % 4 == 0:
            path.write_bytes(data[:len(data) // 2])  # truncated
        elif n % 4 == 1:
            middle = len(data) // 2
            path.write_bytes(data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1:])  # a flipped byte
        elif n % 4 == 2:
            path.write_bytes(os.urandom(len(data)))  # garbage
        else:
            path.write_bytes(data.replace(cache.MAGIC, b"PYJION-CODE-CACHE 0\n"))  # another format version
    damaged = run(tmp_path, cache_dir)
    assert damaged["result"] == cold["result"]
    assert damaged["from_cache"] == 0 and not damaged["runtime_from_cache"]
    repaired = run(tmp_path, cache_dir)
    assert repaired["from_cache"] >= cold["compiled"] - 2 and repaired["runtime_from_cache"]


def test_identical_code_objects_share_machine_code(tmp_path):
    source = "def area(w, h):\n    return w * h + 0.5\n"
    before = pyjion.config()
    pyjion.config(cache_dir=str(tmp_path))
    try:
        spaces = [{}, {}]
        with jit():
            for space in spaces:
                exec(source, space)
                assert space["area"](3, 4) == 12.5
        first, second = (pyjion.native(space["area"]) for space in spaces)
        assert first is not None and first[2] == second[2]  # one copy of the machine code
        assert spaces[0]["area"].__code__ is not spaces[1]["area"].__code__
    finally:
        pyjion.config(cache_dir=before["cache_dir"])


def test_cache_off_writes_nothing(tmp_path):
    before = pyjion.config()
    pyjion.config(cache=False, cache_dir=str(tmp_path))
    try:
        namespace = {}
        with jit():
            exec("def volume(a, b, c):\n    return a * b * c\n", namespace)
            assert namespace["volume"](2, 3, 4) == 24
        assert pyjion.info(namespace["volume"]).compiled
        assert entries(tmp_path) == []
    finally:
        pyjion.config(cache=before["cache"], cache_dir=before["cache_dir"])


KEY_PROBE = textwrap.dedent("""
    import sys
    from pyjion.compiler import cache

    def membership(word):
        return word in {"alpha", "beta", "gamma", "delta", "epsilon"}, ("alpha", "beta"), 1.5

    if sys.argv[1:] == ["hold"]:
        held = list(membership.__code__.co_consts)  # other reference counts, as in another program
    print(cache.key(membership.__code__, 1))
""")


def test_key_is_the_same_in_every_process(tmp_path):
    script = tmp_path / "probe.py"
    script.write_text(KEY_PROBE)
    keys = set()
    for seed, args in (("0", []), ("1", []), ("12345", ["hold"])):
        proc = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True,
                              env=dict(os.environ, PYTHONHASHSEED=seed), timeout=120)
        assert proc.returncode == 0, proc.stderr
        keys.add(proc.stdout.strip())
    assert len(keys) == 1 and "None" not in keys


def test_runtime_ir_is_the_same_in_every_process(tmp_path):
    """The runtime's machine code is cached under a key of the environment only: its IR must not
    depend on anything else of the process (an address, under ASLR; the string hash seed)."""
    probe = ("import hashlib\nfrom pyjion.runtime import engine, hook\n"
             "text = hook.runtime_ir(engine.engine(hook.RUNTIME_CODEGEN_LEVEL))\n"
             "print(len(text), hashlib.sha256(text.encode()).hexdigest())\n")
    digests = set()
    for seed in ("1", "2"):
        proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300,
                              env=dict(os.environ, PYTHONHASHSEED=seed))
        assert proc.returncode == 0, proc.stderr
        digests.add(proc.stdout)
    assert len(digests) == 1 and int(digests.pop().split()[0]) > 50_000


def test_frozenset_and_tuple_constants_differ():
    def as_set(x):
        return x in {"a", "b"}

    def as_tuple(x):
        return x in ("a", "b")

    assert cache.key(as_set.__code__, 1) != cache.key(as_tuple.__code__, 1)


FEEDBACK_PROGRAM = textwrap.dedent("""
    import json, math, sys
    import pyjion
    from pyjion.compiler import driver, feedback
    from pyjion.compiler.emitters import CACHE_SEEDS
    from pyjion.compiler.lowering import site_cache_name
    from pyjion.runtime import jit as runtime

    # Other type version tags and dict keys versions than the other run's: the feedback differs.
    padding = [type(f"Padding{k}", (), {"x": k})() for k in range(int(sys.argv[1]))]
    for instance in padding:
        instance.x

    class Point:
        __slots__ = ("x", "y")
        def __init__(self, x, y):
            self.x, self.y = x, y
        def norm(self):
            return math.sqrt(self.x * self.x + self.y * self.y)

    class Box:
        def __init__(self, w):
            self.w = w
        def unit():  # a function called through the class: LOAD_METHOD_CLASS
            return Box(1.0)

    def work(points, box):
        total = 0.0
        for p in points:
            box.w = p.x
            total += p.norm() + box.w + len(points) + math.pi + Box.unit().w
        return total

    points = [Point(float(k), 2.0) for k in range(20)]
    expected = [work(points, Box(1.0)) for _ in range(60)][-1]  # the interpreter specialises work
    pyjion.enable(); pyjion.disable()  # the runtime the compiled code links against
    machine = driver.compile_code(work.__code__, 2, runtime.code_cache())
    found = {k: v for k, v in feedback.read(work.__code__).items() if v.opname in CACHE_SEEDS}
    import ctypes
    seeded = []
    for index, spec in sorted(found.items()):
        words = CACHE_SEEDS[spec.opname](spec)
        address = machine.arena.data_address(site_cache_name(machine.name, index))
        held = list((ctypes.c_uint64 * len(words)).from_address(address)) if address else None
        seeded.append([spec.opname, held == [w & (1 << 64) - 1 for w in words]])
    pyjion.config(threshold=0, background=False)
    pyjion.enable()
    result = work(points, Box(1.0))
    pyjion.disable()
    print(json.dumps({"from_cache": machine.from_cache, "profile_guided": machine.profile_guided,
                      "optimizations": int(machine.optimizations), "seeded": seeded,
                      "same": result == expected, "compiled": bool(pyjion.info(work).compiled)}))
""")


def test_code_compiled_with_feedback_is_cached_and_seeded_with_this_process_feedback(tmp_path):
    """The object file holds no version or address of the process that made it: a second process with
    other versions loads it and its site caches hold its own interpreter's entries."""
    script = tmp_path / "feedback.py"
    script.write_text(FEEDBACK_PROGRAM)
    env = dict(os.environ, PYJION_CACHE_DIR=str(tmp_path / "cache"))
    runs = []
    for padding in ("0", "7"):
        proc = subprocess.run([sys.executable, str(script), padding], capture_output=True, text=True, env=env,
                              timeout=600)
        assert proc.returncode == 0, proc.stderr
        runs.append(json.loads(proc.stdout))
    cold, warm = runs
    assert not cold["from_cache"] and warm["from_cache"]
    assert cold["optimizations"] == warm["optimizations"] != 0
    forms = {form for form, _ in cold["seeded"]}
    assert {"LOAD_GLOBAL_MODULE", "LOAD_GLOBAL_BUILTIN", "LOAD_ATTR_SLOT", "LOAD_METHOD_NO_DICT",
            "STORE_ATTR_INSTANCE_VALUE", "LOAD_ATTR_MODULE", "LOAD_METHOD_CLASS"} <= forms
    for run_ in runs:
        assert run_["profile_guided"] and run_["same"] and run_["compiled"]
        assert all(held for _, held in run_["seeded"]), run_["seeded"]


def test_directory_keeps_under_its_size_limit_evicting_the_least_recently_used(tmp_path):
    from pyjion.compiler import driver
    with jit():  # the runtime compiled code links against
        pass
    codes = [eval(f"lambda x: x + {k}").__code__ for k in range(6)]
    unlimited = cache.CodeCache(tmp_path)
    for k, code in enumerate(codes[:4]):
        driver.compile_code(code, 1, unlimited)
    written = entries(tmp_path)
    assert len(written) == 4
    by_key = {cache.key(code, 1): k for k, code in enumerate(codes)}
    for path in written:
        stamp = 1_000_000 + 1000 * by_key[path.stem]  # written in code order, long ago
        os.utime(path, (stamp, stamp))
    size = max(path.stat().st_size for path in written)
    limited = cache.CodeCache(tmp_path, max_bytes=int(size * 3.5))
    first = cache.key(codes[0], 1)
    assert limited.get(first, driver.symbol_name(codes[0], first)) is not None  # loading counts as a use
    for code in codes[4:]:
        driver.compile_code(code, 1, limited)
    # The fifth entry passes the limit: the least recently used go until at most 3/4 of it (2 entries)
    # remain; the sixth makes 3, under it.
    assert sorted(by_key[path.stem] for path in entries(tmp_path)) == [0, 4, 5]


def test_the_cache_calls_no_file_system_function_the_program_replaced(tmp_path):
    """The compiler thread writes and reads entries while the program runs, maybe with os.mkdir or
    os.open replaced (test_pathlib's spy fails when called more often than the test expects)."""
    from unittest import mock
    calls = []

    def spy(name, real):
        def recording(*args, **kwargs):
            calls.append(name)
            return real(*args, **kwargs)
        return recording

    replaced = ("mkdir", "makedirs", "open", "replace", "rename", "unlink", "stat", "utime", "listdir", "scandir")
    source = "def perimeter(w, h):\n    return 2 * (w + h)\n"
    (tmp_path / "deep").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "deep")
    before = pyjion.config()
    try:
        # The second directory is the first by another name: a cache with nothing in memory reads the disk.
        for directory in (tmp_path / "deep" / "new" / "cache", tmp_path / "link" / "new" / "cache"):
            pyjion.config(cache_dir=str(directory))
            namespace = {}
            with mock.patch.multiple("os", **{name: spy(name, getattr(os, name)) for name in replaced}), \
                    mock.patch("json.dumps", spy("dumps", json.dumps)), mock.patch("json.loads", spy("loads", json.loads)):
                with jit():
                    exec(source, namespace)
                    assert namespace["perimeter"](3, 4) == 14
            assert pyjion.info(namespace["perimeter"]).compiled
            assert calls == []
            assert entries(tmp_path / "deep" / "new" / "cache")
        from pyjion.runtime import state
        assert any(r.compiled.from_cache for c, r in state.records()
                   if r.compiled and c.co_name == "perimeter")
    finally:
        pyjion.config(cache_dir=before["cache_dir"])


def test_an_entry_whose_use_cannot_be_recorded_is_loaded(tmp_path, monkeypatch):
    """A cache directory shared read-only: the time of use cannot be written, the entry serves anyway."""
    from pyjion.compiler import driver
    with jit():  # the runtime compiled code links against
        pass
    code = eval("lambda x: x * 3").__code__
    driver.compile_code(code, 1, cache.CodeCache(tmp_path))

    def refused(path, *args):
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(cache, "_utime", refused)
    key = cache.key(code, 1)
    loaded = cache.CodeCache(tmp_path).get(key, driver.symbol_name(code, key))
    assert loaded is not None and loaded.from_cache
