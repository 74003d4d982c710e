"""Table-driven schedule answers across DST changes, layers, restrictions and overrides."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from prism_ir.domain.oncall import Schedule, next_change, shifts, who_is_on_call


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


BERLIN_DAILY = Schedule.model_validate({
    "id": "eu", "time_zone": "Europe/Berlin",
    "rotations": [{"role": "primary", "users": ["alice", "bob"], "length": "1d", "handoff": "2026-03-27T09:00"}],
})

NY_WEEKLY = Schedule.model_validate({
    "id": "us", "time_zone": "America/New_York",
    "rotations": [
        {"role": "primary", "users": ["alice", "bob", "carol"], "length": "1w", "handoff": "2026-10-26T09:00"},
        {"role": "secondary", "users": ["bob", "carol", "alice"], "length": "1w", "handoff": "2026-10-26T09:00"},
    ],
    "overrides": [
        {"role": "primary", "user": "dave", "start": "2026-12-24T00:00", "end": "2026-12-27T00:00",
         "reason": "holiday"},
        {"role": "secondary", "user": "erin", "replaces": "carol", "start": "2026-11-02T12:00",
         "end": "2026-11-03T12:00", "reason": "swap"},
    ],
})

LAYERED = Schedule.model_validate({
    "id": "layers", "time_zone": "Europe/London",
    "rotations": [
        {"role": "primary", "users": ["night1", "night2"], "length": "1w", "handoff": "2026-03-23T00:00"},
        {"role": "primary", "users": ["day1"], "length": "1d", "handoff": "2026-03-23T00:00",
         "restrictions": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"}]},
    ],
})

TWELVE_HOURS = Schedule.model_validate({
    "id": "12h", "time_zone": "America/New_York",
    "rotations": [{"role": "primary", "users": ["a", "b"], "length": "12h", "handoff": "2026-03-07T08:00"}],
})


@pytest.mark.parametrize(("schedule", "at", "expected"), [
    # Berlin springs forward on 2026-03-29 (02:00 -> 03:00): handoff stays at 09:00 local.
    (BERLIN_DAILY, "2026-03-28T07:59", {"primary": "alice"}),   # 08:59 CET, still Friday's shift
    (BERLIN_DAILY, "2026-03-28T08:00", {"primary": "bob"}),     # 09:00 CET
    (BERLIN_DAILY, "2026-03-29T07:59", {"primary": "alice"}),   # 09:59 CEST
    (BERLIN_DAILY, "2026-03-29T06:59", {"primary": "bob"}),     # 08:59 CEST
    (BERLIN_DAILY, "2026-03-29T07:00", {"primary": "alice"}),   # 09:00 CEST, one hour earlier in UTC
    # Berlin falls back on 2026-10-25 (03:00 -> 02:00): 09:00 local is 08:00 UTC afterwards.
    (BERLIN_DAILY, "2026-10-25T07:59", {"primary": "bob"}),     # 08:59 CET
    (BERLIN_DAILY, "2026-10-25T08:00", {"primary": "alice"}),
    # New York falls back on 2026-11-01; weekly handoff Monday 09:00 local.
    (NY_WEEKLY, "2026-10-26T12:59", {"primary": "carol", "secondary": "alice"}),  # 08:59 EDT: previous week
    (NY_WEEKLY, "2026-10-26T13:00", {"primary": "alice", "secondary": "bob"}),
    (NY_WEEKLY, "2026-11-02T13:59", {"primary": "alice", "secondary": "bob"}),   # 08:59 EST
    (NY_WEEKLY, "2026-11-02T14:00", {"primary": "bob", "secondary": "carol"}),   # 09:00 EST
    # Swap: erin replaces carol as secondary from 12:00 local.
    (NY_WEEKLY, "2026-11-02T17:00", {"primary": "bob", "secondary": "erin"}),
    (NY_WEEKLY, "2026-11-03T17:00", {"primary": "bob", "secondary": "carol"}),
    # Holiday override for the primary only.
    (NY_WEEKLY, "2026-12-24T05:00", {"primary": "dave", "secondary": "alice"}),
    (NY_WEEKLY, "2026-12-27T05:00", {"primary": "carol", "secondary": "alice"}),
    # Layers: weekday office hours covered by day1, otherwise the weekly night rotation; London springs forward 03-29.
    (LAYERED, "2026-03-23T09:00", {"primary": "day1"}),
    (LAYERED, "2026-03-23T17:00", {"primary": "night1"}),
    (LAYERED, "2026-03-28T12:00", {"primary": "night1"}),        # Saturday: no office layer
    (LAYERED, "2026-03-30T07:59", {"primary": "night2"}),        # 08:59 BST Monday
    (LAYERED, "2026-03-30T08:00", {"primary": "day1"}),          # 09:00 BST
    # 12-hour shifts at 08:00/20:00 local across New York's spring-forward (2026-03-08).
    (TWELVE_HOURS, "2026-03-08T12:59", {"primary": "a"}),        # 08:59 EDT
    (TWELVE_HOURS, "2026-03-08T11:59", {"primary": "b"}),        # 07:59 EDT
    (TWELVE_HOURS, "2026-03-08T12:00", {"primary": "a"}),        # 08:00 EDT
    (TWELVE_HOURS, "2026-03-09T00:00", {"primary": "b"}),        # 20:00 EDT
])
def test_who_is_on_call(schedule: Schedule, at: str, expected: dict[str, str]) -> None:
    assert who_is_on_call(schedule, utc(at)) == expected


def test_shifts_merge_and_mark_overrides() -> None:
    got = shifts(NY_WEEKLY, utc("2026-12-21T00:00"), utc("2026-12-29T00:00"), user="dave")
    assert [(s.role, s.start, s.end, s.override) for s in got] == [
        ("primary", utc("2026-12-24T05:00"), utc("2026-12-27T05:00"), True),
    ]
    alice = shifts(NY_WEEKLY, utc("2026-12-21T00:00"), utc("2026-12-29T00:00"), user="alice")
    assert [(s.role, s.start, s.end) for s in alice] == [
        ("secondary", utc("2026-12-21T14:00"), utc("2026-12-28T14:00")),
        ("primary", utc("2026-12-28T14:00"), utc("2026-12-29T00:00")),
    ]
    carol = shifts(NY_WEEKLY, utc("2026-12-21T00:00"), utc("2026-12-29T00:00"), user="carol")
    assert [(s.role, s.start, s.end) for s in carol] == [
        ("secondary", utc("2026-12-21T00:00"), utc("2026-12-21T14:00")),
        ("primary", utc("2026-12-21T14:00"), utc("2026-12-24T05:00")),
        ("primary", utc("2026-12-27T05:00"), utc("2026-12-28T14:00")),
    ]


def test_daily_shifts_are_23_hours_on_the_spring_forward_day() -> None:
    got = shifts(BERLIN_DAILY, utc("2026-03-28T08:00"), utc("2026-03-30T07:00"))
    assert [(s.user, s.end - s.start) for s in got] == [("bob", timedelta(hours=23)), ("alice", timedelta(hours=24))]


def test_next_change_and_missing_role() -> None:
    assert next_change(NY_WEEKLY, utc("2026-11-02T13:00")) == utc("2026-11-02T14:00")
    assert who_is_on_call(NY_WEEKLY, utc("2026-11-02T13:00"), role="tertiary") == {"tertiary": None}


@pytest.mark.parametrize(("data", "message"), [
    ({"id": "x", "time_zone": "Mars/Olympus"}, "unknown time zone"),
    ({"id": "x", "rotations": [{"users": [], "handoff": "2026-01-01T00:00"}]}, "at least one user"),
    ({"id": "x", "rotations": [{"users": ["a"], "length": "0s", "handoff": "2026-01-01T00:00"}]}, "positive"),
    ({"id": "x", "rotations": [{"users": ["a"], "handoff": "2026-01-01T00:00+02:00"}]}, "without an offset"),
    ({"id": "x", "overrides": [{"user": "a", "start": "2026-01-02T00:00", "end": "2026-01-01T00:00"}]}, "after"),
])
def test_invalid_schedules_say_why(data: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Schedule.model_validate(data)


@pytest.mark.parametrize(("given", "expected"), [
    ("mon", ("mon",)), (["Monday", "FRI"], ("mon", "fri")), (("sat", "sunday"), ("sat", "sun")),
])
def test_days_accept_short_and_long_names(given: object, expected: tuple[str, ...]) -> None:
    from prism_ir.domain.business_hours import BusinessHours
    from prism_ir.domain.oncall import parse_days

    assert parse_days(given) == expected
    assert BusinessHours(days=given).days == expected


def test_unknown_day_is_refused_with_the_allowed_names() -> None:
    from prism_ir.domain.oncall import parse_days

    with pytest.raises(ValueError, match="unknown day 'fun': use mon, tue"):
        parse_days(["mon", "funday"])
