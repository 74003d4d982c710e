"""The intake journal's statements: append accepted requests, take them when applied, reclaim the orphaned."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Table, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from prism_ir.store.tables_ingest import AlertIntakeRow

_T: Table = AlertIntakeRow.__table__  # type: ignore[assignment]

# PostgreSQL, outside any transaction: the statement commits on its own, so an id returned is a durable promise.
APPEND_PG = """
INSERT INTO alert_intake (service_id, source, body, alerts, received_at, lease_until, attempts, last_error)
SELECT s, src, b, n, r, l, 0, '' FROM unnest($1::varchar[], $2::varchar[], $3::bytea[], $4::int[],
    $5::timestamptz[], $6::timestamptz[]) WITH ORDINALITY AS u(s, src, b, n, r, l, ord)
ORDER BY ord RETURNING id
"""


@dataclass(frozen=True, slots=True)
class IntakeEntry:
    service_id: str
    source: str
    body: bytes
    alerts: int
    received_at: datetime
    lease_until: datetime


@dataclass(frozen=True, slots=True)
class Orphan:
    """A journal row whose lease ran out: its process died (or stalled) before applying it."""

    id: int
    service_id: str
    source: str
    body: bytes
    received_at: datetime
    attempts: int


def pg_append_args(entries: Sequence[IntakeEntry]) -> list[list[object]]:
    return [[e.service_id for e in entries], [e.source for e in entries], [e.body for e in entries],
            [e.alerts for e in entries], [e.received_at for e in entries], [e.lease_until for e in entries]]


async def append(session: AsyncSession, entries: Sequence[IntakeEntry]) -> list[int]:
    """Portable form (SQLite, tests): ids in the order of `entries`; durable once the caller commits."""
    rows = [{"service_id": e.service_id, "source": e.source, "body": e.body, "alerts": e.alerts,
             "received_at": e.received_at, "lease_until": e.lease_until, "attempts": 0, "last_error": ""}
            for e in entries]
    stmt = insert(_T).returning(_T.c.id, sort_by_parameter_order=True)
    return [int(i) for i in (await session.execute(stmt, rows)).scalars()]


async def take(session: AsyncSession, ids: Sequence[int]) -> set[int]:
    """Delete the rows being applied, in the applying transaction; rows another process took are not returned.

    The delete locks what it finds, so two processes applying the same row serialise and only one gets it.
    """
    if not ids:
        return set()
    result = await session.execute(delete(_T).where(_T.c.id.in_(list(ids))).returning(_T.c.id))
    return {int(i) for i in result.scalars()}


async def reclaim(session: AsyncSession, now: datetime, lease_until: datetime, limit: int,
                  max_attempts: int) -> list[Orphan]:
    """Take over rows whose lease has run out (oldest first), extending the lease and counting the attempt."""
    pick = (select(_T.c.id).where(_T.c.lease_until <= now, _T.c.attempts < max_attempts)
            .order_by(_T.c.id).limit(limit).with_for_update(skip_locked=True))
    rows = (await session.execute(
        update(_T).where(_T.c.id.in_(pick.scalar_subquery()))
        .values(lease_until=lease_until, attempts=_T.c.attempts + 1)
        .returning(_T.c.id, _T.c.service_id, _T.c.source, _T.c.body, _T.c.received_at, _T.c.attempts))).all()
    return sorted((Orphan(int(r.id), r.service_id, r.source, bytes(r.body), r.received_at, int(r.attempts))
                   for r in rows), key=lambda o: o.id)


async def record_failure(session: AsyncSession, ids: Sequence[int], error: str, give_up_at: int | None = None) -> None:
    """Say why applying failed; with `give_up_at`, stop retrying (the row stays, counted as stuck)."""
    if ids:
        values: dict[str, object] = {"last_error": error[:2000]}
        if give_up_at is not None:
            values["attempts"] = give_up_at
        await session.execute(update(_T).where(_T.c.id.in_(list(ids))).values(**values))


async def counts(session: AsyncSession, max_attempts: int) -> tuple[int, int]:
    """(rows waiting to be applied, rows given up on after `max_attempts` takeovers)."""
    waiting = (await session.execute(select(func.count()).select_from(_T)
                                     .where(_T.c.attempts < max_attempts))).scalar_one()
    stuck = (await session.execute(select(func.count()).select_from(_T)
                                   .where(_T.c.attempts >= max_attempts))).scalar_one()
    return int(waiting), int(stuck)
