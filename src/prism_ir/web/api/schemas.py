"""JSON shapes of the public API (requests validated here, responses built from domain objects)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from prism_ir.domain.incident import Incident, Status
from prism_ir.domain.severity import Severity


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class IncidentCreate(Strict):
    title: str = Field(min_length=1, max_length=500)
    severity: Severity
    service_id: str | None = None
    summary: str = Field(default="", max_length=20000)
    lead: str | None = None
    impact: str = Field(default="", max_length=5000)


class IncidentUpdate(Strict):
    title: str | None = Field(default=None, min_length=1, max_length=500)
    severity: Severity | None = None
    lead: str | None = None
    impact: str | None = Field(default=None, max_length=5000)
    summary: str | None = Field(default=None, max_length=20000)
    customer_minutes_affected: int | None = Field(default=None, ge=0)
    status: Status | None = None


class ActionBody(Strict):
    note: str = Field(default="", max_length=5000)


class NoteBody(Strict):
    text: str = Field(min_length=1, max_length=20000)


def seconds(value: Any) -> float | None:
    return value.total_seconds() if value is not None else None


def incident_json(i: Incident) -> dict[str, Any]:
    return {
        "id": i.id, "title": i.title, "summary": i.summary, "service_id": i.service_id,
        "severity": str(i.severity), "status": str(i.status), "source": i.source, "page": i.page,
        "lead": i.lead, "impact": i.impact, "customer_minutes_affected": i.customer_minutes_affected,
        "escalation_level": i.escalation_level, "created_at": i.created_at, "updated_at": i.updated_at,
        "acknowledged_at": i.acknowledged_at, "acknowledged_by": i.acknowledged_by,
        "resolved_at": i.resolved_at, "resolved_by": i.resolved_by, "resolution": i.resolution,
        "reviewed_at": i.reviewed_at, "closed_at": i.closed_at,
        "time_to_acknowledge_s": seconds(i.time_to_acknowledge), "time_to_resolve_s": seconds(i.time_to_resolve),
    }


class ServiceIn(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,99}$")
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    auto_resolve: bool = True


class ServicePatch(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = None
    auto_resolve: bool | None = None


class IntegrationIn(Strict):
    type: str


class UserIn(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,99}$")
    name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$")
    time_zone: str = "UTC"
    role: str = Field(default="responder", pattern=r"^(viewer|responder|admin)$")
    password: str | None = Field(default=None, min_length=8)


class UserPatch(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$")
    time_zone: str | None = None
    role: str | None = Field(default=None, pattern=r"^(viewer|responder|admin)$")
    active: bool | None = None
    password: str | None = Field(default=None, min_length=8)


class TimelineEntry(BaseModel):
    id: int
    at: datetime
    kind: str
    actor: str
    message: str
    data: dict[str, Any]
