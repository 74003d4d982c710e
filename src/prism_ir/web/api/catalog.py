"""Services, their integration keys, and users."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response

from prism_ir.bootstrap import Container
from prism_ir.services.auth import Principal
from prism_ir.web.api.schemas import IntegrationIn, ServiceIn, ServicePatch, UserIn, UserPatch
from prism_ir.web.deps import actor_name, get_container, require_role

router = APIRouter(prefix="/api/v1", tags=["catalog"])
Viewer = Annotated[Principal, Depends(require_role("viewer"))]
Admin = Annotated[Principal, Depends(require_role("admin"))]
Ctr = Annotated[Container, Depends(get_container)]


@router.get("/services")
async def list_services(c: Ctr, _: Viewer) -> dict[str, Any]:
    return {"items": await c.catalog.list_services()}


@router.post("/services", status_code=201)
async def create_service(body: ServiceIn, c: Ctr, p: Admin) -> dict[str, Any]:
    return await c.catalog.create_service(body.model_dump(), actor_name(p))


@router.get("/services/{service_id}")
async def get_service(service_id: str, c: Ctr, _: Viewer) -> dict[str, Any]:
    return await c.catalog.get_service(service_id)


@router.patch("/services/{service_id}")
async def update_service(service_id: str, body: ServicePatch, c: Ctr, p: Admin) -> dict[str, Any]:
    return await c.catalog.update_service(service_id, body.model_dump(exclude_unset=True), actor_name(p))


@router.delete("/services/{service_id}", status_code=204)
async def delete_service(service_id: str, c: Ctr, p: Admin) -> Response:
    await c.catalog.delete_service(service_id, actor_name(p))
    return Response(status_code=204)


@router.post("/services/{service_id}/integrations", status_code=201)
async def create_integration(service_id: str, body: IntegrationIn, c: Ctr, p: Admin) -> dict[str, Any]:
    issued = await c.catalog.create_integration_key(service_id, body.type, actor_name(p))
    return {"id": issued.id, "service_id": issued.service_id, "type": issued.type, "key": issued.key,
            "note": "store this key now: only its hash is kept"}


@router.get("/users")
async def list_users(c: Ctr, _: Viewer) -> dict[str, Any]:
    return {"items": await c.catalog.list_users()}


@router.post("/users", status_code=201)
async def create_user(body: UserIn, c: Ctr, p: Admin) -> dict[str, Any]:
    return await c.catalog.create_user(body.model_dump(exclude_none=True), actor_name(p))


@router.get("/users/{user_id}")
async def get_user(user_id: str, c: Ctr, _: Viewer) -> dict[str, Any]:
    return await c.catalog.get_user(user_id)


@router.patch("/users/{user_id}")
async def update_user(user_id: str, body: UserPatch, c: Ctr, p: Admin) -> dict[str, Any]:
    return await c.catalog.update_user(user_id, body.model_dump(exclude_unset=True), actor_name(p))


@router.delete("/users/{user_id}", status_code=204)
async def delete_user(user_id: str, c: Ctr, p: Admin) -> Response:
    await c.catalog.delete_user(user_id, actor_name(p))
    return Response(status_code=204)
