"""The one shape every alert source is normalised into, so dedup and grouping never care where it came from."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class AlertStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"
    ACKNOWLEDGED = "acknowledged"


@dataclass(frozen=True, slots=True)
class Link:
    href: str
    text: str = ""


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with an input: where (a dotted path like `alerts[2].labels`) and why."""

    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


class AlertValidationError(ValueError):
    """Raised by source adapters; carries every field problem found, so a 400 can name them all."""

    def __init__(self, errors: list[FieldError] | FieldError) -> None:
        self.errors = errors if isinstance(errors, list) else [errors]
        super().__init__("; ".join(str(e) for e in self.errors))


@dataclass(frozen=True, slots=True)
class AlertIn:
    """A normalised alert as received; `fingerprint` is its identity within a service."""

    source: str
    fingerprint: str
    status: AlertStatus
    labels: Mapping[str, str]
    summary: str
    severity: str | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    links: tuple[Link, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)
    dedup_key: str | None = None

    @property
    def match_labels(self) -> Mapping[str, str]:
        """Labels plus the raw severity, which rules and silences may match on."""
        if self.severity is None or "severity" in self.labels:
            return self.labels
        return {**self.labels, "severity": self.severity}


def fingerprint(labels: Mapping[str, str]) -> str:
    """Hash the sorted label set, so the same alert always lands on the same identity.

    The bytes hashed are each name and value in UTF-8, followed by 0xFF and 0xFE (bytes no UTF-8 text holds, so
    names and values cannot run into each other); stored fingerprints depend on exactly these bytes. They are
    built as one string whose separators are the surrogate escapes of 0xFF and 0xFE: one encode, one hash.
    """
    text = "".join([f"{k}\udcff{labels[k]}\udcfe" for k in sorted(labels)])
    return hashlib.blake2b(text.encode("utf-8", "surrogateescape"), digest_size=16).hexdigest()


def normalise(
    *,
    source: str,
    status: AlertStatus | str,
    labels: Mapping[str, str],
    summary: str = "",
    given_fingerprint: str | None = None,
    dedup_key: str | None = None,
    **rest: Any,
) -> AlertIn:
    """Build an AlertIn, choosing identity: dedup_key, else the source's own fingerprint, else a label hash."""
    fp = dedup_key or given_fingerprint or fingerprint(labels)
    title = summary.strip() or labels.get("alertname", "") or fp
    return AlertIn(source=source, fingerprint=fp, status=AlertStatus(status), labels=labels, summary=title,
                   dedup_key=dedup_key, **rest)
