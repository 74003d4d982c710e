"""Escalation policies as data and a pure evaluator, so the engine only persists what the domain decides."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator, model_validator

from prism_ir.domain.business_hours import BusinessHours
from prism_ir.domain.durations import format_duration, parse_duration
from prism_ir.domain.severity import Severity


class Until(StrEnum):
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


_TARGET = re.compile(
    r"^(?:schedule:(?P<schedule>[A-Za-z0-9_.-]+)/(?P<role>[A-Za-z0-9_.-]+)"
    r"|user:(?P<user>[A-Za-z0-9_.@+-]+)"
    r"|contact:(?P<group>[A-Za-z0-9_-]+)\.(?P<name>[A-Za-z0-9_.-]+)"
    r"|oncall:(?P<oncall>[A-Za-z0-9_.-]+))$"
)


@dataclass(frozen=True)
class Target:
    """A parsed page target: `schedule:ID/role`, `user:ID`, `contact:group.name` or `oncall:role`."""

    kind: str
    ref: str
    role: str = ""

    def __str__(self) -> str:
        if self.kind == "schedule":
            return f"schedule:{self.ref}/{self.role}"
        return f"{self.kind}:{self.ref}"


def parse_target(text: str) -> Target:
    """Parse a target string or explain the accepted forms."""
    m = _TARGET.match(str(text).strip())
    if not m:
        raise ValueError(f"invalid target {text!r}: use schedule:ID/role, user:ID, contact:group.name or oncall:role")
    g = m.groupdict()
    if g["schedule"]:
        return Target("schedule", g["schedule"], g["role"])
    if g["user"]:
        return Target("user", g["user"])
    if g["group"]:
        return Target("contact", f"{g['group']}.{g['name']}")
    return Target("oncall", g["oncall"])


def _duration(v: object) -> timedelta:
    return v if isinstance(v, timedelta) else parse_duration(v)  # type: ignore[arg-type]


class Step(BaseModel):
    """Page `notify` once `after` has passed since the alert, unless the stop condition already holds."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    after: timedelta = timedelta(0)
    notify: tuple[str, ...]
    until: Until = Until.ACKNOWLEDGED

    @field_validator("after", mode="before")
    @classmethod
    def _after(cls, v: object) -> timedelta:
        return _duration(v)

    @field_serializer("after")
    def _dump_after(self, v: timedelta) -> str:
        return format_duration(v)

    @field_validator("notify", mode="before")
    @classmethod
    def _notify(cls, v: object) -> tuple[str, ...]:
        items = [v] if isinstance(v, str) else list(v)  # type: ignore[call-overload]
        if not items:
            raise ValueError("a step needs at least one target")
        return tuple(str(parse_target(t)) for t in items)

    @property
    def targets(self) -> tuple[Target, ...]:
        return tuple(parse_target(t) for t in self.notify)


