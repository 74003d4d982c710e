"""The `users:` section: people who respond, with their time zone and role."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from prism_ir.services.catalog import check_time_zone, upsert_user_in
from prism_ir.services.config_apply import ApplyContext, Section, register
from prism_ir.services.config_services import check_slug
from prism_ir.services.errors import Invalid, ServiceError


class UserSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    name: str | None = None
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$")
    time_zone: str = "UTC"
    role: str = Field(default="responder", pattern=r"^(viewer|responder|admin)$")

    _check_id = field_validator("id")(classmethod(lambda cls, v: check_slug(v)))

    @field_validator("time_zone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            return check_time_zone(v)
        except ServiceError as exc:
            raise ValueError(exc.message) from None


async def apply_users(ctx: ApplyContext, users: list[UserSpec]) -> None:
    seen: set[str] = set()
    for i, spec in enumerate(users):
        if spec.id in seen:
            raise Invalid(f"duplicate user id {spec.id!r}", field=f"[{i}].id")
        seen.add(spec.id)
        data = {"id": spec.id, "name": spec.name or spec.id, "email": spec.email, "time_zone": spec.time_zone,
                "role": spec.role}
        if await upsert_user_in(ctx.session, data, ctx.actor, ctx.now):
            ctx.changed(f"user {spec.id}: saved")


register(Section("users", TypeAdapter(list[UserSpec]), apply_users, order=10))
