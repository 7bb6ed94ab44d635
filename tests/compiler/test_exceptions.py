"""try/except/finally/else, raise, with and except*: plain vs. compiled, handlers running as native code."""
import sys

import pytest

from differential import check


def caught(x):
    try:
        return 1 / x
    except ZeroDivisionError as e:
        return "caught", str(e)


def not_caught(x):
    try:
        return [][x]
    except KeyError:
        return "wrong"


def tuple_match(d, k):
    try:
        return d[k]
    except (IndexError, KeyError) as e:
        return type(e).__name__


def bad_except_class():
    try:
        1 / 0
    except 42:  # noqa: B030
        return "unreachable"


def name_deleted_after_except():
    try:
        raise ValueError("v")
    except ValueError as e:
        first = str(e)
    try:
        return first, e  # noqa: F821 - unbound: except-as deletes it
    except UnboundLocalError as u:
        return first, str(u)


def else_and_finally(x):
    log = []
    try:
        log.append("try")
        if x:
            raise RuntimeError(x)
    except RuntimeError:
        log.append("except")
    else:
        log.append("else")
    finally:
        log.append("finally")
    return log


def return_in_finally_swallows():
    try:
        raise ValueError("lost")
    finally:
        return "finally wins"  # noqa: B012


def finally_overrides_return():
    try:
        return "try"
    finally:
        return "finally"  # noqa: B012


def finally_propagates(x):
    out = []
    try:
        out.append(1)
        return 10 // x
    finally:
        out.append(2)


def loop_control(n):
    out = []
    for i in range(n):
        try:
            if i % 3 == 0:
                continue
            if i == 7:
                break
            out.append(i)
        finally:
            out.append(-i)
    return out


def nested(x):
    try:
        try:
            return {}[x]
        except KeyError:
            raise ValueError("inner") from None
        finally:
            x += 1
    except ValueError as e:
        return str(e), e.__suppress_context__, x


def chained_in_handler():
    try:
        1 / 0
    except ZeroDivisionError:
        return undefined_name  # noqa: F821


def error_in_finally():
    try:
        raise KeyError("first")
    finally:
        [][1]


def bare_reraise(x):
    try:
        return 10 / x
    except ZeroDivisionError:
        raise


def reraise_elsewhere():
    raise


def bare_raise_in_callee():
    try:
        {}["k"]
    except KeyError:
        reraise_elsewhere()


def bare_raise_nothing_active():
    raise


class NotAnException:
    pass


class BadInit(Exception):
    def __init__(self):
        raise OSError("from __init__")


class WeirdNew(BaseException):
    def __new__(cls):
        return 42


def raise_forms(k):
    if k == 0:
        raise ValueError
    if k == 1:
        raise ValueError("instance")
    if k == 2:
        raise ValueError("with cause") from KeyError("cause")
    if k == 3:
        raise ValueError("cause class") from KeyError
    if k == 4:
        raise NotAnException
    if k == 5:
        raise BadInit
    if k == 6:
        raise WeirdNew
    if k == 7:
        raise ValueError("bad cause") from 5
    if k == 8:
        raise ValueError("from None") from None
    raise BadInit() from BadInit


def exc_info_states():
    states = [sys.exc_info()[0]]
    try:
        raise KeyError(1)
    except KeyError:
        states.append(sys.exc_info()[0])
        try:
            raise IndexError(2)
        except IndexError:
            states.append(sys.exc_info()[0])
        states.append(sys.exc_info()[0])
    states.append(sys.exc_info()[0])
    return states


def handler_in_loop(n):
    total = 0
    for i in range(n):
        try:
            total += 100 // (i % 4)
        except ZeroDivisionError:
            total -= 1
    return total


class Manager:
    def __init__(self, log, suppress=False, fail_exit=False):
        self.log, self.suppress, self.fail_exit = log, suppress, fail_exit

    def __enter__(self):
        self.log.append("enter")
        return self

    def __exit__(self, t, v, tb):
        self.log.append(("exit", t and t.__name__, str(v) if v else None, tb is not None))
        if self.fail_exit:
            raise RuntimeError("exit failed")
        return self.suppress


def with_forms(k):
    log = []
    if k == 0:
        with Manager(log) as m:
            log.append(m is not None)
    elif k == 1:
        with Manager(log, suppress=True):
            raise KeyError("suppressed")
    elif k == 2:
        with Manager(log):
            raise KeyError("escapes")
    elif k == 3:
        with Manager(log, fail_exit=True):
            raise KeyError("context")
    elif k == 4:
        for i in range(4):
            with Manager(log):
                if i == 1:
                    continue
                if i == 2:
                    break
        with Manager(log), Manager(log, suppress=True):
            log.append("nested")
            1 / 0
    elif k == 5:
        with Manager(log):
            return log
    return log


class OnlyEnter:
    def __enter__(self):
        return self


def with_errors(k):
    if k == 0:
        with 42:
            pass
    with OnlyEnter():
        pass


def except_star(k):
    try:
        if k == 0:
            raise ExceptionGroup("eg", [ValueError(1), KeyError(2)])
        raise TypeError("plain")
    except* ValueError as eg:
        caught = repr(eg.exceptions)
    except* (KeyError, TypeError) as eg:
        caught = repr(eg.exceptions)
    return caught


def except_star_reraises():
    try:
        raise ExceptionGroup("eg", [ValueError(1), KeyError(2)])
    except* ValueError:
        pass


def assert_in_try(x):
    try:
        assert x > 0, "positive"
    except AssertionError as e:
        return "assert", str(e)
    return "ok"


def missing_method_caught(x):
    # _PyObject_GetMethod leaves its out-parameter unwritten on failure (a crash found by the stdlib run).
    try:
        return x.is_finite()
    except AttributeError:
        return "no method"


CASES = [
    (missing_method_caught, (1.5,)),
    (caught, (2,)), (caught, (0,)), (not_caught, (3,)), (tuple_match, ([1], 5)), (tuple_match, ({}, "k")),
    (tuple_match, ({"k": 1}, "k")), (bad_except_class, ()), (name_deleted_after_except, ()),
    (else_and_finally, (0,)), (else_and_finally, ("boom",)), (return_in_finally_swallows, ()),
    (finally_overrides_return, ()), (finally_propagates, (2,)), (finally_propagates, (0,)), (loop_control, (12,)),
    (nested, ("k",)), (chained_in_handler, ()), (error_in_finally, ()), (bare_reraise, (0,)), (bare_reraise, (5,)),
    (bare_raise_in_callee, ()), (bare_raise_nothing_active, ()), (exc_info_states, ()), (handler_in_loop, (50,)),
    (assert_in_try, (1,)), (assert_in_try, (-1,)), (except_star, (0,)), (except_star, (1,)),
    (except_star_reraises, ()),
] + [(raise_forms, (k,)) for k in range(10)] + [(with_forms, (k,)) for k in range(6)] + [
    (with_errors, (k,)) for k in range(2)]


@pytest.mark.parametrize("func,args", CASES, ids=lambda v: getattr(v, "__name__", None) or repr(v)[:20])
def test_exceptions(func, args):
    check(func, *args)

