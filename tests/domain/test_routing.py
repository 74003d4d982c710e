from __future__ import annotations

import pytest

from prism_ir.domain.alert import normalise
from prism_ir.domain.matchers import parse_matchers
from prism_ir.domain.routing import SeverityRule, map_raw_severity, route_severity
from prism_ir.domain.severity import Severity


def alert(severity: str | None = None, **labels: str):
    return normalise(source="t", status="firing", labels=labels or {"alertname": "A"}, severity=severity)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("critical", Severity.P1), ("error", Severity.P2), ("warning", Severity.P3), ("info", Severity.P4),
     ("CRITICAL", Severity.P1), ("P3", Severity.P3), ("p4", Severity.P4), ("2", Severity.P2),
     ("bogus", None), (None, None)],
)
def test_default_mapping(raw: str | None, expected: Severity | None) -> None:
    assert map_raw_severity(raw) == expected


RULES = (
    SeverityRule(parse_matchers({"service": "dns", "severity": "warning"}), Severity.P2),
    SeverityRule(parse_matchers(["env=~staging|dev"]), Severity.P4),
    SeverityRule(parse_matchers({"severity": "warning"}), Severity.P3),
)


@pytest.mark.parametrize(
    ("a", "expected", "reason"),
    [
        (alert("warning", service="dns"), Severity.P2, "severity rule 1"),  # service rule overrides default
        (alert("critical", env="staging"), Severity.P4, "severity rule 2"),  # first match wins
        (alert("warning", service="api"), Severity.P3, "severity rule 3"),
        (alert("critical", service="api"), Severity.P1, "default mapping of 'critical'"),
        (alert(None, service="api"), Severity.P2, "no severity given"),
        (alert("weird", service="api"), Severity.P2, "unknown severity 'weird'"),
    ],
)
def test_rules_then_defaults(a, expected: Severity, reason: str) -> None:
    routed = route_severity(a, RULES)
    assert (routed.severity, routed.reason) == (expected, reason)


def test_severity_label_is_matched_and_mapped() -> None:
    a = normalise(source="am", status="firing", labels={"alertname": "A", "severity": "info"}, severity="info")
    assert route_severity(a).severity is Severity.P4
    assert route_severity(a, default=Severity.P1).severity is Severity.P4
    assert route_severity(alert(None), default=Severity.P3).severity is Severity.P3
