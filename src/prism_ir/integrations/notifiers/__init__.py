"""Channels that carry pages: email, webhook, apprise (Slack, Teams, Telegram, ntfy …) and SMS."""

from __future__ import annotations

from prism_ir.integrations.notifiers.apprise_channel import AppriseNotifier
from prism_ir.integrations.notifiers.base import Message, Notifier, SendResult
from prism_ir.integrations.notifiers.email import EmailNotifier
from prism_ir.integrations.notifiers.sms import SmsNotifier
from prism_ir.integrations.notifiers.webhook import WebhookNotifier


class Channels:
    """Channel name -> notifier, built once per worker from the deployment's settings."""

    def __init__(self, *, smtp_url: str, mail_from: str, sms_template: str, mail_domain: str = "prism-ir") -> None:
        self.webhook = WebhookNotifier()
        self.by_name: dict[str, Notifier] = {
            "email": EmailNotifier(smtp_url or None, mail_from, mail_domain),
            "webhook": self.webhook,
            "apprise": AppriseNotifier(),
            "sms": SmsNotifier(sms_template),
        }

    async def send(self, channel: str, address: str, message: Message) -> SendResult:
        notifier = self.by_name.get(channel)
        if notifier is None:
            return SendResult.fail(f"unknown channel {channel!r}")
        try:
            return await notifier.send(address, message)
        except Exception as exc:  # a channel bug must become a visible failed send, never a dead worker
            return SendResult.retry(f"{type(exc).__name__}: {exc}")

    async def aclose(self) -> None:
        await self.webhook.aclose()


__all__ = ["Channels", "Message", "SendResult"]
