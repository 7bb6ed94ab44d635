"""Coroutines and async generators: await, async for, async with, their error messages, under asyncio."""
import asyncio
import types

import pytest

import pyjion
from differential import check, jit, outcome


async def leaf(x):
    await asyncio.sleep(0)
    return x * 2


async def ticker(n):
    for i in range(n):
        await asyncio.sleep(0)
        yield i


async def failing_ticker():
    yield 1
    raise KeyError("in async gen")


class AsyncManager:
    def __init__(self, log, suppress=False):
        self.log, self.suppress = log, suppress

    async def __aenter__(self):
        self.log.append("enter")
        return self

    async def __aexit__(self, t, v, tb):
        self.log.append(("exit", t and t.__name__))
        return self.suppress


class Awaitable:
    def __await__(self):
        yield from asyncio.sleep(0).__await__()
        return "custom"


class BadAwait:
    def __await__(self):
        return 42


class NoANext:
    def __aiter__(self):
        return self


class BadANext:
    def __aiter__(self):
        return self

    def __anext__(self):
        return 42


@types.coroutine
def legacy():
    yield
    return "legacy"


async def awaits():
    return [await leaf(4), await Awaitable(), await legacy(), await asyncio.gather(leaf(1), leaf(2)),
            await asyncio.ensure_future(leaf(7))]


async def async_fors():
    out = [v async for v in ticker(3)]
    async for v in ticker(5):
        if v == 1:
            continue
        if v == 3:
            break
        out.append(v)
    try:
        async for v in failing_ticker():
            out.append(v)
    except KeyError as e:
        out.append(repr(e))
    return out


async def async_withs():
    log = []
    async with AsyncManager(log) as m:
        log.append(type(m).__name__)
    async with AsyncManager(log, suppress=True):
        raise ValueError("suppressed")
    try:
        async with AsyncManager(log):
            raise ValueError("escapes")
    except ValueError as e:
        log.append(str(e))
    return log


async def await_errors(k):
    if k == 0:
        await 5
    if k == 1:
        await BadAwait()
    if k == 2:
        async with 5:
            pass
    if k == 3:
        async for _ in 5:
            pass
    if k == 4:
        async for _ in NoANext():
            pass
    if k == 5:
        async for _ in BadANext():
            pass
    coro = leaf(1)
    await coro
    await coro  # cannot reuse


class Returns:
    """A callable instance as a class attribute: the type's slot calls it unbound (no self), as
    ``lookup_maybe_method`` does for what is not a function; unittest.mock's async magic methods are these."""

    def __init__(self, make):
        self.make = make

    def __call__(self, *args):
        return self.make(*args)


class SlotProtocol:
    __aiter__ = Returns(lambda: SlotIterator())
    __await__ = Returns(lambda: iter([None]))


class SlotIterator:
    left = 2
    __anext__ = Returns(lambda: leaf(SlotIterator.take()))

    @classmethod
    def take(cls):
        if cls.left == 0:
            cls.left = 2
            raise StopAsyncIteration
        cls.left -= 1
        return cls.left


async def async_protocol_through_slots(k):
    from unittest import mock
    if k == 0:
        m = mock.AsyncMock(name="tester")
        m.__aiter__.return_value = [1, 2, 3]
        return [i async for i in m]
    if k == 1:
        m = mock.MagicMock()
        m.__aiter__.return_value = iter([4, 5])
        return [i async for i in m]
    await SlotProtocol()
    return [i async for i in SlotProtocol()]


def run(coroutine_function, *args):
    return lambda: asyncio.run(coroutine_function(*args))


CASES = [("awaits", run(awaits)), ("async_fors", run(async_fors)), ("async_withs", run(async_withs))] + [
    (f"await_errors_{k}", run(await_errors, k)) for k in range(7)] + [
    (f"async_protocol_through_slots_{k}", run(async_protocol_through_slots, k)) for k in range(3)]
COROUTINES = [leaf, ticker, failing_ticker, awaits, async_fors, async_withs, await_errors, async_protocol_through_slots,
              AsyncManager.__aenter__, AsyncManager.__aexit__]


@pytest.mark.parametrize("name,driver", CASES, ids=[name for name, _ in CASES])
def test_coroutines(name, driver):
    check(driver, compiled=False)


def test_coroutine_functions_compile():
    for _, driver in CASES:
        with jit():
            outcome(driver)
    for function in COROUTINES:
        info = pyjion.info(function)
        assert info.compiled, f"{function.__qualname__}: {info.compile_result!r} {info.reason}"
