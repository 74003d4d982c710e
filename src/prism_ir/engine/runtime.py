"""The paging pieces one process shares: settings, the wakeup signal and the escalation hook."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prism_ir.services.escalation import EscalationService
from prism_ir.services.notify_settings import PagingSettings


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


def install(container: Any) -> PagingRuntime:
    """Register the escalation hook and the after-commit wakeup on a container (idempotent)."""
    existing = container.extras.get("paging")
    if existing is not None:
        return existing  # type: ignore[no-any-return]
    settings = PagingSettings()
    wakeup = Wakeup()
    escalations = EscalationService(settings.sms_url_template, wakeup.set)
    container.hooks.register(escalations.on_incident, escalations.on_incidents)
    runtime = PagingRuntime(settings, wakeup, escalations)
    container.extras["paging"] = runtime
    return runtime


def runtime_of(container: Any) -> PagingRuntime:
    return install(container)
