"""Decide what an incoming alert does: dedup into its open alert, attach to a group's incident, wait, or open one."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from prism_ir.domain.alert import AlertIn, AlertStatus
from prism_ir.domain.matchers import Matcher, all_match


@dataclass(frozen=True)
class Silence:
    """A silence or maintenance window: matching alerts are recorded but nobody is paged."""

    id: str
    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime
    comment: str = ""
    created_by: str = ""

    def active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    def covers(self, labels: Mapping[str, str], now: datetime) -> bool:
        return self.active(now) and all_match(self.matchers, labels)


@dataclass(frozen=True)
class GroupingRule:
    """Alerts matching `matchers` share one incident per value of the `by` labels while it is open."""

    name: str
    matchers: tuple[Matcher, ...] = ()
    by: tuple[str, ...] = ()
    window: timedelta | None = None
    threshold: int = 1
    threshold_window: timedelta | None = None

    def applies(self, labels: Mapping[str, str]) -> bool:
        return all_match(self.matchers, labels)


@dataclass(frozen=True)
class KnownAlert:
    """The stored, not yet resolved alert with the same fingerprint."""

    fingerprint: str
    incident_id: int | None
    incident_open: bool = True
    starts_at: datetime | None = None
    hold_count: int = 0
    window_start: datetime | None = None


@dataclass(frozen=True)
class OpenGroup:
    group_key: str
    incident_id: int
    opened_at: datetime


@dataclass(frozen=True)
class Dedup:
    incident_id: int | None


@dataclass(frozen=True)
class Hold:
    """Below the threshold: record the alert, open nothing yet."""

    group_key: str
    count: int
    needed: int
    window_start: datetime
    silence: Silence | None = None


@dataclass(frozen=True)
class Attach:
    incident_id: int
    group_key: str
    silence: Silence | None = None


@dataclass(frozen=True)
class Open:
    group_key: str
    silence: Silence | None = None


@dataclass(frozen=True)
class Resolve:
    incident_id: int | None


@dataclass(frozen=True)
class Acknowledge:
    incident_id: int


@dataclass(frozen=True)
class Ignore:
    reason: str


Decision = Dedup | Hold | Attach | Open | Resolve | Acknowledge | Ignore


def pick_rule(labels: Mapping[str, str], rules: Iterable[GroupingRule]) -> GroupingRule | None:
    return next((r for r in rules if r.applies(labels)), None)


def group_key(alert: AlertIn, rule: GroupingRule | None) -> str:
    """Alerts with the same key share an incident; without a `by` rule each fingerprint is its own group."""
    if rule is None or not rule.by:
        return "fp:" + alert.fingerprint
    labels = alert.match_labels
    key = f"{rule.name}:" + ",".join(f"{k}={labels.get(k, '')}" for k in rule.by)
    if len(key) > 500:
        key = key[:400] + "#" + hashlib.blake2b(key.encode(), digest_size=16).hexdigest()
    return key


def active_silence(labels: Mapping[str, str], silences: Iterable[Silence], now: datetime) -> Silence | None:
    return next((s for s in silences if s.covers(labels, now)), None)


def group(
    alert: AlertIn,
    known: KnownAlert | None,
    open_groups: Mapping[str, OpenGroup],
    rules: Iterable[GroupingRule],
    now: datetime,
    silences: Iterable[Silence] = (),
) -> Decision:
    """Return what to do with `alert`, given its stored twin (if any) and the service's open groups."""
    if alert.status is AlertStatus.RESOLVED:
        if known is None:
            return Ignore("no open alert with this fingerprint")
        return Resolve(known.incident_id)
    if alert.status is AlertStatus.ACKNOWLEDGED:
        if known is None or known.incident_id is None or not known.incident_open:
            return Ignore("no open incident for this alert")
        return Acknowledge(known.incident_id)

    labels = alert.match_labels
    rule = pick_rule(labels, rules)
    key = group_key(alert, rule)
    needed = max(1, rule.threshold if rule else 1)
    count, window_start = 1, now
    if known is not None:
        if known.incident_id is not None:
            if known.incident_open:
                return Dedup(known.incident_id)
            # A person resolved the incident while the alert still fires: a re-send of the same firing
            # (same start) stays quiet; a new firing opens a new incident, as PagerDuty does.
            if alert.starts_at is not None and alert.starts_at == known.starts_at:
                return Dedup(known.incident_id)
        else:
            window = rule.threshold_window if rule else None
            start = known.window_start or now
            if window is not None and now - start > window:
                count, window_start = 1, now
            else:
                count, window_start = known.hold_count + 1, start
    silence = active_silence(labels, silences, now)
    if count < needed:
        return Hold(key, count, needed, window_start, silence)
    existing = open_groups.get(key)
    if existing is not None and (rule is None or rule.window is None or now - existing.opened_at <= rule.window):
        return Attach(existing.incident_id, key, silence)
    return Open(key, silence)
