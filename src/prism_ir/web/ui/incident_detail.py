"""One incident: header with SLA verdicts, lifecycle buttons, edits, notes, the live timeline and the audit trail."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request, Response

from prism_ir.bootstrap import Container
from prism_ir.domain.incident import Action
from prism_ir.domain.severity import Severity
from prism_ir.services.auth import Principal
from prism_ir.services.errors import NotFound, ServiceError
from prism_ir.services.incidents import IncidentPatch
from prism_ir.web.deps import get_container
from prism_ir.web.ui.common import UiRoute, actor, render, see_other, ui_principal, ui_writer
from prism_ir.web.ui.view import ACTION_LABELS, DONE_MESSAGES, allowed_actions, audit_changes, sla_lines

router = APIRouter(route_class=UiRoute)
Ctr = Annotated[Container, Depends(get_container)]
Viewer = Annotated[Principal, Depends(ui_principal)]
Writer = Annotated[Principal, Depends(ui_writer("responder"))]


async def _detail(request: Request, c: Container, incident_id: int, *, error: str | None = None,
                  errors: dict[str, str] | None = None, values: dict[str, str] | None = None,
                  status_code: int = 200) -> Response:
    incident = await c.incidents.get(incident_id)
    services = {s["id"]: s for s in await c.catalog.list_services()}
    audit = [(row, audit_changes(row.before, row.after)) for row in await c.incidents.audit(incident_id)]
    context: dict[str, Any] = {
        "incident": incident,
        "service": services.get(incident.service_id or ""),
        "sla": sla_lines(incident, c.clock.now()),
        "actions": allowed_actions(incident),
        "labels": ACTION_LABELS,
        "timeline": await c.incidents.timeline(incident_id),
        "audit": audit,
        "users": await c.catalog.list_users(),
        "done": DONE_MESSAGES.get(request.query_params.get("done", "")) if status_code == 200 else None,
        "error": error,
        "errors": errors or {},
        "values": values or {},
    }
    return render(request, "incidents/detail.html", context, status_code=status_code)


@router.get("/incidents/{incident_id:int}")
async def incident_page(request: Request, incident_id: int, c: Ctr, _: Viewer) -> Response:
    return await _detail(request, c, incident_id)


@router.get("/incidents/{incident_id:int}/timeline")
async def timeline_fragment(request: Request, incident_id: int, c: Ctr, _: Viewer) -> Response:
    incident = await c.incidents.get(incident_id)
    context = {"incident": incident, "timeline": await c.incidents.timeline(incident_id)}
    return render(request, "incidents/_timeline.html", context)


async def _fail(request: Request, c: Container, incident_id: int, exc: ServiceError,
                values: dict[str, str] | None = None) -> Response:
    if isinstance(exc, NotFound):
        raise exc
    field = exc.field if exc.field in ("severity", "lead", "text", "note") else None
    if field:
        return await _detail(request, c, incident_id, errors={field: exc.message}, values=values,
                             status_code=exc.status_code)
    return await _detail(request, c, incident_id, error=exc.message, values=values, status_code=exc.status_code)


@router.post("/incidents/{incident_id:int}/actions/{action}")
async def act(request: Request, incident_id: int, action: str, c: Ctr, p: Writer,
              note: Annotated[str, Form()] = "") -> Response:
    try:
        chosen = Action(action)
    except ValueError:
        raise HTTPException(404, f"There is no action called {action!r}.") from None
    note = note.strip()
    if len(note) > 5000:
        return await _detail(request, c, incident_id, errors={"note": "Keep the note under 5000 characters."},
                             values={"note": note}, status_code=422)
    try:
        await c.incidents.act(incident_id, chosen, actor(p), note)
    except ServiceError as exc:
        return await _fail(request, c, incident_id, exc, {"note": note})
    return see_other(f"/incidents/{incident_id}?done={chosen.value}")


@router.post("/incidents/{incident_id:int}/severity")
async def set_severity(request: Request, incident_id: int, c: Ctr, p: Writer,
                       severity: Annotated[str, Form()] = "") -> Response:
    if severity not in {s.value for s in Severity}:
        return await _detail(request, c, incident_id, errors={"severity": "Choose P1, P2, P3 or P4."},
                             status_code=422)
    return await _patch(request, c, incident_id, p, "severity", severity=Severity(severity))


@router.post("/incidents/{incident_id:int}/lead")
async def set_lead(request: Request, incident_id: int, c: Ctr, p: Writer,
                   lead: Annotated[str, Form()] = "") -> Response:
    return await _patch(request, c, incident_id, p, "lead", lead=lead.strip() or None)


async def _patch(request: Request, c: Container, incident_id: int, p: Principal, field: str, **value: Any) -> Response:
    """Change one field and come back to the incident, or show why it was refused."""
    patch = IncidentPatch(**value, fields_set=frozenset({field}))
    try:
        await c.incidents.patch(incident_id, patch, actor(p))
    except ServiceError as exc:
        return await _fail(request, c, incident_id, exc)
    return see_other(f"/incidents/{incident_id}?done={field}")


@router.post("/incidents/{incident_id:int}/notes")
async def add_note(request: Request, incident_id: int, c: Ctr, p: Writer,
                   text: Annotated[str, Form()] = "") -> Response:
    text = text.strip()
    problem = "Keep notes under 20000 characters." if len(text) > 20000 else "" if text else "Write something first."
    if problem:
        return await _detail(request, c, incident_id, errors={"text": problem}, values={"text": text},
                             status_code=422)
    try:
        await c.incidents.add_note(incident_id, text, actor(p))
    except ServiceError as exc:
        return await _fail(request, c, incident_id, exc, {"text": text})
    return see_other(f"/incidents/{incident_id}?done=note")
