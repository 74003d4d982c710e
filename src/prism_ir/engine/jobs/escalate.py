"""The escalate job: fire every due escalation step once, in one transaction per batch."""

from __future__ import annotations

from typing import Any

from prism_ir.services.escalation import EscalationService


async def escalate_due(container: Any, escalations: EscalationService, limit: int) -> tuple[int, int]:
    async with container.db.transaction() as session:
        return await escalations.tick(session, container.clock.now(), limit)
