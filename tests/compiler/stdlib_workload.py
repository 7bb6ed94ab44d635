"""A deterministic workload over pure-Python stdlib modules, for differential testing of the JIT.

Run as ``python stdlib_workload.py`` (plain CPython) or ``python stdlib_workload.py --jit`` (pyjion on,
threshold 0, installed *before* the modules under test are imported so their module bodies, class
bodies and every function they call go through the JIT). Prints one JSON object on stdout:
``{"results": {name: repr-string}, "stats": {...}}``; ``stats`` is empty without ``--jit``.

The C accelerators of the modules under test (``_json``, ``_heapq``, ``_bisect``, ``_datetime``) are
blocked in both modes so that their pure-Python implementations run. Modules pyjion itself imports
(textwrap, string, fnmatch, bisect, ipaddress, urllib.parse, random, ...) are dropped from
``sys.modules`` first so that they are imported afresh, under the JIT when it is on.
"""
from __future__ import annotations

import json as _host_json  # only for printing the report; the json under test is imported afresh
import os
import re as _re
import sys
import types

JIT = "--jit" in sys.argv[1:]

if JIT:
    import pyjion

    pyjion.config(threshold=0, level=1)
    pyjion.enable()

# Leaf modules that are exercised below; dropped so that they are imported (again) now.
MODULES = [
    "textwrap", "difflib", "fractions", "statistics", "colorsys",
    "json", "json.encoder", "json.decoder", "json.scanner",
    "string", "shlex", "fnmatch", "html", "html.entities", "base64", "heapq", "bisect", "calendar",
    "ipaddress", "pprint", "urllib.parse", "random", "datetime", "_pydecimal", "tomllib",
    "tomllib._parser", "tomllib._re", "tomllib._types", "graphlib", "argparse",
]
_dumped = _host_json.dumps  # keep the host json's (C-accelerated) dumps for the report
for _name in list(sys.modules):
    if _name in MODULES or _name.startswith(("json.", "tomllib.")) or _name in ("json", "tomllib"):
        del sys.modules[_name]
for _accel in ("_json", "_heapq", "_bisect", "_datetime"):
    sys.modules[_accel] = None  # type: ignore[assignment]  # ImportError -> pure-Python fallback

import argparse  # noqa: E402
import base64  # noqa: E402
import bisect  # noqa: E402
import calendar  # noqa: E402
import colorsys  # noqa: E402
import datetime  # noqa: E402
import decimal  # noqa: E402  (C-accelerated; only used as input to fractions and statistics)
import difflib  # noqa: E402
import fnmatch  # noqa: E402
import fractions  # noqa: E402
import graphlib  # noqa: E402
import heapq  # noqa: E402
import html  # noqa: E402
import ipaddress  # noqa: E402
import json  # noqa: E402
import json.decoder  # noqa: E402
import json.encoder  # noqa: E402
import json.scanner  # noqa: E402
import pprint  # noqa: E402
import random  # noqa: E402
import shlex  # noqa: E402
import statistics  # noqa: E402
import string  # noqa: E402
import textwrap  # noqa: E402
import tomllib  # noqa: E402
import urllib.parse  # noqa: E402

import _pydecimal  # noqa: E402

from fractions import Fraction  # noqa: E402

RESULTS: dict[str, str] = {}
_ADDRESS = _re.compile(r" at 0x[0-9a-fA-F]+")


def record(name: str, fn, /, *args, **kwargs) -> None:
    """Store repr(fn(*args, **kwargs)), or the exception it raised, under ``name``."""
    if name in RESULTS:
        raise AssertionError(f"duplicate result name {name}")
    try:
        value = fn(*args, **kwargs)
        text = repr(value)
    except Exception as exc:  # noqa: BLE001 - the exception is the result
        text = f"!{type(exc).__name__}: {exc}"
    RESULTS[name] = _ADDRESS.sub(" at 0x?", text)


# ---- textwrap -----------------------------------------------------------------------------------
LOREM = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt "
         "ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation "
         "ullamco laboris-nisi ut aliquip ex ea commodo consequat.  Duis aute irure dolor in "
         "reprehenderit\tin voluptate velit esse cillum dolore eu fugiat nulla pariatur. "
         "Supercalifragilisticexpialidocious-antidisestablishmentarianism!")


def exercise_textwrap() -> None:
    for width in (10, 23, 40, 79):
        record(f"textwrap.wrap.{width}", textwrap.wrap, LOREM, width=width)
        record(f"textwrap.fill.{width}", textwrap.fill, LOREM, width=width, initial_indent="> ",
               subsequent_indent="  ", break_long_words=width > 20, break_on_hyphens=width != 23)
        record(f"textwrap.shorten.{width}", textwrap.shorten, LOREM, width=width, placeholder=" [..]")
    record("textwrap.wrap.maxlines", textwrap.wrap, LOREM, width=30, max_lines=3, tabsize=4,
           expand_tabs=True, fix_sentence_endings=True, drop_whitespace=False)
    block = "    def f(x):\n        return x\n\n\t\n    # done\n"
    record("textwrap.dedent", textwrap.dedent, block)
    record("textwrap.dedent.mixed", textwrap.dedent, "  a\n\tb\n  c\n")
    record("textwrap.indent", textwrap.indent, textwrap.dedent(block), "+ ")
    record("textwrap.indent.pred", textwrap.indent, "a\n\nb\n", ". ", lambda line: True)
    record("textwrap.bad.width", textwrap.wrap, "some text", width=0)
    record("textwrap.bad.placeholder", textwrap.shorten, "hello world", width=3)


