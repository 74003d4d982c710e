"""Incident routes: list, create, read, change, and the lifecycle actions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from prism_ir.bootstrap import Container
from prism_ir.domain.incident import Action, Status
from prism_ir.domain.severity import Severity
from prism_ir.services.auth import Principal
from prism_ir.services.errors import Invalid
from prism_ir.services.incidents import IncidentPatch
from prism_ir.web.api.schemas import ActionBody, IncidentCreate, IncidentUpdate, NoteBody, incident_json
from prism_ir.web.deps import actor_name, get_container, require_role

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])
Viewer = Annotated[Principal, Depends(require_role("viewer"))]
Responder = Annotated[Principal, Depends(require_role("responder"))]
Ctr = Annotated[Container, Depends(get_container)]


def _aware(value: datetime | None, name: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise Invalid(f"{name} must include a time zone, e.g. 2026-11-30T14:32:00Z", field=name)
    return value


@router.get("")
async def list_incidents(
    c: Ctr, _: Viewer,
    status: Annotated[list[Status] | None, Query(description="repeat or use 'open'")] = None,
    severity: Annotated[list[Severity] | None, Query()] = None,
    service: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    q: str | None = Query(default=None, max_length=200),
    open: bool | None = None,
    limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0),
) -> dict[str, Any]:
    statuses = [s.value for s in status or []]
    if open:
        from prism_ir.domain.incident import OPEN_STATUSES

        statuses += [s.value for s in OPEN_STATUSES]
    items, total = await c.incidents.list(
        statuses=statuses, severities=[s.value for s in severity or []], service_id=service,
        since=_aware(since, "since"), until=_aware(until, "until"), query=q, limit=limit, offset=offset,
    )
    return {"items": [incident_json(i) for i in items], "total": total, "limit": limit, "offset": offset}


@router.post("", status_code=201)
async def create_incident(body: IncidentCreate, c: Ctr, p: Responder) -> dict[str, Any]:
    incident = await c.incidents.create(
        title=body.title, severity=body.severity, actor=actor_name(p), service_id=body.service_id,
        summary=body.summary, lead=body.lead, impact=body.impact,
    )
    return incident_json(incident)


@router.get("/{incident_id}")
async def get_incident(incident_id: int, c: Ctr, _: Viewer) -> dict[str, Any]:
    return incident_json(await c.incidents.get(incident_id))


@router.patch("/{incident_id}")
async def patch_incident(incident_id: int, body: IncidentUpdate, c: Ctr, p: Responder) -> dict[str, Any]:
    patch = IncidentPatch(**body.model_dump(exclude_unset=True), fields_set=frozenset(body.model_fields_set))
    return incident_json(await c.incidents.patch(incident_id, patch, actor_name(p)))


async def _act(c: Container, incident_id: int, action: Action, p: Principal, note: str = "") -> dict[str, Any]:
    return incident_json(await c.incidents.act(incident_id, action, actor_name(p), note))


@router.post("/{incident_id}/acknowledge")
async def acknowledge(incident_id: int, c: Ctr, p: Responder) -> dict[str, Any]:
    return await _act(c, incident_id, Action.ACKNOWLEDGE, p)


@router.post("/{incident_id}/resolve")
async def resolve(incident_id: int, c: Ctr, p: Responder, body: ActionBody | None = None) -> dict[str, Any]:
    return await _act(c, incident_id, Action.RESOLVE, p, body.note if body else "")


@router.post("/{incident_id}/escalate")
async def escalate(incident_id: int, c: Ctr, p: Responder, body: ActionBody | None = None) -> dict[str, Any]:
    return await _act(c, incident_id, Action.ESCALATE, p, body.note if body else "")


@router.post("/{incident_id}/notes", status_code=201)
async def add_note(incident_id: int, body: NoteBody, c: Ctr, p: Responder) -> dict[str, Any]:
    event = await c.incidents.add_note(incident_id, body.text, actor_name(p))
    return {"kind": event.kind, "message": event.message}


@router.get("/{incident_id}/timeline")
async def timeline(incident_id: int, c: Ctr, _: Viewer) -> dict[str, Any]:
    rows = await c.incidents.timeline(incident_id)
    return {"incident_id": incident_id, "items": [
        {"id": r.id, "at": r.at, "kind": r.kind, "actor": r.actor, "message": r.message, "data": r.data}
        for r in rows
    ]}


@router.get("/{incident_id}/audit")
async def audit(incident_id: int, c: Ctr, _: Viewer) -> dict[str, Any]:
    await c.incidents.get(incident_id)
    rows = await c.incidents.audit(incident_id)
    return {"incident_id": incident_id, "items": [
        {"id": r.id, "at": r.at, "actor": r.actor, "action": r.action, "before": r.before, "after": r.after}
        for r in rows
    ]}
