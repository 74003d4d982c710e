"""Turn incidents into what the pages show: sort order, SLA verdicts, allowed buttons, audit diffs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from prism_ir.domain.incident import TRANSITIONS, Action, Incident
from prism_ir.domain.severity import SLA_TARGETS, Severity

SEVERITY_RANK = {Severity.P1: 0, Severity.P2: 1, Severity.P3: 2, Severity.P4: 3}

# Button order follows the seed's flow: acknowledge, assess, fix, resolve, then review and close.
ACTION_LABELS: dict[Action, str] = {
    Action.ACKNOWLEDGE: "Acknowledge",
    Action.INVESTIGATE: "Investigating",
    Action.IDENTIFY: "Cause identified",
    Action.MONITOR: "Monitoring fix",
    Action.RESOLVE: "Resolve",
    Action.ESCALATE: "Escalate",
    Action.REOPEN: "Reopen",
    Action.REVIEW: "Mark reviewed",
    Action.CLOSE: "Close",
}
DONE_MESSAGES: dict[str, str] = {
    "acknowledge": "Acknowledged.",
    "investigate": "Status set to investigating.",
    "identify": "Cause marked as identified.",
    "monitor": "Status set to monitoring.",
    "resolve": "Resolved.",
    "escalate": "Escalated to the next level.",
    "reopen": "Reopened.",
    "review": "Marked as reviewed.",
    "close": "Closed.",
    "severity": "Severity changed.",
    "lead": "Incident lead changed.",
    "note": "Note added.",
    "created": "Incident opened.",
}


def open_first(items: list[Incident]) -> list[Incident]:
    """Open incidents on top, worst severity first; the rest keep their newest-first order."""
    return sorted(items, key=lambda i: (0, SEVERITY_RANK[i.severity]) if i.is_open else (1, 0))


def allowed_actions(incident: Incident) -> list[Action]:
    return [a for a in ACTION_LABELS if incident.status in TRANSITIONS[a][0]]


@dataclass(frozen=True)
class SlaLine:
    label: str
    elapsed: timedelta | None
    target: timedelta | None
    verdict: str  # "within", "breached", "none"
    text: str
    running: bool


def _line(label: str, start: datetime, end: datetime | None, target: timedelta | None, now: datetime,
          is_open: bool) -> SlaLine:
    if end is None and not is_open:
        return SlaLine(label, None, target, "none", "not recorded", False)
    running = end is None
    elapsed = (end or now) - start
    if target is None:
        return SlaLine(label, elapsed, None, "none", "no SLA target", running)
    if elapsed > target:
        return SlaLine(label, elapsed, target, "breached", "breached", running)
    return SlaLine(label, elapsed, target, "within", "within SLA", running)


def sla_lines(incident: Incident, now: datetime) -> list[SlaLine]:
    """TTA and TTR against the seed's SLA targets; a running clock can already be breached."""
    targets = SLA_TARGETS.get(incident.severity)
    return [
        _line("Time to acknowledge", incident.created_at, incident.acknowledged_at,
              targets.time_to_acknowledge if targets else None, now, incident.is_open),
        _line("Time to resolve", incident.created_at, incident.resolved_at,
              targets.time_to_resolve if targets else None, now, incident.is_open),
    ]


def audit_changes(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[tuple[str, Any, Any]]:
    """The fields an audit entry changed, so the trail shows `status: triggered → acknowledged`."""
    b, a = before or {}, after or {}
    if before is None:
        return [(k, None, a[k]) for k in ("title", "severity", "status", "service_id", "lead") if a.get(k)]
    skip = {"updated_at"}
    keys = [k for k in dict.fromkeys([*b, *a]) if k not in skip and b.get(k) != a.get(k)]
    return [(k, b.get(k), a.get(k)) for k in keys]
