"""Schedules: list, read (with who is on call now), replace and delete."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from prism_ir.bootstrap import Container
from prism_ir.domain.oncall import Schedule, next_change, who_is_on_call
from prism_ir.services.auth import Principal
from prism_ir.services.errors import Invalid
from prism_ir.services.oncall_admin import OncallAdmin
from prism_ir.web.api.oncall import oncall_service
from prism_ir.web.deps import actor_name, get_container, require_role

router = APIRouter(prefix="/api/v1/schedules", tags=["on-call"])
Viewer = Annotated[Principal, Depends(require_role("viewer"))]
Admin = Annotated[Principal, Depends(require_role("admin"))]
Ctr = Annotated[Container, Depends(get_container)]


def _json(s: Schedule, at: datetime) -> dict[str, Any]:
    return {**s.model_dump(mode="json"), "on_call": who_is_on_call(s, at), "until": next_change(s, at)}


@router.get("")
async def list_schedules(c: Ctr, _: Viewer) -> dict[str, Any]:
    now = c.clock.now()
    return {"items": [_json(s, now) for s in await oncall_service(c).schedules()]}


@router.get("/{schedule_id}")
async def get_schedule(schedule_id: str, c: Ctr, _: Viewer, at: datetime | None = None) -> dict[str, Any]:
    if at is not None and at.tzinfo is None:
        raise Invalid("at must include a time zone", field="at")
    return _json(await oncall_service(c).schedule(schedule_id), at or c.clock.now())


@router.put("/{schedule_id}")
async def put_schedule(schedule_id: str, body: Schedule, c: Ctr, p: Admin) -> dict[str, Any]:
    if body.id != schedule_id:
        raise Invalid(f"id {body.id!r} does not match the URL ({schedule_id!r})", field="id")
    changed = await OncallAdmin(c.db, c.clock).save_schedule(body, actor_name(p))
    return {**_json(body, c.clock.now()), "changed": changed}


@router.delete("/{schedule_id}", status_code=204)
async def delete_schedule(schedule_id: str, c: Ctr, p: Admin) -> None:
    await OncallAdmin(c.db, c.clock).delete_schedule(schedule_id, actor_name(p))
