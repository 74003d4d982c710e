"""Services and users as read-only lists, with small create forms for admins."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ValidationError

from prism_ir.bootstrap import Container
from prism_ir.services.auth import Principal
from prism_ir.services.errors import ServiceError
from prism_ir.web.api.schemas import ServiceIn, UserIn
from prism_ir.web.deps import get_container
from prism_ir.web.ui.common import UiRoute, actor, render, see_other, ui_principal, ui_writer

router = APIRouter(route_class=UiRoute)
Ctr = Annotated[Container, Depends(get_container)]
Viewer = Annotated[Principal, Depends(ui_principal)]
Admin = Annotated[Principal, Depends(ui_writer("admin"))]

FRIENDLY = {
    "string_pattern_mismatch": "Use lower-case letters, digits, '.', '_' or '-' (start with a letter or digit).",
    "string_too_short": "This is required.",
    "missing": "This is required.",
}


def _errors(exc: ValidationError) -> dict[str, str]:
    out: dict[str, str] = {}
    for e in exc.errors():
        field = str(e["loc"][0]) if e["loc"] else "form"
        if field == "email":
            out[field] = "Enter an address like alice@example.com."
        elif field == "password" and e["type"] == "string_too_short":
            out[field] = "Use at least 8 characters (or leave empty for key-only access)."
        else:
            out.setdefault(field, FRIENDLY.get(e["type"], e["msg"]))
    return out


async def _form(request: Request, model: type[BaseModel]) -> tuple[dict[str, str], BaseModel | None, dict[str, str]]:
    form = await request.form()
    values = {k: v.strip() for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    data: dict[str, Any] = {k: v for k, v in values.items() if v != "" or k in ("id", "name")}
    try:
        return values, model.model_validate(data), {}
    except ValidationError as exc:
        return values, None, _errors(exc)


async def _services_page(request: Request, c: Container, values: dict[str, str] | None = None,
                         errors: dict[str, str] | None = None, status_code: int = 200) -> Response:
    context = {"services": await c.catalog.list_services(), "values": values or {}, "errors": errors or {},
               "created": request.query_params.get("created")}
    return render(request, "catalog/services.html", context, status_code=status_code)


async def _users_page(request: Request, c: Container, values: dict[str, str] | None = None,
                      errors: dict[str, str] | None = None, status_code: int = 200) -> Response:
    context = {"users": await c.catalog.list_users(), "values": values or {}, "errors": errors or {},
               "created": request.query_params.get("created")}
    return render(request, "catalog/users.html", context, status_code=status_code)


@router.get("/services")
async def services(request: Request, c: Ctr, _: Viewer) -> Response:
    return await _services_page(request, c)


@router.post("/services")
async def create_service(request: Request, c: Ctr, p: Admin) -> Response:
    values, model, errors = await _form(request, ServiceIn)
    status_code = 422
    if model is not None:
        try:
            await c.catalog.create_service(model.model_dump(), actor(p))
        except ServiceError as exc:
            errors, status_code = {exc.field or "form": exc.message}, exc.status_code
        else:
            return see_other(f"/services?created={values['id']}")
    return await _services_page(request, c, values, errors, status_code=status_code)


@router.get("/users")
async def users(request: Request, c: Ctr, _: Viewer) -> Response:
    return await _users_page(request, c)


@router.post("/users")
async def create_user(request: Request, c: Ctr, p: Admin) -> Response:
    values, model, errors = await _form(request, UserIn)
    status_code = 422
    if model is not None:
        try:
            await c.catalog.create_user(model.model_dump(exclude_none=True), actor(p))
        except ServiceError as exc:
            errors, status_code = {exc.field or "form": exc.message}, exc.status_code
        else:
            return see_other(f"/users?created={values['id']}")
    values.pop("password", None)
    return await _users_page(request, c, values, errors, status_code=status_code)
