"""Slack, Teams, Telegram, ntfy, SMS gateways and the rest through apprise URLs."""

from __future__ import annotations

import asyncio

import apprise

from prism_ir.integrations.notifiers.base import Message, SendResult


class AppriseNotifier:
    async def send(self, address: str, message: Message) -> SendResult:
        app = apprise.Apprise()
        if not app.add(address):
            return SendResult.fail("apprise does not understand this URL")
        body = message.body + (f"\n\nAcknowledge: {message.ack_url}" if message.ack_url else "")
        try:
            ok = await asyncio.to_thread(app.notify, body=body, title=message.subject)
        except Exception as exc:  # apprise plugins raise anything; a failed page must never crash the worker
            return SendResult.retry(f"{type(exc).__name__}: {exc}")
        return SendResult.sent("apprise delivered") if ok else SendResult.retry("apprise reported failure")
