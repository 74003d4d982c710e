"""Repositories: rows in, domain objects out, so services never touch SQLAlchemy rows directly."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from prism_ir.domain.incident import Event, Incident, Status
from prism_ir.domain.severity import Severity
from prism_ir.store.tables import AuditRow, IncidentRow, TimelineRow
from prism_ir.store.types import json_safe

_INCIDENT_FIELDS = [f.name for f in fields(Incident) if f.name != "id"]


def incident_from_row(row: IncidentRow) -> Incident:
    values: dict[str, Any] = {name: getattr(row, name) for name in _INCIDENT_FIELDS}
    values["severity"] = Severity(row.severity)
    values["status"] = Status(row.status)
    return Incident(id=row.id, **values)


_ALL_FIELDS = [f.name for f in fields(Incident)]
_PLAIN = (str, int, bool, float, type(None))


def incident_snapshot(incident: Incident) -> dict[str, Any]:
    """Same JSON as json_safe(asdict(incident)), without the deep copy and walk (it runs once per audit row)."""
    out: dict[str, Any] = {}
    for name in _ALL_FIELDS:
        value = getattr(incident, name)
        if isinstance(value, Enum):
            value = value.value
        elif type(value) not in _PLAIN:
            value = json_safe(value)
        out[name] = value
    return out


def incident_values(incident: Incident) -> dict[str, Any]:
    """Column values of an incidents row (without id) for Core inserts."""
    values: dict[str, Any] = {}
    for name in _INCIDENT_FIELDS:
        value = getattr(incident, name)
        values[name] = value.value if isinstance(value, Severity | Status) else value
    values["time_to_acknowledge"] = incident.time_to_acknowledge
    values["time_to_resolve"] = incident.time_to_resolve
    return values


def _fill_row(row: IncidentRow, incident: Incident) -> None:
    for name in _INCIDENT_FIELDS:
        value = getattr(incident, name)
        setattr(row, name, value.value if isinstance(value, Severity | Status) else value)
    row.time_to_acknowledge = incident.time_to_acknowledge
    row.time_to_resolve = incident.time_to_resolve


class IncidentRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, incident: Incident) -> Incident:
        row = IncidentRow()
        _fill_row(row, incident)
        self.session.add(row)
        await self.session.flush()
        return incident_from_row(row)

    async def get(self, incident_id: int, *, for_update: bool = False) -> Incident | None:
        stmt = select(IncidentRow).where(IncidentRow.id == incident_id)
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self.session.execute(stmt)).scalar_one_or_none()
        return incident_from_row(row) if row else None

    async def save(self, incident: Incident) -> Incident:
        row = await self.session.get(IncidentRow, incident.id)
        if row is None:
            raise LookupError(f"incident {incident.id} does not exist")
        _fill_row(row, incident)
        await self.session.flush()
        return incident

    async def list(
        self,
        *,
        statuses: Sequence[str] = (),
        severities: Sequence[str] = (),
        service_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        query: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[Incident], int]:
        stmt = select(IncidentRow)
        if statuses:
            stmt = stmt.where(IncidentRow.status.in_(list(statuses)))
        if severities:
            stmt = stmt.where(IncidentRow.severity.in_(list(severities)))
        if service_id:
            stmt = stmt.where(IncidentRow.service_id == service_id)
        if since:
            stmt = stmt.where(IncidentRow.created_at >= since)
        if until:
            stmt = stmt.where(IncidentRow.created_at < until)
        if query:
            stmt = stmt.where(IncidentRow.title.ilike(f"%{query}%"))
        total = (await self.session.execute(select(func.count()).select_from(stmt.subquery()))).scalar_one()
        rows = (
            await self.session.execute(
                stmt.order_by(IncidentRow.created_at.desc(), IncidentRow.id.desc()).limit(limit).offset(offset)
            )
        ).scalars()
        return [incident_from_row(r) for r in rows], int(total)


class TimelineRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def append(self, incident_id: int, at: datetime, actor: str, event: Event) -> None:
        self.session.add(
            TimelineRow(
                incident_id=incident_id,
                at=at,
                kind=event.kind,
                actor=actor,
                message=event.message,
                data=json_safe(event.data),
            )
        )

    async def for_incident(self, incident_id: int) -> list[TimelineRow]:
        stmt = (
            select(TimelineRow).where(TimelineRow.incident_id == incident_id).order_by(TimelineRow.at, TimelineRow.id)
        )
        return list((await self.session.execute(stmt)).scalars())


class AuditRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record(
        self,
        *,
        at: datetime,
        actor: str,
        entity_type: str,
        entity_id: str | int,
        action: str,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
    ) -> None:
        self.session.add(
            AuditRow(
                at=at,
                actor=actor,
                entity_type=entity_type,
                entity_id=str(entity_id),
                action=action,
                before=json_safe(before) if before is not None else None,
                after=json_safe(after) if after is not None else None,
            )
        )

    async def for_entity(self, entity_type: str, entity_id: str | int) -> list[AuditRow]:
        stmt = (
            select(AuditRow)
            .where(AuditRow.entity_type == entity_type, AuditRow.entity_id == str(entity_id))
            .order_by(AuditRow.id)
        )
        return list((await self.session.execute(stmt)).scalars())
