"""Incident changes inside a caller's transaction: persist, timeline, audit and hooks in one place."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from prism_ir.domain.incident import Action, Event, Incident, TransitionRefused, new_incident, transition
from prism_ir.domain.severity import Severity
from prism_ir.services.errors import Conflict, NotFound
from prism_ir.services.hooks import IncidentHooks
from prism_ir.store import bulk
from prism_ir.store.repos import AuditRepo, IncidentRepo, TimelineRepo, incident_snapshot, incident_values
from prism_ir.store.tables import AuditRow, IncidentRow, TimelineRow
from prism_ir.store.types import json_safe

_INCIDENTS: Table = IncidentRow.__table__  # type: ignore[assignment]
_TIMELINE: Table = TimelineRow.__table__  # type: ignore[assignment]
_AUDIT: Table = AuditRow.__table__  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class IncidentSpec:
    """What it takes to open one incident; `actor` (if set) overrides the batch's actor for this one."""

    title: str
    severity: Severity
    service_id: str | None = None
    summary: str = ""
    lead: str | None = None
    impact: str = ""
    source: str = "manual"
    actor: str | None = None


class IncidentTx:
    def __init__(self, hooks: IncidentHooks) -> None:
        self.hooks = hooks

    async def record(
        self,
        session: AsyncSession,
        *,
        before: Incident | None,
        after: Incident,
        events: Sequence[Event],
        actor: str,
        now: datetime,
        audit_action: str,
    ) -> Incident:
        """Persist a domain change with its timeline entries, audit row and hooks, atomically."""
        repo = IncidentRepo(session)
        saved = await repo.add(after) if before is None else await repo.save(after)
        assert saved.id is not None
        timeline = TimelineRepo(session)
        for event in events:
            await timeline.append(saved.id, now, actor, event)
        await AuditRepo(session).record(
            at=now,
            actor=actor,
            entity_type="incident",
            entity_id=saved.id,
            action=audit_action,
            before=incident_snapshot(before) if before else None,
            after=incident_snapshot(saved),
        )
        if events:
            await self.hooks.fire(session, saved, events, now)
        return saved

    async def create_in(
        self,
        session: AsyncSession,
        *,
        title: str,
        severity: Severity,
        now: datetime,
        actor: str,
        service_id: str | None = None,
        summary: str = "",
        lead: str | None = None,
        impact: str = "",
        source: str = "manual",
    ) -> Incident:
        spec = IncidentSpec(title=title, severity=severity, service_id=service_id, summary=summary, lead=lead,
                            impact=impact, source=source, actor=actor)
        return (await self.create_many_in(session, [spec], now))[0]

    async def create_many_in(
        self, session: AsyncSession, specs: Sequence[IncidentSpec], now: datetime, actor: str = "system"
    ) -> list[Incident]:
        """Open N incidents: one insert per table for incidents, timeline, audit and the hooks' rows (on PostgreSQL
        all in one statement, ids drawn from the sequence first), one hook call."""
        made = [new_incident(title=s.title, severity=s.severity, now=now, service_id=s.service_id, summary=s.summary,
                             lead=s.lead, impact=s.impact, source=s.source) for s in specs]
        if not made:
            return []
        rows = [incident_values(inc) for inc, _ in made]
        # PostgreSQL: ids drawn now, the rows join the insert batch below (one statement with the hooks' rows);
        # elsewhere the rows are inserted here and hand back their ids
        drawn = await bulk.next_ids(session, _INCIDENTS, len(rows))
        ids = drawn if drawn is not None else await bulk.insert_returning_ids(session, _INCIDENTS, rows)
        batched = [{"id": i, **r} for i, r in zip(ids, rows, strict=True)] if drawn is not None else []
        saved = [replace(inc, id=int(i)) for (inc, _), i in zip(made, ids, strict=True)]
        timeline: list[dict[str, Any]] = []
        audit: list[dict[str, Any]] = []
        for spec, incident, (_, events) in zip(specs, saved, made, strict=True):
            who = spec.actor or actor
            for event in events:
                timeline.append({"incident_id": incident.id, "at": now, "kind": event.kind, "actor": who,
                                 "message": event.message, "data": json_safe(event.data)})
            audit.append({"at": now, "actor": who, "entity_type": "incident", "entity_id": str(incident.id),
                          "action": "create", "before": None, "after": incident_snapshot(incident)})
        # the hooks' rows (escalations, pages, their timeline lines) join ours in one batch: on PostgreSQL ONE
        # statement writes them all, the hooks' timeline rows after ours, as if inserted after them
        owner = bulk.start_batch(session)
        try:
            await bulk.insert_or_defer(session, _INCIDENTS, batched)
            await bulk.insert_or_defer(session, _TIMELINE, timeline)
            await self.hooks.fire_many(session, [(inc, events) for inc, (_, events) in zip(saved, made, strict=True)],
                                       now)
            await bulk.insert_or_defer(session, _AUDIT, audit)
            if owner:
                await bulk.flush_batch(session)
        finally:
            if owner:
                bulk.drop_batch(session)
        return saved

    async def load_for_update(self, session: AsyncSession, incident_id: int) -> Incident:
        incident = await IncidentRepo(session).get(incident_id, for_update=True)
        if incident is None:
            raise NotFound(f"incident {incident_id} not found", field="id")
        return incident

    async def act_in(
        self, session: AsyncSession, incident_id: int, action: Action, actor: str, now: datetime, note: str = ""
    ) -> Incident:
        before = await self.load_for_update(session, incident_id)
        try:
            after, events = transition(before, action, now, actor=actor, note=note)
        except TransitionRefused as exc:
            raise Conflict(exc.reason, field="status") from exc
        return await self.record(
            session, before=before, after=after, events=events, actor=actor, now=now, audit_action=str(action)
        )

    async def note_in(self, session: AsyncSession, incident_id: int, text: str, actor: str, now: datetime) -> Event:
        incident = await self.load_for_update(session, incident_id)
        event = Event("note", text.strip(), {})
        await TimelineRepo(session).append(incident_id, now, actor, event)
        await AuditRepo(session).record(
            at=now,
            actor=actor,
            entity_type="incident",
            entity_id=incident_id,
            action="note",
            before=None,
            after={"note": event.message},
        )
        await self.hooks.fire(session, incident, [event], now)
        return event
