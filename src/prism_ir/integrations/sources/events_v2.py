"""Parse a PagerDuty Events API v2 event, so existing PagerDuty clients work by changing their base URL."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prism_ir.domain.alert import AlertIn, AlertStatus, AlertValidationError, FieldError, Link
from prism_ir.integrations.sources._check import Errors, free_json, links, string, timestamp, type_name

SOURCE = "events_v2"
SEVERITIES = ("critical", "error", "warning", "info")
ACTIONS = {"trigger": AlertStatus.FIRING, "acknowledge": AlertStatus.ACKNOWLEDGED, "resolve": AlertStatus.RESOLVED}
MAX_DEDUP_KEY = 255
MAX_SUMMARY = 1024


@dataclass(frozen=True, slots=True)
class Event:
    routing_key: str
    alert: AlertIn


def parse(body: Any, new_dedup_key: Callable[[], str] = lambda: uuid.uuid4().hex) -> Event:
    """Validate like PagerDuty does: every problem is reported, each naming its field."""
    if not isinstance(body, dict):
        raise AlertValidationError(FieldError("event", f"must be a JSON object, not {type_name(body)}"))
    errs = Errors()
    routing_key = string(errs, body, "routing_key", "routing_key", required=True, max_len=255, blank_ok=False)
    action_raw = body.get("event_action")
    status = ACTIONS.get(action_raw) if isinstance(action_raw, str) else None
    if status is None:
        errs.bad("event_action", "is missing" if action_raw is None else "must be one of trigger, acknowledge, resolve")
    dedup_key = string(errs, body, "dedup_key", "dedup_key", max_len=MAX_DEDUP_KEY, blank_ok=False)
    if status in (AlertStatus.ACKNOWLEDGED, AlertStatus.RESOLVED) and dedup_key is None and "dedup_key" not in body:
        errs.bad("dedup_key", f"is required for event_action {action_raw!r}")
    if status is not AlertStatus.FIRING:
        if errs or status is None:
            raise AlertValidationError(errs.items)
        assert routing_key is not None and dedup_key is not None
        alert = AlertIn(source=SOURCE, fingerprint=dedup_key, status=status, labels={}, summary="",
                        dedup_key=dedup_key)
        return Event(routing_key, alert)

    payload = body.get("payload")
    if payload is None:
        errs.bad("payload", "is missing")
        raise AlertValidationError(errs.items)
    if not isinstance(payload, dict):
        errs.bad("payload", f"must be an object, not {type_name(payload)}")
        raise AlertValidationError(errs.items)
    summary = string(errs, payload, "summary", "payload.summary", required=True, max_len=MAX_SUMMARY,
                     blank_ok=False)
    source = string(errs, payload, "source", "payload.source", required=True, max_len=1024, blank_ok=False)
    severity = payload.get("severity")
    if severity is None:
        errs.bad("payload.severity", "is missing")
    elif severity not in SEVERITIES:
        errs.bad("payload.severity", "must be one of critical, error, warning, info")
    labels: dict[str, str] = {}
    for key in ("component", "group", "class"):
        value = string(errs, payload, key, f"payload.{key}", max_len=1024)
        if value:
            labels[key] = value
    when = timestamp(errs, payload.get("timestamp"), "payload.timestamp")
    details = free_json(errs, payload.get("custom_details"), "payload.custom_details")
    all_links = links(errs, body.get("links"), "links") + links(errs, body.get("images"), "images", key="src")
    client = string(errs, body, "client", "client", max_len=1024)
    client_url = string(errs, body, "client_url", "client_url", max_len=4096)
    if errs:
        raise AlertValidationError(errs.items)
    assert routing_key is not None and summary is not None and source is not None
    labels = {"source": source, "severity": str(severity), **labels}
    if client_url:
        all_links = (*all_links, Link(client_url, client or "Client"))
    key = dedup_key or new_dedup_key()
    alert = AlertIn(
        source=SOURCE, fingerprint=key, status=status, labels=labels, summary=summary, severity=str(severity),
        starts_at=when, links=all_links,
        details=details if isinstance(details, dict) else ({} if details is None else {"details": details}),
        dedup_key=key,
    )
    return Event(routing_key, alert)


def pd_errors(exc: AlertValidationError) -> list[str]:
    """Render field errors the way PagerDuty lists them."""
    return [f"'{e.field}' {e.reason}" for e in exc.errors]
