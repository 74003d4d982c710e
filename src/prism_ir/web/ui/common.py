"""What every UI page shares: templates, login redirects, roles, CSRF tokens, and HTML error pages."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import Depends, HTTPException, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates

from prism_ir.bootstrap import Container
from prism_ir.domain.severity import SEVERITIES
from prism_ir.services.auth import Principal, Role
from prism_ir.services.errors import ServiceError
from prism_ir.web.deps import SESSION_COOKIE, actor_name, current_principal, get_container

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
templates = Jinja2Templates(directory=Path(__file__).parent.parent / "templates")


class LoginRequired(Exception):
    """Raised by UI dependencies when nobody is logged in; answered with a redirect to /login."""


def safe_next(target: str | None) -> str:
    """Only follow local paths after login, so /login?next= cannot send people elsewhere."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def login_redirect(request: Request) -> Response:
    """Send people to /login and back to the page they were on (for htmx polls: the page, not the fragment)."""
    here = "/"
    if request.headers.get("hx-request"):
        current = urlsplit(request.headers.get("hx-current-url", "/"))
        here = current.path + (f"?{current.query}" if current.query else "")
    elif request.method == "GET":
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    here = safe_next(here)
    location = "/login" if here == "/" else f"/login?next={quote(here, safe='')}"
    if request.headers.get("hx-request"):
        return Response(status_code=401, headers={"HX-Redirect": location})
    return RedirectResponse(location, status_code=303)


def error_page(request: Request, status_code: int, message: str) -> Response:
    if request.headers.get("hx-request"):
        return Response(message, status_code=status_code, media_type="text/plain")
    return render(request, "error.html", {"status_code": status_code, "message": message}, status_code=status_code)


class UiRoute(APIRoute):
    """Answer UI failures with a login redirect or an HTML page instead of the API's JSON errors."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def wrapped(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired:
                return login_redirect(request)
            except HTTPException as exc:
                return error_page(request, exc.status_code, str(exc.detail))
            except ServiceError as exc:
                return error_page(request, exc.status_code, exc.message)

        return wrapped


def csrf_token(request: Request) -> str | None:
    """Derive the form token from the caller's credential, so it needs no storage and dies with the session."""
    credential = request.headers.get("x-api-key") or request.cookies.get(SESSION_COOKIE)
    if not credential:
        return None
    container: Container = request.app.state.container
    mac = hmac.new(container.secret_key.encode(), b"csrf|" + credential.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:24]).decode()


async def ui_principal(request: Request, container: Container = Depends(get_container)) -> Principal:
    principal = await current_principal(request, container)
    if principal is None:
        raise LoginRequired()
    request.state.principal = principal
    return principal


def ui_role(role: str) -> Callable[..., Awaitable[Principal]]:
    needed = Role(role)

    async def dependency(principal: Principal = Depends(ui_principal)) -> Principal:
        if not principal.role.allows(needed):
            raise HTTPException(403, f"Your role ({principal.role}) may look but not change this; it needs {needed}.")
        return principal

    return dependency


async def check_csrf(request: Request) -> None:
    expected = csrf_token(request)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        sent_value = (await request.form()).get(CSRF_FIELD)
        sent = sent_value if isinstance(sent_value, str) else None
    if not expected or not sent or not hmac.compare_digest(sent, expected):
        raise HTTPException(403, "This form is missing its security token or the token expired. Reload and retry.")


def ui_writer(role: str = "responder") -> Callable[..., Awaitable[Principal]]:
    """A logged-in principal with `role` whose form carries a valid CSRF token."""
    role_dependency = ui_role(role)

    async def dependency(request: Request, principal: Principal = Depends(role_dependency)) -> Principal:
        await check_csrf(request)
        return principal

    return dependency


def actor(principal: Principal) -> str:
    return actor_name(principal)


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def render(request: Request, name: str, context: dict[str, Any] | None = None, *, status_code: int = 200) -> Response:
    principal: Principal | None = getattr(request.state, "principal", None)
    container: Container = request.app.state.container
    base = {
        "principal": principal,
        "who": actor_name(principal) if principal else None,
        "can_respond": bool(principal and principal.role.allows(Role.RESPONDER)),
        "is_admin": bool(principal and principal.role.allows(Role.ADMIN)),
        "csrf": csrf_token(request) if principal else None,
        "now": container.clock.now(),
        "severities": list(SEVERITIES.values()),
        "path": request.url.path,
    }
    return templates.TemplateResponse(request, name, {**base, **(context or {})}, status_code=status_code)


def human_duration(delta: timedelta | None) -> str:
    """Say a span the way a responder reads it at 3 am: `4m`, `2h 05m`, `3d 4h`."""
    if delta is None:
        return "—"
    seconds = int(delta.total_seconds())
    if seconds < 60:
        return f"{max(seconds, 0)}s"
    minutes, _ = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m"


def utc(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "—"


templates.env.filters["dur"] = human_duration
templates.env.filters["utc"] = utc
