"""Turn page targets into people and addresses: users' ordered methods and the seed's contact list."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from prism_ir.domain.escalation import Target
from prism_ir.domain.oncall import Schedule, who_is_on_call
from prism_ir.store.tables import UserRow
from prism_ir.store.tables_oncall import ContactMethodRow, ContactRow, ScheduleRow

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE = re.compile(r"^\+?[0-9][0-9 ().-]{5,}$")
CHANNELS = ("email", "webhook", "apprise", "sms")


class ContactMethodSpec(BaseModel):
    """One way to reach a user: `{type: email, address}`, `{type: webhook, url}`, `{type: apprise, url}`, sms."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["email", "webhook", "apprise", "sms"]
    address: str | None = None
    url: str | None = None
    number: str | None = None
    label: str = ""

    @model_validator(mode="after")
    def _one_address(self) -> ContactMethodSpec:
        value = self.value
        if not value:
            need = {"email": "address", "webhook": "url", "apprise": "url", "sms": "number"}[self.type]
            raise ValueError(f"{self.type} contact method needs `{need}`")
        if self.type == "email" and not EMAIL.match(value):
            raise ValueError(f"{value!r} is not an email address")
        if self.type == "webhook" and not value.startswith(("http://", "https://")):
            raise ValueError("webhook url must start with http:// or https://")
        if self.type == "apprise" and "://" not in value:
            raise ValueError("apprise url needs a scheme, e.g. slack://, ntfy://, tgram://")
        if self.type == "sms" and not PHONE.match(value):
            raise ValueError(f"{value!r} is not a phone number")
        return self

    @property
    def value(self) -> str:
        return (self.address or self.url or self.number or "").strip()


@dataclass(frozen=True)
class Recipient:
    """Someone to page and the ordered (channel, address) routes to try."""

    id: str
    name: str
    routes: tuple[tuple[str, str], ...] = ()
    problem: str = ""


@dataclass(frozen=True)
class Resolution:
    target: str
    recipients: tuple[Recipient, ...] = ()
    problem: str = ""


def phone_digits(value: str) -> str:
    return ("+" if value.strip().startswith("+") else "") + re.sub(r"\D", "", value)


def classify_contact(value: str, sms_template: str) -> tuple[tuple[str, str] | None, str]:
    """Map a contact list value onto a route, or say why it cannot page anyone."""
    v = value.strip()
    if EMAIL.match(v):
        return ("email", v), ""
    if PHONE.match(v):
        if not sms_template:
            return None, "phone number but no SMS gateway: set PRISM_IR_SMS_URL_TEMPLATE"
        return ("sms", v), ""
    if v.startswith(("http://", "https://")):
        return None, "a web page, not a way to page someone"
    if "://" in v:
        return ("apprise", v), ""
    return None, "not an email address, phone number or apprise URL"


class ConfigCache:
    """Paging configuration read on the hot path, kept for `ttl` seconds (per process, per container)."""

    def __init__(self, ttl: float = 2.0) -> None:
        self.ttl = ttl
        self._data: dict[tuple[str, ...], tuple[float, Any]] = {}

    def get(self, key: tuple[str, ...]) -> Any:
        hit = self._data.get(key)
        if hit is not None and time.monotonic() - hit[0] < self.ttl:
            return hit[1]
        return _MISS

    def put(self, key: tuple[str, ...], value: Any) -> Any:
        self._data[key] = (time.monotonic(), value)
        return value

    def clear(self) -> None:
        self._data.clear()


_MISS = object()


