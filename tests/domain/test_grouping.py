from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from prism_ir.domain.alert import AlertIn, AlertStatus, normalise
from prism_ir.domain.grouping import (
    Acknowledge,
    Attach,
    Dedup,
    GroupingRule,
    Hold,
    Ignore,
    KnownAlert,
    Open,
    OpenGroup,
    Resolve,
    Silence,
    group,
    group_key,
)
from prism_ir.domain.matchers import parse_matchers

NOW = datetime(2026, 11, 30, 14, 32, tzinfo=UTC)
START = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)


def alert(status: str = "firing", starts_at: datetime | None = START, **labels: str) -> AlertIn:
    labels = labels or {"alertname": "APIDown", "instance": "a"}
    return normalise(source="am", status=status, labels=labels, severity=labels.get("severity"), starts_at=starts_at)


BY_ALERTNAME = GroupingRule("by-name", by=("alertname",), window=timedelta(minutes=30))
THRESHOLD = GroupingRule("flappy", matchers=parse_matchers({"alertname": "Flappy"}), threshold=3,
                         threshold_window=timedelta(minutes=10))
MAINT = Silence("maint-1", parse_matchers({"instance": "a"}), NOW - timedelta(hours=1), NOW + timedelta(hours=1),
                comment="db upgrade")


@pytest.mark.parametrize(
    ("name", "a", "known", "groups", "rules", "silences", "expected"),
    [
        ("new alert opens", alert(), None, {}, (), (), Open("fp:" + alert().fingerprint)),
        ("repeat of an open alert dedups", alert(), KnownAlert(alert().fingerprint, 7), {}, (), (), Dedup(7)),
        ("re-send after a person resolved: same start stays quiet", alert(),
         KnownAlert(alert().fingerprint, 7, incident_open=False, starts_at=START), {}, (), (), Dedup(7)),
        ("new firing after a person resolved opens again", alert(starts_at=NOW),
         KnownAlert(alert().fingerprint, 7, incident_open=False, starts_at=START), {}, (), (),
         Open("fp:" + alert().fingerprint)),
        ("same group within window attaches", alert(instance="b", alertname="APIDown"), None,
         {"by-name:alertname=APIDown": OpenGroup("by-name:alertname=APIDown", 3, NOW - timedelta(minutes=29))},
         (BY_ALERTNAME,), (), Attach(3, "by-name:alertname=APIDown")),
        ("same group past the window opens", alert(instance="b", alertname="APIDown"), None,
         {"by-name:alertname=APIDown": OpenGroup("by-name:alertname=APIDown", 3, NOW - timedelta(minutes=31))},
         (BY_ALERTNAME,), (), Open("by-name:alertname=APIDown")),
        ("other group opens", alert(instance="b", alertname="DBDown"), None,
         {"by-name:alertname=APIDown": OpenGroup("by-name:alertname=APIDown", 3, NOW)},
         (BY_ALERTNAME,), (), Open("by-name:alertname=DBDown")),
        ("threshold: first occurrence holds", alert(alertname="Flappy"), None, {}, (THRESHOLD,), (),
         Hold("fp:" + alert(alertname="Flappy").fingerprint, 1, 3, NOW)),
        ("threshold: second occurrence holds", alert(alertname="Flappy"),
         KnownAlert(alert(alertname="Flappy").fingerprint, None, hold_count=1, window_start=NOW - timedelta(minutes=5)),
         {}, (THRESHOLD,), (), Hold("fp:" + alert(alertname="Flappy").fingerprint, 2, 3, NOW - timedelta(minutes=5))),
        ("threshold: third within window opens", alert(alertname="Flappy"),
         KnownAlert(alert(alertname="Flappy").fingerprint, None, hold_count=2, window_start=NOW - timedelta(minutes=9)),
         {}, (THRESHOLD,), (), Open("fp:" + alert(alertname="Flappy").fingerprint)),
        ("threshold: window expired restarts the count", alert(alertname="Flappy"),
         KnownAlert(alert(alertname="Flappy").fingerprint, None, hold_count=2,
                    window_start=NOW - timedelta(minutes=11)),
         {}, (THRESHOLD,), (), Hold("fp:" + alert(alertname="Flappy").fingerprint, 1, 3, NOW)),
        ("silenced alert still opens, marked silenced", alert(), None, {}, (), (MAINT,),
         Open("fp:" + alert().fingerprint, MAINT)),
        ("silence not matching", alert(instance="z", alertname="X"), None, {}, (), (MAINT,),
         Open("fp:" + alert(instance="z", alertname="X").fingerprint)),
        ("resolved for open alert", alert("resolved"), KnownAlert(alert().fingerprint, 7), {}, (), (), Resolve(7)),
        ("resolved for held alert", alert("resolved"), KnownAlert(alert().fingerprint, None), {}, (), (),
         Resolve(None)),
        ("resolved for unknown alert is ignored (re-sent)", alert("resolved"), None, {}, (), (),
         Ignore("no open alert with this fingerprint")),
        ("acknowledge open", alert("acknowledged"), KnownAlert(alert().fingerprint, 7), {}, (), (), Acknowledge(7)),
        ("acknowledge unknown", alert("acknowledged"), None, {}, (), (), Ignore("no open incident for this alert")),
    ],
)
def test_group(name, a, known, groups, rules, silences, expected) -> None:
    assert group(a, known, groups, rules, NOW, silences) == expected, name


@pytest.mark.parametrize(
    ("offset_start", "offset_end", "active"),
    [(-60, 60, True), (0, 60, True), (-60, 0, False), (10, 60, False)],
)
def test_silence_window_bounds(offset_start: int, offset_end: int, active: bool) -> None:
    s = Silence("s", (), NOW + timedelta(minutes=offset_start), NOW + timedelta(minutes=offset_end))
    assert s.active(NOW) is active


def test_rule_order_and_group_key_uses_severity() -> None:
    rule = GroupingRule("sev", by=("severity", "team"))
    a = normalise(source="t", status=AlertStatus.FIRING, labels={"team": "db"}, severity="critical")
    assert group_key(a, rule) == "sev:severity=critical,team=db"
    assert group_key(a, None) == "fp:" + a.fingerprint
    specific = GroupingRule("db", matchers=parse_matchers({"team": "db"}), by=("team",))
    d = group(a, None, {"db:team=db": OpenGroup("db:team=db", 1, NOW)}, (specific, rule), NOW)
    assert d == Attach(1, "db:team=db")
