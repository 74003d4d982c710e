"""Parse Alertmanager's webhook (payload version 4) into AlertIn, one per alert in the group."""

from __future__ import annotations

from typing import Any

from prism_ir.domain.alert import AlertIn, AlertStatus, AlertValidationError, FieldError, Link, fingerprint
from prism_ir.integrations.sources._check import Errors, string, string_map, timestamp, type_name

SOURCE = "alertmanager"
MAX_ALERTS = 1000
_STATUSES = {"firing": AlertStatus.FIRING, "resolved": AlertStatus.RESOLVED}


def parse(body: Any) -> list[AlertIn]:
    """Validate the whole payload first; raise AlertValidationError naming every bad field, else return alerts."""
    errs = Errors()
    if not isinstance(body, dict):
        raise AlertValidationError(FieldError("body", f"must be a JSON object, not {type_name(body)}"))
    version = body.get("version")
    if version is not None and str(version) != "4":
        errs.bad("version", f"unsupported webhook payload version {version!r} (expected \"4\")")
    raw_alerts = body.get("alerts")
    if raw_alerts is None:
        errs.bad("alerts", "is missing")
    elif not isinstance(raw_alerts, list):
        errs.bad("alerts", f"must be an array, not {type_name(raw_alerts)}")
    elif len(raw_alerts) > MAX_ALERTS:
        errs.bad("alerts", f"has {len(raw_alerts)} alerts, maximum {MAX_ALERTS} per request")
    if errs:
        raise AlertValidationError(errs.items)
    external = body.get("externalURL")
    shared: _Links = {}
    out: list[AlertIn] = []
    for i, raw in enumerate(raw_alerts):
        alert = _alert(errs, raw, f"alerts[{i}]", external if isinstance(external, str) else None, shared)
        if alert is not None:
            out.append(alert)
    if errs:
        raise AlertValidationError(errs.items)
    return out


# Alerts of one group mostly carry the same links: one tuple serves them all (fewer objects held per alert).
_Links = dict[tuple[str | None, str | None, str | None], tuple[Link, ...]]


def _links(shared: _Links, generator: str | None, runbook: str | None, external: str | None) -> tuple[Link, ...]:
    key = (generator, runbook, external)
    found = shared.get(key)
    if found is None:
        made = []
        if generator:
            made.append(Link(generator, "Source"))
        if runbook:
            made.append(Link(runbook, "Runbook"))
        if external:
            made.append(Link(external, "Alertmanager"))
        found = shared[key] = tuple(made)
    return found


def _alert(errs: Errors, raw: Any, path: str, external: str | None, shared: _Links) -> AlertIn | None:
    if not isinstance(raw, dict):
        errs.bad(path, f"must be an object, not {type_name(raw)}")
        return None
    before = len(errs.items)
    status_raw = raw.get("status")
    status = _STATUSES.get(status_raw) if isinstance(status_raw, str) else None
    if status is None:
        errs.bad(f"{path}.status", "is missing" if status_raw is None else "must be \"firing\" or \"resolved\"")
    labels = string_map(errs, raw.get("labels"), f"{path}.labels", required=True)
    if not labels and len(errs.items) == before and "labels" in raw:
        errs.bad(f"{path}.labels", "must not be empty: labels are the alert's identity")
    annotations = string_map(errs, raw.get("annotations"), f"{path}.annotations")
    starts_at = timestamp(errs, raw.get("startsAt"), f"{path}.startsAt")
    ends_at = timestamp(errs, raw.get("endsAt"), f"{path}.endsAt")
    given_fp = string(errs, raw, "fingerprint", f"{path}.fingerprint", max_len=255)
    generator = string(errs, raw, "generatorURL", f"{path}.generatorURL")
    if len(errs.items) != before or status is None:
        return None
    summary = annotations.get("summary") or annotations.get("description") or labels.get("alertname", "")
    return AlertIn(
        source=SOURCE,
        fingerprint=given_fp or fingerprint(labels),
        status=status,
        labels=labels,
        summary=summary.strip()[:1024] or "alert",
        severity=labels.get("severity"),
        annotations=annotations,
        starts_at=starts_at,
        ends_at=ends_at,
        links=_links(shared, generator, annotations.get("runbook_url"), external),
    )

