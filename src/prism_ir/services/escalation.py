"""Keep each incident's escalation timer in step with the incident, and fire due steps."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import event, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from prism_ir.domain.business_hours import BusinessHours
from prism_ir.domain.escalation import (
    DEFAULT_POLICIES,
    Decision,
    EscalationPolicy,
    EscalationState,
    Page,
    Until,
    escalate_now,
    evaluate,
)
from prism_ir.domain.incident import Event, Incident
from prism_ir.services.contacts import ConfigCache, Resolver
from prism_ir.services.escalation_pages import ACTOR, materialize, materialize_many, timeline_values
from prism_ir.services.preclaim import QUEUED, LocalSends, claimed_locally
from prism_ir.store import bulk
from prism_ir.store.repos import incident_from_row
from prism_ir.store.tables import IncidentRow, ServiceRow, TimelineRow
from prism_ir.store.tables_oncall import EscalationPolicyRow, EscalationRow, NotificationRow
from prism_ir.store.types import UTCDateTime

NOTIFY_CHANNEL = "prism_ir_work"
_BY = re.compile(r"^Escalated to level \d+ by (.*?)(?:: .*)?$", re.S)


def state_of(row: EscalationRow) -> EscalationState:
    return EscalationState(started_at=row.started_at, next_step=row.next_step, cycle=row.cycle,
                           acknowledged=row.acknowledged, resolved=row.resolved)


def _store_state(row: EscalationRow, d: Decision, now: datetime) -> None:
    row.started_at, row.next_step, row.cycle = d.state.started_at, d.state.next_step, d.state.cycle
    row.next_due = d.next_due
    row.updated_at = now


def notify_workers(session: AsyncSession, wake: Callable[[datetime | None], None] | None = None,
                   due: datetime | None = None) -> None:
    """Wake workers when this transaction commits: this process's at once, others' by NOTIFY (PostgreSQL).

    `due` is the earliest new timer, so a sleeping worker can move its alarm without polling. A transaction whose
    new pages all went to this process's worker pre-claimed, with no new timer, wakes nobody (nothing to claim).
    """
    info = session.info
    info["prism_notify"] = True
    if wake is not None:
        info["prism_wake"] = wake
    if due is not None:
        info["prism_due"] = min(due, info.get("prism_due") or due)


def _worth_announcing(session: Session) -> bool:
    info = session.info
    return info.get("prism_due") is not None or info.get(QUEUED, 0) > 0 or not claimed_locally(session)


@event.listens_for(Session, "before_commit")
def _notify_before_commit(session: Session) -> None:
    # one NOTIFY per transaction, delivered by PostgreSQL only if and when it commits (a SAVEPOINT's release
    # is not that commit)
    if not session.info.get("prism_notify") or session.in_nested_transaction():
        return
    if not _worth_announcing(session):
        session.info["prism_quiet"] = True  # decided here: after_commit no longer sees what was pre-claimed
        return
    if session.get_bind().dialect.name == "postgresql":
        due = session.info.get("prism_due")
        session.execute(text("SELECT pg_notify(:channel, :due)"),
                        {"channel": NOTIFY_CHANNEL, "due": due.isoformat() if due else ""})


@event.listens_for(Session, "after_commit")
def _wake_after_commit(session: Session) -> None:
    # only transactions that queued pages or moved a timer wake the worker; a rollback never does
    if session.in_nested_transaction():
        return
    wake = session.info.pop("prism_wake", None)
    due = session.info.pop("prism_due", None)
    session.info.pop("prism_notify", None)
    if wake is not None and not session.info.pop("prism_quiet", False):
        wake(due)


@event.listens_for(Session, "after_rollback")
def _forget_wake(session: Session) -> None:
    if session.in_nested_transaction():  # a SAVEPOINT rolled back: what the transaction did before still stands
        return
    for key in ("prism_wake", "prism_due", "prism_notify", "prism_quiet"):
        session.info.pop(key, None)


async def policy_for(session: AsyncSession, incident: Incident,
                     cache: ConfigCache | None = None) -> tuple[EscalationPolicy, BusinessHours | None, str]:
    """The service's policy for this severity, else the seed's default; a missing one is said on the timeline."""
    cache = cache or ConfigCache(0)
    settings: dict[str, Any] = {}
    if incident.service_id:
        settings = cache.get(("service", incident.service_id))
        if not isinstance(settings, dict):
            svc = await session.get(ServiceRow, incident.service_id)
            settings = cache.put(("service", incident.service_id), (svc.settings or {}) if svc else {})
    hours = BusinessHours.model_validate(settings["business_hours"]) if settings.get("business_hours") else None
    wanted = (settings.get("escalation") or {}).get(str(incident.severity))
    if wanted:
        policy = cache.get(("policy", wanted))
        if not isinstance(policy, EscalationPolicy):
            row = await session.get(EscalationPolicyRow, wanted)
            policy = cache.put(("policy", wanted), EscalationPolicy.model_validate(row.definition) if row else None)
        if policy is not None:
            return policy, hours, ""
        note = f"escalation policy {wanted!r} does not exist; using the default {incident.severity} policy"
        return DEFAULT_POLICIES[incident.severity], hours, note
    return DEFAULT_POLICIES[incident.severity], hours, ""


def _escalated_by(events: Sequence[Event]) -> str:
    for e in events:
        m = _BY.match(e.message) if e.kind == "escalated" else None
        if m:
            return m.group(1)
    return "someone"


class EscalationService:
    """The in-transaction hook and the worker's escalation tick."""

    def __init__(self, sms_template: str = "", wake: Callable[[datetime | None], None] | None = None,
                 cache_ttl: float = 2.0, local: LocalSends | None = None) -> None:
        self.sms_template = sms_template
        self.wake = wake or (lambda _due: None)
        # this process's running worker, if any: pages due at once go to it pre-claimed (services/preclaim.py)
        self.local = local or LocalSends()
        self.cache = ConfigCache(cache_ttl)

    def resolver(self, session: AsyncSession) -> Resolver:
        return Resolver(session, self.sms_template, self.cache)

    async def on_incident(self, session: AsyncSession, incident: Incident, events: Sequence[Event],
                          now: datetime) -> None:
        """IncidentHooks entry: start, stop, jump or restart paging to match what just happened."""
        kinds = {e.kind for e in events}
        if not kinds & {"triggered", "reopened", "acknowledged", "resolved", "closed", "escalated",
                        "severity_changed", "status"}:
            return
        assert incident.id is not None
        fresh = "triggered" in kinds and incident.created_at == now  # a brand-new incident has no escalation yet
        row = None if fresh else await session.get(EscalationRow, incident.id, with_for_update=True)
        if kinds & {"triggered", "reopened"} or ("severity_changed" in kinds and incident.is_open):
            due = await self._start(session, incident, row, now, restart="triggered" not in kinds)
            notify_workers(session, self.wake, due)
        elif row is None:
            return
        elif not incident.is_open:
            await self._stop(session, incident, row, now, "resolved")
        else:
            if incident.acknowledged_at is not None and not row.acknowledged:
                await self._acknowledged(session, incident, row, now)
            if "escalated" in kinds:
                await self._manual(session, incident, row, now, _escalated_by(events))
                notify_workers(session, self.wake, row.next_due)

    async def on_incidents(self, session: AsyncSession, changes: Sequence[tuple[Incident, Sequence[Event]]],
                           now: datetime) -> None:
        """Batch form of on_incident: brand-new incidents start paging with one insert per table, one wakeup."""
        fresh: list[Incident] = []
        for incident, events in changes:
            if any(e.kind == "triggered" for e in events) and incident.created_at == now:
                fresh.append(incident)
            else:
                await self.on_incident(session, incident, events, now)
        if fresh:
            due = await self._start_many(session, fresh, now)
            notify_workers(session, self.wake, due)

    async def _start_many(self, session: AsyncSession, incidents: Sequence[Incident], now: datetime) -> datetime | None:
        """What _start does for an incident without an escalation row, for many at once; return the earliest due."""
        rows: list[dict[str, Any]] = []
        warnings: list[dict[str, object]] = []
        batch: list[tuple[Incident, EscalationPolicy, int, Sequence[Page]]] = []
        policies: dict[tuple[str | None, str], tuple[EscalationPolicy, BusinessHours | None, str]] = {}
        dumped: dict[int, dict[str, Any]] = {}
        dues: list[datetime] = []
        for incident in incidents:
            assert incident.id is not None
            key = (incident.service_id, str(incident.severity))
            if key not in policies:
                policies[key] = await policy_for(session, incident, self.cache)
            policy, hours, note = policies[key]
            if note:
                warnings.append(timeline_values(incident.id, now, ACTOR, Event("escalation_warning", note)))
            acknowledged = incident.acknowledged_at is not None
            decision = evaluate(policy, EscalationState(started_at=now, acknowledged=acknowledged), now, hours)
            if id(policy) not in dumped:
                dumped[id(policy)] = policy.model_dump(mode="json")
            rows.append({
                "incident_id": incident.id, "policy_id": policy.id, "policy": dumped[id(policy)],
                "business_hours": hours.model_dump(mode="json") if hours else None, "generation": 0,
                "started_at": decision.state.started_at, "next_step": decision.state.next_step,
                "cycle": decision.state.cycle, "acknowledged": acknowledged, "resolved": False,
                "next_due": decision.next_due, "updated_at": now,
            })
            batch.append((incident, policy, 0, decision.pages))
            if decision.next_due is not None:
                dues.append(decision.next_due)
        await bulk.insert_or_defer(session, TimelineRow.__table__, warnings)  # type: ignore[arg-type]
        await bulk.insert_or_defer(session, EscalationRow.__table__, rows)  # type: ignore[arg-type]
        await materialize_many(session, self.resolver(session), batch, now, new_generation=True, local=self.local)
        return min(dues, default=None)

    async def _start(self, session: AsyncSession, incident: Incident, row: EscalationRow | None, now: datetime,
                     restart: bool) -> datetime | None:
        policy, hours, note = await policy_for(session, incident, self.cache)
        if note:
            session.add(TimelineRow(**timeline_values(incident.id or 0, now, ACTOR, Event("escalation_warning", note))))
        generation = 0
        if row is not None:
            await self._cancel(session, incident.id or 0, now, None, "paging restarted")
            generation = row.generation + 1
        else:
            row = EscalationRow(incident_id=incident.id)
            session.add(row)
        row.policy_id, row.policy = policy.id, policy.model_dump(mode="json")
        row.business_hours = hours.model_dump(mode="json") if hours else None
        row.generation, row.started_at, row.next_step, row.cycle = generation, now, 0, 0
        row.acknowledged, row.resolved = incident.acknowledged_at is not None, False
        decision = evaluate(policy, state_of(row), now, hours)
        _store_state(row, decision, now)
        await materialize(session, self.resolver(session), incident, policy, generation, decision.pages, now,
                          new_generation=True, local=self.local)
        return decision.next_due

    async def _cancel(self, session: AsyncSession, incident_id: int, now: datetime, until: Until | None,
                      why: str) -> int:
        stmt = update(NotificationRow).where(NotificationRow.incident_id == incident_id,
                                             NotificationRow.state == "pending")
        if until is not None:
            stmt = stmt.where(NotificationRow.until == str(until))
        result = await session.execute(stmt.values(state="cancelled", last_error=why, due_at=now))
        count = int(result.rowcount or 0)  # type: ignore[attr-defined]
        if count:
            session.add(TimelineRow(**timeline_values(incident_id, now, ACTOR, Event(
                "notification_cancelled", f"Stopped {count} pending page(s): {why}", {"count": count}))))
        return count

    async def _stop(self, session: AsyncSession, incident: Incident, row: EscalationRow, now: datetime,
                    why: str) -> None:
        row.resolved, row.next_due, row.updated_at = True, None, now
        await self._cancel(session, row.incident_id, now, None, f"incident {incident.status}")

    async def _acknowledged(self, session: AsyncSession, incident: Incident, row: EscalationRow,
                            now: datetime) -> None:
        row.acknowledged = True
        policy = EscalationPolicy.model_validate(row.policy)
        hours = BusinessHours.model_validate(row.business_hours) if row.business_hours else None
        await self._cancel(session, row.incident_id, now, Until.ACKNOWLEDGED,
                           f"acknowledged by {incident.acknowledged_by or 'someone'}")
        decision = evaluate(policy, state_of(row), now, hours)
        _store_state(row, decision, now)
        if await materialize(session, self.resolver(session), incident, policy, row.generation, decision.pages, now,
                             local=self.local):
            notify_workers(session, self.wake, row.next_due)

    async def _manual(self, session: AsyncSession, incident: Incident, row: EscalationRow, now: datetime,
                      actor: str) -> None:
        policy = EscalationPolicy.model_validate(row.policy)
        decision = escalate_now(policy, state_of(row), now)
        if not decision.pages:
            session.add(TimelineRow(**timeline_values(row.incident_id, now, actor, Event(
                "escalation_step", "Escalated by hand, but the policy has no further step", {}))))
            return
        _store_state(row, decision, now)
        await materialize(session, self.resolver(session), incident, policy, row.generation, decision.pages, now,
                          manual_by=actor, local=self.local)

    async def tick(self, session: AsyncSession, now: datetime, limit: int = 200) -> tuple[int, int]:
        """Fire every due step once; return (escalations handled, pages queued)."""
        rows = (await session.execute(
            select(EscalationRow).where(EscalationRow.next_due <= now).order_by(EscalationRow.next_due)
            .limit(limit).with_for_update(skip_locked=True))).scalars().all()
        if not rows:
            return 0, 0
        # lock the incidents too, skipping ones a request is changing right now (it will wake us after commit)
        incidents = {r.id: r for r in (await session.execute(
            select(IncidentRow).where(IncidentRow.id.in_([r.incident_id for r in rows]))
            .with_for_update(skip_locked=True))).scalars()}
        resolver = self.resolver(session)
        handled = 0
        batch = []
        parsed: dict[str, tuple[dict[str, Any], EscalationPolicy]] = {}
        for row in rows:
            inc_row = incidents.get(row.incident_id)
            if inc_row is None:
                continue
            incident = incident_from_row(inc_row)
            handled += 1
            if not incident.is_open:
                row.resolved, row.next_due = True, None
                continue
            state = replace(state_of(row), acknowledged=row.acknowledged or incident.acknowledged_at is not None)
            row.acknowledged = state.acknowledged
            cached = parsed.get(row.policy_id)
            if cached is None or cached[0] != row.policy:
                cached = parsed[row.policy_id] = (row.policy, EscalationPolicy.model_validate(row.policy))
            policy = cached[1]
            hours = BusinessHours.model_validate(row.business_hours) if row.business_hours else None
            decision = evaluate(policy, state, now, hours)
            _store_state(row, decision, now)
            batch.append((incident, policy, row.generation, decision.pages))
        queued = await materialize_many(session, resolver, batch, now, local=self.local)
        if queued:
            notify_workers(session)
        return handled, queued

    async def next_due(self, session: AsyncSession) -> datetime | None:
        return (await session.execute(select(EscalationRow.next_due).where(EscalationRow.next_due.is_not(None))
                                      .order_by(EscalationRow.next_due).limit(1))).scalar_one_or_none()


async def next_dues(session: AsyncSession) -> tuple[datetime | None, datetime | None]:
    """(earliest escalation timer, earliest send or expiring lease) in one round trip, for the worker's alarm."""
    esc = select(EscalationRow.next_due).where(EscalationRow.next_due.is_not(None)) \
        .order_by(EscalationRow.next_due).limit(1).scalar_subquery()
    pending = select(NotificationRow.due_at).where(NotificationRow.state == "pending") \
        .order_by(NotificationRow.due_at).limit(1).scalar_subquery()
    lease = select(NotificationRow.lease_until).where(NotificationRow.state == "sending") \
        .order_by(NotificationRow.lease_until).limit(1).scalar_subquery()
    a, b, c = (await session.execute(select(esc, pending, lease))).one()
    out = [UTCDateTime().process_result_value(v, session.bind.dialect) if isinstance(v, str) else v
           for v in (a, b, c)]
    return out[0], min((t for t in out[1:] if t is not None), default=None)

