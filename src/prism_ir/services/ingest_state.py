"""Plain state shared by the ingest service: results, a round's pending writes, a small TTL cache."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from prism_ir.domain.alert import AlertIn, AlertStatus


@dataclass
class IngestResult:
    received: int = 0
    queued: int = 0  # journaled, applied right after this answer
    deduplicated: int = 0
    opened: list[int] = field(default_factory=list)
    attached: int = 0
    held: int = 0
    silenced: int = 0
    resolved: int = 0
    acknowledged: int = 0
    ignored: int = 0
    incidents_resolved: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


@dataclass
class WriteSet:
    """The writes one pass over a batch decided on, applied set-wise."""

    bumps: list[dict[str, Any]] = field(default_factory=list)
    holds: list[dict[str, Any]] = field(default_factory=list)
    new_rows: list[dict[str, Any]] = field(default_factory=list)
    close_ids: list[int] = field(default_factory=list)
    resolve_ids: list[int] = field(default_factory=list)
    opens: list[tuple[AlertIn, str]] = field(default_factory=list)  # alerts whose group needs a new incident
    # incident ids: negative = the incident opened by opens[-id - 1] in this round
    links: list[tuple[int, int]] = field(default_factory=list)  # stored alert row id -> incident id
    new_links: list[tuple[int, int]] = field(default_factory=list)  # index in new_rows -> incident id
    notes: list[tuple[int, str]] = field(default_factory=list)
    acks: list[tuple[int, AlertIn]] = field(default_factory=list)  # incident to acknowledge, by this alert


class Tally:
    """Whose result an alert counts towards when several requests share one transaction (by alert object)."""

    def __init__(self) -> None:
        self._by: dict[int, IngestResult] = {}

    def add(self, alerts: Iterable[AlertIn], result: IngestResult) -> None:
        for alert in alerts:
            self._by[id(alert)] = result

    def __call__(self, alert: AlertIn) -> IngestResult:
        return self._by[id(alert)]


class SeenSet:
    """Fingerprints this process ingested lately (bounded): a hint that an alert is a repeat, not a first firing."""

    def __init__(self, limit: int = 200_000) -> None:
        self.limit = limit
        self._keys: set[tuple[str, str]] = set()

    def has_all(self, service_id: str, fingerprints: Iterable[str]) -> bool:
        keys = self._keys
        return all((service_id, fp) in keys for fp in fingerprints)

    def add(self, service_id: str, fingerprints: Iterable[str]) -> None:
        if len(self._keys) > self.limit:
            self._keys.clear()
        self._keys.update((service_id, fp) for fp in fingerprints)


class QueuedStops:
    """Fingerprints with a queued resolve or acknowledge in this process.

    Repeats of a firing alert commute (each only counts), so the fast path may overtake queued work, except a
    queued event that ends or changes the alert: a repeat of such a fingerprint waits in the queue behind it.
    """

    def __init__(self) -> None:
        self._held: Counter[tuple[str, str]] = Counter()

    def hold(self, service_id: str, alerts: Iterable[AlertIn], until: asyncio.Future[Any]) -> None:
        keys = [(service_id, a.fingerprint) for a in alerts if a.status is not AlertStatus.FIRING]
        if keys:
            self._held.update(keys)
            until.add_done_callback(lambda _: self._release(keys))

    def _release(self, keys: list[tuple[str, str]]) -> None:
        self._held.subtract(keys)
        for key in keys:
            if self._held[key] <= 0:
                del self._held[key]

    def has_any(self, service_id: str, alerts: Iterable[AlertIn]) -> bool:
        held = self._held
        return bool(held) and any((service_id, a.fingerprint) in held for a in alerts)


class TTLCache:
    """A tiny time-bounded cache for keys and service rules; concurrent misses of a key share one load."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._data: dict[Any, tuple[float, Any]] = {}
        self._loading: dict[Any, asyncio.Future[Any]] = {}
        self._generation = 0

    async def get_or_load(self, key: Any, load: Callable[[Any], Awaitable[Any]]) -> Any:
        """The cached value, else `load(key)`'s (cached; not None): a storm on a cold or expired entry reads it
        once."""
        cached = self.get(key)
        if cached is not None:
            return cached
        loading = self._loading.get(key)
        if loading is not None:
            return await asyncio.shield(loading)
        loading = self._loading[key] = asyncio.get_running_loop().create_future()
        generation = self._generation
        try:
            value = await load(key)
        except BaseException as exc:
            loading.set_exception(exc)
            loading.exception()  # retrieved: the waiters, if any, get it too
            raise
        else:
            if generation == self._generation:  # not cleared meanwhile: the value may predate the change
                self.put(key, value)
            loading.set_result(value)
            return value
        finally:
            if self._loading.get(key) is loading:
                del self._loading[key]

    def get(self, key: Any) -> Any:
        hit = self._data.get(key)
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1]

    def put(self, key: Any, value: Any) -> None:
        if len(self._data) > 10000:
            self._data.clear()
        self._data[key] = (time.monotonic() + self.ttl, value)

    def clear(self) -> None:
        self._data.clear()
        self._loading.clear()  # a load in flight may predate the change: later callers load again
        self._generation += 1
