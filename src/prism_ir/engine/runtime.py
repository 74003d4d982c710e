"""The paging pieces one process shares: settings, the wakeup signal, the escalation hook and local senders."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prism_ir.services.escalation import EscalationService
from prism_ir.services.notify_settings import PagingSettings
from prism_ir.services.preclaim import LocalSends


class Wakeup:
    """Set after a commit that created work, so the worker runs at once instead of polling."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self._due: datetime | None = None

    def set(self, due: datetime | None = None) -> None:
        if due is not None:
            self._due = min(due, self._due or due)
        self._event.set()

    def take_due(self) -> datetime | None:
        """The earliest timer announced since the last call (from this process's commits or NOTIFY)."""
        due, self._due = self._due, None
        return due

    def clear(self) -> None:
        self._event.clear()

    def is_set(self) -> bool:
        return self._event.is_set()

    async def wait(self) -> None:
        await self._event.wait()


@dataclass
class PagingRuntime:
    settings: PagingSettings
    wakeup: Wakeup
    escalations: EscalationService
    workers: list[Any] = field(default_factory=list)
    # running workers attach here; transactions hand them the sends they create, pre-claimed (services/preclaim.py)
    local: LocalSends = field(default_factory=LocalSends)


def install(container: Any) -> PagingRuntime:
    """Register the escalation hook, the after-commit wakeup and the local-send registry (idempotent)."""
    existing = container.extras.get("paging")
    if existing is not None:
        return existing  # type: ignore[no-any-return]
    settings = PagingSettings()
    wakeup = Wakeup()
    local = LocalSends()
    escalations = EscalationService(settings.sms_url_template, wakeup.set, local=local)
    container.hooks.register(escalations.on_incident, escalations.on_incidents)
    runtime = PagingRuntime(settings, wakeup, escalations, local=local)
    container.extras["paging"] = runtime
    return runtime


def runtime_of(container: Any) -> PagingRuntime:
    return install(container)
