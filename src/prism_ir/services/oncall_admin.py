"""Create, replace and delete schedules and escalation policies through the API, one transaction each."""

from __future__ import annotations

from typing import Any

from prism_ir.clock import Clock
from prism_ir.domain.escalation import EscalationPolicy
from prism_ir.domain.oncall import Schedule
from prism_ir.services.config_apply import ApplyContext
from prism_ir.services.config_oncall import check_policy, check_schedule, upsert_definition
from prism_ir.services.errors import NotFound
from prism_ir.store.db import Database
from prism_ir.store.repos import AuditRepo
from prism_ir.store.tables_oncall import EscalationPolicyRow, ScheduleRow


class OncallAdmin:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def save_schedule(self, schedule: Schedule, actor: str) -> bool:
        async with self.db.transaction() as session:
            await check_schedule(session, schedule, set(), "body")
            ctx = ApplyContext(session=session, now=self.clock.now(), actor=actor)
            return await upsert_definition(session, ScheduleRow, schedule.id, schedule.name,
                                           schedule.model_dump(mode="json"), ctx, "schedule")

    async def save_policy(self, policy: EscalationPolicy, actor: str) -> bool:
        async with self.db.transaction() as session:
            await check_policy(session, policy, {}, "body")
            ctx = ApplyContext(session=session, now=self.clock.now(), actor=actor)
            return await upsert_definition(session, EscalationPolicyRow, policy.id, policy.name,
                                           policy.model_dump(mode="json"), ctx, "escalation_policy")

    async def delete(self, table: Any, entity: str, id_: str, actor: str) -> None:
        async with self.db.transaction() as session:
            row = await session.get(table, id_)
            if row is None:
                raise NotFound(f"{entity.replace('_', ' ')} {id_!r} not found", field="id")
            await AuditRepo(session).record(at=self.clock.now(), actor=actor, entity_type=entity, entity_id=id_,
                                            action="delete", before=row.definition, after=None)
            await session.delete(row)

    async def delete_schedule(self, schedule_id: str, actor: str) -> None:
        await self.delete(ScheduleRow, "schedule", schedule_id, actor)

    async def delete_policy(self, policy_id: str, actor: str) -> None:
        await self.delete(EscalationPolicyRow, "escalation_policy", policy_id, actor)
