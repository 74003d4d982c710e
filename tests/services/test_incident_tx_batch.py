"""create_many_in: N incidents in a few statements, with the same rows, timeline, audit and hooks as one by one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from prism_ir.domain.incident import Event, Incident, Status
from prism_ir.domain.severity import Severity
from prism_ir.services.hooks import IncidentHooks
from prism_ir.services.incident_tx import IncidentSpec, IncidentTx
from prism_ir.store.repos import IncidentRepo, incident_snapshot
from prism_ir.store.tables import AuditRow, IncidentRow, TimelineRow
from prism_ir.store.types import json_safe


class Recorder:
    def __init__(self) -> None:
        self.single: list[int] = []
        self.batches: list[list[int]] = []

    async def one(self, session: AsyncSession, incident: Incident, events: Sequence[Event], now: datetime) -> None:
        assert events
        self.single.append(incident.id or 0)

    async def many(self, session: AsyncSession, changes: Sequence[tuple[Incident, Sequence[Event]]],
                   now: datetime) -> None:
        self.batches.append([i.id or 0 for i, _ in changes])


async def test_create_many_writes_rows_timeline_audit_and_fires_hooks_once(container, clock) -> None:
    hooks = IncidentHooks()
    batched, plain = Recorder(), Recorder()
    hooks.register(batched.one, batched.many)
    hooks.register(plain.one)
    tx = IncidentTx(hooks)
    now = clock.now()
    specs = [IncidentSpec(title=f"Disk full {i}", severity=(Severity.P1, Severity.P3)[i % 2], summary=f"s{i}",
                          source="alertmanager", actor=f"bot{i}") for i in range(5)]
    async with container.db.transaction() as session:
        made = await tx.create_many_in(session, specs, now, actor="fallback")
    ids = [i.id for i in made]
    assert len(set(ids)) == 5 and all(isinstance(i, int) for i in ids)
    assert batched.batches == [ids] and batched.single == []
    assert plain.single == ids
    async with container.db.read() as s:
        for spec, incident in zip(specs, made, strict=True):
            stored = await IncidentRepo(s).get(incident.id or 0)
            assert stored == incident
            assert stored is not None and stored.title == spec.title and stored.status is Status.TRIGGERED
            assert stored.page is spec.severity.pages
            timeline = (await s.execute(select(TimelineRow).where(TimelineRow.incident_id == incident.id))).scalars()
            entries = [(t.kind, t.actor) for t in timeline]
            assert entries == [("triggered", spec.actor)]
            audit = (await s.execute(select(AuditRow).where(AuditRow.entity_id == str(incident.id)))).scalars().all()
            assert [(a.action, a.actor, a.before) for a in audit] == [("create", spec.actor, None)]
            assert audit[0].after == json_safe(asdict(incident)) == incident_snapshot(incident)
        assert (await s.execute(select(func.count()).select_from(IncidentRow))).scalar_one() == 5


async def test_create_in_is_create_many_of_one(container, clock) -> None:
    hooks = IncidentHooks()
    rec = Recorder()
    hooks.register(rec.one)
    tx = IncidentTx(hooks)
    async with container.db.transaction() as session:
        incident = await tx.create_in(session, title="  One  ", severity=Severity.P2, now=clock.now(), actor="alice")
        assert await tx.create_many_in(session, [], clock.now()) == []
    assert incident.title == "One" and rec.single == [incident.id]
    async with container.db.read() as s:
        audit = (await s.execute(select(AuditRow.actor, AuditRow.after))).one()
    assert audit[0] == "alice" and audit[1]["title"] == "One" and audit[1]["severity"] == "P2"
