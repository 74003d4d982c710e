"""The `services:` section: services, their integration keys and per-service settings."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator
from sqlalchemy import select

from prism_ir.domain.severity import parse_severity
from prism_ir.services.catalog import INTEGRATION_TYPES, create_integration_key_in, upsert_service_in
from prism_ir.services.config_apply import ApplyContext, Section, register
from prism_ir.services.config_ingest import GroupingSpec, SeverityRuleSpec, SilenceSpec
from prism_ir.services.errors import Invalid, ServiceError
from prism_ir.store.tables import IntegrationRow

_SLUG = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")


def check_slug(value: str) -> str:
    if not _SLUG.match(value):
        raise ValueError(f"invalid id {value!r}: use lowercase letters, digits, '.', '_' or '-'")
    return value


class IntegrationSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str
    key: str | None = Field(default=None, min_length=16)
    name: str = ""

    @field_validator("type")
    @classmethod
    def _known_type(cls, v: str) -> str:
        if v not in INTEGRATION_TYPES:
            raise ValueError(f"unknown type {v!r} (expected one of {', '.join(INTEGRATION_TYPES)})")
        return v


class ServiceSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    name: str | None = None
    description: str = ""
    auto_resolve: bool = True
    integrations: list[IntegrationSpec] = Field(default_factory=list)
    escalation: dict[str, str] = Field(default_factory=dict)
    severity_rules: list[SeverityRuleSpec] = Field(default_factory=list)
    default_severity: str | None = None
    runbooks: list[str] = Field(default_factory=list)
    business_hours: dict[str, Any] | None = None
    grouping: GroupingSpec | None = None
    silences: list[SilenceSpec] = Field(default_factory=list)

    _check_id = field_validator("id")(classmethod(lambda cls, v: check_slug(v)))

    @field_validator("default_severity")
    @classmethod
    def _default_severity(cls, v: str | None) -> str | None:
        return None if v is None else str(parse_severity(v))

    @field_validator("escalation")
    @classmethod
    def _severity_keys(cls, v: dict[str, str]) -> dict[str, str]:
        return {str(parse_severity(k)): policy for k, policy in v.items()}

    def settings(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"id", "name", "description", "auto_resolve", "integrations"})


async def apply_services(ctx: ApplyContext, services: list[ServiceSpec]) -> None:
    seen: set[str] = set()
    for i, spec in enumerate(services):
        if spec.id in seen:
            raise Invalid(f"duplicate service id {spec.id!r}", field=f"[{i}].id")
        seen.add(spec.id)
        data = {
            "id": spec.id,
            "name": spec.name or spec.id,
            "description": spec.description,
            "auto_resolve": spec.auto_resolve,
            "settings": spec.settings(),
        }
        if await upsert_service_in(ctx.session, data, ctx.actor, ctx.now):
            ctx.changed(f"service {spec.id}: saved")
        for j, integ in enumerate(spec.integrations):
            if integ.key is None:
                have = (
                    await ctx.session.execute(
                        select(IntegrationRow.id).where(
                            IntegrationRow.service_id == spec.id,
                            IntegrationRow.type == integ.type,
                            IntegrationRow.revoked_at.is_(None),
                        )
                    )
                ).first()
                if have:
                    continue
            try:
                issued = await create_integration_key_in(
                    ctx.session, spec.id, integ.type, ctx.actor, ctx.now, key=integ.key, name=integ.name
                )
            except ServiceError as exc:
                exc.field = f"[{i}].integrations[{j}].key"
                raise
            if issued is not None:
                ctx.changed(f"service {spec.id}: {integ.type} integration added")
                if integ.key is None:
                    ctx.issued_keys.append(f"{spec.id} {integ.type}: {issued.key}")


register(Section("services", TypeAdapter(list[ServiceSpec]), apply_services, order=60))