# ---- difflib ------------------------------------------------------------------------------------
A_LINES = """one
two
three
four
five
six
seven
eight""".splitlines(keepends=True)
B_LINES = """zero
one
tree
four
five
six and a half
seven
eight
nine""".splitlines(keepends=True)


def exercise_difflib() -> None:
    pairs = [("abcd", "bcde"), ("private Thread currentThread;", "private volatile Thread currentThread;"),
             ("qabxcd", "abycdf"), ("", "abc"), ("aaaaabbbbb" * 3, "ababababab" * 3)]
    for i, (a, b) in enumerate(pairs):
        sm = difflib.SequenceMatcher(None, a, b)
        record(f"difflib.sm.{i}.ratio", sm.ratio)
        record(f"difflib.sm.{i}.quick", sm.quick_ratio)
        record(f"difflib.sm.{i}.real_quick", sm.real_quick_ratio)
        record(f"difflib.sm.{i}.opcodes", sm.get_opcodes)
        record(f"difflib.sm.{i}.blocks", sm.get_matching_blocks)
        record(f"difflib.sm.{i}.longest", sm.find_longest_match, 0, len(a), 0, len(b))
    junk = difflib.SequenceMatcher(lambda c: c == " ", "a b c d e f", "abc d ef")
    record("difflib.sm.junk", junk.get_opcodes)
    record("difflib.sm.grouped", lambda: list(difflib.SequenceMatcher(None, A_LINES, B_LINES)
                                              .get_grouped_opcodes(1)))
    record("difflib.unified", lambda: "".join(difflib.unified_diff(A_LINES, B_LINES, "a.txt", "b.txt",
                                                                   n=2, lineterm="\n")))
    record("difflib.context", lambda: "".join(difflib.context_diff(A_LINES, B_LINES, "a", "b")))
    record("difflib.ndiff", lambda: "".join(difflib.ndiff(A_LINES, B_LINES)))
    record("difflib.ndiff.chars", lambda: list(difflib.ndiff(["abcDefghiJkl\n"], ["abcdefGhijkl\n"])))
    record("difflib.restore", lambda: "".join(difflib.restore(difflib.ndiff(A_LINES, B_LINES), 2)))
    words = ["ape", "apple", "peach", "puppy", "applesauce", "application", "happy", "apply"]
    record("difflib.close", difflib.get_close_matches, "appel", words)
    record("difflib.close.n", difflib.get_close_matches, "appli", words, n=5, cutoff=0.3)
    record("difflib.close.bad", difflib.get_close_matches, "x", words, n=0)
    record("difflib.html", lambda: difflib.HtmlDiff(wrapcolumn=20).make_table(
        A_LINES[:4], B_LINES[:4], context=True, numlines=1).count("<td"))


# ---- fractions ----------------------------------------------------------------------------------
def exercise_fractions() -> None:
    a, b = Fraction(3, 4), Fraction(-5, 6)
    record("fractions.ops", lambda: [a + b, a - b, a * b, a / b, a // b, a % b, divmod(a, b), -a,
                                     abs(b), a ** 3, a ** -2, b ** 0, 2 ** Fraction(1, 2),
                                     Fraction(4, 9) ** Fraction(1, 2)])
    record("fractions.mixed", lambda: [a + 1, 1 - a, a * 2.5, 3 / a, a + 0.25, a == 0.75, a < 1,
                                       b > -1.0, a * (1 + 1j), round(Fraction(7, 2)),
                                       round(Fraction(5, 2)), round(Fraction(22, 7), 3)])
    record("fractions.ctor", lambda: [Fraction("3/7"), Fraction(" -1.25e-2 "), Fraction(1.1),
                                      Fraction("10"), Fraction(decimal.Decimal("0.3")),
                                      Fraction(Fraction(1, 3), Fraction(2, 9)), Fraction(-8, -12)])
    record("fractions.from_float", lambda: [Fraction.from_float(0.1), Fraction.from_float(-2.5),
                                            Fraction.from_decimal(decimal.Decimal("1.75"))])
    record("fractions.limit", lambda: [Fraction("3.141592653589793").limit_denominator(d)
                                       for d in (1, 7, 100, 1000, 10 ** 6)])
    record("fractions.limit.neg", lambda: Fraction(-1.1).limit_denominator(10))
    record("fractions.compare", lambda: sorted([Fraction(1, 3), Fraction(1, 4), 0.3, 1, Fraction(2, 7)]))
    record("fractions.misc", lambda: [a.numerator, b.denominator, a.as_integer_ratio(), float(b),
                                      int(b), hash(Fraction(1, 2)) == hash(0.5), str(b), bool(Fraction(0)),
                                      math_floor_ceil(b), a.is_integer() if hasattr(a, "is_integer") else None])
    total = Fraction(0)
    for k in range(1, 30):
        total += Fraction(1, k * (k + 1))
    record("fractions.sum", lambda: total)
    record("fractions.bad.zero", Fraction, 1, 0)
    record("fractions.bad.str", Fraction, "1/x")
    record("fractions.bad.type", Fraction, [1])
    record("fractions.bad.limit", Fraction(1, 3).limit_denominator, 0)
    record("fractions.bad.nan", Fraction.from_float, float("nan"))


