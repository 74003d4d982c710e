from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from prism_ir.domain.alert import AlertStatus, AlertValidationError, fingerprint
from prism_ir.integrations.sources import alertmanager, events_v2, webhook

AM: dict[str, Any] = {
    "receiver": "prism", "status": "firing", "version": "4", "groupKey": '{}:{alertname="APIDown"}',
    "truncatedAlerts": 0, "externalURL": "http://am:9093", "groupLabels": {"alertname": "APIDown"},
    "commonLabels": {"alertname": "APIDown"}, "commonAnnotations": {},
    "alerts": [
        {"status": "firing", "labels": {"alertname": "APIDown", "severity": "critical", "instance": "a"},
         "annotations": {"summary": "API is down", "runbook_url": "http://wiki/IR-001"},
         "startsAt": "2026-11-30T14:32:00.123456789Z", "endsAt": "0001-01-01T00:00:00Z",
         "generatorURL": "http://prom/graph", "fingerprint": "1a30ba71cca2921f"},
        {"status": "resolved", "labels": {"alertname": "APIDown", "instance": "b"}, "annotations": {},
         "startsAt": "2026-11-30T14:00:00+02:00", "endsAt": "2026-11-30T14:31:00Z"},
    ],
}


def test_alertmanager_happy_path() -> None:
    first, second = alertmanager.parse(AM)
    assert first.fingerprint == "1a30ba71cca2921f"
    assert first.status is AlertStatus.FIRING and first.severity == "critical"
    assert first.summary == "API is down"
    assert first.starts_at == datetime(2026, 11, 30, 14, 32, 0, 123456, tzinfo=UTC)
    assert first.ends_at is None
    assert [link.text for link in first.links] == ["Source", "Runbook", "Alertmanager"]
    assert second.fingerprint == fingerprint({"alertname": "APIDown", "instance": "b"})
    assert second.status is AlertStatus.RESOLVED and second.summary == "APIDown" and second.severity is None
    assert second.starts_at == datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def am_with(path: str, value: Any) -> dict[str, Any]:
    body = copy.deepcopy(AM)
    target: Any = body
    parts = path.split(".")
    for p in parts[:-1]:
        target = target[int(p)] if p.isdigit() else target[p]
    last: Any = int(parts[-1]) if parts[-1].isdigit() else parts[-1]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value
    return body


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ([], "body", "must be a JSON object"),
        (am_with("alerts", KeyError), "alerts", "is missing"),
        (am_with("alerts", {}), "alerts", "must be an array"),
        (am_with("version", "3"), "version", "unsupported"),
        (am_with("alerts.0.status", "bogus"), "alerts[0].status", "must be \"firing\" or \"resolved\""),
        (am_with("alerts.0.status", KeyError), "alerts[0].status", "is missing"),
        (am_with("alerts.1.labels", KeyError), "alerts[1].labels", "is missing"),
        (am_with("alerts.1.labels", {}), "alerts[1].labels", "must not be empty"),
        (am_with("alerts.1.labels", {"a": 1}), "alerts[1].labels.a", "must be a string"),
        (am_with("alerts.0.startsAt", "yesterday"), "alerts[0].startsAt", "not an ISO 8601"),
        (am_with("alerts.0.annotations", ["x"]), "alerts[0].annotations", "must be an object"),
        (am_with("alerts.0", "x"), "alerts[0]", "must be an object"),
        (am_with("alerts", [{}] * 1001), "alerts", "maximum 1000"),
    ],
)
def test_alertmanager_errors_name_field_and_reason(body: Any, field: str, reason: str) -> None:
    with pytest.raises(AlertValidationError) as info:
        alertmanager.parse(body)
    assert any(e.field == field and reason in e.reason for e in info.value.errors), info.value.errors


TRIGGER: dict[str, Any] = {
    "routing_key": "k" * 32, "event_action": "trigger", "dedup_key": "disk-1",
    "payload": {"summary": "Disk full", "source": "db1", "severity": "warning", "component": "pg",
                "group": "prod", "class": "disk", "timestamp": "2015-07-17T08:42:58.315+0000",
                "custom_details": {"free": "0%"}},
    "links": [{"href": "https://x", "text": "X"}], "images": [{"src": "https://img", "alt": "graph"}],
    "client": "Mon", "client_url": "https://mon",
}


