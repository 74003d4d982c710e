"""The lifecycle transition table, row by row, with the reason for every refusal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from prism_ir.domain.incident import (
    OPEN_STATUSES,
    TRANSITIONS,
    Action,
    Incident,
    Status,
    TransitionRefused,
    change_severity,
    new_incident,
    transition,
)
from prism_ir.domain.severity import Severity

NOW = datetime(2026, 11, 30, 14, 32, tzinfo=UTC)


def at(status: Status, severity: Severity = Severity.P1) -> Incident:
    inc, _ = new_incident(title="API down", severity=severity, now=NOW)
    return Incident(**{**inc.__dict__, "id": 1, "status": status})


ALLOWED = [
    (Status.TRIGGERED, Action.ACKNOWLEDGE, Status.ACKNOWLEDGED),
    (Status.TRIGGERED, Action.INVESTIGATE, Status.INVESTIGATING),
    (Status.ACKNOWLEDGED, Action.INVESTIGATE, Status.INVESTIGATING),
    (Status.INVESTIGATING, Action.IDENTIFY, Status.IDENTIFIED),
    (Status.IDENTIFIED, Action.MONITOR, Status.MONITORING),
    (Status.IDENTIFIED, Action.INVESTIGATE, Status.INVESTIGATING),
    (Status.MONITORING, Action.RESOLVE, Status.RESOLVED),
    (Status.TRIGGERED, Action.RESOLVE, Status.RESOLVED),
    (Status.RESOLVED, Action.REVIEW, Status.REVIEWED),
    (Status.REVIEWED, Action.CLOSE, Status.CLOSED),
    (Status.RESOLVED, Action.CLOSE, Status.CLOSED),
    (Status.RESOLVED, Action.REOPEN, Status.TRIGGERED),
    (Status.REVIEWED, Action.REOPEN, Status.TRIGGERED),
    (Status.INVESTIGATING, Action.ESCALATE, Status.INVESTIGATING),
]


@pytest.mark.parametrize(("start", "action", "end"), ALLOWED)
def test_allowed_transitions(start: Status, action: Action, end: Status) -> None:
    after, events = transition(at(start), action, NOW + timedelta(minutes=5), actor="alice")
    assert after.status == end
    assert len(events) == 1 and "alice" in events[0].message


REFUSED = [
    (Status.CLOSED, Action.RESOLVE, "it is closed"),
    (Status.CLOSED, Action.REOPEN, "it is closed"),
    (Status.RESOLVED, Action.RESOLVE, "already resolved"),
    (Status.ACKNOWLEDGED, Action.ACKNOWLEDGE, "already acknowledged"),
    (Status.RESOLVED, Action.ACKNOWLEDGE, "it is resolved"),
    (Status.INVESTIGATING, Action.REVIEW, "only a resolved incident can be reviewed"),
    (Status.MONITORING, Action.CLOSE, "resolve it first"),
    (Status.TRIGGERED, Action.REOPEN, "still open"),
    (Status.RESOLVED, Action.ESCALATE, "already resolved"),
]


@pytest.mark.parametrize(("start", "action", "reason"), REFUSED)
def test_refused_transitions_say_why(start: Status, action: Action, reason: str) -> None:
    with pytest.raises(TransitionRefused) as exc:
        transition(at(start), action, NOW)
    assert reason in exc.value.reason


def test_every_action_and_status_is_in_the_table() -> None:
    assert set(TRANSITIONS) == set(Action)
    for status in Status:
        allowed = [a for a, (sources, _) in TRANSITIONS.items() if status in sources]
        assert allowed or status == Status.CLOSED, status


def test_times_are_recorded_for_metrics() -> None:
    inc = at(Status.TRIGGERED)
    acked, _ = transition(inc, Action.ACKNOWLEDGE, NOW + timedelta(minutes=4), actor="alice")
    assert acked.time_to_acknowledge == timedelta(minutes=4) and acked.acknowledged_by == "alice"
    done, _ = transition(acked, Action.RESOLVE, NOW + timedelta(minutes=30), actor="bob", note="rolled back")
    assert done.time_to_resolve == timedelta(minutes=30) and done.resolution == "rolled back"
    again, _ = transition(done, Action.REOPEN, NOW + timedelta(hours=1))
    assert again.resolved_at is None and again.acknowledged_at is None and again.status in OPEN_STATUSES


def test_auto_resolve_without_ack_leaves_tta_empty() -> None:
    done, _ = transition(at(Status.TRIGGERED), Action.RESOLVE, NOW + timedelta(minutes=9))
    assert done.time_to_acknowledge is None and done.time_to_resolve == timedelta(minutes=9)


def test_escalate_counts_levels() -> None:
    inc = at(Status.ACKNOWLEDGED)
    one, events = transition(inc, Action.ESCALATE, NOW)
    two, _ = transition(one, Action.ESCALATE, NOW)
    assert (one.escalation_level, two.escalation_level) == (1, 2)
    assert events[0].kind == "escalated" and events[0].data["level"] == 1


@pytest.mark.parametrize(
    ("severity", "pages"), [(Severity.P1, True), (Severity.P2, True), (Severity.P3, False), (Severity.P4, False)]
)
def test_p1_p2_page_p3_p4_become_tickets(severity: Severity, pages: bool) -> None:
    inc, events = new_incident(title="x", severity=severity, now=NOW)
    assert inc.page is pages
    assert ("paging on-call" if pages else "ticket created") in events[0].message


def test_raising_severity_starts_paging_and_lowering_keeps_it() -> None:
    ticket = at(Status.TRIGGERED, Severity.P3)
    assert not ticket.page
    raised, events = change_severity(ticket, Severity.P1, NOW)
    assert raised.page and events[0].data == {"from": "P3", "to": "P1"}
    lowered, _ = change_severity(raised, Severity.P4, NOW)
    assert lowered.page
    with pytest.raises(TransitionRefused):
        change_severity(at(Status.CLOSED), Severity.P1, NOW)


def test_empty_title_is_refused() -> None:
    with pytest.raises(ValueError, match="title"):
        new_incident(title="  ", severity=Severity.P1, now=NOW)
