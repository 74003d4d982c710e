"""The FastAPI application: JSON API, web UI, public pages, and the in-process background work."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from prism_ir.bootstrap import Container
from prism_ir.heap import HeapKeeper, InFlight
from prism_ir.services.errors import ServiceError
from prism_ir.web.api.integrations import answer_intake

ROUTERS: list[str] = [
    "prism_ir.web.api.integrations",
    "prism_ir.web.api.health",
    "prism_ir.web.api.incidents",
    "prism_ir.web.api.catalog",
    "prism_ir.web.api.oncall",
    "prism_ir.web.api.schedules",
    "prism_ir.web.api.escalation_policies",
    "prism_ir.web.ack",
    "prism_ir.web.ui.pages",
]


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    return ".".join(parts) or "body"


class PrismApp(FastAPI):
    """FastAPI, with the alert intake paths (the hot path) answered before its middleware stack and routing."""

    in_flight: InFlight

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await super().__call__(scope, receive, send)
        in_flight = self.in_flight
        in_flight.count += 1
        try:
            if not await answer_intake(self.state.container.extras, scope, receive, send):
                await super().__call__(scope, receive, send)
        finally:
            in_flight.count -= 1


def create_app(container: Container) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        heap = container.extras["heap"] = HeapKeeper(busy=in_flight.__bool__)
        async with heap.running():
            tasks = [asyncio.create_task(job(container)) for job in container.background]
            try:
                yield
            finally:
                for task in tasks:
                    task.cancel()
                for task in tasks:
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
        await container.close()

    app = PrismApp(title="Prism IR", version="0.1.0", lifespan=lifespan,
                  description="Incident response: alerts, paging, escalation, status, runbooks, reviews.")
    app.state.container = container
    app.in_flight = in_flight = InFlight()

    @app.exception_handler(ServiceError)
    async def service_error(_: Request, exc: ServiceError) -> JSONResponse:
        return JSONResponse({"detail": exc.message, "field": exc.field}, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": _field(e["loc"]), "message": e["msg"], "type": e["type"]} for e in exc.errors()]
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return JSONResponse({"detail": summary, "errors": errors}, status_code=422)

    import importlib

    for module in ROUTERS:
        app.include_router(importlib.import_module(module).router)
    static = Path(__file__).parent / "static"
    app.mount("/static", StaticFiles(directory=static), name="static")
    return app
