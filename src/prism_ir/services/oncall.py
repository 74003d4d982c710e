"""On-call questions: who is on now, a person's shifts, and which slots or steps cannot reach anyone."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from prism_ir.clock import Clock
from prism_ir.domain.escalation import DEFAULT_POLICIES, EscalationPolicy, parse_target
from prism_ir.domain.oncall import Schedule, next_change, shifts, who_is_on_call
from prism_ir.services.contacts import Resolver
from prism_ir.services.errors import Invalid, NotFound
from prism_ir.services.oncall_ics import shifts_ics
from prism_ir.store.db import Database
from prism_ir.store.tables import UserRow
from prism_ir.store.tables_oncall import EscalationPolicyRow, NotificationRow, ScheduleRow


def notification_json(r: NotificationRow) -> dict[str, Any]:
    return {"id": r.id, "key": r.key, "incident_id": r.incident_id, "step": r.step + 1, "repeat": r.cycle,
            "target": r.target, "recipient": r.recipient, "recipient_name": r.recipient_name, "channel": r.channel,
            "address": r.address, "method": r.method_index, "state": r.state, "attempts": r.attempts,
            "until": r.until, "created_at": r.created_at, "sent_at": r.sent_at, "last_error": r.last_error}


class OncallService:
    def __init__(self, db: Database, clock: Clock, sms_template: str = "", smtp_configured: bool = True) -> None:
        self.db = db
        self.clock = clock
        self.sms_template = sms_template
        self.smtp_configured = smtp_configured

    async def schedules(self) -> list[Schedule]:
        async with self.db.read() as s:
            rows = (await s.execute(select(ScheduleRow).order_by(ScheduleRow.id))).scalars().all()
        return [Schedule.model_validate(r.definition) for r in rows]

    async def schedule(self, schedule_id: str) -> Schedule:
        async with self.db.read() as s:
            row = await s.get(ScheduleRow, schedule_id)
        if row is None:
            raise NotFound(f"schedule {schedule_id!r} not found", field="id")
        return Schedule.model_validate(row.definition)

    async def policies(self) -> list[EscalationPolicy]:
        async with self.db.read() as s:
            rows = (await s.execute(select(EscalationPolicyRow).order_by(EscalationPolicyRow.id))).scalars().all()
        return [EscalationPolicy.model_validate(r.definition) for r in rows]

    async def policy(self, policy_id: str) -> EscalationPolicy:
        for sev, p in DEFAULT_POLICIES.items():
            if p.id == policy_id:
                return DEFAULT_POLICIES[sev]
        async with self.db.read() as s:
            row = await s.get(EscalationPolicyRow, policy_id)
        if row is None:
            raise NotFound(f"escalation policy {policy_id!r} not found", field="id")
        return EscalationPolicy.model_validate(row.definition)

    async def who(self, at: datetime | None = None) -> dict[str, Any]:
        """Every schedule's roles at `at` (default now), with names and when the answer changes."""
        at = at or self.clock.now()
        if at.tzinfo is None:
            raise Invalid("at must include a time zone, e.g. 2026-11-30T14:32:00Z", field="at")
        out = []
        async with self.db.read() as s:
            names = dict((await s.execute(select(UserRow.id, UserRow.name))).tuples().all())
        for sched in await self.schedules():
            until = next_change(sched, at)
            for role, user in who_is_on_call(sched, at).items():
                out.append({"schedule": sched.id, "role": role, "user": user, "name": names.get(user or ""),
                            "until": until})
        return {"at": at, "on_call": out}

    async def user_shifts_ics(self, user_id: str, days: int = 60) -> str:
        async with self.db.read() as s:
            user = await s.get(UserRow, user_id)
        if user is None:
            raise NotFound(f"user {user_id!r} not found", field="id")
        now = self.clock.now()
        start, end = now - timedelta(days=7), now + timedelta(days=days)
        mine = [sh for sched in await self.schedules() for sh in shifts(sched, start, end, user=user_id)]
        return shifts_ics(user_id, user.name, sorted(mine, key=lambda x: x.start), now)

    def _working(self, routes: tuple[tuple[str, str], ...]) -> bool:
        return any(ch in ("webhook", "apprise") or (ch == "email" and self.smtp_configured)
                   or (ch == "sms" and bool(self.sms_template)) for ch, _ in routes)

    async def preflight(self, days: int = 14) -> dict[str, Any]:
        """Every schedule slot in the next `days` and every policy step whose target reaches nobody."""
        now = self.clock.now()
        problems: list[dict[str, Any]] = []
        schedules = await self.schedules()
        policies = [*await self.policies(), *DEFAULT_POLICIES.values()]
        async with self.db.read() as s:  # one session at a time: SQLite begins every transaction IMMEDIATE
            resolver = Resolver(s, self.sms_template)
            for sched in schedules:
                for sh in shifts(sched, now, now + timedelta(days=days)):
                    r = await resolver.user(sh.user)
                    why = "user does not exist" if r is None else (r.problem or (
                        "" if self._working(r.routes) else "no contact method this deployment can use"))
                    if why:
                        problems.append({"kind": "schedule_slot", "schedule": sched.id, "role": sh.role,
                                         "user": sh.user, "start": sh.start, "end": sh.end, "problem": why})
                for role, user in who_is_on_call(sched, now).items():
                    if user is not None:
                        continue
                    problems.append({"kind": "schedule_slot", "schedule": sched.id, "role": role, "user": None,
                                     "start": now, "end": None, "problem": "nobody is on call now"})
            for policy in policies:
                for i, step in enumerate(policy.steps):
                    for t in step.notify:
                        res = await resolver.resolve(parse_target(t), now, None)
                        why = res.problem or ("" if any(self._working(r.routes) for r in res.recipients)
                                              else "no contact method this deployment can use")
                        if why:
                            problems.append({"kind": "policy_step", "policy": policy.id, "step": i + 1,
                                             "target": t, "problem": why})
        return {"ok": not problems, "checked_at": now, "days": days, "problems": problems}

    async def notifications(self, incident_id: int | None = None, state: str | None = None,
                            limit: int = 200) -> list[dict[str, Any]]:
        stmt = select(NotificationRow).order_by(NotificationRow.id.desc()).limit(limit)
        if incident_id is not None:
            stmt = stmt.where(NotificationRow.incident_id == incident_id)
        if state:
            stmt = stmt.where(NotificationRow.state == state)
        async with self.db.read() as s:
            return [notification_json(r) for r in (await s.execute(stmt)).scalars()]
