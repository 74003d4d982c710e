"""Set-based SQL for ingestion: a batch of alerts costs a handful of round trips, not a few per alert."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, any_, bindparam, func, select, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from prism_ir.domain.incident import OPEN_STATUSES
from prism_ir.store import bulk
from prism_ir.store.tables import IncidentRow, IntegrationRow, ServiceRow
from prism_ir.store.tables_ingest import AlertRow
from prism_ir.store.types import UTCDateTime

ALERTS = AlertRow.__table__
_OPEN = [str(s) for s in OPEN_STATUSES]


@dataclass(frozen=True, slots=True)
class StoredAlert:
    id: int
    fingerprint: str
    incident_id: int | None
    incident_status: str | None
    starts_at: datetime | None
    occurrences: int
    hold_count: int
    window_start: datetime | None

    @property
    def incident_open(self) -> bool:
        return self.incident_status in _OPEN


@dataclass(frozen=True, slots=True)
class IntegrationRef:
    id: int
    service_id: str
    type: str


def is_postgres(session: AsyncSession) -> bool:
    return session.bind.dialect.name == "postgresql"  # type: ignore[union-attr]


async def find_integration(session: AsyncSession, key_hash: str) -> IntegrationRef | None:
    row = (await session.execute(
        select(IntegrationRow.id, IntegrationRow.service_id, IntegrationRow.type)
        .where(IntegrationRow.key_hash == key_hash, IntegrationRow.revoked_at.is_(None))
    )).first()
    return IntegrationRef(row[0], row[1], row[2]) if row else None


async def service_settings(session: AsyncSession, service_id: str) -> tuple[bool, dict[str, Any]] | None:
    row = (await session.execute(
        select(ServiceRow.auto_resolve, ServiceRow.settings).where(ServiceRow.id == service_id)
    )).first()
    return (bool(row[0]), dict(row[1] or {})) if row else None


_LOCK_COLS = (AlertRow.id, AlertRow.fingerprint, AlertRow.incident_id, IncidentRow.status, AlertRow.starts_at,
              AlertRow.occurrences, AlertRow.hold_count, AlertRow.window_start)


async def lock_open_alerts(
    session: AsyncSession, service_id: str, fingerprints: Sequence[str]
) -> dict[str, StoredAlert]:
    """Fetch and row-lock the open alerts for these fingerprints, in fingerprint order so batches never deadlock."""
    if is_postgres(session):
        rows = await session.execute(_LOCK_PG, {"sid": service_id, "fps": list(fingerprints)})
    else:
        stmt = _lock_base().where(AlertRow.service_id == service_id, AlertRow.fingerprint.in_(list(fingerprints)))
        rows = await session.execute(stmt)
    return {r[1]: StoredAlert(*r) for r in rows}


def _lock_base() -> Any:
    return (
        select(*_LOCK_COLS)
        .outerjoin(IncidentRow, IncidentRow.id == AlertRow.incident_id)
        .where(AlertRow.resolved_at.is_(None))
        .order_by(AlertRow.fingerprint)
        .with_for_update(of=AlertRow)
    )


# Built once: constructing the statement per request cost more CPU than executing it.
_LOCK_PG = _lock_base().where(
    AlertRow.service_id == bindparam("sid"),
    AlertRow.fingerprint == any_(bindparam("fps", type_=postgresql.ARRAY(String(255)))),
)


async def advisory_lock(session: AsyncSession, keys: Iterable[str]) -> None:
    """Serialise concurrent openers of the same group (PostgreSQL; SQLite writers are serial already)."""
    if not is_postgres(session):
        return
    for key in sorted(set(keys)):
        n = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big", signed=True)
        await session.execute(text("SELECT pg_advisory_xact_lock(:n)"), {"n": n})


async def open_groups(session: AsyncSession, service_id: str, keys: Sequence[str]) -> list[tuple[str, int, datetime]]:
    stmt = (
        select(AlertRow.group_key, AlertRow.incident_id, func.min(IncidentRow.created_at))
        .join(IncidentRow, IncidentRow.id == AlertRow.incident_id)
        .where(AlertRow.service_id == service_id, AlertRow.resolved_at.is_(None),
               AlertRow.group_key.in_(list(keys)), IncidentRow.status.in_(_OPEN))
        .group_by(AlertRow.group_key, AlertRow.incident_id)
    )
    return [(r[0], int(r[1]), r[2]) for r in await session.execute(stmt)]


# The open-alert unique index: a second open row for a fingerprint fails the inserting transaction with it.
OPEN_FINGERPRINT_INDEX = "ux_alerts_open_fingerprint"


async def insert_alerts(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Insert new open alerts, joining the caller's insert batch if there is one.

    A fingerprint another process opened meanwhile violates OPEN_FINGERPRINT_INDEX: the transaction fails and is
    retried by its caller, which then finds that alert open and counts a repeat.
    """
    await bulk.insert_or_defer(session, ALERTS, rows)


