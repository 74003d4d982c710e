"""In-transaction listeners on incident changes, so other rooms react atomically with the change."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from prism_ir.domain.incident import Event, Incident

IncidentHook = Callable[[AsyncSession, Incident, Sequence[Event], datetime], Awaitable[None]]
Change = tuple[Incident, Sequence[Event]]
BatchHook = Callable[[AsyncSession, Sequence[Change], datetime], Awaitable[None]]


class IncidentHooks:
    def __init__(self) -> None:
        self._hooks: list[tuple[IncidentHook, BatchHook | None]] = []

    def register(self, hook: IncidentHook, many: BatchHook | None = None) -> None:
        """`many`, if given, handles a batch of changes at once and must do what calling `hook` per change does."""
        self._hooks.append((hook, many))

    async def fire(self, session: AsyncSession, incident: Incident, events: Sequence[Event], now: datetime) -> None:
        for hook, _many in self._hooks:
            await hook(session, incident, events, now)

    async def fire_many(self, session: AsyncSession, changes: Sequence[Change], now: datetime) -> None:
        """Like `fire` for each change in order; hooks with a batch variant see the whole batch in one call."""
        changes = [c for c in changes if c[1]]
        if not changes:
            return
        for hook, many in self._hooks:
            if many is not None:
                await many(session, changes, now)
            else:
                for incident, events in changes:
                    await hook(session, incident, events, now)
