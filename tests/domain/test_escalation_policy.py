"""The seed's escalation matrix, row by row, through the pure evaluator."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from prism_ir.domain.business_hours import BusinessHours
from prism_ir.domain.escalation import (
    DEFAULT_POLICIES,
    EscalationPolicy,
    EscalationState,
    escalate_now,
    evaluate,
    parse_target,
)
from prism_ir.domain.severity import Severity

T0 = datetime(2026, 11, 30, 14, 32, tzinfo=UTC)
P1 = DEFAULT_POLICIES[Severity.P1]
P2 = DEFAULT_POLICIES[Severity.P2]


def run(policy: EscalationPolicy, minutes: list[int], acked_at: int | None = None, resolved_at: int | None = None,
        calendar: BusinessHours | None = None) -> list[tuple[int, tuple[str, ...]]]:
    """Evaluate at each minute mark in turn, as a worker would, and collect (minute, targets)."""
    state = EscalationState(started_at=T0)
    out = []
    for m in minutes:
        if acked_at is not None and m >= acked_at:
            state = replace(state, acknowledged=True)
        if resolved_at is not None and m >= resolved_at:
            state = replace(state, resolved=True)
        d = evaluate(policy, state, T0 + timedelta(minutes=m), calendar)
        state = d.state
        if d.pages:
            out.append((m, tuple(p.target for p in d.pages)))
    return out


MARKS = [0, 5, 14, 15, 29, 30, 59, 60, 120]


@pytest.mark.parametrize(("policy", "acked", "resolved", "expected"), [
    # P1 nobody answers: primary, secondary at 15, manager at 30, VP at 60.
    (P1, None, None, [(0, ("oncall:primary",)), (15, ("oncall:secondary",)),
                      (30, ("contact:management.engineering_manager",)), (60, ("contact:management.vp_engineering",))]),
    # P1 acknowledged at 5 but unresolved: the secondary still joins at 15 and management is still told.
    (P1, 5, None, [(0, ("oncall:primary",)), (15, ("oncall:secondary",)),
                   (30, ("contact:management.engineering_manager",)), (60, ("contact:management.vp_engineering",))]),
    # P1 resolved at 20: nothing after.
    (P1, 5, 20, [(0, ("oncall:primary",)), (15, ("oncall:secondary",))]),
    # P2: 0 primary, 15-30 assess (no page), 30 secondary, 60 manager.
    (P2, None, None, [(0, ("oncall:primary",)), (30, ("oncall:secondary",)),
                      (60, ("contact:management.engineering_manager",))]),
    (P2, 10, 45, [(0, ("oncall:primary",)), (30, ("oncall:secondary",))]),
])
def test_seed_matrix(policy: EscalationPolicy, acked: int | None, resolved: int | None,
                     expected: list[tuple[int, tuple[str, ...]]]) -> None:
    assert run(policy, MARKS, acked, resolved) == expected


def test_a_late_worker_fires_every_due_step_once() -> None:
    d = evaluate(P1, EscalationState(started_at=T0), T0 + timedelta(minutes=45))
    assert [p.step for p in d.pages] == [0, 1, 2]
    assert d.next_due == T0 + timedelta(minutes=60)
    again = evaluate(P1, d.state, T0 + timedelta(minutes=45))
    assert again.pages == () and again.next_due == T0 + timedelta(minutes=60)


def test_until_acknowledged_step_is_skipped_once_acknowledged() -> None:
    policy = EscalationPolicy.model_validate({"id": "x", "steps": [
        {"after": "0m", "notify": ["user:a"]},
        {"after": "5m", "notify": ["user:b"], "until": "acknowledged"},
        {"after": "10m", "notify": ["user:c"], "until": "resolved"},
    ]})
    assert run(policy, [0, 3, 5, 10], acked_at=3) == [(0, ("user:a",)), (10, ("user:c",))]


def test_repeat_restarts_for_a_policy_nobody_answers_and_stops_on_ack() -> None:
    policy = EscalationPolicy.model_validate({"id": "r", "repeat": 2, "repeat_after": "10m", "steps": [
        {"after": "0m", "notify": ["user:a"]}, {"after": "5m", "notify": ["user:b"]}]})
    # cycle length 15m: a@0 b@5, a@15 b@20, a@30 b@35, then done
    got = run(policy, list(range(0, 60, 5)))
    assert got == [(0, ("user:a",)), (5, ("user:b",)), (15, ("user:a",)), (20, ("user:b",)),
                   (30, ("user:a",)), (35, ("user:b",))]
    assert run(policy, list(range(0, 60, 5)), acked_at=16) == [(0, ("user:a",)), (5, ("user:b",)), (15, ("user:a",))]
    d = evaluate(policy, EscalationState(started_at=T0, cycle=1, next_step=0), T0 + timedelta(minutes=15))
    assert [(p.cycle, p.step) for p in d.pages] == [(1, 0)]


def test_manual_escalation_jumps_and_keeps_spacing() -> None:
    d0 = evaluate(P1, EscalationState(started_at=T0), T0)
    d = escalate_now(P1, d0.state, T0 + timedelta(minutes=2))
    assert [p.target for p in d.pages] == ["oncall:secondary"]
    assert d.next_due == T0 + timedelta(minutes=2 + 15)
    last = escalate_now(P1, escalate_now(P1, d.state, T0 + timedelta(minutes=3)).state, T0 + timedelta(minutes=4))
    assert [p.target for p in last.pages] == ["contact:management.vp_engineering"] and last.next_due is None
    assert escalate_now(P1, last.state, T0 + timedelta(minutes=5)).pages == ()


def test_business_hours_only_defers_to_opening() -> None:
    hours = BusinessHours(time_zone="Europe/Berlin")
    saturday = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
    d = evaluate(DEFAULT_POLICIES[Severity.P3], EscalationState(started_at=saturday), saturday, hours)
    assert d.pages == () and d.next_due == datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # Monday 09:00 CET
    d = evaluate(DEFAULT_POLICIES[Severity.P3], d.state, d.next_due, hours)
    assert [p.target for p in d.pages] == ["oncall:primary"]


@pytest.mark.parametrize(("at", "open_", "next_open"), [
    ("2026-11-30T08:00", True, "2026-11-30T08:00"),     # Monday 09:00 Berlin
    ("2026-11-30T07:59", False, "2026-11-30T08:00"),
    ("2026-11-30T16:00", False, "2026-12-01T08:00"),    # 17:00 closed
    ("2026-12-24T10:00", False, "2026-12-28T08:00"),    # holiday Thursday, then Fri 25 holiday, weekend
    ("2026-03-27T16:30", False, "2026-03-30T07:00"),    # Friday after hours -> Monday 09:00 CEST
])
def test_business_hours_calendar(at: str, open_: bool, next_open: str) -> None:
    hours = BusinessHours(time_zone="Europe/Berlin", holidays=["2026-12-24", "2026-12-25"])
    when = datetime.fromisoformat(at).replace(tzinfo=UTC)
    assert hours.is_open(when) is open_
    assert hours.next_open(when) == datetime.fromisoformat(next_open).replace(tzinfo=UTC)


@pytest.mark.parametrize(("data", "message"), [
    ({"id": "x", "steps": []}, "at least one step"),
    ({"id": "x", "steps": [{"after": "15m", "notify": ["user:a"]}, {"after": "5m", "notify": ["user:b"]}]},
     r"steps\[1\].after"),
    ({"id": "x", "steps": [{"notify": ["pager:a"]}]}, "invalid target"),
    ({"id": "x", "steps": [{"notify": ["user:a"], "until": "later"}]}, "until"),
])
def test_invalid_policies_say_why(data: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EscalationPolicy.model_validate(data)


def test_targets_round_trip() -> None:
    for text in ("schedule:prism-oncall/primary", "user:alice", "contact:management.engineering_manager",
                 "oncall:secondary"):
        assert str(parse_target(text)) == text
