"""The incident list (open first, filtered, polled by htmx) and the form that opens an incident."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request, Response

from prism_ir.bootstrap import Container
from prism_ir.domain.incident import OPEN_STATUSES, Status
from prism_ir.domain.severity import Severity
from prism_ir.services.auth import Principal
from prism_ir.services.errors import ServiceError
from prism_ir.web.deps import get_container
from prism_ir.web.ui.common import UiRoute, actor, render, see_other, ui_principal, ui_role, ui_writer
from prism_ir.web.ui.view import open_first

router = APIRouter(route_class=UiRoute)
Ctr = Annotated[Container, Depends(get_container)]
Viewer = Annotated[Principal, Depends(ui_principal)]
Responder = Annotated[Principal, Depends(ui_role("responder"))]
Writer = Annotated[Principal, Depends(ui_writer("responder"))]
CLOSED_STATUSES = [s.value for s in Status if s not in OPEN_STATUSES]
OPEN_VALUES = [s.value for s in Status if s in OPEN_STATUSES]


def _filters(request: Request) -> tuple[dict[str, str], list[str]]:
    q = request.query_params
    f = {
        "status": q.get("status", ""),
        "severity": q.get("severity", ""),
        "service": q.get("service", ""),
        "open": "1" if q.get("open") in ("1", "on", "true") else "",
        "q": q.get("q", "").strip()[:200],
    }
    problems = []
    if f["status"] and f["status"] not in {s.value for s in Status}:
        problems.append(f"Unknown status {f['status']!r}: ignored.")
        f["status"] = ""
    if f["severity"] and f["severity"] not in {s.value for s in Severity}:
        problems.append(f"Unknown severity {f['severity']!r}: ignored.")
        f["severity"] = ""
    return f, problems


async def _incidents(c: Container, f: dict[str, str]) -> tuple[list[Any], int]:
    common: dict[str, Any] = {
        "severities": [f["severity"]] if f["severity"] else [],
        "service_id": f["service"] or None,
        "query": f["q"] or None,
    }
    if f["status"] or f["open"]:
        statuses = [f["status"]] if f["status"] else OPEN_VALUES
        if f["open"] and f["status"]:
            statuses = [s for s in statuses if s in OPEN_VALUES] or ["-none-"]
        items, total = await c.incidents.list(statuses=statuses, limit=200, **common)
        return open_first(items), total
    opened, n_open = await c.incidents.list(statuses=OPEN_VALUES, limit=200, **common)
    done, n_done = await c.incidents.list(statuses=CLOSED_STATUSES, limit=50, **common)
    return open_first(opened) + done, n_open + n_done


async def _table_context(request: Request, c: Container) -> dict[str, Any]:
    f, problems = _filters(request)
    items, total = await _incidents(c, f)
    query = urlencode({k: v for k, v in f.items() if v})
    return {"items": items, "total": total, "filters": f, "problems": problems, "query": query}


@router.get("/")
async def incident_list(request: Request, c: Ctr, _: Viewer) -> Response:
    context = await _table_context(request, c)
    context["services"] = await c.catalog.list_services()
    context["statuses"] = list(Status)
    return render(request, "incidents/list.html", context)


@router.get("/incidents/table")
async def incident_table(request: Request, c: Ctr, _: Viewer) -> Response:
    return render(request, "incidents/_table.html", await _table_context(request, c))


async def _new_form(request: Request, c: Container, values: dict[str, str], errors: dict[str, str],
                    status_code: int = 200) -> Response:
    context = {"values": values, "errors": errors, "services": await c.catalog.list_services(),
               "users": await c.catalog.list_users()}
    return render(request, "incidents/new.html", context, status_code=status_code)


@router.get("/incidents/new")
async def new_incident_form(request: Request, c: Ctr, _: Responder) -> Response:
    return await _new_form(request, c, {}, {})


@router.post("/incidents/new")
async def create_incident(
    request: Request,
    c: Ctr,
    p: Writer,
    title: Annotated[str, Form()] = "",
    severity: Annotated[str, Form()] = "",
    service_id: Annotated[str, Form()] = "",
    lead: Annotated[str, Form()] = "",
    impact: Annotated[str, Form()] = "",
) -> Response:
    values = {"title": title.strip(), "severity": severity, "service_id": service_id, "lead": lead,
              "impact": impact.strip()}
    errors: dict[str, str] = {}
    if not values["title"]:
        errors["title"] = "Give the incident a short title, e.g. “API down”."
    elif len(values["title"]) > 500:
        errors["title"] = "Keep the title under 500 characters."
    if severity not in {s.value for s in Severity}:
        errors["severity"] = "Choose a severity: P1, P2, P3 or P4."
    if len(values["impact"]) > 5000:
        errors["impact"] = "Keep the impact under 5000 characters."
    if not errors:
        try:
            incident = await c.incidents.create(
                title=values["title"], severity=Severity(severity), actor=actor(p), service_id=service_id or None,
                lead=lead or None, impact=values["impact"],
            )
        except ServiceError as exc:
            errors[exc.field or "form"] = exc.message
        else:
            return see_other(f"/incidents/{incident.id}?done=created")
    return await _new_form(request, c, values, errors, status_code=422)
