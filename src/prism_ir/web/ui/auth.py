"""Log in with an API key or a user's password, and log out; the session is the cookie web/deps.py reads."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request, Response

from prism_ir.bootstrap import Container
from prism_ir.web.deps import SESSION_COOKIE, current_principal, get_container, session_serializer
from prism_ir.web.ui.common import UiRoute, check_csrf, render, safe_next, see_other

router = APIRouter(route_class=UiRoute)
LOGIN_CSRF_COOKIE = "prism_login_csrf"
Ctr = Annotated[Container, Depends(get_container)]


def _login_page(request: Request, next_url: str, errors: dict[str, str] | None = None, user_id: str = "",
                status_code: int = 200) -> Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    context: dict[str, Any] = {"next": next_url, "errors": errors or {}, "user_id": user_id, "login_csrf": token}
    response = render(request, "login.html", context, status_code=status_code)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="lax", path="/login",
                        secure=request.url.scheme == "https")
    return response


@router.get("/login")
async def login_form(request: Request, c: Ctr, next: str = "/") -> Response:
    if await current_principal(request, c) is not None:
        return see_other(safe_next(next))
    return _login_page(request, safe_next(next))


@router.post("/login")
async def login(
    request: Request,
    c: Ctr,
    api_key: Annotated[str, Form()] = "",
    user_id: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(csrf_token, expected):
        raise HTTPException(403, "The login form expired or was sent from elsewhere. Reload the page and retry.")
    next_url = safe_next(next)
    api_key, user_id = api_key.strip(), user_id.strip()
    if api_key:
        principal = await c.auth.authenticate(api_key)
        if principal is None or principal.key_id is None:
            return _login_page(request, next_url, {"api_key": "That API key is not valid or was revoked."},
                               status_code=401)
        data: dict[str, Any] = {"key_id": principal.key_id}
    elif user_id or password:
        errors = {}
        if not user_id:
            errors["user_id"] = "Enter your user id."
        if not password:
            errors["password"] = "Enter your password."
        if errors:
            return _login_page(request, next_url, errors, user_id, status_code=422)
        user = await c.catalog.check_login(user_id, password)
        if user is None:
            return _login_page(request, next_url, {"password": "Unknown user or wrong password."}, user_id,
                               status_code=401)
        data = {"user_id": user.id}
    else:
        return _login_page(request, next_url, {"form": "Enter an API key, or a user id and password."},
                           status_code=422)
    response = see_other(next_url)
    response.set_cookie(SESSION_COOKIE, session_serializer(c).dumps(data), max_age=c.settings.session_max_age_s,
                        httponly=True, samesite="lax", secure=request.url.scheme == "https", path="/")
    return response


@router.post("/logout")
async def logout(request: Request, c: Ctr) -> Response:
    if await current_principal(request, c) is not None:
        await check_csrf(request)
    response = see_other("/login")
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
    return response
