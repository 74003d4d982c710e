"""What every channel receives and returns, so the send job treats email, webhooks and apprise alike."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Message:
    """One page to one address; `key` is the idempotency key the receiver may use to drop a replay."""

    key: str
    subject: str
    body: str
    incident_id: int
    severity: str
    title: str
    ack_url: str = ""
    incident_url: str = ""
    recipient: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "idempotency_key": self.key, "incident_id": self.incident_id, "severity": self.severity,
            "title": self.title, "subject": self.subject, "body": self.body, "ack_url": self.ack_url,
            "incident_url": self.incident_url, "recipient": self.recipient, **self.extra,
        }


@dataclass(frozen=True)
class SendResult:
    ok: bool
    detail: str = ""
    permanent: bool = False

    @classmethod
    def sent(cls, detail: str = "") -> SendResult:
        return cls(True, detail)

    @classmethod
    def retry(cls, detail: str) -> SendResult:
        return cls(False, detail, permanent=False)

    @classmethod
    def fail(cls, detail: str) -> SendResult:
        return cls(False, detail, permanent=True)


class Notifier(Protocol):
    async def send(self, address: str, message: Message) -> SendResult: ...