_BUMP = (
    update(ALERTS)
    .where(ALERTS.c.id == bindparam("b_id"))
    .values(occurrences=bindparam("b_occ"), last_seen=bindparam("b_seen"))
)
_HOLD = (
    update(ALERTS)
    .where(ALERTS.c.id == bindparam("b_id"))
    .values(occurrences=bindparam("b_occ"), last_seen=bindparam("b_seen"), hold_count=bindparam("b_hold"),
            window_start=bindparam("b_ws"), silenced_by=bindparam("b_sil"))
)
_LINK = update(ALERTS).where(ALERTS.c.id == bindparam("b_id")).values(incident_id=bindparam("b_inc"),
                                                                       silenced_by=None)


# PostgreSQL: one statement over arrays instead of one UPDATE per row (executemany).
_BUMP_PG = text(
    "UPDATE alerts SET occurrences = u.occ, last_seen = :seen FROM unnest(CAST(:ids AS BIGINT[]), "
    "CAST(:occs AS INTEGER[])) AS u(id, occ) WHERE alerts.id = u.id"
).bindparams(bindparam("seen", type_=UTCDateTime))
_LINK_PG = text(
    "UPDATE alerts SET incident_id = u.inc, silenced_by = NULL FROM unnest(CAST(:ids AS BIGINT[]), "
    "CAST(:incs AS INTEGER[])) AS u(id, inc) WHERE alerts.id = u.id"
)


async def bump(session: AsyncSession, params: list[dict[str, Any]]) -> None:
    if not params:
        return
    seen = {p["b_seen"] for p in params}
    if is_postgres(session) and len(params) > 1 and len(seen) == 1:
        await session.execute(_BUMP_PG, {"ids": [p["b_id"] for p in params], "occs": [p["b_occ"] for p in params],
                                         "seen": seen.pop()})
    else:
        await session.execute(_BUMP, params)


async def hold(session: AsyncSession, params: list[dict[str, Any]]) -> None:
    if params:
        await session.execute(_HOLD, params)


async def link_incidents(session: AsyncSession, params: list[dict[str, Any]]) -> None:
    if not params:
        return
    if is_postgres(session) and len(params) > 1:
        await session.execute(_LINK_PG, {"ids": [p["b_id"] for p in params], "incs": [p["b_inc"] for p in params]})
    else:
        await session.execute(_LINK, params)


async def resolve_alerts(session: AsyncSession, ids: Sequence[int], now: datetime, status: str = "resolved") -> None:
    if ids:
        await session.execute(
            update(ALERTS).where(ALERTS.c.id.in_(list(ids))).values(status=status, resolved_at=now, last_seen=now)
        )


async def open_alert_counts(session: AsyncSession, incident_ids: Iterable[int]) -> dict[int, int]:
    ids = sorted(set(incident_ids))
    if not ids:
        return {}
    stmt = (
        select(AlertRow.incident_id, func.count())
        .where(AlertRow.incident_id.in_(ids), AlertRow.resolved_at.is_(None))
        .group_by(AlertRow.incident_id)
    )
    counts = {int(r[0]): int(r[1]) for r in await session.execute(stmt)}
    return {i: counts.get(i, 0) for i in ids}


async def alerts_for_incident(session: AsyncSession, incident_id: int) -> list[AlertRow]:
    stmt = select(AlertRow).where(AlertRow.incident_id == incident_id).order_by(AlertRow.id)
    return list((await session.execute(stmt)).scalars())
