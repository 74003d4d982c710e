"""Each channel against a real receiver: what arrives, and how failures are classified."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from receivers import HttpReceiver, SmtpServer, free_port

from prism_ir.integrations.notifiers.ack_links import AckTokenError, sign_ack, verify_ack
from prism_ir.integrations.notifiers.apprise_channel import AppriseNotifier
from prism_ir.integrations.notifiers.base import Message
from prism_ir.integrations.notifiers.email import EmailNotifier, parse_smtp_url
from prism_ir.integrations.notifiers.webhook import WebhookNotifier

MSG = Message(key="7:0:0:user:alice:0", subject="[P1] API down", body="Prism API is down", incident_id=7,
              severity="P1", title="API down", ack_url="http://prism.test/ack/abc", recipient="alice")
NOW = datetime(2026, 11, 30, 14, 32, tzinfo=UTC)


async def test_email_arrives_with_idempotent_message_id(smtp_server: SmtpServer) -> None:
    result = await EmailNotifier(smtp_server.url, "pager@prism.test").send("alice@example.com", MSG)
    assert result.ok, result.detail
    [mail] = smtp_server.to("alice@example.com")
    assert mail.subject == "[P1] API down"
    assert mail.message["Message-ID"] == "<7.0.0.user.alice.0@prism-ir>"
    assert "http://prism.test/ack/abc" in mail.body


async def test_email_refused_recipient_is_permanent_and_dead_server_is_retryable(smtp_server: SmtpServer) -> None:
    smtp_server.refuse.add("nobody@example.com")
    refused = await EmailNotifier(smtp_server.url).send("nobody@example.com", MSG)
    assert not refused.ok and refused.permanent
    down = await EmailNotifier(f"smtp://127.0.0.1:{free_port()}").send("alice@example.com", MSG)
    assert not down.ok and not down.permanent
    unconfigured = await EmailNotifier(None).send("alice@example.com", MSG)
    assert unconfigured.permanent and "PRISM_IR_SMTP_URL" in unconfigured.detail


def test_smtp_url_forms() -> None:
    c = parse_smtp_url("smtp://bob:p%40ss@mail.test:2525?starttls=true")
    assert (c.host, c.port, c.username, c.password, c.tls) == ("mail.test", 2525, "bob", "p@ss", "starttls")
    assert parse_smtp_url("smtps://mail.test").port == 465
    with pytest.raises(ValueError, match="smtp://"):
        parse_smtp_url("http://mail.test")


async def test_webhook_posts_json_with_idempotency_key(http_receiver: HttpReceiver) -> None:
    notifier = WebhookNotifier()
    assert (await notifier.send(http_receiver.url("/alice"), MSG)).ok
    [hit] = http_receiver.at("/alice")
    assert hit.headers["Idempotency-Key"] == MSG.key
    assert hit.body["incident_id"] == 7 and hit.body["ack_url"] == MSG.ack_url
    http_receiver.responses["/flaky"] = [503]
    http_receiver.responses["/gone"] = [404]
    assert not (r := await notifier.send(http_receiver.url("/flaky"), MSG)).ok and not r.permanent
    assert (r := await notifier.send(http_receiver.url("/gone"), MSG)).permanent
    assert not (r := await notifier.send(f"http://127.0.0.1:{free_port()}/x", MSG)).ok and not r.permanent
    await notifier.aclose()


async def test_apprise_json_url_reaches_receiver(http_receiver: HttpReceiver) -> None:
    result = await AppriseNotifier().send(f"json://127.0.0.1:{http_receiver.port}/apprise", MSG)
    assert result.ok, result.detail
    [hit] = http_receiver.at("/apprise")
    assert hit.body["title"] == "[P1] API down" and "ack/abc" in hit.body["message"]
    assert (await AppriseNotifier().send("nonsense-scheme://x", MSG)).permanent


def test_ack_token_round_trip_tamper_and_expiry() -> None:
    token = sign_ack("s3cret", 42, "alice", NOW, ttl=timedelta(hours=1))
    claim = verify_ack("s3cret", token, NOW + timedelta(minutes=59))
    assert (claim.incident_id, claim.recipient) == (42, "alice")
    _payload, mac = token.split(".")
    forged = sign_ack("other", 43, "alice", NOW).split(".")[0] + "." + mac
    for bad, reason in [(forged, "tampered"), (token[:-2] + "xx", "tampered"), ("abc", "malformed")]:
        with pytest.raises(AckTokenError) as err:
            verify_ack("s3cret", bad, NOW)
        assert err.value.reason == reason
    with pytest.raises(AckTokenError) as err:
        verify_ack("s3cret", token, NOW + timedelta(hours=1))
    assert err.value.reason == "expired"
    with pytest.raises(AckTokenError):
        verify_ack("different-secret", token, NOW)
