"""The seed's severity and SLA tables as data, and the duration syntax of the YAML."""

from __future__ import annotations

from datetime import timedelta

import pytest

from prism_ir.domain.durations import format_duration, parse_duration
from prism_ir.domain.severity import SEVERITIES, SLA_TARGETS, Severity, parse_severity


@pytest.mark.parametrize(
    ("sev", "desc", "response"),
    [
        (Severity.P1, "Complete service outage or data loss", timedelta(minutes=15)),
        (Severity.P2, "Significant degradation affecting many users", timedelta(minutes=30)),
        (Severity.P3, "Limited impact, workaround available", timedelta(hours=2)),
        (Severity.P4, "Minimal impact, cosmetic issues", None),
    ],
)
def test_seed_severity_table(sev: Severity, desc: str, response: timedelta | None) -> None:
    assert SEVERITIES[sev].description == desc
    assert SEVERITIES[sev].response_target == response


@pytest.mark.parametrize(
    ("sev", "tta", "ttr", "comms", "review"),
    [
        (Severity.P1, timedelta(minutes=15), timedelta(hours=2), timedelta(minutes=30), timedelta(hours=48)),
        (Severity.P2, timedelta(minutes=30), timedelta(hours=4), timedelta(hours=1), timedelta(weeks=1)),
        (Severity.P3, timedelta(hours=2), timedelta(hours=24), timedelta(hours=4), timedelta(weeks=2)),
    ],
)
def test_seed_sla_targets(sev: Severity, tta: timedelta, ttr: timedelta, comms: timedelta, review: timedelta) -> None:
    t = SLA_TARGETS[sev]
    assert (t.time_to_acknowledge, t.time_to_resolve, t.customer_communication, t.post_incident_review) == (
        tta,
        ttr,
        comms,
        review,
    )


@pytest.mark.parametrize(("text", "expected"), [("P1", Severity.P1), ("p2", Severity.P2), ("3", Severity.P3)])
def test_parse_severity(text: str, expected: Severity) -> None:
    assert parse_severity(text) == expected


def test_parse_severity_refuses_unknown() -> None:
    with pytest.raises(ValueError, match="expected one of P1"):
        parse_severity("P5")


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("15m", 900), ("2h", 7200), ("1w", 604800), ("1h30m", 5400), (45, 45), ("0m", 0)]
)
def test_durations(text: str | int, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "15", "m15", "1x", "-5m", "15 m", True])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)  # type: ignore[arg-type]


def test_format_roundtrip() -> None:
    assert format_duration(timedelta(hours=1, minutes=30)) == "1h30m"
    assert parse_duration(format_duration(timedelta(days=8, seconds=5))) == timedelta(days=8, seconds=5)