def math_floor_ceil(x):
    import math
    return math.floor(x), math.ceil(x), math.trunc(x)


# ---- statistics ---------------------------------------------------------------------------------
DATA = [2.75, 1.75, 1.25, 0.25, 0.5, 1.25, 3.5, 4.0, 2.0, 1.25]
INTS = [1, 3, 3, 4, 7, 8, 8, 8, 10, 12, 15]


def exercise_statistics() -> None:
    st = statistics
    for label, data in (("f", DATA), ("i", INTS), ("q", [Fraction(1, 3), Fraction(2, 5), Fraction(7, 4)]),
                        ("d", [decimal.Decimal("0.5"), decimal.Decimal("1.25")])):
        for fn in (st.mean, st.median, st.median_low, st.median_high, st.variance, st.stdev,
                   st.pvariance, st.pstdev):
            record(f"statistics.{label}.{fn.__name__}", fn, data)
    record("statistics.fmean", st.fmean, DATA)
    record("statistics.fmean.w", st.fmean, DATA, weights=range(1, 11))
    record("statistics.geometric_mean", st.geometric_mean, INTS)
    record("statistics.harmonic_mean", st.harmonic_mean, INTS)
    record("statistics.harmonic_mean.w", st.harmonic_mean, [40, 60], weights=[5, 30])
    record("statistics.median_grouped", st.median_grouped, INTS, 2)
    record("statistics.mode", st.mode, INTS)
    record("statistics.mode.str", st.mode, "abracadabra")
    record("statistics.multimode", st.multimode, "aabbbbccddddeeffffgg")
    record("statistics.quantiles", st.quantiles, INTS, n=4)
    record("statistics.quantiles.incl", st.quantiles, DATA, n=10, method="inclusive")
    record("statistics.correlation", st.correlation, INTS, list(range(11)))
    record("statistics.covariance", st.covariance, INTS, list(range(11)))
    record("statistics.linreg", st.linear_regression, list(range(11)), INTS)
    nd = st.NormalDist(10, 2.5)
    other = st.NormalDist.from_samples(DATA)
    record("statistics.nd", lambda: [nd, other, nd + 3, nd * 2, nd - other, nd + other, -nd, nd / 4,
                                     nd == st.NormalDist(10, 2.5)])
    record("statistics.nd.pdf", lambda: [nd.pdf(x) for x in (5, 10, 12.5)])
    record("statistics.nd.cdf", lambda: [nd.cdf(x) for x in (5, 10, 12.5)])
    record("statistics.nd.inv_cdf", lambda: [nd.inv_cdf(p) for p in (0.01, 0.25, 0.5, 0.975)])
    record("statistics.nd.quantiles", nd.quantiles, 5)
    record("statistics.nd.overlap", nd.overlap, other)
    record("statistics.nd.zscore", nd.zscore, 14.0)
    record("statistics.nd.props", lambda: (nd.mean, nd.median, nd.mode, nd.stdev, nd.variance))
    record("statistics.nd.samples", nd.samples, 4, seed=42)
    record("statistics.bad.mean", st.mean, [])
    record("statistics.bad.variance", st.variance, [1])
    record("statistics.bad.mode", st.mode, [])
    record("statistics.bad.geo", st.geometric_mean, [1, -1])
    record("statistics.bad.nd", st.NormalDist, 0, -1)
    record("statistics.bad.inv_cdf", nd.inv_cdf, 1.5)
    record("statistics.bad.type", st.mean, ["a", "b"])


# ---- colorsys -----------------------------------------------------------------------------------
def exercise_colorsys() -> None:
    grid = [i / 4 for i in range(5)]
    out = []
    worst = 0.0
    for r in grid:
        for g in grid:
            for b in grid:
                rgb = (r, g, b)
                conversions = (colorsys.rgb_to_yiq(*rgb), colorsys.rgb_to_hls(*rgb), colorsys.rgb_to_hsv(*rgb))
                back = (colorsys.yiq_to_rgb(*conversions[0]), colorsys.hls_to_rgb(*conversions[1]),
                        colorsys.hsv_to_rgb(*conversions[2]))
                for trip in back:
                    worst = max(worst, max(abs(x - y) for x, y in zip(trip, rgb)))
                out.append((conversions, back))
    record("colorsys.grid", lambda: out)
    record("colorsys.worst", lambda: worst)
    record("colorsys.hls.edge", lambda: [colorsys.hls_to_rgb(h / 6, 0.5, 1.0) for h in range(7)])
    record("colorsys.hsv.edge", lambda: [colorsys.hsv_to_rgb(h / 6, 1.0, 1.0) for h in range(7)])


# ---- json (pure-Python encoder, decoder and scanner) --------------------------------------------
class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y


class PointEncoder(json.JSONEncoder):
    def default(self, o):
        if isinstance(o, Point):
            return {"__point__": [o.x, o.y]}
        return super().default(o)


def point_hook(d):
    if "__point__" in d:
        return Point(*d["__point__"])
    return d