class EscalationPolicy(BaseModel):
    """Ordered steps; `repeat` restarts the policy for an incident nobody acknowledges."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    name: str = ""
    steps: tuple[Step, ...]
    repeat: int = Field(default=0, ge=0, le=20)
    repeat_after: timedelta = timedelta(minutes=15)
    business_hours_only: bool = False

    @field_validator("repeat_after", mode="before")
    @classmethod
    def _repeat_after(cls, v: object) -> timedelta:
        return _duration(v)

    @field_serializer("repeat_after")
    def _dump_repeat_after(self, v: timedelta) -> str:
        return format_duration(v)

    @model_validator(mode="after")
    def _ordered(self) -> EscalationPolicy:
        if not self.steps:
            raise ValueError("a policy needs at least one step")
        for i in range(1, len(self.steps)):
            if self.steps[i].after < self.steps[i - 1].after:
                raise ValueError(f"steps[{i}].after must not be earlier than steps[{i - 1}].after")
        if self.repeat and self.repeat_after <= timedelta(0):
            raise ValueError("repeat_after must be positive when repeat is set")
        return self

    @property
    def cycle_length(self) -> timedelta:
        return self.steps[-1].after + self.repeat_after


@dataclass(frozen=True)
class EscalationState:
    """Where one incident is in its policy; `started_at` is the alert time, shifted by manual escalations."""

    started_at: datetime
    next_step: int = 0
    cycle: int = 0
    acknowledged: bool = False
    resolved: bool = False


@dataclass(frozen=True)
class Page:
    step: int
    cycle: int
    target: str
    until: Until


@dataclass(frozen=True)
class Decision:
    pages: tuple[Page, ...]
    next_due: datetime | None
    state: EscalationState


def _live(policy: EscalationPolicy, s: EscalationState) -> EscalationState | None:
    """Skip steps that can no longer fire; None when the policy has nothing left for this incident."""
    if s.resolved:
        return None
    while True:
        while s.next_step < len(policy.steps):
            if s.acknowledged and policy.steps[s.next_step].until == Until.ACKNOWLEDGED:
                s = replace(s, next_step=s.next_step + 1)
            else:
                return s
        if s.acknowledged or s.cycle >= policy.repeat:
            return None
        s = replace(s, next_step=0, cycle=s.cycle + 1)


def _due(policy: EscalationPolicy, s: EscalationState, calendar: BusinessHours | None) -> datetime:
    raw = s.started_at + policy.cycle_length * s.cycle + policy.steps[s.next_step].after
    if policy.business_hours_only:
        return (calendar or BusinessHours()).next_open(raw)
    return raw


def evaluate(
    policy: EscalationPolicy, state: EscalationState, now: datetime, calendar: BusinessHours | None = None
) -> Decision:
    """Return whom to page now (every step due by `now`, each once) and when to look again."""
    pages: list[Page] = []
    s = state
    while (live := _live(policy, s)) is not None and _due(policy, live, calendar) <= now:
        step = policy.steps[live.next_step]
        pages.extend(Page(live.next_step, live.cycle, t, step.until) for t in step.notify)
        s = replace(live, next_step=live.next_step + 1)
    live = _live(policy, s)
    if live is None:
        return Decision(tuple(pages), None, s)
    return Decision(tuple(pages), _due(policy, live, calendar), live)


def escalate_now(policy: EscalationPolicy, state: EscalationState, now: datetime) -> Decision:
    """Jump to the next step by hand: fire it now and keep the later steps' spacing from it."""
    live = _live(policy, state)
    if live is None:
        return Decision((), None, state)
    offset = policy.cycle_length * live.cycle + policy.steps[live.next_step].after
    return evaluate(policy, replace(live, started_at=now - offset), now)


def _policy(pid: str, name: str, steps: list[tuple[str, str, Until]], **kw: object) -> EscalationPolicy:
    return EscalationPolicy.model_validate(
        {"id": pid, "name": name, "steps": [{"after": a, "notify": [t], "until": u} for a, t, u in steps], **kw}
    )


# The seed's escalation matrix; `oncall:ROLE` is the service's schedule role (or the seed's on_call contacts).
DEFAULT_POLICIES: dict[Severity, EscalationPolicy] = {
    Severity.P1: _policy("default-p1", "Seed escalation matrix, P1", [
        ("0m", "oncall:primary", Until.ACKNOWLEDGED),
        ("15m", "oncall:secondary", Until.RESOLVED),
        ("30m", "contact:management.engineering_manager", Until.RESOLVED),
        ("60m", "contact:management.vp_engineering", Until.RESOLVED),
    ]),
    Severity.P2: _policy("default-p2", "Seed escalation matrix, P2", [
        ("0m", "oncall:primary", Until.ACKNOWLEDGED),
        ("30m", "oncall:secondary", Until.RESOLVED),
        ("60m", "contact:management.engineering_manager", Until.RESOLVED),
    ]),
    Severity.P3: _policy("default-p3", "Ticket; notify primary within business hours", [
        ("0m", "oncall:primary", Until.ACKNOWLEDGED),
    ], business_hours_only=True),
    Severity.P4: _policy("default-p4", "Ticket; notify primary within business hours", [
        ("0m", "oncall:primary", Until.ACKNOWLEDGED),
    ], business_hours_only=True),
}
