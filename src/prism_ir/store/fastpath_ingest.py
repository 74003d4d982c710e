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
# One statement for the requests merged by CoalescingDedup, each request all-or-nothing: its rows are counted
# only if every one of its fingerprints qualifies; the statement returns the requests it applied.
# A row locked by a transaction applying queued work is skipped, which fails its request instead of waiting:
# the request then queues behind that work rather than stalling its answer.
_BUMP_REQUESTS = """
WITH input AS (
    SELECT u.req, u.fp FROM unnest($2::int[], $3::varchar[]) AS u(req, fp)
), cand AS (
    SELECT a.id, a.fingerprint FROM alerts AS a
    WHERE a.service_id = $1 AND a.fingerprint = ANY($3::varchar[]) AND a.resolved_at IS NULL
      AND a.incident_id IS NOT NULL
      AND EXISTS (SELECT 1 FROM incidents AS i WHERE i.id = a.incident_id AND i.status = ANY($5::varchar[]))
    ORDER BY a.fingerprint
    FOR UPDATE OF a SKIP LOCKED
), ok AS (
    SELECT input.req FROM input LEFT JOIN cand ON cand.fingerprint = input.fp
    GROUP BY input.req HAVING count(cand.id) = count(*)
), upd AS (
    UPDATE alerts SET occurrences = alerts.occurrences + 1, last_seen = $4
    FROM input JOIN cand ON cand.fingerprint = input.fp
    WHERE alerts.id = cand.id AND input.req IN (SELECT req FROM ok)
    RETURNING input.req
)
SELECT DISTINCT req FROM upd
"""


async def _keep_session(_conn: asyncpg.Connection) -> None:
    """Pool release without asyncpg's reset query: these connections only run self-committing statements and
    never change session state, so the reset would be a wasted round trip per use."""


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
                    # Cached (generic) plans: planning the merged statement cost more than running it. A plan
                    # made while a table was young is replaced when the stats keeper analyzes it (store/stats.py).
                    self._pool = await asyncpg.create_pool(self._dsn, min_size=1, max_size=self._max,
                                                           reset=_keep_session)
                    self._loop = loop
        return self._pool

    async def bump_requests(self, service_id: str, requests: Sequence[Sequence[str]], now: datetime) -> set[int]:
        """Count a repeat for every fingerprint of each request whose fingerprints all qualify, and commit;
        return the indexes of those requests (a fingerprint must not appear in two requests)."""
        reqs = [i for i, fps in enumerate(requests) for _ in fps]
        fps = [fp for r in requests for fp in r]
        pool = await self._get()
        async with pool.acquire() as conn:
            # Outside an explicit transaction the statement is its own: committed (durable) when it returns.
            rows = await conn.fetch(_BUMP_REQUESTS, service_id, reqs, fps, now, _OPEN)
        return {int(r[0]) for r in rows}

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
        results: list[bool | BaseException]
        try:
            ok = await self.fast.bump_requests(service_id, [w[0] for w in take], max(w[1] for w in take))
            results = [i in ok for i in range(len(take))]
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
