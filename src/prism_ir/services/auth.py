"""API keys with roles; every key is stored hashed and shown only when created or rotated."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from prism_ir.clock import Clock
from prism_ir.services.errors import Invalid, NotFound
from prism_ir.services.secrets import hash_key, key_matches, key_prefix, new_key
from prism_ir.store.db import Database
from prism_ir.store.repos import AuditRepo
from prism_ir.store.tables import ApiKeyRow, UserRow


class Role(StrEnum):
    VIEWER = "viewer"
    RESPONDER = "responder"
    ADMIN = "admin"

    def allows(self, needed: Role) -> bool:
        order = [Role.VIEWER, Role.RESPONDER, Role.ADMIN]
        return order.index(self) >= order.index(needed)


def parse_role(value: str) -> Role:
    try:
        return Role(value.strip().lower())
    except ValueError:
        raise Invalid(f"unknown role {value!r}: expected viewer, responder or admin", field="role") from None


@dataclass(frozen=True)
class Principal:
    name: str
    role: Role
    key_id: int | None = None
    user_id: str | None = None


@dataclass(frozen=True)
class IssuedKey:
    id: int
    name: str
    role: Role
    key: str


class AuthService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def create_key(self, name: str, role: Role, *, actor: str = "cli", user_id: str | None = None) -> IssuedKey:
        if not name.strip():
            raise Invalid("key name must not be empty", field="name")
        now = self.clock.now()
        key, prefix, digest = new_key("pir")
        async with self.db.transaction() as session:
            if user_id is not None and await session.get(UserRow, user_id) is None:
                raise Invalid(f"user {user_id!r} does not exist", field="user")
            row = ApiKeyRow(
                name=name.strip(), prefix=prefix, key_hash=digest, role=role.value, user_id=user_id, created_at=now
            )
            session.add(row)
            await session.flush()
            await AuditRepo(session).record(
                at=now,
                actor=actor,
                entity_type="api_key",
                entity_id=row.id,
                action="create",
                before=None,
                after={"name": row.name, "role": row.role, "prefix": prefix},
            )
            return IssuedKey(row.id, row.name, role, key)

    async def _find(self, session: AsyncSession, ident: str) -> ApiKeyRow:
        stmt = select(ApiKeyRow).where(ApiKeyRow.revoked_at.is_(None))
        stmt = stmt.where(ApiKeyRow.id == int(ident)) if ident.isdigit() else stmt.where(ApiKeyRow.name == ident)
        rows = list((await session.execute(stmt)).scalars())
        if not rows:
            raise NotFound(f"no active API key {ident!r}", field="key")
        if len(rows) > 1:
            raise Invalid(f"several active keys are named {ident!r}; use the numeric id", field="key")
        return rows[0]

    async def rotate_key(self, ident: str, *, actor: str = "cli") -> IssuedKey:
        """Issue a new secret for the same name and role and revoke the old one in one step."""
        now = self.clock.now()
        key, prefix, digest = new_key("pir")
        async with self.db.transaction() as session:
            old = await self._find(session, ident)
            old.revoked_at = now
            row = ApiKeyRow(
                name=old.name, prefix=prefix, key_hash=digest, role=old.role, user_id=old.user_id, created_at=now
            )
            session.add(row)
            await session.flush()
            await AuditRepo(session).record(
                at=now,
                actor=actor,
                entity_type="api_key",
                entity_id=row.id,
                action="rotate",
                before={"id": old.id, "prefix": old.prefix},
                after={"id": row.id, "prefix": prefix},
            )
            return IssuedKey(row.id, row.name, Role(row.role), key)

    async def revoke_key(self, ident: str, *, actor: str = "cli") -> int:
        now = self.clock.now()
        async with self.db.transaction() as session:
            row = await self._find(session, ident)
            row.revoked_at = now
            await AuditRepo(session).record(
                at=now,
                actor=actor,
                entity_type="api_key",
                entity_id=row.id,
                action="revoke",
                before={"revoked_at": None},
                after={"revoked_at": now},
            )
            return row.id

    async def list_keys(self) -> list[ApiKeyRow]:
        async with self.db.read() as session:
            return list((await session.execute(select(ApiKeyRow).order_by(ApiKeyRow.id))).scalars())

    async def authenticate(self, key: str) -> Principal | None:
        prefix = key_prefix(key)
        if prefix is None:
            return None
        async with self.db.read() as session:
            row = (await session.execute(select(ApiKeyRow).where(ApiKeyRow.prefix == prefix))).scalar_one_or_none()
            if row is None or row.revoked_at is not None or not key_matches(key, row.key_hash):
                return None
            return Principal(name=f"key:{row.name}", role=Role(row.role), key_id=row.id, user_id=row.user_id)


__all__ = ["AuthService", "IssuedKey", "Principal", "Role", "hash_key", "parse_role"]
