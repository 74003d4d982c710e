"""On-call answers, the pre-flight check, shift calendars, and the notification outbox's state."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, Gauge, Histogram
from sqlalchemy import func, select

from prism_ir.bootstrap import Container
from prism_ir.services.auth import Principal
from prism_ir.services.oncall import OncallService
from prism_ir.store.tables_oncall import NotificationRow
from prism_ir.web.api.health import METRIC_WRITERS
from prism_ir.web.deps import get_container, require_role

router = APIRouter(tags=["on-call"])
Viewer = Annotated[Principal, Depends(require_role("viewer"))]
Ctr = Annotated[Container, Depends(get_container)]


def oncall_service(c: Container) -> OncallService:
    paging = c.extras.get("paging")
    sms = paging.settings.sms_url_template if paging is not None else ""
    return OncallService(c.db, c.clock, sms, bool(c.settings.smtp_url))


@router.get("/api/v1/oncall")
async def who_is_on_call(c: Ctr, _: Viewer, at: datetime | None = None) -> dict[str, Any]:
    """Who is primary, secondary (every role) on every schedule at `at` (default now)."""
    return await oncall_service(c).who(at)


@router.get("/api/v1/oncall/preflight")
async def preflight(c: Ctr, _: Viewer, days: int = Query(default=14, ge=1, le=90)) -> dict[str, Any]:
    """Every schedule slot or policy step whose target has no working contact method."""
    return await oncall_service(c).preflight(days)


@router.get("/api/v1/users/{user_id}/shifts.ics")
async def shifts_calendar(user_id: str, c: Ctr, _: Viewer, days: int = Query(default=60, ge=1, le=366)) -> Response:
    body = await oncall_service(c).user_shifts_ics(user_id, days)
    return Response(body, media_type="text/calendar; charset=utf-8",
                    headers={"Content-Disposition": f'inline; filename="{user_id}-shifts.ics"'})


@router.get("/api/v1/notifications")
async def notifications(c: Ctr, _: Viewer, state: str | None = Query(default=None, pattern=
                        "^(pending|sending|sent|failed|cancelled)$"), incident: int | None = None,
                        limit: int = Query(default=200, ge=1, le=1000)) -> dict[str, Any]:
    """The outbox: permanently failed sends are listed with `state=failed`, never dropped."""
    return {"items": await oncall_service(c).notifications(incident, state, limit)}


@router.get("/api/v1/incidents/{incident_id}/notifications")
async def incident_notifications(incident_id: int, c: Ctr, _: Viewer) -> dict[str, Any]:
    await c.incidents.get(incident_id)
    return {"items": await oncall_service(c).notifications(incident_id)}


BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


async def write_paging_metrics(c: Container, registry: CollectorRegistry) -> None:
    states = Gauge("prism_notifications", "Notifications in the outbox by state and channel", ["state", "channel"],
                   registry=registry)
    failed = Gauge("prism_notifications_failed", "Notifications that failed for good (never silently dropped)",
                   registry=registry)
    latency = Histogram("prism_notification_latency_seconds", "Page queued → delivered, sends of the last 24 h",
                        buckets=BUCKETS, registry=registry)
    since = c.clock.now().timestamp() - 86400
    async with c.db.read() as s:
        for state, channel, n in await s.execute(select(NotificationRow.state, NotificationRow.channel, func.count())
                                                 .group_by(NotificationRow.state, NotificationRow.channel)):
            states.labels(state, channel or "none").set(n)
            if state == "failed":
                failed.inc(n)
        rows = await s.execute(select(NotificationRow.created_at, NotificationRow.sent_at)
                               .where(NotificationRow.state == "sent").order_by(NotificationRow.id.desc()).limit(5000))
        for created, sent in rows:
            if sent is not None and sent.timestamp() >= since:
                latency.observe(max(0.0, (sent - created).total_seconds()))


METRIC_WRITERS.append(write_paging_metrics)
