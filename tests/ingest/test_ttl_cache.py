"""The key and rules cache: a storm on a cold or expired entry reads the database once."""

from __future__ import annotations

import asyncio

from prism_ir.services.ingest_state import TTLCache


async def test_concurrent_misses_share_one_load() -> None:
    cache = TTLCache(60)
    loads = 0
    gate = asyncio.Event()

    async def load(_key: str) -> str:
        nonlocal loads
        loads += 1
        await gate.wait()
        return "value"

    waiters = [asyncio.create_task(cache.get_or_load("k", load)) for _ in range(8)]
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*waiters) == ["value"] * 8
    assert loads == 1
    assert await cache.get_or_load("k", load) == "value" and loads == 1  # then cached


async def test_a_failed_load_fails_every_waiter_and_is_not_cached() -> None:
    cache = TTLCache(60)
    gate = asyncio.Event()

    async def broken(_key: str) -> str:
        await gate.wait()
        raise ConnectionError("database down")

    waiters = [asyncio.create_task(cache.get_or_load("k", broken)) for _ in range(3)]
    await asyncio.sleep(0)
    gate.set()
    for outcome in await asyncio.gather(*waiters, return_exceptions=True):
        assert isinstance(outcome, ConnectionError)

    async def works(_key: str) -> str:
        return "back"

    assert await cache.get_or_load("k", works) == "back"


async def test_clearing_during_a_load_keeps_its_stale_value_out() -> None:
    """A key revoked while its lookup was in flight: the next request looks it up again."""
    cache = TTLCache(60)
    gate = asyncio.Event()

    async def old(_key: str) -> str:
        await gate.wait()
        return "before the change"

    first = asyncio.create_task(cache.get_or_load("k", old))
    await asyncio.sleep(0)
    cache.clear()
    gate.set()
    assert await first == "before the change"

    async def new(_key: str) -> str:
        return "after the change"

    assert await cache.get_or_load("k", new) == "after the change"


async def test_an_expired_entry_is_loaded_again() -> None:
    cache = TTLCache(60)
    values = iter(["one", "two"])

    async def load(_key: str) -> str:
        return next(values)

    assert await cache.get_or_load("k", load) == "one"
    cache._data["k"] = (0.0, "one")  # its time ran out (monotonic 0 is long past)
    assert await cache.get_or_load("k", load) == "two"
