"""In-transaction listeners on incident changes, so other rooms react atomically with the change."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from prism_ir.domain.incident import Event, Incident

IncidentHook = Callable[[AsyncSession, Incident, Sequence[Event], datetime], Awaitable[None]]
AfterCommit = Callable[[], None]


class IncidentHooks:
    def __init__(self) -> None:
        self._hooks: list[IncidentHook] = []
        self._after_commit: list[AfterCommit] = []

    def register(self, hook: IncidentHook) -> None:
        self._hooks.append(hook)

    def on_commit(self, callback: AfterCommit) -> None:
        """Run after a transaction that changed incidents commits (e.g. wake the worker)."""
        self._after_commit.append(callback)

    async def fire(self, session: AsyncSession, incident: Incident, events: Sequence[Event], now: datetime) -> None:
        for hook in self._hooks:
            await hook(session, incident, events, now)

    def committed(self) -> None:
        for callback in self._after_commit:
            callback()