@dataclass
class Resolver:
    """Resolve targets within one transaction, caching lookups for a batch of pages."""

    session: AsyncSession
    sms_template: str = ""
    cache: ConfigCache | None = None
    _users: dict[str, Recipient | None] = field(default_factory=dict)
    _schedules: dict[str, Schedule | None] = field(default_factory=dict)
    _contacts: dict[str, str] | None = None

    def _cached(self, key: tuple[str, ...]) -> Any:
        return self.cache.get(key) if self.cache is not None else _MISS

    def _keep(self, key: tuple[str, ...], value: Any) -> None:
        if self.cache is not None:
            self.cache.put(key, value)

    async def user(self, user_id: str) -> Recipient | None:
        if user_id not in self._users and (hit := self._cached(("user", user_id))) is not _MISS:
            self._users[user_id] = hit
        if user_id not in self._users:
            row = await self.session.get(UserRow, user_id)
            if row is None:
                self._users[user_id] = None
            else:
                methods = (await self.session.execute(
                    select(ContactMethodRow).where(ContactMethodRow.user_id == user_id)
                    .order_by(ContactMethodRow.position))).scalars().all()
                routes = tuple((m.type, m.address) for m in methods)
                if not routes and row.email:
                    routes = (("email", row.email),)
                if not row.active:
                    self._users[user_id] = Recipient(f"user:{user_id}", row.name, (), f"user {user_id} is inactive")
                else:
                    problem = "" if routes else f"user {user_id} has no contact method"
                    self._users[user_id] = Recipient(f"user:{user_id}", row.name, routes, problem)
            self._keep(("user", user_id), self._users[user_id])
        return self._users[user_id]

    async def schedule(self, schedule_id: str) -> Schedule | None:
        if schedule_id not in self._schedules and (hit := self._cached(("schedule", schedule_id))) is not _MISS:
            self._schedules[schedule_id] = hit
        if schedule_id not in self._schedules:
            row = await self.session.get(ScheduleRow, schedule_id)
            self._schedules[schedule_id] = Schedule.model_validate(row.definition) if row else None
            self._keep(("schedule", schedule_id), self._schedules[schedule_id])
        return self._schedules[schedule_id]

    async def schedule_ids(self) -> list[str]:
        if (hit := self._cached(("schedule_ids",))) is not _MISS:
            return list(hit)
        ids = list((await self.session.execute(select(ScheduleRow.id).order_by(ScheduleRow.id))).scalars().all())
        self._keep(("schedule_ids",), ids)
        return ids

    async def contacts(self) -> dict[str, str]:
        if self._contacts is None and (hit := self._cached(("contacts",))) is not _MISS:
            self._contacts = hit
        if self._contacts is None:
            rows = (await self.session.execute(select(ContactRow))).scalars().all()
            self._contacts = {f"{r.group}.{r.name}": r.value for r in rows}
            self._keep(("contacts",), self._contacts)
        return self._contacts

    async def _from_user(self, target: str, user_id: str, why: str = "") -> Resolution:
        r = await self.user(user_id)
        if r is None:
            return Resolution(target, problem=f"user {user_id!r} does not exist{why}")
        return Resolution(target, (r,), r.problem)

    async def resolve(self, target: Target, at: object, service_id: str | None = None) -> Resolution:
        """Who `target` means at instant `at`; a Resolution with `problem` set cannot reach anyone."""
        t = str(target)
        if target.kind == "user":
            return await self._from_user(t, target.ref)
        if target.kind == "schedule":
            return await self._schedule_role(t, target.ref, target.role, at)
        if target.kind == "contact":
            return await self._contact(t, target.ref)
        return await self._oncall(t, target.ref, at, service_id)

    async def _schedule_role(self, t: str, schedule_id: str, role: str, at: object) -> Resolution:
        sched = await self.schedule(schedule_id)
        if sched is None:
            return Resolution(t, problem=f"schedule {schedule_id!r} does not exist")
        who = who_is_on_call(sched, at, role)[role]  # type: ignore[arg-type]
        if who is None:
            return Resolution(t, problem=f"nobody is {role} on schedule {schedule_id} at that time")
        return await self._from_user(t, who, f" (on call as {schedule_id}/{role})")

    async def _contact(self, t: str, key: str) -> Resolution:
        value = (await self.contacts()).get(key)
        if value is None:
            return Resolution(t, problem=f"contact {key!r} is not in the contact list")
        if await self.user(value.strip()) is not None:
            return await self._from_user(t, value.strip())
        route, why = classify_contact(value, self.sms_template)
        if route is None:
            return Resolution(t, (Recipient(f"contact:{key}", key, (), why),), f"contact {key} ({value}): {why}")
        return Resolution(t, (Recipient(f"contact:{key}", key, (route,)),))

    async def _oncall(self, t: str, role: str, at: object, service_id: str | None) -> Resolution:
        # the service's own schedule, else the only schedule, else the seed's on_call contacts
        rows = await self.schedule_ids()
        chosen = service_id if service_id in rows else (rows[0] if len(rows) == 1 else None)
        if chosen is not None:
            sched = await self.schedule(chosen)
            if sched is not None and role in sched.roles:
                return await self._schedule_role(t, chosen, role, at)
        if f"on_call.{role}" in await self.contacts():
            return await self._contact(t, f"on_call.{role}")
        for sid in rows:
            sched = await self.schedule(sid)
            if sched is not None and role in sched.roles:
                return await self._schedule_role(t, sid, role, at)
        return Resolution(t, problem=f"no schedule has a {role} role and contacts has no on_call.{role}")
