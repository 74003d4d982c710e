"""Request dependencies: the container, and who is calling with which role."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Depends, HTTPException, Request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from prism_ir.bootstrap import Container
from prism_ir.services.auth import Principal, Role

SESSION_COOKIE = "prism_session"


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


def session_serializer(container: Container) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(container.secret_key, salt="prism-ir-session")


async def current_principal(request: Request, container: Container = Depends(get_container)) -> Principal | None:
    key = request.headers.get("x-api-key")
    if key:
        principal = await container.auth.authenticate(key)
        if principal is None:
            raise HTTPException(401, "invalid or revoked API key", headers={"WWW-Authenticate": "X-API-Key"})
        return principal
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        try:
            data = session_serializer(container).loads(cookie, max_age=container.settings.session_max_age_s)
        except BadSignature:
            return None
        return await _principal_from_session(container, data)
    return None


async def _principal_from_session(container: Container, data: dict[str, object]) -> Principal | None:
    """Re-check the session's key or user on every request so revocation takes effect at once."""
    from prism_ir.store.tables import ApiKeyRow, UserRow

    async with container.db.read() as session:
        if data.get("key_id") is not None:
            row = await session.get(ApiKeyRow, int(str(data["key_id"])))
            if row is None or row.revoked_at is not None:
                return None
            return Principal(name=f"key:{row.name}", role=Role(row.role), key_id=row.id, user_id=row.user_id)
        if data.get("user_id") is not None:
            user = await session.get(UserRow, str(data["user_id"]))
            if user is None or not user.active:
                return None
            return Principal(name=user.id, role=Role(user.role), user_id=user.id)
    return None


def require_role(role: str) -> Callable[..., Awaitable[Principal]]:
    needed = Role(role)

    async def dependency(principal: Principal | None = Depends(current_principal)) -> Principal:
        if principal is None:
            raise HTTPException(401, "authentication required: send an X-API-Key header or log in",
                                headers={"WWW-Authenticate": "X-API-Key"})
        if not principal.role.allows(needed):
            raise HTTPException(403, f"role {principal.role} may not do this; it needs {needed} or higher")
        return principal

    return dependency


def actor_name(principal: Principal) -> str:
    return principal.user_id or principal.name