DOC = {
    "name": "pyjion", "version": [2, 0, 1], "ok": True, "nothing": None, "pi": 3.141592653589793,
    "tiny": 1e-300, "big": 12345678901234567890123, "neg": -0.0, "exp": 6.02e23,
    "unicode": "h\u00e9llo w\u00f6rld \u2603 \U0001f600 \"quoted\" back\\slash \t tab \n nl \x01",
    "nested": {"list": [1, [2, [3, [4, {}]]], [], {"k": []}], "b": {"z": 1, "a": 2, "m": {"x": [None]}}},
    "floats": [0.1, 0.2, 0.30000000000000004, 1.0, -1.5, 2.5e-8, 1e16],
    "keys": {1: "int key", 2.5: "float key", True: "bool key", None: "none key"},
}


def exercise_json() -> None:
    record("json.pure", lambda: (json.encoder.c_make_encoder, json.decoder.c_scanstring,
                                 json.scanner.make_scanner is json.scanner.py_make_scanner,
                                 json.decoder.scanstring is json.decoder.py_scanstring,
                                 json.encoder.encode_basestring_ascii is json.encoder.py_encode_basestring_ascii))
    record("json.dumps", json.dumps, DOC)
    record("json.dumps.indent", json.dumps, DOC, indent=2, sort_keys=False, default=str)
    record("json.dumps.sorted", lambda: json.dumps({k: v for k, v in DOC.items() if k != "keys"},
                                                   indent="\t", sort_keys=True))
    record("json.dumps.compact", json.dumps, DOC, separators=(",", ":"), ensure_ascii=False)
    record("json.dumps.special", json.dumps, [float("inf"), float("-inf"), float("nan")])
    record("json.dumps.skipkeys", json.dumps, {(1, 2): 3, "a": 4}, skipkeys=True)
    enc = json.JSONEncoder(indent=1, sort_keys=True, ensure_ascii=True)
    record("json.iterencode", lambda: list(enc.iterencode({"b": [1, 2, {"c": "\u20ac"}], "a": 1.5})))
    record("json.custom", json.dumps, {"p": Point(1, 2), "ps": [Point(3, 4)]}, cls=PointEncoder, indent=3)
    text = json.dumps(DOC, indent=4)
    back = json.loads(text)
    record("json.roundtrip", lambda: back)
    record("json.roundtrip.eq", lambda: json.dumps(back, sort_keys=True) == json.dumps(json.loads(json.dumps(
        back, sort_keys=True)), sort_keys=True))
    record("json.loads.escapes", json.loads, r'"\u00e9\ud83d\ude00\n\t\"\\\/\b\f\r"')
    record("json.loads.numbers", json.loads, "[0, -0, 1.5, -2e10, 3E-3, 123456789012345678901234567890, "
                                             "NaN, Infinity, -Infinity]")
    record("json.loads.hooks", lambda: [(p.x, p.y) if isinstance(p, Point) else p for p in json.loads(
        '[{"__point__": [5, 6]}, {"q": 1}]', object_hook=point_hook)])
    record("json.loads.pairs", json.loads, '{"a": 1, "a": 2, "b": [true, false, null]}',
           object_pairs_hook=list)
    record("json.loads.parse", json.loads, '{"x": 1.25, "y": 10, "z": "s"}', parse_float=Fraction,
           parse_int=lambda s: int(s) * 2, parse_constant=str)
    dec = json.JSONDecoder(strict=False)
    record("json.raw_decode", dec.raw_decode, '{"tab": "a\tb"} trailing')
    record("json.bad.brace", json.loads, "{bad")
    record("json.bad.trailing", json.loads, "[1, 2,]")
    record("json.bad.extra", json.loads, '{"a": 1} x')
    record("json.bad.control", json.loads, '"a\tb"')
    record("json.bad.escape", json.loads, r'"\x"')
    record("json.bad.unterminated", json.loads, '"abc')
    record("json.bad.empty", json.loads, "")
    record("json.bad.circular", lambda: json.dumps(_circular()))
    record("json.bad.type", json.dumps, {"s": {1, 2}})
    record("json.bad.nan", json.dumps, [float("nan")], allow_nan=False)


def _circular():
    x: list = []
    x.append(x)
    return x


