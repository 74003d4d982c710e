"""Health and Prometheus metrics: unauthenticated so load balancers and Prometheus can reach them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest
from sqlalchemy import func, select

from prism_ir.bootstrap import Container
from prism_ir.store.tables import IncidentRow
from prism_ir.web.deps import get_container

router = APIRouter(tags=["health"])
Ctr = Annotated[Container, Depends(get_container)]

# Rooms add their own metric writers: fn(container, registry) -> awaitable
METRIC_WRITERS: list[Any] = []


@router.get("/api/health")
async def health(c: Ctr) -> JSONResponse:
    body: dict[str, Any] = {"status": "ok", "database": {"status": "ok", "dialect": c.db.dialect}}
    code = 200
    try:
        await c.db.ping()
    except Exception as exc:
        body["database"] = {"status": "down", "dialect": c.db.dialect, "error": type(exc).__name__}
        body["status"] = "down"
        code = 503
    worker = c.extras.get("worker")
    if worker is not None:
        state = worker.health(c.clock.now())
        body["worker"] = state
        if state.get("status") != "ok":
            body["status"] = "down"
            code = 503
    else:
        body["worker"] = {"status": "not running in this process"}
    body["applier"] = _applier_state(c)
    return JSONResponse(body, status_code=code)


def _applier_state(c: Container) -> dict[str, Any]:
    """The alert applier process; while it is down, this process applies journaled requests itself (no 503)."""
    remote = getattr(c.extras.get("ingest"), "remote", None)
    if remote is None:
        return {"status": "not used by this process"}
    if remote.ready:
        return {"status": "ok", "pid": remote.pid, "handed": remote.handed}
    if remote.stopping:
        return {"status": "stopped"}
    return {"status": "restarting" if remote.starts else "starting",
            "detail": "journaled alert requests are applied by this process meanwhile"}


@router.get("/metrics", include_in_schema=False)
async def metrics(c: Ctr) -> Response:
    registry = CollectorRegistry()
    incidents = Gauge("prism_incidents", "Incidents by status and severity", ["status", "severity"], registry=registry)
    async with c.db.read() as session:
        rows = await session.execute(
            select(IncidentRow.status, IncidentRow.severity, func.count()).group_by(IncidentRow.status,
                                                                                    IncidentRow.severity)
        )
        for status, severity, count in rows:
            incidents.labels(status, severity).set(count)
    Gauge("db_connections_active", "Database connections checked out", registry=registry).set(
        c.db.active_connections())
    Gauge("db_connections_max", "Database connection pool limit", registry=registry).set(c.db.max_connections)
    heap = c.extras.get("heap")
    if heap is not None:
        Gauge("prism_gc_full_passes", "Full garbage-collector passes run by this process since it started",
              registry=registry).set(heap.full_passes)
    for writer in METRIC_WRITERS:
        await writer(c, registry)
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
