"""Escalation policies: the seed's defaults plus configured ones; replace and delete configured ones."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from prism_ir.bootstrap import Container
from prism_ir.domain.escalation import DEFAULT_POLICIES, EscalationPolicy
from prism_ir.services.auth import Principal
from prism_ir.services.errors import Invalid
from prism_ir.services.oncall_admin import OncallAdmin
from prism_ir.web.api.oncall import oncall_service
from prism_ir.web.deps import actor_name, get_container, require_role

router = APIRouter(prefix="/api/v1/escalation-policies", tags=["on-call"])
Viewer = Annotated[Principal, Depends(require_role("viewer"))]
Admin = Annotated[Principal, Depends(require_role("admin"))]
Ctr = Annotated[Container, Depends(get_container)]


def _json(p: EscalationPolicy, default_for: str | None = None) -> dict[str, Any]:
    return {**p.model_dump(mode="json"), "default_for": default_for}


@router.get("")
async def list_policies(c: Ctr, _: Viewer) -> dict[str, Any]:
    defaults = [_json(p, str(sev)) for sev, p in DEFAULT_POLICIES.items()]
    return {"items": [_json(p) for p in await oncall_service(c).policies()] + defaults}


@router.get("/{policy_id}")
async def get_policy(policy_id: str, c: Ctr, _: Viewer) -> dict[str, Any]:
    return _json(await oncall_service(c).policy(policy_id))


@router.put("/{policy_id}")
async def put_policy(policy_id: str, body: EscalationPolicy, c: Ctr, p: Admin) -> dict[str, Any]:
    if body.id != policy_id:
        raise Invalid(f"id {body.id!r} does not match the URL ({policy_id!r})", field="id")
    if policy_id.startswith("default-"):
        raise Invalid("ids starting with 'default-' are the built-in seed policies", field="id")
    changed = await OncallAdmin(c.db, c.clock).save_policy(body, actor_name(p))
    return {**_json(body), "changed": changed}


@router.delete("/{policy_id}", status_code=204)
async def delete_policy(policy_id: str, c: Ctr, p: Admin) -> None:
    await OncallAdmin(c.db, c.clock).delete_policy(policy_id, actor_name(p))