# ---- string, shlex, fnmatch, html, base64 -------------------------------------------------------
def exercise_text_misc() -> None:
    t = string.Template("$who likes ${what}; $$5 for $who")
    record("string.template", t.substitute, who="tim", what="kung pao")
    record("string.template.safe", t.safe_substitute, {"who": "ann"})
    record("string.template.ids", t.get_identifiers)
    record("string.template.valid", t.is_valid)
    record("string.template.bad", t.substitute, who="x")
    record("string.template.invalid", string.Template("$1 bad").substitute, {})

    class Percent(string.Template):
        delimiter = "%"
    record("string.template.sub", Percent("%x and %{y}").substitute, x=1, y=2)
    fmt = string.Formatter()
    record("string.formatter", fmt.format, "{0:>8}|{name!r:^10}|{1[0]}|{x.real:.3f}", "a", [9], name="n", x=2.5)
    record("string.capwords", string.capwords, "  hello   wORLD  of python ")
    for i, s in enumerate(["a b 'c d' \"e f\" g\\ h", "cmd --opt='x y' # comment", "a 'unterminated",
                           "x=\"$HOME\" y=\\\"z"]):
        record(f"shlex.split.{i}", shlex.split, s, comments=True)
    record("shlex.join", shlex.join, ["echo", "it's", "a b", "", "$x"])
    record("shlex.quote", lambda: [shlex.quote(s) for s in ("", "safe", "has space", "it's")])
    lex = shlex.shlex("a=b, c = (d + 'e f')", posix=True, punctuation_chars=True)
    record("shlex.tokens", lambda: list(lex))
    names = ["a.py", "b.txt", "ab.py", "x/y.py", "README", "test_1.py", "[x].py", "a.PY"]
    for pat in ("*.py", "?.py", "[ab]*", "[!a]*", "test_[0-9].py", "[[]x].py", "*", "*.[pP][yY]"):
        record(f"fnmatch.filter.{pat}", fnmatch.filter, names, pat)
        record(f"fnmatch.translate.{pat}", fnmatch.translate, pat)
    record("fnmatch.case", lambda: [fnmatch.fnmatchcase("a.PY", "*.py"), fnmatch.fnmatch("A.py", "a.py")])
    raw = "<a href=\"x?y=1&z='2'\">Caf\u00e9 & \"bar\"</a>"
    record("html.escape", html.escape, raw)
    record("html.escape.noquote", html.escape, raw, quote=False)
    record("html.unescape", html.unescape, "&lt;p&gt;&amp;amp; &eacute;&#233;&#xE9;&notit; &copy &#0; "
                                           "&#x110000; &#128512; &nosuch; &AMP;&gt")
    data = bytes(range(0, 256, 7)) + b"hello world"
    record("base64.b32", lambda: (base64.b32encode(data), base64.b32decode(base64.b32encode(data))))
    record("base64.b32hex", lambda: (base64.b32hexencode(b"abc"), base64.b32hexdecode(b"C5H66===")))
    record("base64.b32.casefold", base64.b32decode, b"mfrgg===", casefold=True)
    record("base64.b85", lambda: (base64.b85encode(data), base64.b85decode(base64.b85encode(data))))
    record("base64.a85", lambda: (base64.a85encode(data, wrapcol=20, adobe=True),
                                  base64.a85decode(base64.a85encode(data, adobe=True), adobe=True),
                                  base64.a85encode(b"\0\0\0\0    ", foldspaces=True)))
    record("base64.b16", lambda: (base64.b16encode(data[:8]), base64.b16decode(b"0A1B", casefold=False)))
    record("base64.bad.b32", base64.b32decode, b"abc")
    record("base64.bad.b85", base64.b85decode, b"~~~~~")
    record("base64.bad.a85", base64.a85decode, b"<~abc")


# ---- heapq, bisect, random, graphlib ------------------------------------------------------------
def exercise_algorithms() -> None:
    rng = random.Random(1234)
    values = [rng.randrange(1000) for _ in range(200)]
    record("random.values", lambda: values[:20])
    record("random.misc", lambda: [rng.choice("abcdef"), rng.sample(range(100), 5), rng.uniform(1, 2),
                                   rng.randint(-5, 5), rng.choices("xyz", weights=[1, 2, 3], k=6),
                                   rng.gauss(0, 1), rng.triangular(0, 10, 3), rng.getrandbits(40)])
    shuffled = list(range(20))
    rng.shuffle(shuffled)
    record("random.shuffle", lambda: shuffled)
    record("heapq.pure", lambda: heapq.heappush.__module__)
    h: list = []
    for v in values:
        heapq.heappush(h, v)
    popped = [heapq.heappop(h) for _ in range(50)]
    record("heapq.pop", lambda: popped)
    heapq.heapify(values_copy := list(values))
    record("heapq.heapify", lambda: values_copy[:30])
    record("heapq.pushpop", lambda: [heapq.heappushpop(values_copy, 500), heapq.heapreplace(values_copy, 1)])
    record("heapq.nlargest", heapq.nlargest, 7, values)
    record("heapq.nsmallest.key", heapq.nsmallest, 7, values, key=lambda v: (v % 13, v))
    record("heapq.merge", lambda: list(heapq.merge(sorted(values[:10]), sorted(values[10:20]), [5, 500])))
    record("heapq.merge.rev", lambda: list(heapq.merge([9, 5, 1], [8, 3], key=lambda x: x, reverse=True)))
    record("heapq.bad", heapq.heappop, [])
    record("bisect.pure", lambda: bisect.bisect_left.__module__)
    srt = sorted(values)
    record("bisect.search", lambda: [(bisect.bisect_left(srt, x), bisect.bisect_right(srt, x))
                                     for x in (-1, 0, 500, srt[37], 999, 1000)])
    ins: list = []
    for v in values[:40]:
        bisect.insort(ins, v)
    bisect.insort_left(ins, 77, lo=0)
    record("bisect.insort", lambda: ins)
    record("bisect.key", lambda: bisect.bisect(["aa", "b", "cccc"], 2, key=len))
    record("bisect.bad", bisect.bisect_left, [1, 2], 1, -1)
    deps = {"d": {"b", "c"}, "b": {"a"}, "c": {"a"}, "e": {"d", "a"}, "a": set()}
    ts = graphlib.TopologicalSorter({k: sorted(v) for k, v in deps.items()})
    record("graphlib.order", lambda: list(ts.static_order()))
    record("graphlib.cycle", lambda: list(graphlib.TopologicalSorter({"a": ["b"], "b": ["a"]}).static_order()))


