"""Services, users and integration keys: the things incidents and pages refer to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from prism_ir.clock import Clock
from prism_ir.services.auth import Role
from prism_ir.services.errors import Conflict, Invalid, NotFound
from prism_ir.services.secrets import check_password, hash_key, hash_password, new_key
from prism_ir.store.db import Database
from prism_ir.store.repos import AuditRepo
from prism_ir.store.tables import IncidentRow, IntegrationRow, ServiceRow, UserRow

INTEGRATION_TYPES = ("alertmanager", "events_v2", "webhook")


def service_dict(row: ServiceRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "auto_resolve": row.auto_resolve,
        "settings": row.settings or {},
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def user_dict(row: UserRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "email": row.email,
        "time_zone": row.time_zone,
        "role": row.role,
        "active": row.active,
        "has_password": row.password_hash is not None,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def check_time_zone(tz: str) -> str:
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid(f"unknown time zone {tz!r}: use an IANA name like Europe/Berlin", field="time_zone") from None
    return tz


@dataclass(frozen=True)
class IssuedIntegrationKey:
    id: int
    service_id: str
    type: str
    key: str


async def upsert_service_in(session: AsyncSession, data: dict[str, Any], actor: str, now: datetime) -> bool:
    """Create or update one service; return whether anything changed (so `apply` is idempotent)."""
    row = await session.get(ServiceRow, data["id"])
    fields = {k: data[k] for k in ("name", "description", "auto_resolve", "settings") if k in data}
    if row is None:
        row = ServiceRow(
            id=data["id"],
            name=fields.get("name", data["id"]),
            description=fields.get("description", ""),
            auto_resolve=fields.get("auto_resolve", True),
            settings=fields.get("settings", {}),
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        await session.flush()
        await AuditRepo(session).record(
            at=now,
            actor=actor,
            entity_type="service",
            entity_id=row.id,
            action="create",
            before=None,
            after=service_dict(row),
        )
        return True
    before = service_dict(row)
    changed = {k: v for k, v in fields.items() if getattr(row, k) != v}
    if not changed:
        return False
    for k, v in changed.items():
        setattr(row, k, v)
    row.updated_at = now
    await session.flush()
    await AuditRepo(session).record(
        at=now,
        actor=actor,
        entity_type="service",
        entity_id=row.id,
        action="update",
        before=before,
        after=service_dict(row),
    )
    return True


async def create_integration_key_in(
    session: AsyncSession,
    service_id: str,
    type_: str,
    actor: str,
    now: datetime,
    *,
    key: str | None = None,
    name: str = "",
) -> IssuedIntegrationKey | None:
    """Store a (given or generated) key hashed; None when that exact key already exists for the service."""
    if type_ not in INTEGRATION_TYPES:
        raise Invalid(f"unknown type {type_!r}: expected one of {', '.join(INTEGRATION_TYPES)}", field="type")
    if key is None:
        key, prefix, digest = new_key("pik")
    else:
        if len(key) < 16:
            raise Invalid("integration key must be at least 16 characters", field="key")
        prefix, digest = key[:8], hash_key(key)
    existing = (
        await session.execute(select(IntegrationRow).where(IntegrationRow.key_hash == digest))
    ).scalar_one_or_none()
    if existing is not None:
        if existing.service_id != service_id or existing.type != type_:
            raise Conflict("that integration key is already used by another integration", field="key")
        return None
    row = IntegrationRow(
        service_id=service_id, type=type_, name=name, key_prefix=prefix, key_hash=digest, created_at=now
    )
    session.add(row)
    await session.flush()
    await AuditRepo(session).record(
        at=now,
        actor=actor,
        entity_type="integration",
        entity_id=row.id,
        action="create",
        before=None,
        after={"service_id": service_id, "type": type_, "prefix": prefix},
    )
    return IssuedIntegrationKey(row.id, service_id, type_, key)


async def upsert_user_in(session: AsyncSession, data: dict[str, Any], actor: str, now: datetime) -> bool:
    if "time_zone" in data:
        check_time_zone(data["time_zone"])
    if "role" in data:
        Role(data["role"])
    fields: dict[str, Any] = {k: data[k] for k in ("name", "email", "time_zone", "role", "active") if k in data}
    if data.get("password"):
        fields["password_hash"] = hash_password(data["password"])
    row = await session.get(UserRow, data["id"])
    if row is None:
        row = UserRow(
            id=data["id"],
            name=fields.get("name", data["id"]),
            email=fields.get("email"),
            time_zone=fields.get("time_zone", "UTC"),
            role=fields.get("role", "responder"),
            password_hash=fields.get("password_hash"),
            active=fields.get("active", True),
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        await session.flush()
        await AuditRepo(session).record(
            at=now,
            actor=actor,
            entity_type="user",
            entity_id=row.id,
            action="create",
            before=None,
            after=user_dict(row),
        )
        return True
    before = user_dict(row)
    changed = {k: v for k, v in fields.items() if getattr(row, k) != v}
    if not changed:
        return False
    for k, v in changed.items():
        setattr(row, k, v)
    row.updated_at = now
    await session.flush()
    await AuditRepo(session).record(
        at=now,
        actor=actor,
        entity_type="user",
        entity_id=row.id,
        action="update",
        before=before,
        after=user_dict(row),
    )
    return True


class CatalogService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    # services
    async def list_services(self) -> list[dict[str, Any]]:
        async with self.db.read() as session:
            return [
                service_dict(r) for r in (await session.execute(select(ServiceRow).order_by(ServiceRow.id))).scalars()
            ]

    async def get_service(self, service_id: str) -> dict[str, Any]:
        async with self.db.read() as session:
            row = await session.get(ServiceRow, service_id)
            if row is None:
                raise NotFound(f"service {service_id!r} not found", field="id")
            return service_dict(row)

    async def create_service(self, data: dict[str, Any], actor: str) -> dict[str, Any]:
        async with self.db.transaction() as session:
            if await session.get(ServiceRow, data["id"]) is not None:
                raise Conflict(f"service {data['id']!r} already exists", field="id")
            await upsert_service_in(session, data, actor, self.clock.now())
            return service_dict(await session.get(ServiceRow, data["id"]))  # type: ignore[arg-type]

    async def update_service(self, service_id: str, data: dict[str, Any], actor: str) -> dict[str, Any]:
        async with self.db.transaction() as session:
            if await session.get(ServiceRow, service_id) is None:
                raise NotFound(f"service {service_id!r} not found", field="id")
            await upsert_service_in(session, {**data, "id": service_id}, actor, self.clock.now())
            return service_dict(await session.get(ServiceRow, service_id))  # type: ignore[arg-type]

    async def delete_service(self, service_id: str, actor: str) -> None:
        now = self.clock.now()
        async with self.db.transaction() as session:
            row = await session.get(ServiceRow, service_id)
            if row is None:
                raise NotFound(f"service {service_id!r} not found", field="id")
            open_count = (
                await session.execute(
                    select(func.count())
                    .select_from(IncidentRow)
                    .where(IncidentRow.service_id == service_id, IncidentRow.resolved_at.is_(None))
                )
            ).scalar_one()
            if open_count:
                raise Conflict(
                    f"service {service_id!r} has {open_count} open incident(s); resolve them first", field="id"
                )
            before = service_dict(row)
            await session.delete(row)
            await AuditRepo(session).record(
                at=now,
                actor=actor,
                entity_type="service",
                entity_id=service_id,
                action="delete",
                before=before,
                after=None,
            )

    # integration keys
    async def create_integration_key(self, service_id: str, type_: str, actor: str) -> IssuedIntegrationKey:
        async with self.db.transaction() as session:
            if await session.get(ServiceRow, service_id) is None:
                raise NotFound(f"service {service_id!r} not found", field="service_id")
            issued = await create_integration_key_in(session, service_id, type_, actor, self.clock.now())
            assert issued is not None
            return issued

    async def find_integration(self, key: str, type_: str | None = None) -> IntegrationRow | None:
        async with self.db.read() as session:
            row = (
                await session.execute(
                    select(IntegrationRow).where(
                        IntegrationRow.key_hash == hash_key(key), IntegrationRow.revoked_at.is_(None)
                    )
                )
            ).scalar_one_or_none()
        if row is None or (type_ is not None and row.type != type_):
            return None
        return row

    # users
    async def list_users(self) -> list[dict[str, Any]]:
        async with self.db.read() as session:
            return [user_dict(r) for r in (await session.execute(select(UserRow).order_by(UserRow.id))).scalars()]

    async def get_user(self, user_id: str) -> dict[str, Any]:
        async with self.db.read() as session:
            row = await session.get(UserRow, user_id)
            if row is None:
                raise NotFound(f"user {user_id!r} not found", field="id")
            return user_dict(row)

    async def create_user(self, data: dict[str, Any], actor: str) -> dict[str, Any]:
        async with self.db.transaction() as session:
            if await session.get(UserRow, data["id"]) is not None:
                raise Conflict(f"user {data['id']!r} already exists", field="id")
            await upsert_user_in(session, data, actor, self.clock.now())
            return user_dict(await session.get(UserRow, data["id"]))  # type: ignore[arg-type]

    async def update_user(self, user_id: str, data: dict[str, Any], actor: str) -> dict[str, Any]:
        async with self.db.transaction() as session:
            if await session.get(UserRow, user_id) is None:
                raise NotFound(f"user {user_id!r} not found", field="id")
            await upsert_user_in(session, {**data, "id": user_id}, actor, self.clock.now())
            return user_dict(await session.get(UserRow, user_id))  # type: ignore[arg-type]

    async def delete_user(self, user_id: str, actor: str) -> None:
        now = self.clock.now()
        async with self.db.transaction() as session:
            row = await session.get(UserRow, user_id)
            if row is None:
                raise NotFound(f"user {user_id!r} not found", field="id")
            before = user_dict(row)
            await session.delete(row)
            await AuditRepo(session).record(
                at=now, actor=actor, entity_type="user", entity_id=user_id, action="delete", before=before, after=None
            )

    async def check_login(self, user_id: str, password: str) -> UserRow | None:
        async with self.db.read() as session:
            row = await session.get(UserRow, user_id)
        if row is None or not row.active or not check_password(password, row.password_hash):
            return None
        return row
