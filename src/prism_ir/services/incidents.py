"""Incident use cases: each call is one transaction, committed before the caller hears back."""

from __future__ import annotations

import builtins
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from prism_ir.clock import Clock
from prism_ir.domain.incident import (
    STATUS_ACTIONS,
    Action,
    Event,
    Incident,
    Status,
    TransitionRefused,
    change_severity,
    transition,
)
from prism_ir.domain.severity import Severity
from prism_ir.services.errors import Conflict, Invalid, NotFound
from prism_ir.services.hooks import IncidentHooks
from prism_ir.services.incident_tx import IncidentTx
from prism_ir.store.db import Database
from prism_ir.store.repos import AuditRepo, IncidentRepo, TimelineRepo
from prism_ir.store.tables import AuditRow, ServiceRow, TimelineRow, UserRow


@dataclass(frozen=True)
class IncidentPatch:
    title: str | None = None
    severity: Severity | None = None
    lead: str | None = None
    impact: str | None = None
    summary: str | None = None
    customer_minutes_affected: int | None = None
    status: Status | None = None
    fields_set: frozenset[str] = frozenset()


class IncidentService:
    def __init__(self, db: Database, clock: Clock, hooks: IncidentHooks) -> None:
        self.db = db
        self.clock = clock
        self.hooks = hooks
        self.tx = IncidentTx(hooks)

    async def create(
        self,
        *,
        title: str,
        severity: Severity,
        actor: str,
        service_id: str | None = None,
        summary: str = "",
        lead: str | None = None,
        impact: str = "",
    ) -> Incident:
        now = self.clock.now()
        async with self.db.transaction() as session:
            if service_id is not None and await session.get(ServiceRow, service_id) is None:
                raise Invalid(f"service {service_id!r} does not exist", field="service_id")
            if lead is not None and await session.get(UserRow, lead) is None:
                raise Invalid(f"user {lead!r} does not exist", field="lead")
            incident = await self.tx.create_in(
                session,
                title=title,
                severity=severity,
                now=now,
                actor=actor,
                service_id=service_id,
                summary=summary,
                lead=lead,
                impact=impact,
            )
        return incident

    async def act(self, incident_id: int, action: Action, actor: str, note: str = "") -> Incident:
        now = self.clock.now()
        async with self.db.transaction() as session:
            incident = await self.tx.act_in(session, incident_id, action, actor, now, note)
        return incident

    async def acknowledge(self, incident_id: int, actor: str) -> Incident:
        return await self.act(incident_id, Action.ACKNOWLEDGE, actor)

    async def resolve(self, incident_id: int, actor: str, note: str = "") -> Incident:
        return await self.act(incident_id, Action.RESOLVE, actor, note)

    async def escalate(self, incident_id: int, actor: str, note: str = "") -> Incident:
        return await self.act(incident_id, Action.ESCALATE, actor, note)

    async def patch(self, incident_id: int, patch: IncidentPatch, actor: str) -> Incident:
        now = self.clock.now()
        async with self.db.transaction() as session:
            before = await self.tx.load_for_update(session, incident_id)
            after, events = await self._apply_patch(session, before, patch, actor, now)
            if after != before or events:
                after = await self.tx.record(
                    session, before=before, after=after, events=events, actor=actor, now=now, audit_action="update"
                )
        return after

    async def _apply_patch(
        self, session: Any, incident: Incident, patch: IncidentPatch, actor: str, now: datetime
    ) -> tuple[Incident, list[Event]]:
        events: list[Event] = []
        if incident.status == Status.CLOSED and patch.fields_set - {"customer_minutes_affected"}:
            raise Conflict("cannot edit incident: it is closed", field="status")
        if "title" in patch.fields_set and patch.title is not None and patch.title.strip() != incident.title:
            title = patch.title.strip()
            if not title:
                raise Invalid("title must not be empty", field="title")
            events.append(Event("title_changed", f"Title changed to {title!r}", {"from": incident.title, "to": title}))
            incident = replace(incident, title=title, updated_at=now)
        if "severity" in patch.fields_set and patch.severity is not None:
            incident, more = change_severity(incident, patch.severity, now, actor)
            events += more
        if "lead" in patch.fields_set and patch.lead != incident.lead:
            if patch.lead is not None and await session.get(UserRow, patch.lead) is None:
                raise Invalid(f"user {patch.lead!r} does not exist", field="lead")
            events.append(
                Event(
                    "lead_changed",
                    f"Incident lead: {patch.lead or 'nobody'}",
                    {"from": incident.lead, "to": patch.lead},
                )
            )
            incident = replace(incident, lead=patch.lead, updated_at=now)
        for name in ("impact", "summary", "customer_minutes_affected"):
            if name in patch.fields_set and getattr(patch, name) != getattr(incident, name):
                value = getattr(patch, name)
                if value is None and name != "customer_minutes_affected":
                    value = ""
                events.append(
                    Event(
                        f"{name}_changed",
                        f"{name.replace('_', ' ').capitalize()}: {value}",
                        {"from": getattr(incident, name), "to": value},
                    )
                )
                incident = replace(incident, **{name: value, "updated_at": now})
        if "status" in patch.fields_set and patch.status is not None and patch.status != incident.status:
            try:
                incident, more = transition(incident, STATUS_ACTIONS[patch.status], now, actor=actor)
            except TransitionRefused as exc:
                raise Conflict(exc.reason, field="status") from exc
            events += more
        return incident, events

    async def add_note(self, incident_id: int, text: str, actor: str) -> Event:
        if not text.strip():
            raise Invalid("note text must not be empty", field="text")
        now = self.clock.now()
        async with self.db.transaction() as session:
            event = await self.tx.note_in(session, incident_id, text, actor, now)
        return event

    async def get(self, incident_id: int) -> Incident:
        async with self.db.read() as session:
            incident = await IncidentRepo(session).get(incident_id)
        if incident is None:
            raise NotFound(f"incident {incident_id} not found", field="id")
        return incident

    async def list(self, **filters: Any) -> tuple[list[Incident], int]:
        async with self.db.read() as session:
            return await IncidentRepo(session).list(**filters)

    async def timeline(self, incident_id: int) -> builtins.list[TimelineRow]:
        async with self.db.read() as session:
            if await IncidentRepo(session).get(incident_id) is None:
                raise NotFound(f"incident {incident_id} not found", field="id")
            return await TimelineRepo(session).for_incident(incident_id)

    async def audit(self, incident_id: int) -> builtins.list[AuditRow]:
        async with self.db.read() as session:
            return await AuditRepo(session).for_entity("incident", incident_id)
