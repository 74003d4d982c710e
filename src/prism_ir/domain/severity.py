"""The seed's severity table and SLA targets, as data the rest of the platform reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum


class Severity(StrEnum):
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"

    @property
    def pages(self) -> bool:
        """P1/P2 page on-call; P3/P4 become tickets (the seed's response process)."""
        return self in (Severity.P1, Severity.P2)

    @property
    def info(self) -> SeverityInfo:
        return SEVERITIES[self]


@dataclass(frozen=True)
class SeverityInfo:
    severity: Severity
    name: str
    description: str
    response_time: str
    response_target: timedelta | None
    examples: tuple[str, ...]


@dataclass(frozen=True)
class SlaTargets:
    time_to_acknowledge: timedelta
    time_to_resolve: timedelta
    customer_communication: timedelta
    post_incident_review: timedelta


SEVERITIES: dict[Severity, SeverityInfo] = {
    Severity.P1: SeverityInfo(
        Severity.P1,
        "Critical",
        "Complete service outage or data loss",
        "15 minutes",
        timedelta(minutes=15),
        ("API down", "Database corruption", "DNS failure"),
    ),
    Severity.P2: SeverityInfo(
        Severity.P2,
        "Major",
        "Significant degradation affecting many users",
        "30 minutes",
        timedelta(minutes=30),
        ("High latency", "Partial outage", "Auth failures"),
    ),
    Severity.P3: SeverityInfo(
        Severity.P3,
        "Minor",
        "Limited impact, workaround available",
        "2 hours",
        timedelta(hours=2),
        ("Single feature broken", "Slow queries"),
    ),
    Severity.P4: SeverityInfo(
        Severity.P4,
        "Low",
        "Minimal impact, cosmetic issues",
        "Next business day",
        None,
        ("UI glitches", "Documentation errors"),
    ),
}

# The seed lists SLA targets for P1–P3 only; P4 has none.
SLA_TARGETS: dict[Severity, SlaTargets] = {
    Severity.P1: SlaTargets(timedelta(minutes=15), timedelta(hours=2), timedelta(minutes=30), timedelta(hours=48)),
    Severity.P2: SlaTargets(timedelta(minutes=30), timedelta(hours=4), timedelta(hours=1), timedelta(weeks=1)),
    Severity.P3: SlaTargets(timedelta(hours=2), timedelta(hours=24), timedelta(hours=4), timedelta(weeks=2)),
}


def parse_severity(value: str) -> Severity:
    """Accept `P1`, `p1` or `1` so people and tools can say it their way."""
    v = str(value).strip().upper()
    if v.isdigit():
        v = "P" + v
    try:
        return Severity(v)
    except ValueError:
        raise ValueError(f"unknown severity {value!r}: expected one of P1, P2, P3, P4") from None