# ---- calendar, datetime, ipaddress, urllib.parse, pprint ---------------------------------------
def exercise_dates_net() -> None:
    tc = calendar.TextCalendar(firstweekday=6)
    record("calendar.month", tc.formatmonth, 2024, 2)
    record("calendar.year", lambda: calendar.TextCalendar().formatyear(2023, w=2, l=1, c=4, m=4))
    record("calendar.html", lambda: calendar.HTMLCalendar().formatmonth(2025, 12).count("<td"))
    record("calendar.misc", lambda: [calendar.isleap(1900), calendar.leapdays(1900, 2100),
                                     calendar.weekday(2000, 1, 1), calendar.monthrange(2024, 2),
                                     calendar.timegm((2020, 5, 17, 12, 0, 0)), calendar.monthcalendar(2021, 8)])
    record("calendar.bad", calendar.monthrange, 2020, 13)
    record("datetime.pure", lambda: hasattr(datetime, "_ymd2ord"))  # deleted when _datetime is used
    d = datetime.datetime(2024, 2, 28, 23, 59, 30, 123456)
    tz = datetime.timezone(datetime.timedelta(hours=5, minutes=30), "IST")
    record("datetime.arith", lambda: [d + datetime.timedelta(days=1, seconds=45), d - datetime.datetime(2000, 1, 1),
                                      (d - datetime.timedelta(weeks=9)).isoformat(), d.replace(tzinfo=tz).isoformat(),
                                      d.replace(tzinfo=tz).astimezone(datetime.timezone.utc),
                                      datetime.timedelta(days=-1, seconds=5) * 3 / 7])
    record("datetime.fmt", lambda: [d.strftime("%Y-%m-%d %H:%M:%S.%f %a %j"), d.isocalendar(), d.timetuple(),
                                    datetime.date(2023, 1, 1).isoweekday(), d.ctime(), d.toordinal(),
                                    datetime.date.fromordinal(730000), str(datetime.time(1, 2, 3, 4))])
    record("datetime.parse", lambda: [datetime.datetime.fromisoformat("2011-11-04T00:05:23+04:00"),
                                      datetime.date.fromisoformat("2019-12-04"),
                                      datetime.datetime.strptime("31/01/22 23:59", "%d/%m/%y %H:%M")])
    record("datetime.bad", datetime.date, 2023, 2, 29)
    record("datetime.bad.iso", datetime.datetime.fromisoformat, "2011-13-04")
    nets = ["192.168.0.0/22", "10.0.0.1/8", "2001:db8::/120", "::ffff:1.2.3.4/128"]
    for n in nets:
        net = ipaddress.ip_network(n, strict=False)
        record(f"ipaddress.net.{n}", lambda: [net, net.num_addresses, net.netmask, net.hostmask,
                                             net.broadcast_address, net.is_private, net.is_global,
                                             list(net.subnets(prefixlen_diff=2))[:3], net.supernet(),
                                             net.with_prefixlen, net.compressed, net.exploded])
    record("ipaddress.addr", lambda: [ipaddress.ip_address("10.1.2.3") + 300, ipaddress.ip_address(3232235777),
                                      ipaddress.ip_address("fe80::1%eth0"), ipaddress.ip_address("::1").is_loopback,
                                      ipaddress.IPv6Address("2001:db8::1").exploded,
                                      ipaddress.IPv4Address("127.0.0.1").reverse_pointer,
                                      ipaddress.IPv6Address("::ffff:1.2.3.4").ipv4_mapped,
                                      sorted([ipaddress.ip_address("10.0.0.2"), ipaddress.ip_address("9.0.0.1")])])
    record("ipaddress.collapse", lambda: list(ipaddress.collapse_addresses(
        [ipaddress.ip_network(f"10.0.{i}.0/24") for i in range(8)])))
    record("ipaddress.summarize", lambda: list(ipaddress.summarize_address_range(
        ipaddress.IPv4Address("10.0.0.5"), ipaddress.IPv4Address("10.0.1.200"))))
    record("ipaddress.exclude", lambda: list(ipaddress.ip_network("10.0.0.0/24").address_exclude(
        ipaddress.ip_network("10.0.0.64/28"))))
    record("ipaddress.interface", lambda: [ipaddress.ip_interface("10.1.1.1/255.255.0.0"),
                                           ipaddress.ip_interface("2001:db8::5/64").network])
    record("ipaddress.bad.addr", ipaddress.ip_address, "256.1.1.1")
    record("ipaddress.bad.net", ipaddress.ip_network, "10.0.0.1/24")
    record("ipaddress.bad.v6", ipaddress.IPv6Address, "1::2::3")
    urls = ["https://user:pw@example.com:8443/a/b;p?q=1&r=%20x&q=2#frag",
            "//netloc/only", "mailto:someone@example.com", "/rel/../path/./x?", "http://[::1]:80/"]
    for i, u in enumerate(urls):
        record(f"urllib.urlsplit.{i}", lambda: (urllib.parse.urlsplit(u), urllib.parse.urlparse(u)))
        parts = urllib.parse.urlsplit(u)
        record(f"urllib.props.{i}", lambda: (parts.hostname, parts.port, parts.username, parts.geturl()))
    record("urllib.join", lambda: [urllib.parse.urljoin("http://a/b/c/d;p?q", r)
                                   for r in ("g", "./g", "../g", "../../../g", "//g", "?y", "#s", "g?y/./x")])
    record("urllib.qs", lambda: (urllib.parse.parse_qs("a=1&b=2&a=3&c=&d=%E2%82%AC", keep_blank_values=True),
                                 urllib.parse.parse_qsl("x=1;y=2&z=a+b", separator="&")))
    record("urllib.encode", urllib.parse.urlencode, [("a", "x y"), ("b", "\u20ac/&"), ("c", [1, 2])], doseq=True)
    record("urllib.quote", lambda: [urllib.parse.quote("a b/c?d=\u00e9"), urllib.parse.quote_plus("a b&c"),
                                    urllib.parse.unquote("%E2%82%AC%zz"), urllib.parse.unquote_plus("a+b%20c"),
                                    urllib.parse.quote(b"\x00\xff", safe="")])
    record("urllib.bad.port", lambda: urllib.parse.urlsplit("http://h:99999/").port)
    record("urllib.bad.ipv6", urllib.parse.urlsplit, "http://[::1/")
    obj = {"name": "pprint", "list": list(range(30)), "nested": {"t": (1, (2, (3, (4, (5,))))), "s": "x" * 90},
           "empty": [{}, [], ()], "bytes": b"abc" * 20, "frac": Fraction(1, 3)}
    record("pprint.pformat", pprint.pformat, obj, width=40, sort_dicts=True)
    record("pprint.pformat.depth", pprint.pformat, obj, depth=2, compact=True, sort_dicts=False)
    record("pprint.pformat.underscore", pprint.pformat, 12345678901, underscore_numbers=True)
    record("pprint.saferepr", lambda: _re.sub(r"id=\d+", "id=?", pprint.saferepr([_circular(), {"k": obj}])))
    record("pprint.isreadable", lambda: (pprint.isreadable(obj), pprint.isrecursive(_circular())))


