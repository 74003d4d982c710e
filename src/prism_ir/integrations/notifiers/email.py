"""Email through PRISM_IR_SMTP_URL; the Message-ID is derived from the idempotency key so replays can merge."""

from __future__ import annotations

import asyncio
import re
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import parse_qs, unquote, urlsplit

from prism_ir.integrations.notifiers.base import Message, SendResult

_ATEXT = re.compile(r"[^A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]")


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: str = "none"  # none | starttls | ssl
    timeout: float = 15.0


def parse_smtp_url(url: str) -> SmtpConfig:
    """Read `smtp://user:pass@host:port?starttls=true` or `smtps://…` into settings."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError(f"PRISM_IR_SMTP_URL must start with smtp:// or smtps://, got {parts.scheme or url!r}")
    if not parts.hostname:
        raise ValueError("PRISM_IR_SMTP_URL has no host")
    q = {k: v[-1].lower() for k, v in parse_qs(parts.query).items()}
    tls = "ssl" if parts.scheme == "smtps" else ("starttls" if q.get("starttls") in ("1", "true", "yes") else "none")
    return SmtpConfig(
        host=parts.hostname, port=parts.port or (465 if tls == "ssl" else 25),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None, tls=tls,
        timeout=float(q.get("timeout", 15)),
    )


class EmailNotifier:
    def __init__(self, smtp_url: str | None, mail_from: str = "prism-ir@localhost", domain: str = "prism-ir") -> None:
        self._config = parse_smtp_url(smtp_url) if smtp_url else None
        self._from = mail_from
        self._domain = domain

    def build(self, address: str, message: Message) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self._from
        mail["To"] = address
        mail["Subject"] = message.subject
        mail["Date"] = formatdate(usegmt=True)
        mail["Message-ID"] = f"<{_ATEXT.sub('.', message.key)}@{self._domain}>"
        mail["X-Prism-IR-Idempotency-Key"] = message.key
        mail["X-Prism-IR-Incident"] = str(message.incident_id)
        body = message.body
        if message.ack_url:
            body += f"\n\nAcknowledge: {message.ack_url}\n"
        mail.set_content(body)
        return mail

    def _send_sync(self, address: str, mail: EmailMessage) -> None:
        c = self._config
        assert c is not None
        if c.tls == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(c.host, c.port, timeout=c.timeout,
                                                  context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(c.host, c.port, timeout=c.timeout)
        with smtp:
            if c.tls == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if c.username:
                smtp.login(c.username, c.password or "")
            smtp.send_message(mail, to_addrs=[address])

    async def send(self, address: str, message: Message) -> SendResult:
        if self._config is None:
            return SendResult.fail("email is not configured: set PRISM_IR_SMTP_URL")
        mail = self.build(address, message)
        try:
            await asyncio.to_thread(self._send_sync, address, mail)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if codes and all(500 <= c < 600 for c in codes):
                return SendResult.fail(f"recipient refused: {exc.recipients}")
            return SendResult.retry(f"recipient refused: {exc.recipients}")
        except smtplib.SMTPResponseException as exc:
            text = f"SMTP {exc.smtp_code} {exc.smtp_error!r}"
            return SendResult.fail(text) if 500 <= exc.smtp_code < 600 else SendResult.retry(text)
        except (OSError, smtplib.SMTPException) as exc:
            return SendResult.retry(f"{type(exc).__name__}: {exc}")
        return SendResult.sent("accepted by SMTP server")
