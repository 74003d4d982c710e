"""Severity rules: turn an alert's labels or raw severity into P1–P4, service rules first, first match wins."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from prism_ir.domain.alert import AlertIn
from prism_ir.domain.matchers import Matcher, all_match
from prism_ir.domain.severity import Severity

DEFAULT_SEVERITY_MAP: dict[str, Severity] = {
    "critical": Severity.P1,
    "error": Severity.P2,
    "warning": Severity.P3,
    "info": Severity.P4,
}
# Alertmanager's PagerDuty receiver treats a missing severity as "error"; we do the same.
DEFAULT_SEVERITY = Severity.P2


@dataclass(frozen=True)
class SeverityRule:
    matchers: tuple[Matcher, ...]
    severity: Severity


@dataclass(frozen=True)
class Routed:
    severity: Severity
    reason: str


def map_raw_severity(raw: str | None) -> Severity | None:
    """Read critical/error/warning/info, or P1–P4 written as `P2`, `p2` or `2`."""
    if raw is None:
        return None
    key = raw.strip().lower()
    if key in DEFAULT_SEVERITY_MAP:
        return DEFAULT_SEVERITY_MAP[key]
    if key in ("p1", "p2", "p3", "p4", "1", "2", "3", "4"):
        return Severity("P" + key[-1])
    return None


def route_severity(
    alert: AlertIn, rules: Iterable[SeverityRule] = (), default: Severity = DEFAULT_SEVERITY
) -> Routed:
    """Pick the severity: the first matching service rule, else the raw severity's default mapping, else `default`."""
    labels = alert.match_labels
    for i, rule in enumerate(rules):
        if all_match(rule.matchers, labels):
            return Routed(rule.severity, f"severity rule {i + 1}")
    mapped = map_raw_severity(alert.severity)
    if mapped is not None:
        return Routed(mapped, f"default mapping of {alert.severity!r}")
    return Routed(default, "no severity given" if alert.severity is None else f"unknown severity {alert.severity!r}")
