"""The send job: the only place notifiers are called, always outside any database transaction."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from prism_ir.integrations.notifiers import Channels
from prism_ir.services.notify import Outbox
from prism_ir.services.notify_message import build_message
from prism_ir.services.preclaim import Claimed


async def send_one(container: Any, outbox: Outbox, channels: Channels, claimed: Claimed) -> str:
    """Send one claimed page and record the outcome; the row already says `sending` (recorded before)."""
    now = container.clock.now()
    message = build_message(
        key=claimed.key, incident=claimed.incident, step=claimed.step, cycle=claimed.cycle, target=claimed.target,
        recipient=claimed.recipient, recipient_name=claimed.recipient_name, base_url=container.settings.base_url,
        secret=container.secret_key, now=now, ttl=timedelta(hours=outbox.settings.ack_link_ttl_hours),
    )
    result = await channels.send(claimed.channel, claimed.address, message)
    # a crash here (sent, not yet recorded) leaves the row `sending`; after its lease it is sent again with
    # the same idempotency key / Message-ID: at-least-once on the wire, exactly-once for receivers that dedupe
    now = container.clock.now()
    outcome = await outbox.finish_at_once(container.db, claimed, result, now)
    if outcome is not None:
        return outcome
    async with container.db.transaction() as session:
        return await outbox.finish(session, claimed, result, now)