def ev_with(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(TRIGGER)
    payload = body["payload"]
    for k, v in changes.items():
        target, key = (payload, k[3:]) if k.startswith("pl_") else (body, k)
        if v is KeyError:
            target.pop(key, None)
        else:
            target[key] = v
    return body


def test_events_v2_trigger() -> None:
    ev = events_v2.parse(TRIGGER)
    a = ev.alert
    assert ev.routing_key == "k" * 32
    assert (a.fingerprint, a.dedup_key, a.status, a.severity) == ("disk-1", "disk-1", AlertStatus.FIRING, "warning")
    assert a.labels == {"source": "db1", "severity": "warning", "component": "pg", "group": "prod", "class": "disk"}
    assert a.starts_at == datetime(2015, 7, 17, 8, 42, 58, 315000, tzinfo=UTC)
    assert [link.href for link in a.links] == ["https://x", "https://img", "https://mon"]
    assert a.details == {"free": "0%"}


def test_events_v2_generates_dedup_key_and_handles_ack_resolve() -> None:
    assert events_v2.parse(ev_with(dedup_key=KeyError), new_dedup_key=lambda: "gen").alert.fingerprint == "gen"
    ack = events_v2.parse({"routing_key": "r", "event_action": "acknowledge", "dedup_key": "d"})
    assert (ack.alert.status, ack.alert.fingerprint) == (AlertStatus.ACKNOWLEDGED, "d")
    res = events_v2.parse({"routing_key": "r", "event_action": "resolve", "dedup_key": "d"})
    assert res.alert.status is AlertStatus.RESOLVED


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ("x", "event", "must be a JSON object"),
        (ev_with(routing_key=KeyError), "routing_key", "is missing"),
        (ev_with(routing_key=""), "routing_key", "must not be blank"),
        (ev_with(event_action="explode"), "event_action", "must be one of trigger, acknowledge, resolve"),
        (ev_with(event_action=KeyError), "event_action", "is missing"),
        (ev_with(dedup_key="x" * 256), "dedup_key", "too long"),
        (ev_with(event_action="resolve", dedup_key=KeyError), "dedup_key", "is required"),
        (ev_with(payload=KeyError), "payload", "is missing"),
        (ev_with(payload=[]), "payload", "must be an object"),
        (ev_with(pl_summary=KeyError), "payload.summary", "is missing"),
        (ev_with(pl_summary="  "), "payload.summary", "must not be blank"),
        (ev_with(pl_summary="s" * 1025), "payload.summary", "maximum 1024"),
        (ev_with(pl_source=KeyError), "payload.source", "is missing"),
        (ev_with(pl_severity="fatal"), "payload.severity", "must be one of critical, error, warning, info"),
        (ev_with(pl_severity=KeyError), "payload.severity", "is missing"),
        (ev_with(pl_timestamp="soon"), "payload.timestamp", "not an ISO 8601"),
        (ev_with(pl_component=5), "payload.component", "must be a string"),
        (ev_with(links=[{"text": "no href"}]), "links[0].href", "is missing"),
        (ev_with(images=[{"alt": "no src"}]), "images[0].src", "is missing"),
        (ev_with(links="x"), "links", "must be an array"),
    ],
)
def test_events_v2_errors(body: Any, field: str, reason: str) -> None:
    with pytest.raises(AlertValidationError) as info:
        events_v2.parse(body)
    assert any(e.field == field and reason in e.reason for e in info.value.errors), info.value.errors
    assert all(s.startswith("'") for s in events_v2.pd_errors(info.value))


def test_webhook_single_and_batch() -> None:
    one = webhook.parse({"title": "Queue backlog", "severity": "error", "labels": {"queue": "mail"}})
    assert one[0].fingerprint == fingerprint({"queue": "mail"}) and one[0].status is AlertStatus.FIRING
    batch = webhook.parse({"alerts": [{"summary": "A", "dedup_key": "a"},
                                      {"title": "B", "status": "resolved", "dedup_key": "b"}]})
    assert [(a.fingerprint, a.status) for a in batch] == [("a", AlertStatus.FIRING), ("b", AlertStatus.RESOLVED)]
    assert webhook.parse({"title": "t"})[0].fingerprint == fingerprint({"title": "t"})


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ([1], "body", "must be a JSON object"),
        ({}, "title", "is missing or blank"),
        ({"title": 3}, "title", "must be a string"),
        ({"title": "t", "status": "on fire"}, "status", "must be"),
        ({"title": "t", "labels": []}, "labels", "must be an object"),
        ({"title": "t", "details": 1}, "details", "must be an object"),
        ({"title": "t", "status": "resolved"}, "dedup_key", "is required"),
        ({"alerts": [{"title": "ok"}, {"title": ""}]}, "alerts[1].title", "is missing or blank"),
        ({"alerts": "x"}, "alerts", "must be an array"),
    ],
)
def test_webhook_errors(body: Any, field: str, reason: str) -> None:
    with pytest.raises(AlertValidationError) as info:
        webhook.parse(body)
    assert any(e.field == field and reason in e.reason for e in info.value.errors), info.value.errors


@pytest.mark.parametrize(
    ("parse", "body", "field"),
    [
        (webhook.parse, {"title": "a\x00b"}, "title"),
        (webhook.parse, {"title": "t", "labels": {"k": "v\x00"}}, "labels.k"),
        (webhook.parse, {"title": "t", "details": {"x": ["\x00"]}}, "details"),
        (lambda b: [events_v2.parse(b)], ev_with(pl_custom_details={"k\x00": 1}), "payload.custom_details"),
        (alertmanager.parse, am_with("alerts.0.annotations", {"summary": "\x00"}), "alerts[0].annotations.summary"),
    ],
)
def test_nul_characters_are_refused_not_stored(parse, body: Any, field: str) -> None:
    with pytest.raises(AlertValidationError) as info:
        parse(body)
    assert any(e.field == field and "NUL" in e.reason for e in info.value.errors), info.value.errors


def test_long_group_keys_are_hashed() -> None:
    from prism_ir.domain.grouping import GroupingRule, group_key

    a = webhook.parse({"title": "t", "labels": {"x": "v" * 4000}})[0]
    key = group_key(a, GroupingRule("r", by=("x",)))
    assert len(key) <= 500 and key.startswith("r:x=vvv")