# ---- _pydecimal, tomllib, argparse --------------------------------------------------------------
TOML = """
title = "TOML Example"
int = 1_000
hex = 0xdead_beef
float = -3.14e-2
inf = inf
bool = true
date = 1979-05-27T07:32:00-08:00
local = 1979-05-27
time = 07:32:00.999
arr = [1, [2, 3], "four", { five = 5 }]
multi = \"\"\"
Roses are red\\tViolets are blue \\u00e9\"\"\"
literal = 'C:\\Users\\x'

[owner]
name = "Tom"
"quoted key" = 1
dotted.key.here = "deep"

[[products]]
name = "Hammer"
sku = 738594937

[[products]]
name = "Nail"
color = "gray"
"""


def exercise_decimal_toml_argparse() -> None:
    D = _pydecimal.Decimal
    ctx = _pydecimal.Context(prec=30, rounding=_pydecimal.ROUND_HALF_EVEN)
    record("decimal.ops", lambda: [ctx.add(D("1.1"), D("2.2")), ctx.multiply(D("1.234"), D("-5.6")),
                                   ctx.divide(D(1), D(7)), ctx.sqrt(D(2)), ctx.power(D("1.5"), 3),
                                   ctx.exp(D(1)), ctx.ln(D(10)), ctx.log10(D("0.001")),
                                   D("1.23456789").quantize(D("0.001"), rounding=_pydecimal.ROUND_DOWN),
                                   D("-0").compare(D("0")), D("12.500").normalize(), D("1e5").to_eng_string(),
                                   D(0.1), D("NaN").is_nan(), D("123.456").as_tuple(), divmod(D(7), D(-2)),
                                   D("3.5") // D("1.2"), D("3.5") % D("1.2"), round(D("2.675"), 2), int(D("-7.9")),
                                   float(D("1.5")), D("1.5").fma(2, 1), D(10).max(D(9)), D(3).scaleb(2)])
    record("decimal.fmt", lambda: [format(D("1234567.891"), ",.2f"), format(D("0.000012"), ".3e"),
                                   format(D("42"), ">10"), str(D("1E+3")), repr(D("-1.50"))])
    record("decimal.bad.div", lambda: _pydecimal.Context(traps=[_pydecimal.DivisionByZero]).divide(D(1), D(0)))
    record("decimal.bad.op", lambda: _pydecimal.Context().sqrt(D(-1)))
    record("decimal.bad.str", D, "1.2.3")
    record("tomllib.loads", tomllib.loads, TOML)
    record("tomllib.float", tomllib.loads, "x = 0.1\ny = 1e300", parse_float=D)
    record("tomllib.bad.dup", tomllib.loads, "a = 1\na = 2")
    record("tomllib.bad.syntax", tomllib.loads, "a = [1, 2")
    record("tomllib.bad.value", tomllib.loads, "a = 1979-13-01")

    def make_parser() -> argparse.ArgumentParser:
        p = argparse.ArgumentParser(prog="tool", description="A tool that does things. " * 4,
                                    epilog="That is all.", exit_on_error=False,
                                    formatter_class=lambda prog: argparse.HelpFormatter(prog, width=72))
        p.add_argument("--path", dest="paths", nargs="+", help="input paths")
        p.add_argument("-v", "--verbose", action="count", default=0)
        p.add_argument("-n", "--number", type=int, default=3, choices=range(10), metavar="N")
        p.add_argument("--ratio", type=float)
        p.add_argument("--flag", action=argparse.BooleanOptionalAction, default=False)
        p.add_argument("-I", dest="includes", action="append", default=[])
        group = p.add_mutually_exclusive_group()
        group.add_argument("--fast", action="store_true")
        group.add_argument("--slow", action="store_const", const="SLOW")
        sub = p.add_subparsers(dest="cmd")
        run = sub.add_parser("run", help="run it", exit_on_error=False)
        run.add_argument("target")
        run.add_argument("--times", type=int, default=1)
        return p

    parser = make_parser()
    record("argparse.help", parser.format_help)
    record("argparse.usage", parser.format_usage)
    record("argparse.parse", lambda: vars(parser.parse_args(
        ["--path", "a", "b", "-vv", "-n", "7", "--ratio=0.5", "--no-flag", "-Ix", "-I", "y", "--fast"])))
    record("argparse.parse.sub", lambda: vars(make_parser().parse_args(["-v", "run", "t", "--times", "4"])))
    record("argparse.parse.known", lambda: make_parser().parse_known_args(["--zzz", "--flag", "run", "p", "extra"]))
    record("argparse.bad.type", lambda: make_parser().parse_args(["-n", "x"]))
    record("argparse.bad.choice", lambda: make_parser().parse_args(["-n", "12"]))


