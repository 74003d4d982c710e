"""The intake journal: under load a request is made durable by one cheap append, answered, then applied.

Applying deletes the journal row in the applying transaction, so a request is applied exactly once; rows left
by a process that died are taken over when their lease runs out (`IngestService.recover`).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from datetime import datetime, timedelta

from prism_ir.services.ingest_group import GroupCommit
from prism_ir.store import intake
from prism_ir.store.db import Database
from prism_ir.store.fastpath_ingest import DedupFastPath
from prism_ir.store.intake import IntakeEntry, Orphan


class IngestJournal:
    def __init__(self, db: Database, fast: DedupFastPath | None, lease: timedelta, max_attempts: int = 5) -> None:
        self.db = db
        self.fast = fast
        self.lease = lease
        self.max_attempts = max_attempts
        # appends arriving while one is in flight share the next statement (one commit for many requests)
        self.appends: GroupCommit[IntakeEntry, int] = GroupCommit(self._append, max_size=500)

    async def append(self, service_id: str, source: str, body: bytes, alerts: int, now: datetime) -> int:
        """Journal one accepted request; durable when this returns."""
        entry = IntakeEntry(service_id, source, body, alerts, now, now + self.lease)
        return await self.appends.submit("intake", entry)

    async def _append(self, _key: Hashable, entries: list[IntakeEntry]) -> list[int]:
        if self.fast is not None:
            return await self.fast.append_intake(entries)
        async with self.db.transaction() as session:
            return await intake.append(session, entries)

    async def reclaim(self, now: datetime, limit: int = 200) -> list[Orphan]:
        async with self.db.transaction() as session:
            return await intake.reclaim(session, now, now + self.lease, limit, self.max_attempts)

    async def record_failure(self, ids: Sequence[int], error: str, give_up: bool = False) -> None:
        async with self.db.transaction() as session:
            await intake.record_failure(session, ids, error, self.max_attempts if give_up else None)

    async def counts(self) -> tuple[int, int]:
        async with self.db.read() as session:
            return await intake.counts(session, self.max_attempts)

    async def drained(self) -> None:
        await self.appends.drained()
