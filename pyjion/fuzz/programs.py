"""Random, well-typed programs that get hot, get compiled, then break what the compiled code assumed.

``generate(seed)`` returns a module's source: functions built from random statements over ints,
floats and bools (one-digit and 2**63 boundaries, the small-int cache, negative operands of ``//`` and
``%``, NaN, infinities, -0.0), loops, calls of every shape, exception handling, ``with``, generators,
closures, recursion, classes; and a ``main(r)`` whose loop calls them 20 to 40 times with arguments
that change type part-way (int to float to bool, list to tuple, one class to another) while it
reassigns and deletes globals, shadows builtins, monkey-patches methods, shadows a method with an
instance attribute and changes an object's ``__class__``. Each call's result or exception is printed.

Programs are "well typed" in that a variable keeps one kind (int, number, sequence, list, object,
str) and operators get operands they accept, so most calls run to the end; exceptions that remain
(division by zero, overflow, NaN to int, index errors, the type changes above) are caught and
printed, or are part of the outcome. Values are kept small enough to run fast: loops are short,
multiplicative updates in loops are reduced modulo a constant, and a function only calls functions
defined before it, outside its loops.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

INT, NUM, SEQ, LIST, OBJ, STR, DEL = "int", "num", "seq", "list", "obj", "str", "del"

INTS = (0, 1, -1, 2, -2, 3, -3, 7, -7, 10, -5, -6, 100, 255, 256, 257, -256, -257, 2**30 - 1, 2**30,
        -(2**30), 1 - 2**30, 2**31 - 1, 2**31, -(2**31), 2**32, 2**62, 2**63 - 1, 2**63, -(2**63),
        -(2**63) - 1, 2**64 - 1, 2**64, 10**20, -(10**19))
FLOATS = ("0.0", "-0.0", "1.5", "-2.5", "0.1", "3.0", "-7.0", "1e308", "-1e308", "5e-324", "2.0 ** 53",
          "1e16", "NAN", "INF", "-INF", "256.0", "0.5")
MODULI = ("7", "(-7)", "256", "257", "1000003", "(2 ** 31 - 1)", "(2 ** 61 - 1)", "(-(2 ** 63))",
          "(2 ** 64 + 13)", "(10 ** 20)", "(-97)")
BODY_CHARS = 1500  # a function body's longest source: about 200 bytecode instructions
ARITH = ("+", "-", "*")
BITS = ("&", "|", "^")
COMPARES = ("<", "<=", "==", "!=", ">", ">=")
CAUGHT = ("ZeroDivisionError", "ArithmeticError", "OverflowError", "(TypeError, ValueError)", "ValueError",
          "IndexError", "LookupError", "Exception", "E0", "(E0, ZeroDivisionError)", "AttributeError",
          "NameError")
TAGS = ('"ab"', '"cd"', '"ef"', '""', '"é"')

# The same in every program, at the same lines: identical code objects, which the JIT compiles once per
# process (its code cache), so each program's compile time goes to its own code.
PRELUDE = '''\
import sys

NAN = float("nan")
INF = float("inf")
SMALL = (-5, 0, 1, 100, 255, 256)


def handling():
    return type(sys.exc_info()[1]).__name__


def report(tag, e):
    lines = []
    tb = e.__traceback__
    while tb is not None:
        lines.append((tb.tb_frame.f_code.co_name, tb.tb_lineno))
        tb = tb.tb_next
    link = e.__cause__ if e.__cause__ is not None else e.__context__
    print(tag, "raised", type(e).__name__, str(e), lines, type(link).__name__, e.__suppress_context__)


def run(tag, i, fn, *args, **kwargs):
    try:
        print(tag, i, repr(fn(*args, **kwargs)))
    except Exception as e:
        report(tag, e)


class E0(Exception):
    pass


class CM:
    def __init__(self, tag, suppress):
        self.tag = tag
        self.suppress = suppress

    def __enter__(self):
        print("enter", self.tag)
        return self.tag

    def __exit__(self, kind, value, tb):
        print("exit", self.tag, kind.__name__ if kind is not None else None)
        return self.suppress and kind is not None and issubclass(kind, ArithmeticError)


class D:
    def __init__(self, tag):
        self.tag = tag

    def __del__(self):
        print("del", repr(self.tag))


class Ready:
    def __init__(self, value):
        self.value = value

    def __await__(self):
        got = yield self.value
        return got


class Tag(str):
    def __eq__(self, other):
        return len(self) == len(str(other))

    __hash__ = str.__hash__
'''


@dataclass
class Signature:
    """A generated function that other code may call."""
    name: str
    params: list[tuple[str, str]]   # (name, kind) of the positional parameters
    defaults: int = 0               # how many of the last params have defaults
    star: bool = False              # *args (numbers)
    kwargs: bool = False            # **kwargs (numbers)
    positional_only: int = 0        # how many of the first params come before "/"
    keyword_only: list[tuple[str, str]] = field(default_factory=list)   # after "*" or *rest, with defaults


@dataclass
class Scope:
    """The names a statement may use, with their kinds."""
    names: dict[str, str]
    loops: int = 0                  # enclosing loops in this function
    handler: str | None = None      # name bound by the enclosing except clause
    calls: list[Signature] = field(default_factory=list)
    # Names not to rebind: an enclosing function's (it would make them local), a while loop's counter.
    fixed: frozenset[str] = frozenset()

    def nested(self, loop: bool = False, handler: str | None = None) -> Scope:
        # Names assigned in a nested block may be unbound after it: the block gets a copy.
        return Scope(dict(self.names), self.loops + loop, handler or self.handler, self.calls, self.fixed)

    def of(self, *kinds: str) -> list[str]:
        return [name for name, kind in self.names.items() if kind in kinds]

    def assignable(self, *kinds: str) -> list[str]:
        return [name for name in self.of(*kinds) if name not in self.fixed]


class Generator:
    def __init__(self, seed: str) -> None:
        self.rng = random.Random(seed)
        self.count = 0
        self.globals: dict[str, str] = {}
        self.functions: list[Signature] = []
        self.definitions: list[str] = []
        self.setup: list[str] = []        # main, before its loop
        self.calls: list[str] = []        # main's loop body: the calls
        self.events: list[str] = []       # main's loop body: mutations at some iterations
        self.after: list[str] = []        # main, after its loop
        self.mutated_globals: set[str] = set()
        self.iterations = self.rng.randint(20, 40)

    # --- names and constants ---------------------------------------------------------------------

    def fresh(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def int_const(self) -> str:
        value = self.rng.choice(INTS) if self.chance(0.7) else self.rng.randint(-20, 300)
        return f"({value})" if value < 0 else str(value)

    def num_const(self) -> str:
        r = self.rng.random()
        if r < 0.45:
            return self.int_const()
        if r < 0.9:
            text = self.rng.choice(FLOATS)
            return f"({text})" if text.startswith("-") or " " in text else text
        return self.rng.choice(("True", "False"))

    def switch_point(self) -> str:
        """An iteration of main's loop, after the interpreter has specialised the code."""
        k = self.rng.randint(8, self.iterations - 3)
        return f"{k} - r * 3" if self.chance(0.3) else str(k)

    # --- expressions -----------------------------------------------------------------------------

    def divisor(self, text: str, kind: str = NUM) -> str:
        """Zero a quarter of the time at most: the rest fall back to a non-zero constant of the kind."""
        fallbacks = ("1", "7", "-3", "0.5") if kind == NUM else ("1", "7", "-3")
        return text if self.chance(0.25) else f"({text} or {self.rng.choice(fallbacks)})"

    def int_expr(self, sc: Scope, depth: int = 2) -> str:
        names = sc.of(INT) + [g for g, k in self.globals.items() if k == INT]
        r = self.rng.random()
        if depth <= 0 or r < 0.3:
            if names and self.chance(0.75):
                return self.rng.choice(names)
            return self.int_const()
        a = self.int_expr(sc, depth - 1)
        if r < 0.55:
            return f"({a} {self.rng.choice(ARITH)} {self.int_expr(sc, depth - 1)})"
        if r < 0.65:
            return f"({a} {self.rng.choice(('//', '%'))} {self.divisor(self.int_expr(sc, depth - 1), INT)})"
        if r < 0.72:
            return f"({a} {self.rng.choice(BITS)} {self.int_expr(sc, depth - 1)})"
        if r < 0.8:
            shift = self.rng.choice(("<<", ">>"))
            amount = (str(self.rng.choice((0, 1, 3, 29, 30, 31, 32, 62, 63, 64, 70)))
                      if self.chance(0.6) else f"({self.int_expr(sc, 0)} & 63)")
            return f"({a} {shift} {amount})"
        if r < 0.85:
            return f"({self.rng.choice(('-', '~', '+'))}{a})"
        if r < 0.9:
            seqs = sc.of(SEQ, LIST)
            if seqs:
                return f"len({self.rng.choice(seqs)})"
            return f"abs({a})"
        if r < 0.95:
            return f"({self.num_expr(sc, 1)} {self.rng.choice(COMPARES)} {self.num_expr(sc, 1)})"
        return f"({a} if {self.cond(sc, 1)} else {self.int_expr(sc, depth - 1)})"

    def num_leaf(self, sc: Scope) -> str:
        names = sc.of(INT, NUM) + list(self.globals)
        objects = sc.of(OBJ)
        seqs = sc.of(SEQ, LIST)
        r = self.rng.random()
        if objects and r < 0.15:
            o = self.rng.choice(objects)
            return self.rng.choice((f"{o}.a", f"{o}.b", f"{o}.m({self.int_expr(sc, 0)})", f"{o}.n()"))
        if seqs and r < 0.25:
            s = self.rng.choice(seqs)
            return f"{s}[{self.int_expr(sc, 1)} % (len({s}) or 1)]"
        if names and r < 0.8:
            return self.rng.choice(names)
        return self.num_const()

    def num_expr(self, sc: Scope, depth: int = 2) -> str:
        r = self.rng.random()
        if depth <= 0 or r < 0.3:
            return self.num_leaf(sc)
        a = self.num_expr(sc, depth - 1)
        if r < 0.55:
            return f"({a} {self.rng.choice(ARITH)} {self.num_expr(sc, depth - 1)})"
        if r < 0.68:
            op = self.rng.choice(("/", "//", "%"))
            return f"({a} {op} {self.divisor(self.num_expr(sc, depth - 1))})"
        if r < 0.72:
            return f"({a} ** {self.rng.choice(('0', '1', '2', '3', '(-1)'))})"
        if r < 0.78:
            return f"({self.rng.choice(('-', '+'))}{a})"
        if r < 0.86:
            fn = self.rng.choice(("abs({})", "min({}, {})", "max({}, {})", "float({})", "round({}, 3)",
                                  "divmod({}, {})[0]", "int({})", "round({})"))
            if fn.startswith("divmod"):
                return fn.format(a, self.divisor(self.num_expr(sc, depth - 1)))
            return fn.format(a, self.num_expr(sc, depth - 1))
        if r < 0.93:
            return f"({a} if {self.cond(sc, depth - 1)} else {self.num_expr(sc, depth - 1)})"
        return self.int_expr(sc, depth - 1)

    def cond(self, sc: Scope, depth: int = 1) -> str:
        r = self.rng.random()
        strs = sc.of(STR)
        if strs and r < 0.15:
            op = self.rng.choice(("==", "!="))
            return f"{self.rng.choice(strs)} {op} {self.rng.choice(TAGS)}"
        if depth <= 0 or r < 0.55:
            a, b = self.num_expr(sc, 1), self.num_expr(sc, 1)
            if self.chance(0.15):
                return f"{a} {self.rng.choice(COMPARES)} {b} {self.rng.choice(COMPARES)} {self.num_expr(sc, 0)}"
            return f"{a} {self.rng.choice(COMPARES)} {b}"
        if r < 0.7:
            return f"({self.cond(sc, depth - 1)} {self.rng.choice(('and', 'or'))} {self.cond(sc, depth - 1)})"
        if r < 0.76:
            return f"not ({self.cond(sc, depth - 1)})"
        if r < 0.8:
            # -5..256 are the interpreter's preallocated ints: a result in that range is that object
            return f"int({self.int_expr(sc, 1)}) is SMALL[{self.rng.randrange(6)}]"
        if r < 0.86:
            names = sc.of(INT, NUM) or ["NAN"]
            name = self.rng.choice(names)
            return self.rng.choice((f"{name} != {name}", f"isinstance({name}, float)", f"{name}"))
        return self.num_expr(sc, 1)

    def seq_expr(self, sc: Scope) -> str:
        items = ", ".join(self.num_expr(sc, 1) for _ in range(self.rng.randint(0, 4)))
        r = self.rng.random()
        if r < 0.4:
            return f"[{items}]"
        if r < 0.7:
            return f"({items}{',' if items else ''})"
        if r < 0.85:
            return f"range({self.int_expr(sc, 1)} % 9)"
        return f"[x * 2 for x in range({self.rng.randint(0, 6)})]"

    def expr(self, kind: str, sc: Scope) -> str:
        if kind == INT:
            return self.int_expr(sc)
        if kind == NUM:
            return self.num_expr(sc)
        if kind == LIST:
            return f"[{', '.join(self.num_expr(sc, 1) for _ in range(self.rng.randint(1, 4)))}]"
        return self.seq_expr(sc)

    @staticmethod
    def grows(text: str) -> bool:
        return any(op in text for op in ("*", "<<"))

    def bounded(self, text: str, sc: Scope) -> str:
        """A value assigned in a loop is reduced, so that it cannot grow without bound."""
        if sc.loops and self.grows(text):
            return f"({text}) % {self.rng.choice(MODULI)}"
        return text

    # --- statements ------------------------------------------------------------------------------

    def block(self, sc: Scope, depth: int, size: int) -> list[str]:
        lines: list[str] = []
        for _ in range(max(1, size)):
            lines.extend(self.statement(sc, depth))
        return lines

    @staticmethod
    def indent(lines: list[str]) -> list[str]:
        return ["    " + line for line in lines]

    def statement(self, sc: Scope, depth: int) -> list[str]:
        if self.chance(0.1):
            return self.rare_statement(sc, depth)
        r = self.rng.random()
        if depth > 0 and r < 0.1:
            return self.if_statement(sc, depth)
        if depth > 0 and r < 0.2:
            return self.for_statement(sc, depth)
        if depth > 0 and r < 0.25:
            return self.while_statement(sc, depth)
        if depth > 0 and r < 0.34:
            return self.try_statement(sc, depth)
        if depth > 0 and r < 0.35:
            return self.try_star_statement(sc, depth)
        if depth > 0 and r < 0.38:
            name = self.fresh("cm")
            body = self.block(sc.nested(), depth - 1, self.rng.randint(1, 3))
            suppress = self.rng.choice(("True", "False"))
            return [f"with CM({self.rng.choice(TAGS)}, {suppress}) as {name}:"] + self.indent(body)
        if sc.loops and r < 0.44:
            word = self.rng.choice(("break", "continue"))
            return [f"if {self.cond(sc)}:", f"    {word}"]
        if 0.44 <= r < 0.48:
            return self.raise_statement(sc)
        if r < 0.54 and sc.calls and not sc.loops:
            callee = self.rng.choice(sc.calls)
            name = self.fresh("c")
            line = f"{name} = {self.call(callee, sc)}"
            sc.names[name] = NUM
            return [line]
        if r < 0.57 and not sc.loops and depth > 0:
            return self.closure_statement(sc)
        if r < 0.6:
            name = self.fresh("q")
            seqs = sc.of(SEQ, LIST)
            source = self.rng.choice(seqs) if seqs and self.chance(0.6) else f"range({self.rng.randint(0, 7)})"
            x = self.fresh("x")
            inner = sc.nested()
            inner.names[x] = NUM
            if self.chance(0.5):
                sc.names[name] = LIST
                return [f"{name} = [{self.num_expr(inner, 1)} for {x} in {source} if {self.cond(inner, 0)}]"]
            sc.names[name] = NUM
            return [f"{name} = sum({self.num_expr(inner, 1)} for {x} in {source})"]
        if r < 0.64 and sc.of(LIST):
            lst = self.rng.choice(sc.of(LIST))
            return [self.rng.choice((f"{lst}.append({self.num_expr(sc, 1)})",
                                     f"{lst}[{self.int_expr(sc, 1)} % (len({lst}) or 1)] = {self.num_expr(sc, 1)}",
                                     f"{lst}.pop()" if not sc.loops else f"{lst}.reverse()"))]
        if r < 0.67 and sc.of(OBJ):
            o = self.rng.choice(sc.of(OBJ))
            return [f"{o}.{self.rng.choice('ab')} = {self.bounded(self.num_expr(sc, 1), sc)}"]
        if r < 0.69:
            names = sc.of(INT, NUM)
            if names:
                return [f"print({self.rng.choice(TAGS)}, repr({self.rng.choice(names)}))"]
        if r < 0.72:
            return [self.rng.choice(("print(\"line\", sys._getframe().f_lineno)", "print(\"handling\", handling())"))]
        if r < 0.76:
            # Its finaliser prints: a reference the JIT keeps or drops too early moves the line.
            name = self.rng.choice(sc.assignable(DEL) or [self.fresh("d")])
            line = f"{name} = D({self.num_expr(sc, 1)})"
            sc.names[name] = DEL
            return [line]
        if r < 0.8:
            return self.augmented(sc)
        return self.assignment(sc)

    def rare_statement(self, sc: Scope, depth: int) -> list[str]:
        """Unpacking, pattern matching, dicts, formatting, del and unbound locals, new attributes."""
        r = self.rng.random()
        if r < 0.2:
            return self.unpack_statement(sc)
        if r < 0.35 and depth > 0:
            return self.match_statement(sc, depth)
        if r < 0.5:
            name = self.fresh("d")
            key = self.num_expr(sc, 1)
            pairs = ", ".join(f"{self.num_expr(sc, 0)}: {self.num_expr(sc, 1)}" for _ in range(self.rng.randint(0, 3)))
            return [f"{name} = {{{pairs}}}", f"{name}[{key}] = {self.num_expr(sc, 1)}",
                    f"print(\"dict\", len({name}), {self.num_expr(sc, 0)} in {name}, repr({name}.get({self.num_expr(sc, 0)})))"]
        if r < 0.65:
            a, b, c = self.num_expr(sc, 1), self.num_expr(sc, 1), self.int_expr(sc, 1)
            spec = self.rng.choice(("+.3f", ".2e", "g", ">10", "", "^9.1%"))
            # single quotes outside: the expressions may hold double-quoted strings
            return [f"print(f'{{{a}!r:>12}} {{{b}:{spec}}} {{{c}:#x}} {{{c}:,}}')"]
        if r < 0.75:
            # an unbound local: UnboundLocalError when the condition was false
            name = self.fresh("u")
            lines = [f"if {self.cond(sc)}:", f"    {name} = {self.num_expr(sc, 1)}"]
            if self.chance(0.5):
                return lines + [f"print(\"maybe\", repr({name}))"]
            return lines + ["try:", f"    print(\"maybe\", repr({name}))", "except UnboundLocalError as e:",
                            "    print(\"unbound\", e)"]
        if r < 0.85:
            names = sc.assignable(INT, NUM, LIST, SEQ, DEL)
            if names:
                name = self.rng.choice(names)
                del sc.names[name]
                return [f"del {name}"]
        if sc.of(OBJ):
            o = self.rng.choice(sc.of(OBJ))
            return [f"{o}.z = {self.num_expr(sc, 1)}", f"print(\"z\", repr({o}.z))"]
        return self.assignment(sc)

    def unpack_statement(self, sc: Scope) -> list[str]:
        a, b, rest = self.fresh("v"), self.fresh("v"), self.fresh("v")
        seqs = sc.of(SEQ, LIST)
        r = self.rng.random()
        if seqs and r < 0.5:
            # ValueError when the sequence is too short (or, without the star, too long)
            source = self.rng.choice(seqs)
            if self.chance(0.5):
                line = f"{a}, {b}, *{rest} = {source}"
                sc.names[rest] = LIST
            else:
                line = f"{a}, {b} = {source}"
        elif r < 0.75:
            line = f"{a}, {b} = {self.num_expr(sc, 1)}, {self.num_expr(sc, 1)}"
        else:
            line = f"[{a}, *{rest}] = [{self.num_expr(sc, 1)}, {self.num_expr(sc, 1)}]"
            sc.names[rest] = LIST
            b = None
        sc.names[a] = NUM
        if b:
            sc.names[b] = NUM
        return [line]

    def match_statement(self, sc: Scope, depth: int) -> list[str]:
        seqs = sc.of(SEQ, LIST)
        bound = self.fresh("m")
        if seqs and self.chance(0.4):
            subject = self.rng.choice(seqs)
            cases = [("[]", None), (f"[{bound}]", NUM), (f"[{bound}, *_]", NUM), (f"({bound}, _)", NUM),
                     (f"[_, _, *{bound}]", LIST)]
        else:
            subject = self.num_expr(sc, 1)
            cases = [("0 | 1", None), (f"int({bound}) if {bound} > {self.int_const()}", INT),
                     (f"bool() as {bound}", INT), (f"float({bound}) if {bound} != {bound}", NUM),
                     (f"float() as {bound}", NUM), ("-1.5 | 256", None)]
        lines = [f"match {subject}:"]
        for pattern, kind in self.rng.sample(cases, self.rng.randint(1, 3)) + [("_", None)]:
            inner = sc.nested()
            if kind:
                inner.names[bound] = kind
            body = [f"print(\"case\", {pattern!r}{f', repr({bound})' if kind else ''})"]
            body += self.block(inner, depth - 1, self.rng.randint(0, 1)) if self.chance(0.5) else []
            lines += [f"    case {pattern}:"] + self.indent(self.indent(body))
        return lines

    def assignment(self, sc: Scope) -> list[str]:
        existing = sc.assignable(INT, NUM, LIST, SEQ)
        if existing and self.chance(0.5):
            name = self.rng.choice(existing)
            kind = sc.names[name]
        else:
            kind = self.rng.choice((INT, NUM, NUM, NUM, LIST, SEQ))
            name = self.fresh("v")
        text = self.expr(kind, sc)
        if kind in (INT, NUM):
            text = self.bounded(text, sc)
        sc.names[name] = kind
        return [f"{name} = {text}"]

    def augmented(self, sc: Scope) -> list[str]:
        names = sc.assignable(INT, NUM)
        if not names:
            return self.assignment(sc)
        name = self.rng.choice(names)
        if sc.names[name] == INT:
            op = self.rng.choice(("+=", "-=", "*=", "//=", "%=", "|=", "&=", "^=", "<<=", ">>="))
            value = self.int_expr(sc, 1)
        else:
            op = self.rng.choice(("+=", "-=", "*=", "/=", "//=", "%="))
            value = self.num_expr(sc, 1)
        if op in ("//=", "%=", "/="):
            value = self.divisor(value, sc.names[name])
        if op in ("<<=", ">>="):
            value = f"({value} & 31)"
        lines = [f"{name} {op} {value}"]
        if sc.loops and op in ("*=", "<<="):
            lines.append(f"{name} %= {self.rng.choice(MODULI)}")
        return lines

    def if_statement(self, sc: Scope, depth: int) -> list[str]:
        lines = [f"if {self.cond(sc)}:"] + self.indent(self.block(sc.nested(), depth - 1, self.rng.randint(1, 3)))
        if self.chance(0.3):
            lines += [f"elif {self.cond(sc)}:"] + self.indent(self.block(sc.nested(), depth - 1, 1))
        if self.chance(0.5):
            lines += ["else:"] + self.indent(self.block(sc.nested(), depth - 1, self.rng.randint(1, 2)))
        return lines

    def range_args(self) -> str:
        start = self.rng.choice((0, 0, 0, 1, -3, 250, 253, -8, 2**30 - 2, 2**62, 2**63 - 2, 2**64, -(2**63)))
        step = self.rng.choice((1, 1, 1, 2, 3, -1, -2, -7))
        stop = start + step * self.rng.randint(0, 8)
        if start == 0 and step == 1:
            return str(stop)
        return f"{start}, {stop}" if step == 1 else f"{start}, {stop}, {step}"

    def for_statement(self, sc: Scope, depth: int) -> list[str]:
        inner = sc.nested(loop=True)
        var = self.fresh("k")
        seqs = sc.of(SEQ, LIST)
        r = self.rng.random()
        if seqs and r < 0.35:
            seq = self.rng.choice(seqs)
            if self.chance(0.3):
                j = self.fresh("j")
                inner.names[j] = INT
                head = f"for {j}, {var} in enumerate({seq}):"
            else:
                head = f"for {var} in {seq}:"
            inner.names[var] = NUM
        elif r < 0.45:
            head = f"for {var} in ({', '.join(self.num_const() for _ in range(self.rng.randint(1, 4)))},):"
            inner.names[var] = NUM
        else:
            head = f"for {var} in range({self.range_args()}):"
            inner.names[var] = INT
        body = []
        if self.chance(0.4) and sc.assignable(NUM):
            # int, float and bool alternate within one compiled loop
            target = self.rng.choice(sc.assignable(NUM))
            mixed = self.rng.choice((f"({var} if {var} % 3 else {var} * 0.5)", f"({var} > {self.int_const()})",
                                     f"({var} / 2 if {var} % 2 else {var})"))
            body.append(f"{target} = {self.bounded(f'{target} + {mixed}', inner)}")
        body += self.block(inner, depth - 1, self.rng.randint(1, 3))
        lines = [head] + self.indent(body)
        if self.chance(0.2):
            lines += ["else:"] + self.indent(self.block(sc.nested(), depth - 1, 1))
        return lines

    def while_statement(self, sc: Scope, depth: int) -> list[str]:
        counter = self.fresh("w")
        inner = sc.nested(loop=True)
        inner.names[counter] = INT
        inner.fixed |= {counter}
        limit = self.rng.randint(0, 9)
        # The counter moves first, so that a continue cannot loop forever.
        body = [f"{counter} += 1"] + self.block(inner, depth - 1, self.rng.randint(1, 3))
        sc.names[counter] = INT
        return [f"{counter} = 0", f"while {counter} < {limit}:"] + self.indent(body)

    def handler_body(self, sc: Scope, depth: int) -> list[str]:
        r = self.rng.random()
        if sc.handler and r < 0.15:
            return [f"raise E0({self.num_expr(sc, 1)}) from {sc.handler}"]
        if r < 0.25:
            return [f"if {self.cond(sc)}:", "    raise"]
        if sc.handler and r < 0.35:
            return [f"print(\"caught\", type({sc.handler}).__name__, str({sc.handler}))"]
        if r < 0.42:
            return [f"return {self.num_expr(sc, 1)}"]
        if sc.loops and r < 0.52:
            return [self.rng.choice(("break", "continue"))]
        return self.block(sc, depth, self.rng.randint(1, 2))

    def try_statement(self, sc: Scope, depth: int) -> list[str]:
        lines = ["try:"] + self.indent(self.block(sc.nested(), depth - 1, self.rng.randint(1, 3)))
        handlers = self.rng.randint(0 if self.chance(0.3) else 1, 2)
        for _ in range(handlers):
            caught = self.rng.choice(CAUGHT)
            name = self.fresh("e") if self.chance(0.6) else None
            head = f"except {caught} as {name}:" if name else f"except {caught}:"
            lines += [head] + self.indent(self.handler_body(sc.nested(handler=name), depth - 1))
        if handlers and self.chance(0.3):
            lines += ["else:"] + self.indent(self.block(sc.nested(), depth - 1, self.rng.randint(1, 2)))
        if not handlers or self.chance(0.4):
            final = self.block(sc.nested(), depth - 1, 1)
            if self.chance(0.1):
                final.append(f"return {self.num_expr(sc, 1)}")   # swallows the exception in flight
            lines += ["finally:"] + self.indent(final)
        return lines

    def try_star_statement(self, sc: Scope, depth: int) -> list[str]:
        body = self.block(sc.nested(), depth - 1, self.rng.randint(1, 2))
        if self.chance(0.6):
            body += [f"if {self.cond(sc)}:",
                     f"    raise ExceptionGroup(\"g\", [ValueError(1), E0({self.num_expr(sc, 1)}), KeyError(2)])"]
        lines = ["try:"] + self.indent(body)
        # break, continue and return are not allowed in an except* clause: it only prints
        for caught in self.rng.sample(("ValueError", "E0", "ArithmeticError", "(TypeError, KeyError)"),
                                      self.rng.randint(1, 2)):
            group = self.fresh("eg")
            lines += [f"except* {caught} as {group}:",
                      f"    print(\"group\", {caught!r}, len({group}.exceptions), repr({group}.exceptions[0]))"]
        return lines

    def raise_statement(self, sc: Scope) -> list[str]:
        r = self.rng.random()
        if r < 0.4:
            exc = f"E0({self.num_expr(sc, 1)})"
        elif r < 0.7:
            exc = f"ValueError(\"bad \" + repr({self.num_expr(sc, 1)}))"
        elif r < 0.85:
            return [f"assert {self.cond(sc)}, {self.rng.choice(TAGS)}"]
        else:
            exc = "KeyError(7)"
        return [f"if {self.cond(sc)}:", f"    raise {exc}"]

    def closure_statement(self, sc: Scope) -> list[str]:
        name = self.fresh("inner")
        captured = [name for name in sc.assignable(NUM) if name not in self.globals]
        param = self.fresh("p")
        visible = {n: k for n, k in sc.names.items() if k in (INT, NUM)}
        body = []
        if captured and self.chance(0.6):
            var = self.rng.choice(captured)
            body = [f"nonlocal {var}", f"{var} = ({var} + {param}) % {self.rng.choice(MODULI)}"]
            del visible[var]
        inner = Scope({**visible, param: NUM}, fixed=frozenset(visible))
        if body:
            inner.names[var] = NUM
        body += self.block(inner, 1, self.rng.randint(0, 2)) + [f"return {self.num_expr(inner)}"]
        result = self.fresh("v")
        calls = [f"{result} = {name}({self.num_expr(sc, 1)})"]
        if self.chance(0.5):
            calls.append(f"{result} = {result} + {name}({self.num_expr(sc, 1)})")
        sc.names[result] = NUM
        return [f"def {name}({param}):"] + self.indent(body) + calls

    def function_body(self, sc: Scope, size: int) -> tuple[list[str], Scope]:
        """Statements for a function, and the scope after them: drawn again while they are too long.

        LLVM's time grows faster than a function's size, and a program is compiled in five modes.
        """
        for _ in range(4):
            after = sc.nested()
            body = self.block(after, 2, size)
            if len("\n".join(body)) <= BODY_CHARS:
                break
        return body, after

    # --- calls -----------------------------------------------------------------------------------

    def argument(self, kind: str, sc: Scope | None) -> str:
        """A value of a kind: from a function's scope, or in main's loop one that changes type."""
        if sc is not None:
            if kind in (INT, NUM):
                return self.expr(kind, sc)
            return self.rng.choice(sc.of(kind) or [{SEQ: "[1, 2]", LIST: "[1, 2]", STR: '"ab"'}[kind]])
        if kind == INT:
            a, b = self.int_const(), self.rng.choice((self.int_const(), "True", "False"))
            return self.rng.choice((f"({a} if i < {self.switch_point()} else {b})", f"i * {self.int_const()}",
                                    f"(i - {self.switch_point()}) * {self.int_const()}", f"i % 3 == 0"))
        if kind == NUM:
            a, b = self.num_const(), self.num_const()
            return self.rng.choice((f"({a} if i < {self.switch_point()} else {b})", f"i / 7",
                                    f"(i if i % 4 else i + 0.5)", f"(i * {a} if i < {self.switch_point()} else {b})",
                                    f"[{a}, {b}, i][i % 3]"))
        if kind == SEQ:
            return self.rng.choice(("data", "tuple(data)", "data if i < 15 else tuple(data)", "range(i % 5)",
                                    "data[:i % 4]", "(data if i % 7 else {0: 1.5})"))
        if kind == STR:
            return "tags[i % len(tags)]"
        return "obj" if self.chance(0.6) else "objs[i % len(objs)]"

    def call(self, sig: Signature, sc: Scope | None) -> str:
        return f"{sig.name}({self.arguments(sig, sc)})"

    def arguments(self, sig: Signature, sc: Scope | None) -> str:
        required = len(sig.params) - sig.defaults
        count = self.rng.randint(required, len(sig.params))
        args = [self.argument(kind, sc) for _, kind in sig.params[:count]]
        keywords = []
        if count > sig.positional_only and self.chance(0.3):
            # pass the last few by keyword instead
            split = self.rng.randint(sig.positional_only, count - 1)
            keywords = [f"{n}={a}" for (n, _), a in zip(sig.params[split:count], args[split:])]
            args = args[:split]
        extra_kind = INT if sc is None else NUM
        if sig.star and count == len(sig.params) and not keywords and self.chance(0.6):
            if self.chance(0.5):
                args += [self.argument(extra_kind, sc) for _ in range(self.rng.randint(1, 3))]
            else:
                args.append(f"*[{', '.join(self.argument(extra_kind, sc) for _ in range(self.rng.randint(0, 3)))}]")
        if sig.kwargs and self.chance(0.6):
            if self.chance(0.5):
                keywords += [f"z{n}={self.argument(extra_kind, sc)}" for n in range(self.rng.randint(1, 2))]
            else:
                keywords.append(f"**{{'zz': {self.argument(extra_kind, sc)}}}")
        keywords += [f"{n}={self.argument(kind, sc)}" for n, kind in sig.keyword_only if self.chance(0.6)]
        return ", ".join(args + keywords)

    def call_site(self, function: str, arguments: str, tag: str | None = None) -> None:
        """main calls the function through run(), which prints its result or exception."""
        self.calls.append(f"run({tag or function!r}, i, {function}{', ' if arguments else ''}{arguments})")

    # --- program parts ---------------------------------------------------------------------------

    def numeric_function(self) -> Signature:
        name = self.fresh("f")
        params = [(self.fresh("a"), self.rng.choice((INT, NUM, NUM))) for _ in range(self.rng.randint(1, 3))]
        if self.chance(0.25):
            params.append((self.fresh("s"), SEQ))
        if self.chance(0.25):
            params.append((self.fresh("t"), STR))
            self.needs_tags()
        sig = Signature(name, params, defaults=self.rng.randint(0, min(2, len(params))),
                        star=self.chance(0.2), kwargs=self.chance(0.2), positional_only=int(self.chance(0.2)))
        if self.chance(0.2):
            sig.keyword_only.append((self.fresh("k"), self.rng.choice((INT, NUM))))
        sc = Scope(dict(params + sig.keyword_only), calls=list(self.functions))

        def default(kind: str) -> str:
            return "=" + {INT: self.int_const(), NUM: self.num_const(), SEQ: "(1, 2.5)", STR: '"ab"'}[kind]

        header = []
        for index, (param, kind) in enumerate(params):
            header.append(param + (default(kind) if index >= len(params) - sig.defaults else ""))
            if index + 1 == sig.positional_only:
                header.append("/")
        body = []
        if sig.star:
            header.append("*rest")
            body += ["for extra in rest:", f"    {params[0][0]} = {params[0][0]} + extra"]
        elif sig.keyword_only:
            header.append("*")
        header += [param + default(kind) for param, kind in sig.keyword_only]
        if self.globals and self.chance(0.3):
            # The function rebinds a global that others read through their caches.
            written = self.rng.choice(list(self.globals))
            body.append(f"global {written}")
            sc.names[written] = self.globals[written]
        if sig.kwargs:
            header.append("**named")
            body += ["for key in sorted(named):", f"    {params[0][0]} = {params[0][0]} - named[key]"]
        if sig.star or sig.kwargs:
            sc.names[params[0][0]] = NUM
        statements, sc = self.function_body(sc, self.rng.randint(2, 5))
        body += statements + [f"return {self.num_expr(sc)}"]
        self.definitions.append("\n".join([f"def {name}({', '.join(header)}):"] + self.indent(body)))
        self.functions.append(sig)
        return sig

    def needs_tags(self) -> None:
        if not any(line.startswith("tags = ") for line in self.setup):
            self.setup.append('tags = ["ab", "cd", "ab", Tag("ab"), "ef", Tag("xy"), "é"]')
            k = self.switch_point()
            self.events.append(f"if i == {k}:\n    tags.append(1 if r else Tag(\"zz\"))")

    def needs_data(self) -> None:
        if not any(line.startswith("data = ") for line in self.setup):
            items = ", ".join(self.num_const() for _ in range(self.rng.randint(2, 5)))
            self.setup.append(f"data = [{items}]")
            self.events.append(f"if i == {self.switch_point()}:\n    data = tuple(data)")
            self.events.append(f"if i == {self.switch_point()}:\n    data = list(data)")

    def numeric_part(self) -> None:
        sig = self.numeric_function()
        if any(kind == SEQ for _, kind in sig.params):
            self.needs_data()
        self.call_site(sig.name, self.arguments(sig, None))

    def globals_part(self) -> None:
        for _ in range(self.rng.randint(1, 3)):
            name = self.fresh("G")
            kind = self.rng.choice((INT, NUM))
            value = self.int_const() if kind == INT else self.num_const()
            self.definitions.insert(0, f"{name} = {value}")
            # Mutations keep the global's kind; a deleted one raises NameError until it is back.
            self.globals[name] = kind
            if self.chance(0.6):
                self.mutated_globals.add(name)
                new = self.int_const() if kind == INT else self.num_const()
                self.events.append(f"if i == {self.switch_point()}:\n    {name} = {new}")
                if self.chance(0.4):
                    k = self.rng.randint(8, self.iterations - 3)
                    self.events.append(f"if i == {k}:\n    del {name}")
                    self.events.append(f"if i == {k + 2}:\n    {name} = {value}")
        if self.chance(0.3):
            # A global shadows a builtin for a while: cached builtin lookups must notice.
            k = self.rng.randint(8, self.iterations - 3)
            self.events.append(f"if i == {k}:\n    globals()['abs'] = lambda v: {self.num_const()}")
            self.events.append(f"if i == {k + 3}:\n    del globals()['abs']")

    def class_part(self) -> None:
        # The attributes are leaves of the methods' expressions: the methods call nothing.
        m = self.bounded_method(Scope({"self.a": NUM, "self.b": NUM, "x": INT}))
        n = self.num_expr(Scope({"self.a": NUM, "self.b": NUM}), 1)
        slotted = self.chance(0.5)
        self.definitions.append(f'''
class P:
    kind = "P"

    def __init__(self, a, b):
        self.a = a
        self.b = b

    def m(self, x):
        return {m}

    def n(self):
        return {n}


class Q(P):
    kind = "Q"

    def m(self, x):
        return self.a - x


class S:
    {'__slots__ = ("a", "b")' if slotted else 'kind = "S"'}

    def __init__(self, a, b):
        self.a = a
        self.b = b

    def m(self, x):
        return x * 2

    def n(self):
        return self.a''')
        self.setup.append(f"obj = P({self.num_const()}, {self.num_const()})")
        self.setup.append(f"objs = [obj, P({self.num_const()}, 2), S({self.num_const()}, 3), Q(1, 2)]")
        self.setup.append("original = P.m")
        events = [
            ("P.m = lambda self, x: x - 1", "P.m = original"),
            (f"obj.m = lambda x: {self.num_const()}", "del obj.m"),
            ("obj.__class__ = Q", "obj.__class__ = P"),
            ("del obj.a", f"obj.a = {self.num_const()}"),
            ("obj.__dict__['c'] = i", None),
            ("P.kind = i", None),
            ("objs.append(objs.pop(0))", None),
        ]
        for start, end in self.rng.sample(events, self.rng.randint(1, 3)):
            k = self.rng.randint(8, self.iterations - 4)
            self.events.append(f"if i == {k}:\n    {start}")
            if end:
                self.events.append(f"if i == {k + self.rng.randint(1, 3)}:\n    {end}")
        # functions over objects, and the object's kind read in main
        o = self.fresh("o")
        sig = Signature(self.fresh("g"), [(o, OBJ), (self.fresh("a"), NUM)])
        sc = Scope(dict(sig.params), calls=list(self.functions))
        body, sc = self.function_body(sc, self.rng.randint(2, 4))
        body.append(f"return {o}.m({self.int_expr(sc, 1)}) + {o}.n() + {self.num_expr(sc, 1)}")
        self.definitions.append("\n".join([f"def {sig.name}({o}, {sig.params[1][0]}):"] + self.indent(body)))
        self.call_site(sig.name, self.arguments(sig, None))
        self.call_site("getattr", 'objs[i % len(objs)], "kind"', "kind")

    def bounded_method(self, sc: Scope) -> str:
        return f"(self.a * x + self.b) % {self.rng.choice(MODULI)}" if self.chance(0.5) else self.num_expr(sc, 1)

    def generator_part(self) -> None:
        gen, outer = self.fresh("gen"), self.fresh("gen")
        sc = Scope({"n": INT, "x": NUM, "acc": NUM, "k": INT})
        value = self.num_expr(sc, 2)
        raise_line = []
        if self.chance(0.4):
            raise_line = [f"            if {self.cond(sc)}:", "                raise E0(k)"]
        self.definitions.append("\n".join([
            f"def {gen}(n, x):",
            "    acc = 0",
            "    try:",
            "        for k in range(n):",
            *raise_line,
            f"            got = yield ({value}) % {self.rng.choice(MODULI)}",
            "            if got is not None:",
            f"                acc = (acc + got) % {self.rng.choice(MODULI)}",
            "    finally:",
            f"        print({gen!r}, \"finally\", repr(acc))",
            "    return acc",
            "",
            "",
            f"def {outer}(n, x):",
            f"    total = yield from {gen}(n, x)",
            "    yield total",
            f"    yield from [{self.num_const()}, total]",
        ]))
        x = self.argument(NUM, None)
        self.call_site("list", f"{outer}(i % 5, {x})", f"{outer}-list")
        drive = self.fresh("drive")
        steps = self.rng.choice((
            [f"g = {gen}(i % 4 + 1, x)", "print(next(g), g.send(y))", "g.close()"],
            [f"g = {outer}(i % 3 + 1, x)", "print(next(g), next(g), g.send(y))"],
            [f"g = {gen}(3, x)", "print(next(g))", "print(g.throw(ValueError(\"thrown\")))"],
            [f"print(sum({gen}(i % 6, x)))"],
            [f"print([v for v in {outer}(2, x)])"],
        ))
        self.definitions.append("\n".join([f"def {drive}(i, x, y):", "    try:", *self.indent(self.indent(steps)),
                                           "    except StopIteration as e:", "        print(\"stop\", repr(e.value))"]))
        self.call_site(drive, f"i, {x}, {self.argument(NUM, None)}")

    def coroutine_part(self) -> None:
        """A coroutine awaiting, driven by hand: send() resumes it with a value, throw() with an error."""
        name, drive = self.fresh("co"), self.fresh("drive")
        sc = Scope({"n": INT, "x": NUM, "acc": NUM, "k": INT})
        self.definitions.append("\n".join([
            f"async def {name}(n, x):",
            "    acc = 0",
            "    for k in range(n):",
            f"        got = await Ready({self.num_expr(sc, 1)})",
            f"        acc = (acc + (got or 0)) % {self.rng.choice(MODULI)}",
            f"        if {self.cond(sc, 0)}:",
            "            acc = acc + await Ready(k)",
            "    return acc",
            "",
            "",
            f"def {drive}(i, x, y):",
            f"    c = {name}(i % 5, x)",
            "    out = []",
            "    try:",
            "        out.append(c.send(None))",
            "        while True:",
            f"            out.append(c.send(y) if len(out) < {self.rng.randint(1, 4)} else c.throw(E0(len(out))))",
            "    except StopIteration as e:",
            "        out.append(e.value)",
            "    return out",
        ]))
        self.call_site(drive, f"i, {self.argument(NUM, None)}, {self.argument(NUM, None)}")

    def recursion_part(self) -> None:
        name = self.fresh("rec")
        sc = Scope({"n": INT, "x": NUM})
        step = self.num_expr(sc, 1)
        raise_line = []
        if self.chance(0.3):
            raise_line = [f"    if n == {self.rng.randint(0, 6)} and {self.cond(sc, 0)}:", "        raise E0(n)"]
        self.definitions.append("\n".join([
            f"def {name}(n, x):",
            "    if n <= 0:",
            "        return x",
            *raise_line,
            f"    return ({name}(n - 1, {step}) {self.rng.choice(ARITH)} n) % {self.rng.choice(MODULI)}",
        ]))
        self.call_site(name, f"i % 15, {self.argument(NUM, None)}")

    def closure_part(self) -> None:
        maker = self.fresh("make")
        sc = Scope({"total": NUM, "b": NUM, "a": NUM})
        self.definitions.append("\n".join([
            f"def {maker}(a):",
            "    total = a",
            "",
            "    def add(b):",
            "        nonlocal total",
            f"        total = ({self.num_expr(sc, 1)}) % {self.rng.choice(MODULI)}",
            f"        return total {self.rng.choice(ARITH)} b",
            "",
            "    return add",
        ]))
        adder = self.fresh("adder")
        self.setup.append(f"{adder} = {maker}({self.num_const()})")
        self.call_site(adder, self.argument(NUM, None))
        lambdas = self.fresh("lambdas")
        self.definitions.append(f"def {lambdas}(i):\n    return [h(i) for h in [lambda v, j=j: v * j for j in range(3)]]")
        self.call_site(lambdas, "i")

    def escape_part(self) -> None:
        """The last round lets an exception out of main: its traceback is compared too."""
        sig = self.rng.choice(self.functions)
        self.after.append(f"if r == 2:\n    return {self.call(sig, Scope({'i': INT}))}")

    def generate(self) -> str:
        if self.chance(0.6):
            self.globals_part()
        for _ in range(self.rng.randint(1, 2)):
            self.numeric_part()
        parts = [self.class_part, self.generator_part, self.coroutine_part, self.recursion_part, self.closure_part]
        for part in parts:
            if self.chance(0.4):
                part()
        if self.chance(0.3):
            self.numeric_part()   # one that may call the others
        if self.chance(0.25):
            self.escape_part()
        self.rng.shuffle(self.calls)
        # entries may span lines, each indented relative to the entry's first
        loop = [line for entry in self.calls + self.events for line in entry.split("\n")]
        main = ["def main(r):"]
        if self.mutated_globals:
            main.append(f"    global {', '.join(sorted(self.mutated_globals))}")
        main += self.indent(self.setup)
        main.append(f"    for i in range({self.iterations}):")
        main += self.indent(self.indent(loop))
        for block in self.after:
            main += self.indent(block.split("\n"))
        main.append("    return r")
        return "\n\n".join([PRELUDE] + self.definitions + ["\n".join(main)]) + "\n"


def generate(seed: str) -> str:
    """The source of the program for a seed (any string; the same seed gives the same program)."""
    return Generator(seed).generate()
