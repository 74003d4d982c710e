"""PostgreSQL fast paths, one self-committing statement each, no ORM: repeats of open alerts, journal appends."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

import asyncpg
from sqlalchemy.engine import make_url

from prism_ir.domain.incident import OPEN_STATUSES
from prism_ir.store.intake import APPEND_PG, IntakeEntry, pg_append_args

_OPEN = sorted(str(s) for s in OPEN_STATUSES)

# Mirrors the first rule of domain.grouping.group: a firing alert whose stored twin is open and linked to an
# open incident is a Dedup, whatever the rules and silences say. Anything else takes the general path.
# One statement, so one round trip and all-or-nothing: rows are counted only if every fingerprint qualifies.
# A row locked by a transaction applying queued work is skipped, which fails the statement instead of waiting:
# the request then queues behind that work rather than stalling its answer.
_BUMP_ALL = """
WITH cand AS (
    SELECT a.id FROM alerts AS a
    WHERE a.service_id = $1 AND a.fingerprint = ANY($2::varchar[]) AND a.resolved_at IS NULL
      AND a.incident_id IS NOT NULL
      AND EXISTS (SELECT 1 FROM incidents AS i WHERE i.id = a.incident_id AND i.status = ANY($4::varchar[]))
    ORDER BY a.fingerprint
    FOR UPDATE OF a SKIP LOCKED
), upd AS (
    UPDATE alerts SET occurrences = alerts.occurrences + 1, last_seen = $3
    WHERE alerts.id IN (SELECT id FROM cand) AND (SELECT count(*) FROM cand) = cardinality($2::varchar[])
    RETURNING 1
)
SELECT count(*) FROM upd
"""


class DedupFastPath:
    """A small asyncpg pool of its own (per process and event loop) for the two single-statement paths."""

    def __init__(self, url: str, max_size: int = 10) -> None:
        u = make_url(url)
        self._dsn = u.set(drivername="postgresql").render_as_string(hide_password=False)
        self._max = max_size
        self._pool: asyncpg.Pool | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = asyncio.Lock()

    async def _get(self) -> asyncpg.Pool:
        loop = asyncio.get_running_loop()
        if self._pool is None or self._loop is not loop:
            async with self._lock:
                if self._pool is None or self._loop is not loop:
                    # Custom plans: a plan cached while the table was empty must not outlive its growth.
                    self._pool = await asyncpg.create_pool(
                        self._dsn, min_size=1, max_size=self._max,
                        server_settings={"plan_cache_mode": "force_custom_plan"},
                    )
                    self._loop = loop
        return self._pool

    async def bump_all(self, service_id: str, fingerprints: list[str], now: datetime) -> bool:
        """Count a repeat for every fingerprint and commit, or change nothing and return False."""
        pool = await self._get()
        async with pool.acquire() as conn:
            # Outside an explicit transaction the statement is its own: committed (durable) when it returns.
            updated = await conn.fetchval(_BUMP_ALL, service_id, sorted(fingerprints), now, _OPEN)
        return bool(updated == len(fingerprints))

    async def append_intake(self, entries: Sequence[IntakeEntry]) -> list[int]:
        """Journal accepted requests in one self-committing statement; ids in the order of `entries`."""
        pool = await self._get()
        async with pool.acquire() as conn:
            rows = await conn.fetch(APPEND_PG, *pg_append_args(entries))
        return [int(r[0]) for r in rows]

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


_Waiter = tuple[list[str], datetime, "asyncio.Future[bool]"]


class CoalescingDedup:
    """Merge concurrent all-dedup requests of a service into one statement (one commit) while one is in flight.

    Each caller still learns only after the commit that covers its alerts. Nothing waits on a timer: when
    the database is idle a request goes alone; under load the queue that built up goes together.
    """

    def __init__(self, fast: DedupFastPath) -> None:
        self.fast = fast
        self._pending: dict[str, list[_Waiter]] = {}
        self._draining: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def bump_all(self, service_id: str, fingerprints: list[str], now: datetime) -> bool:
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(service_id, []).append((fingerprints, now, fut))
        if service_id not in self._draining:
            self._draining.add(service_id)
            task = asyncio.get_running_loop().create_task(self._drain(service_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await fut

    async def _drain(self, service_id: str) -> None:
        try:
            while self._pending.get(service_id):
                queued = self._pending.pop(service_id)
                take: list[_Waiter] = []
                rest: list[_Waiter] = []
                seen: set[str] = set()
                for waiter in queued:  # a fingerprint twice in one statement would be counted once
                    if seen.isdisjoint(waiter[0]):
                        take.append(waiter)
                        seen.update(waiter[0])
                    else:
                        rest.append(waiter)
                if rest:
                    self._pending[service_id] = rest + self._pending.get(service_id, [])
                await self._flush(service_id, take)
        finally:
            self._draining.discard(service_id)

    async def _flush(self, service_id: str, take: list[_Waiter]) -> None:
        try:
            fps = [fp for waiter in take for fp in waiter[0]]
            ok = await self.fast.bump_all(service_id, fps, max(w[1] for w in take))
            if ok or len(take) == 1:
                results: list[bool | BaseException] = [ok] * len(take)
            else:  # some request holds a new alert: let each try alone, so the others still go fast
                results = await asyncio.gather(*(self.fast.bump_all(service_id, w[0], w[1]) for w in take),
                                               return_exceptions=True)
        except Exception as exc:
            results = [exc] * len(take)
        for waiter, result in zip(take, results, strict=True):
            if waiter[2].done():
                continue
            if isinstance(result, BaseException):
                waiter[2].set_exception(result)
            else:
                waiter[2].set_result(result)

    async def close(self) -> None:
        await self.fast.close()
