"""The ingest parts of a service's YAML (severity rules, grouping, silences): validated here, read at ingest."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from prism_ir.domain.durations import format_duration, parse_duration
from prism_ir.domain.grouping import GroupingRule, Silence
from prism_ir.domain.matchers import parse_matchers
from prism_ir.domain.routing import DEFAULT_SEVERITY, SeverityRule
from prism_ir.domain.severity import Severity, parse_severity

_STRICT = ConfigDict(extra="forbid")


def _matchers(value: Any) -> Any:
    parse_matchers(value)
    return value


def _duration(value: Any) -> str | None:
    if value is None:
        return None
    return format_duration(parse_duration(value))


class SeverityRuleSpec(BaseModel):
    """`{match: {label: value}, matchers: ["env=~prod.*"], severity: P1}`; all given conditions must hold."""

    model_config = _STRICT
    match: dict[str, str] = Field(default_factory=dict)
    matchers: list[str] = Field(default_factory=list)
    severity: str

    _m = field_validator("matchers")(classmethod(lambda cls, v: _matchers(v)))

    @field_validator("match")
    @classmethod
    def _match(cls, v: dict[str, str]) -> dict[str, str]:
        return _matchers(v)

    @field_validator("severity", mode="before")
    @classmethod
    def _sev(cls, v: object) -> str:
        return str(parse_severity(str(v)))


class GroupingRuleSpec(BaseModel):
    model_config = _STRICT
    name: str = ""
    match: dict[str, str] = Field(default_factory=dict)
    matchers: list[str] = Field(default_factory=list)
    by: list[str] = Field(default_factory=list)
    window: str | None = None
    threshold: int = Field(default=1, ge=1, le=10000)
    threshold_window: str | None = None

    _m = field_validator("matchers")(classmethod(lambda cls, v: _matchers(v)))
    _w = field_validator("window", "threshold_window", mode="before")(classmethod(lambda cls, v: _duration(v)))

    @field_validator("match")
    @classmethod
    def _match(cls, v: dict[str, str]) -> dict[str, str]:
        return _matchers(v)


class GroupingSpec(GroupingRuleSpec):
    """The service's default rule (its own fields) plus more specific `rules`, tried first, in order."""

    rules: list[GroupingRuleSpec] = Field(default_factory=list)


class SilenceSpec(BaseModel):
    """A maintenance window: matching alerts between start and end are recorded, nobody is paged."""

    model_config = _STRICT
    id: str = Field(min_length=1, max_length=100)
    matchers: list[str] | dict[str, str] = Field(default_factory=list)
    starts_at: datetime
    ends_at: datetime
    comment: str = ""
    created_by: str = ""

    _m = field_validator("matchers")(classmethod(lambda cls, v: _matchers(v)))

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)

    @model_validator(mode="after")
    def _order(self) -> SilenceSpec:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


@dataclass(frozen=True)
class IngestConfig:
    """Everything ingestion needs to know about one service, parsed once and cached."""

    service_id: str
    auto_resolve: bool = True
    severity_rules: tuple[SeverityRule, ...] = ()
    default_severity: Severity = DEFAULT_SEVERITY
    grouping: tuple[GroupingRule, ...] = ()
    silences: tuple[Silence, ...] = ()

    @property
    def groups_by_labels(self) -> bool:
        return any(rule.by for rule in self.grouping)


def _rule(spec: dict[str, Any], name: str) -> GroupingRule:
    window, tw = spec.get("window"), spec.get("threshold_window")
    return GroupingRule(
        name=spec.get("name") or name,
        matchers=parse_matchers(spec.get("match") or {}) + parse_matchers(spec.get("matchers") or []),
        by=tuple(spec.get("by") or ()),
        window=parse_duration(window) if window else None,
        threshold=int(spec.get("threshold") or 1),
        threshold_window=parse_duration(tw) if tw else None,
    )


def ingest_config(service_id: str, auto_resolve: bool, settings: dict[str, Any]) -> IngestConfig:
    """Build domain rules from the settings JSON the `services` section stored (already validated there)."""
    rules = tuple(
        SeverityRule(parse_matchers(r.get("match") or {}) + parse_matchers(r.get("matchers") or []),
                     parse_severity(r["severity"]))
        for r in settings.get("severity_rules") or ()
    )
    grouping: list[GroupingRule] = []
    g = settings.get("grouping") or {}
    for i, r in enumerate(g.get("rules") or ()):
        grouping.append(_rule(r, f"rule{i + 1}"))
    if g and (g.get("by") or int(g.get("threshold") or 1) > 1 or g.get("match") or g.get("matchers")):
        grouping.append(_rule(g, "default"))
    silences = tuple(
        Silence(s["id"], parse_matchers(s.get("matchers") or []), _dt(s["starts_at"]), _dt(s["ends_at"]),
                s.get("comment", ""), s.get("created_by", ""))
        for s in settings.get("silences") or ()
    )
    default = settings.get("default_severity")
    return IngestConfig(service_id, auto_resolve, rules, parse_severity(default) if default else DEFAULT_SEVERITY,
                        tuple(grouping), silences)


def _dt(value: Any) -> datetime:
    dt = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt
