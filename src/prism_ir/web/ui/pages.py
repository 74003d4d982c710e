"""Web UI routes (Jinja2 + htmx): one router per room, gathered here for create_app."""

from __future__ import annotations

from fastapi import APIRouter

from prism_ir.web.ui import auth, catalog, incident_detail, incidents

router = APIRouter(include_in_schema=False)
for room in (auth, incidents, incident_detail, catalog):
    router.include_router(room.router)