def main() -> int:
    exercises = [exercise_textwrap, exercise_difflib, exercise_fractions, exercise_statistics,
                 exercise_colorsys, exercise_json, exercise_text_misc, exercise_algorithms,
                 exercise_dates_net, exercise_decimal_toml_argparse]
    only = [a for a in sys.argv[1:] if not a.startswith("--")]
    for exercise in exercises:
        if only and not any(o in exercise.__name__ for o in only):
            continue
        exercise()
    stats: dict = {}
    if JIT:
        pyjion.disable()
        stats = jit_stats()
    sys.stdout.write(_dumped({"results": RESULTS, "stats": stats}, sort_keys=True) + "\n")
    sys.stdout.flush()
    return 0


# ---- JIT statistics -----------------------------------------------------------------------------
def _codes_of(obj, seen_classes: set, out: dict, module_name: str) -> None:
    if isinstance(obj, (staticmethod, classmethod)):
        obj = obj.__func__
    if isinstance(obj, property):
        for f in (obj.fget, obj.fset, obj.fdel):
            if f is not None:
                _codes_of(f, seen_classes, out, module_name)
        return
    if isinstance(obj, types.FunctionType):
        if obj.__module__ == module_name:  # not helpers imported from elsewhere (collections.namedtuple)
            _add_code(obj.__code__, out)
    elif isinstance(obj, type):
        if id(obj) in seen_classes or obj.__module__ != module_name:
            return
        seen_classes.add(id(obj))
        for member in vars(obj).values():
            _codes_of(member, seen_classes, out, module_name)


def _add_code(code: types.CodeType, out: dict) -> None:
    if id(code) in out:
        return
    out[id(code)] = code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _add_code(const, out)


def jit_stats() -> dict:
    modules = sorted({name for name in sys.modules if name in MODULES or name.startswith(("json", "tomllib"))})
    per_module: dict[str, list[int]] = {}
    reasons: dict[str, dict] = {}
    called = compiled = 0
    seen: dict[int, types.CodeType] = {}
    for name in modules:
        module = sys.modules[name]
        if module is None:
            continue
        codes: dict[int, types.CodeType] = {}
        seen_classes: set = set()
        own = vars(module).get("__name__", name)  # _pydecimal calls itself "decimal"
        for member in vars(module).values():
            _codes_of(member, seen_classes, codes, own)
        m_called = m_compiled = 0
        for key, code in codes.items():
            if key in seen:
                continue
            seen[key] = code
            info = pyjion.info(code)
            if info.run_count <= 0:
                continue
            m_called += 1
            if info.compiled:
                m_compiled += 1
            else:
                group = reasons.setdefault(info.compile_result.name, {"count": 0, "samples": [], "kinds": []})
                group["count"] += 1
                reason = info.reason or ""
                kind = _re.sub(r"\d+", "N", reason)  # "... at offset 54" and "... offset 656" are one kind
                if kind not in group["kinds"] and len(group["kinds"]) < 3:
                    group["kinds"].append(kind)
                    group["samples"].append(f"{code.co_filename.rsplit('/', 1)[-1]}:{code.co_qualname}: {reason}")
        per_module[name] = [m_called, m_compiled]
        called += m_called
        compiled += m_compiled
    for group in reasons.values():
        del group["kinds"]
    return {"code_objects": len(seen), "called": called, "compiled": compiled,
            "fraction": round(compiled / called, 4) if called else 0.0,
            "reasons": reasons, "per_module": per_module}


if __name__ == "__main__":
    os.environ["COLUMNS"] = "80"
    sys.exit(main())
