"""Parse the generic JSON alert (docs/integrations.md), for tools that can POST JSON but speak neither format."""

from __future__ import annotations

from typing import Any

from prism_ir.domain.alert import AlertIn, AlertStatus, AlertValidationError, FieldError, fingerprint
from prism_ir.integrations.sources._check import Errors, free_json, links, string, string_map, timestamp, type_name

SOURCE = "webhook"
MAX_ALERTS = 1000
_STATUSES = {"firing": AlertStatus.FIRING, "trigger": AlertStatus.FIRING, "resolved": AlertStatus.RESOLVED,
             "resolve": AlertStatus.RESOLVED, "acknowledged": AlertStatus.ACKNOWLEDGED,
             "acknowledge": AlertStatus.ACKNOWLEDGED}


def parse(body: Any) -> list[AlertIn]:
    """Accept one alert object, or {"alerts": [...]} for a batch."""
    if isinstance(body, dict) and "alerts" in body:
        items = body["alerts"]
        if not isinstance(items, list):
            raise AlertValidationError(FieldError("alerts", f"must be an array, not {type_name(items)}"))
        if len(items) > MAX_ALERTS:
            raise AlertValidationError(FieldError("alerts", f"has {len(items)} alerts, maximum {MAX_ALERTS}"))
        paths = [f"alerts[{i}]" for i in range(len(items))]
    elif isinstance(body, dict):
        items, paths = [body], [""]
    else:
        raise AlertValidationError(FieldError("body", f"must be a JSON object, not {type_name(body)}"))
    errs = Errors()
    out = [a for raw, path in zip(items, paths, strict=True) if (a := _alert(errs, raw, path)) is not None]
    if errs:
        raise AlertValidationError(errs.items)
    return out


def _alert(errs: Errors, raw: Any, path: str) -> AlertIn | None:
    def at(name: str) -> str:
        return f"{path}.{name}" if path else name

    if not isinstance(raw, dict):
        errs.bad(path or "body", f"must be an object, not {type_name(raw)}")
        return None
    before = len(errs.items)
    title = string(errs, raw, "title", at("title"), max_len=1024)
    if title is None and "title" not in raw:
        title = string(errs, raw, "summary", at("summary"), max_len=1024)
    if not (title or "").strip() and len(errs.items) == before:
        errs.bad(at("title"), "is missing or blank")
    status_raw = raw.get("status", "firing")
    status = _STATUSES.get(status_raw) if isinstance(status_raw, str) else None
    if status is None:
        errs.bad(at("status"), "must be \"firing\", \"resolved\" or \"acknowledged\"")
    severity = string(errs, raw, "severity", at("severity"), max_len=64)
    labels = string_map(errs, raw.get("labels"), at("labels"))
    annotations = string_map(errs, raw.get("annotations"), at("annotations"))
    dedup_key = string(errs, raw, "dedup_key", at("dedup_key"), max_len=255, blank_ok=False)
    starts_at = timestamp(errs, raw.get("starts_at"), at("starts_at"))
    ends_at = timestamp(errs, raw.get("ends_at"), at("ends_at"))
    alert_links = links(errs, raw.get("links"), at("links"))
    details = raw.get("details")
    if details is not None and not isinstance(details, dict):
        errs.bad(at("details"), f"must be an object, not {type_name(details)}")
    details = free_json(errs, details, at("details"))
    if status is not AlertStatus.FIRING and dedup_key is None and not labels:
        errs.bad(at("dedup_key"), "is required to acknowledge or resolve an alert that has no labels")
    if len(errs.items) != before or status is None:
        return None
    assert title is not None
    fp = dedup_key or fingerprint(labels or {"title": title.strip()})
    return AlertIn(
        source=SOURCE, fingerprint=fp, status=status, labels=labels, summary=title.strip(), severity=severity,
        annotations=annotations, starts_at=starts_at, ends_at=ends_at, links=alert_links,
        details=details or {}, dedup_key=dedup_key,
    )
