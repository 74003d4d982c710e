"""The incident lifecycle as an explicit transition table, so every refusal can say why."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from prism_ir.domain.severity import Severity


class Status(StrEnum):
    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"
    REVIEWED = "reviewed"
    CLOSED = "closed"

    @property
    def is_open(self) -> bool:
        return self in OPEN_STATUSES


OPEN_STATUSES = frozenset(
    {Status.TRIGGERED, Status.ACKNOWLEDGED, Status.INVESTIGATING, Status.IDENTIFIED, Status.MONITORING}
)
_WORKING = (Status.ACKNOWLEDGED, Status.INVESTIGATING, Status.IDENTIFIED, Status.MONITORING)


class Action(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    INVESTIGATE = "investigate"
    IDENTIFY = "identify"
    MONITOR = "monitor"
    RESOLVE = "resolve"
    REVIEW = "review"
    CLOSE = "close"
    ESCALATE = "escalate"
    REOPEN = "reopen"


# action -> (allowed source statuses, target status or None to keep the status)
TRANSITIONS: dict[Action, tuple[frozenset[Status], Status | None]] = {
    Action.ACKNOWLEDGE: (frozenset({Status.TRIGGERED}), Status.ACKNOWLEDGED),
    Action.INVESTIGATE: (frozenset({Status.TRIGGERED, Status.ACKNOWLEDGED, Status.IDENTIFIED}), Status.INVESTIGATING),
    Action.IDENTIFY: (frozenset({Status.TRIGGERED, Status.ACKNOWLEDGED, Status.INVESTIGATING}), Status.IDENTIFIED),
    Action.MONITOR: (frozenset(_WORKING) | {Status.TRIGGERED}, Status.MONITORING),
    Action.RESOLVE: (OPEN_STATUSES, Status.RESOLVED),
    Action.REVIEW: (frozenset({Status.RESOLVED}), Status.REVIEWED),
    Action.CLOSE: (frozenset({Status.RESOLVED, Status.REVIEWED}), Status.CLOSED),
    Action.ESCALATE: (OPEN_STATUSES, None),
    Action.REOPEN: (frozenset({Status.RESOLVED, Status.REVIEWED}), Status.TRIGGERED),
}

# The status a UI shows for "set status to X" maps onto these actions.
STATUS_ACTIONS: dict[Status, Action] = {
    Status.ACKNOWLEDGED: Action.ACKNOWLEDGE,
    Status.INVESTIGATING: Action.INVESTIGATE,
    Status.IDENTIFIED: Action.IDENTIFY,
    Status.MONITORING: Action.MONITOR,
    Status.RESOLVED: Action.RESOLVE,
    Status.REVIEWED: Action.REVIEW,
    Status.CLOSED: Action.CLOSE,
    Status.TRIGGERED: Action.REOPEN,
}


class TransitionRefused(ValueError):
    """Raised with a sentence a responder can act on."""

    def __init__(self, action: Action, status: Status, reason: str) -> None:
        super().__init__(reason)
        self.action = action
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Event:
    """Something that happened to an incident; it becomes a timeline entry."""

    kind: str
    message: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Incident:
    id: int | None
    title: str
    service_id: str | None
    severity: Severity
    status: Status
    created_at: datetime
    summary: str = ""
    lead: str | None = None
    impact: str = ""
    customer_minutes_affected: int | None = None
    source: str = "manual"
    page: bool = False
    escalation_level: int = 0
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    resolution: str = ""
    reviewed_at: datetime | None = None
    closed_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.status.is_open

    @property
    def time_to_acknowledge(self) -> timedelta | None:
        return self.acknowledged_at - self.created_at if self.acknowledged_at else None

    @property
    def time_to_resolve(self) -> timedelta | None:
        return self.resolved_at - self.created_at if self.resolved_at else None


def new_incident(
    *,
    title: str,
    severity: Severity,
    now: datetime,
    service_id: str | None = None,
    summary: str = "",
    lead: str | None = None,
    impact: str = "",
    source: str = "manual",
) -> tuple[Incident, list[Event]]:
    """Open an incident; P1/P2 are marked for paging, P3/P4 become tickets."""
    title = title.strip()
    if not title:
        raise ValueError("title must not be empty")
    incident = Incident(
        id=None,
        title=title,
        service_id=service_id,
        severity=severity,
        status=Status.TRIGGERED,
        created_at=now,
        summary=summary,
        lead=lead,
        impact=impact,
        source=source,
        page=severity.pages,
        updated_at=now,
    )
    how = "paging on-call" if incident.page else "ticket created, no page"
    return incident, [
        Event(
            "triggered",
            f"{severity} incident opened: {title} ({how})",
            {"severity": str(severity), "page": incident.page, "source": source},
        )
    ]


def _refusal(action: Action, incident: Incident) -> str:
    s = incident.status
    if s == Status.CLOSED:
        return f"cannot {action} incident: it is closed, and a closed incident is final (open a new one)"
    if action == Action.ACKNOWLEDGE:
        if s in _WORKING:
            return f"cannot acknowledge incident: it was already acknowledged (status {s})"
        return f"cannot acknowledge incident: it is {s}"
    if action in (Action.RESOLVE, Action.ESCALATE):
        return f"cannot {action} incident: it is already {s}"
    if action == Action.REVIEW:
        return f"cannot review incident: only a resolved incident can be reviewed (status {s})"
    if action == Action.CLOSE:
        return f"cannot close incident: resolve it first (status {s})"
    if action == Action.REOPEN:
        return f"cannot reopen incident: it is still open (status {s})"
    return f"cannot {action} incident while it is {s}"


def transition(
    incident: Incident, action: Action, now: datetime, *, actor: str | None = None, note: str = ""
) -> tuple[Incident, list[Event]]:
    """Apply an action; raise TransitionRefused saying why when the table forbids it."""
    allowed, target = TRANSITIONS[action]
    if incident.status not in allowed:
        raise TransitionRefused(action, incident.status, _refusal(action, incident))
    who = actor or "system"
    changes: dict[str, Any] = {"updated_at": now}
    data: dict[str, Any] = {"from": str(incident.status)}
    if target is not None:
        changes["status"] = target
        data["to"] = str(target)
    if incident.acknowledged_at is None and target in _WORKING:
        changes["acknowledged_at"] = now
        changes["acknowledged_by"] = who
    if action == Action.RESOLVE:
        changes["resolved_at"] = now
        changes["resolved_by"] = who
        if note:
            changes["resolution"] = note
    elif action == Action.REVIEW:
        changes["reviewed_at"] = now
    elif action == Action.CLOSE:
        changes["closed_at"] = now
    elif action == Action.ESCALATE:
        changes["escalation_level"] = incident.escalation_level + 1
        data["level"] = incident.escalation_level + 1
    elif action == Action.REOPEN:
        changes.update(
            resolved_at=None,
            resolved_by=None,
            reviewed_at=None,
            acknowledged_at=None,
            acknowledged_by=None,
            escalation_level=0,
            page=incident.severity.pages,
        )
    updated = replace(incident, **changes)
    messages = {
        Action.ACKNOWLEDGE: f"Acknowledged by {who}",
        Action.INVESTIGATE: f"Investigating ({who})",
        Action.IDENTIFY: f"Cause identified ({who})",
        Action.MONITOR: f"Fix in place, monitoring ({who})",
        Action.RESOLVE: f"Resolved by {who}",
        Action.REVIEW: f"Post-incident review done ({who})",
        Action.CLOSE: f"Closed by {who}",
        Action.ESCALATE: f"Escalated to level {incident.escalation_level + 1} by {who}",
        Action.REOPEN: f"Reopened by {who}",
    }
    message = messages[action] + (f": {note}" if note else "")
    kind = {
        Action.ACKNOWLEDGE: "acknowledged",
        Action.RESOLVE: "resolved",
        Action.ESCALATE: "escalated",
        Action.REOPEN: "reopened",
        Action.REVIEW: "reviewed",
        Action.CLOSE: "closed",
    }.get(action, "status")
    return updated, [Event(kind, message, data)]


def change_severity(
    incident: Incident, severity: Severity, now: datetime, actor: str | None = None
) -> tuple[Incident, list[Event]]:
    """Re-assess severity; moving into P1/P2 starts paging, the seed's 'assess severity' step."""
    if incident.status == Status.CLOSED:
        raise TransitionRefused(Action.ESCALATE, incident.status, "cannot change severity: the incident is closed")
    if severity == incident.severity:
        return incident, []
    page = incident.page or (severity.pages and incident.is_open)
    updated = replace(incident, severity=severity, page=page, updated_at=now)
    return updated, [
        Event(
            "severity_changed",
            f"Severity {incident.severity} → {severity} ({actor or 'system'})",
            {"from": str(incident.severity), "to": str(severity)},
        )
    ]
