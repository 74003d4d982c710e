"""Group commit: requests that arrive while a transaction is in flight share the next one (one commit for many)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class _Waiter(Generic[T, R]):
    item: T
    size: int
    future: asyncio.Future[R] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class GroupCommit(Generic[T, R]):
    """Per key, at most one transaction in flight; whatever queued meanwhile goes together in the next one.

    `run(key, items)` applies items in ONE transaction and returns one result per item, or raises. When a merged
    run fails, each item is run alone, so one bad request cannot fail the others. A caller hears back only after
    the commit covering its item. Nothing waits on a timer: an idle system runs each request at once.
    Items whose `exclusive(item)` tokens overlap must not share a transaction (they go in consecutive ones).
    """

    def __init__(self, run: Callable[[Hashable, list[T]], Awaitable[list[R]]], max_size: int = 1000,
                 exclusive: Callable[[T], Iterable[Hashable]] | None = None) -> None:
        self.run = run
        self.max_size = max_size
        self.exclusive = exclusive
        self._pending: dict[Hashable, list[_Waiter[T, R]]] = {}
        self._draining: set[Hashable] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.transactions = 0  # batches run (for tests and metrics)
        self.retried_alone = 0  # items re-run alone after their batch failed

    async def submit(self, key: Hashable, item: T, size: int = 1) -> R:
        return await self.enqueue(key, item, size)

    def enqueue(self, key: Hashable, item: T, size: int = 1) -> asyncio.Future[R]:
        """Queue an item and return its future without waiting (the caller may drop it)."""
        waiter: _Waiter[T, R] = _Waiter(item, size)
        self._pending.setdefault(key, []).append(waiter)
        if key not in self._draining:
            self._draining.add(key)
            task = asyncio.get_running_loop().create_task(self._drain(key))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return waiter.future

    def busy(self, key: Hashable) -> bool:
        """A transaction for `key` is in flight or queued: a new item would wait for it."""
        return key in self._draining

    async def drained(self) -> None:
        """Wait until everything queued so far has run (on shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _take(self, key: Hashable) -> list[_Waiter[T, R]]:
        queued = self._pending.pop(key)
        take: list[_Waiter[T, R]] = []
        size = 0
        rest: list[_Waiter[T, R]] = []
        used: set[Hashable] = set()
        for waiter in queued:
            if rest:  # keep arrival order: once one waits, the ones behind it wait too
                rest.append(waiter)
                continue
            tokens = list(self.exclusive(waiter.item)) if self.exclusive else []
            if (not take or size + waiter.size <= self.max_size) and used.isdisjoint(tokens):
                take.append(waiter)
                size += waiter.size
                used.update(tokens)
            else:
                rest.append(waiter)
        if rest:
            self._pending[key] = rest + self._pending.get(key, [])
        return take

    async def _drain(self, key: Hashable) -> None:
        try:
            while self._pending.get(key):
                await self._flush(key, self._take(key))
        finally:
            self._draining.discard(key)

    async def _flush(self, key: Hashable, take: list[_Waiter[T, R]]) -> None:
        results: Sequence[Any]
        try:
            self.transactions += 1
            results = await self.run(key, [w.item for w in take])
        except Exception as exc:
            if len(take) == 1:
                results = [exc]
            else:
                results = []
                for w in take:
                    self.retried_alone += 1
                    try:
                        results.append((await self.run(key, [w.item]))[0])
                    except Exception as one:
                        results.append(one)
        for waiter, result in zip(take, results, strict=True):
            if waiter.future.done():
                continue
            if isinstance(result, BaseException):
                waiter.future.set_exception(result)
            else:
                waiter.future.set_result(result)
