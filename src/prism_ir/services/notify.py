"""The outbox: claim due sends, then record each outcome (sent, retry later, next method, or failed)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, Update, and_, bindparam, case, insert, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from prism_ir.domain.incident import Event, Incident, Status
from prism_ir.domain.severity import Severity
from prism_ir.integrations.notifiers.base import SendResult
from prism_ir.services.contacts import Recipient
from prism_ir.services.escalation_pages import ACTOR, next_method_key, notification_values, timeline_values
from prism_ir.services.notify_settings import PagingSettings
from prism_ir.services.preclaim import Claimed
from prism_ir.store import bulk
from prism_ir.store.db import Database
from prism_ir.store.repos import incident_from_row
from prism_ir.store.tables import IncidentRow, TimelineRow
from prism_ir.store.tables_oncall import NotificationRow
from prism_ir.store.types import UTCDateTime, json_text

_INCIDENT_COLUMNS = [f.name for f in fields(Incident)]
_NOTIFICATIONS: Table = NotificationRow.__table__  # type: ignore[assignment]
_TIMELINE: Table = TimelineRow.__table__  # type: ignore[assignment]
# the outcome and its timeline lines in one statement, only while the claim is ours (PostgreSQL, autocommit)
_FINISH_AT_ONCE = text("""
WITH done AS (
    UPDATE notifications SET state = CAST(:f_state AS VARCHAR),
        sent_at = COALESCE(CAST(:f_sent_at AS TIMESTAMPTZ), sent_at),
        due_at = COALESCE(CAST(:f_due_at AS TIMESTAMPTZ), due_at), lease_until = NULL,
        last_error = CAST(:f_error AS TEXT)
    WHERE id = CAST(:f_id AS BIGINT) AND claimed_by = CAST(:f_by AS VARCHAR) AND state = 'sending'
    RETURNING incident_id)
INSERT INTO timeline_events (incident_id, at, kind, actor, message, data)
SELECT done.incident_id, CAST(:f_at AS TIMESTAMPTZ), e.kind, CAST(:f_actor AS VARCHAR), e.message, e.data
FROM done, unnest(CAST(:f_kinds AS VARCHAR[]), CAST(:f_messages AS TEXT[]), CAST(:f_data AS JSONB[]))
    WITH ORDINALITY AS e(kind, message, data, ord)
ORDER BY e.ord
RETURNING id""").bindparams(bindparam("f_sent_at", type_=UTCDateTime()), bindparam("f_due_at", type_=UTCDateTime()),
                            bindparam("f_at", type_=UTCDateTime()))


def backoff(settings: PagingSettings, attempts: int) -> timedelta:
    """Exponential backoff per contact method: base, 2×base, 4×base … capped."""
    return timedelta(seconds=min(settings.send_backoff_max_seconds,
                                 settings.send_backoff_seconds * 2 ** max(0, attempts - 1)))


class Outbox:
    def __init__(self, settings: PagingSettings, worker_id: str) -> None:
        self.settings = settings
        self.worker_id = worker_id
        self._claims: dict[tuple[int, bool], Update] = {}
        self._finishes: dict[tuple[str, ...], Update] = {}

    def claim_statement(self, limit: int, join_incident: bool = True) -> Update:
        """One statement that claims due rows (recorded before the send) and returns them with their incident.

        Built once per (limit, join) and run with `claim_params(now)`: building it cost more CPU than running it.
        """
        cached = self._claims.get((limit, join_incident))
        if cached is not None:
            return cached
        t, i = NotificationRow, IncidentRow
        now, lease = bindparam("claim_now", type_=UTCDateTime()), bindparam("claim_lease", type_=UTCDateTime())
        due = or_(and_(t.state == "pending", t.due_at <= now), and_(t.state == "sending", t.lease_until <= now))
        pick = select(t.id).where(due).order_by(t.due_at).limit(limit).with_for_update(skip_locked=True)
        # the previous state is kept in last_error so a recovered (in-doubt) send can say so on the timeline
        stmt = update(t).where(t.id.in_(pick.scalar_subquery()))
        if join_incident:  # PostgreSQL returns the incident too (SQLite's RETURNING sees only the updated table)
            stmt = stmt.where(t.incident_id == i.id)
        extra = [getattr(i, f).label(f"inc_{f}") for f in _INCIDENT_COLUMNS] if join_incident else [t.incident_id]
        stmt = (stmt
                .values(state="sending", attempts=t.attempts + 1, lease_until=lease, claimed_by=self.worker_id,
                        started_at=now, last_error=case((t.state == "sending", "in doubt: worker stopped mid-send"),
                                                         else_=t.last_error))
                .returning(t.id, t.key, t.step, t.cycle, t.target, t.recipient, t.recipient_name, t.method_index,
                           t.channel, t.address, t.route, t.until, t.attempts, t.last_error, *extra))
        self._claims[(limit, join_incident)] = stmt
        return stmt

    def claim_params(self, now: datetime) -> dict[str, datetime]:
        return {"claim_now": now, "claim_lease": now + timedelta(seconds=self.settings.send_lease_seconds)}

    def claimed_from(self, rows: Sequence[Any], incidents: dict[int, Incident] | None = None) -> list[Claimed]:
        out = []
        for r in sorted(rows, key=lambda r: r.id):
            if incidents is not None:
                incident = incidents[r.incident_id]
            else:
                values = {f: getattr(r, f"inc_{f}") for f in _INCIDENT_COLUMNS}
                values["severity"], values["status"] = Severity(values["severity"]), Status(values["status"])
                incident = Incident(**values)
            out.append(Claimed(r.id, r.key, incident, r.step, r.cycle, r.target, r.recipient, r.recipient_name,
                               r.method_index, r.channel, r.address, tuple((c, a) for c, a in r.route), r.until,
                               r.attempts, r.last_error.startswith("in doubt")))
        return out

    async def claim(self, session: AsyncSession, now: datetime, limit: int) -> list[Claimed]:
        """Claim inside the caller's transaction (SQLite, tests)."""
        rows = (await session.execute(self.claim_statement(limit, join_incident=False), self.claim_params(now),
                                      execution_options={"synchronize_session": False})).all()
        if not rows:
            return []
        incidents = {r.id: incident_from_row(r) for r in (await session.execute(
            select(IncidentRow).where(IncidentRow.id.in_({r.incident_id for r in rows})))).scalars()}
        return self.claimed_from(rows, incidents)

    def _decide(self, c: Claimed, result: SendResult, now: datetime) -> tuple[str, dict[str, object], list[Event]]:
        """The outcome, the row's new values and the timeline events; `failed` may still become `fallback`."""
        where = "" if c.step == 0 else f" (step {c.step + 1})"
        tail = " – resent after a worker stopped mid-send, same idempotency key" if c.recovered else ""
        data = {"recipient": c.recipient, "channel": c.channel, "address": c.address, "key": c.key,
                "attempt": c.attempts, "step": c.step, "cycle": c.cycle}
        if result.ok:
            return "sent", {"state": "sent", "sent_at": now, "lease_until": None, "last_error": ""}, [
                Event("notification_sent", f"Paged {c.recipient_name} via {c.channel} ({c.address}){where}{tail}",
                      data)]
        if not result.permanent and c.attempts < self.settings.send_attempts_per_method:
            wait = backoff(self.settings, c.attempts)
            return "retry", {"state": "pending", "due_at": now + wait, "lease_until": None,
                             "last_error": result.detail}, [
                Event("notification_retry", f"Paging {c.recipient_name} via {c.channel} failed (attempt "
                      f"{c.attempts}: {result.detail}); retrying in {int(wait.total_seconds())}s", data)]
        return "failed", {"state": "failed", "lease_until": None, "last_error": result.detail}, [
            Event("notification_failed", f"Paging {c.recipient_name} via {c.channel} ({c.address}) failed for "
                  f"good after {c.attempts} attempt(s): {result.detail}", data)]

    def _last_method_failed(self, c: Claimed) -> Event:
        return Event("notification_failed", f"Could not reach {c.recipient_name}: every contact method failed",
                     {"recipient": c.recipient, "step": c.step})

    async def finish(self, session: AsyncSession, c: Claimed, result: SendResult, now: datetime) -> str:
        """Record the outcome; return `sent`, `retry`, `fallback`, `failed` or `lost` (another worker took over)."""
        outcome, values, timeline = self._decide(c, result, now)
        fallback: dict[str, object] | None = None
        if outcome == "failed":
            nxt = c.method_index + 1
            if nxt < len(c.route) and await self._still_wanted(session, c):
                outcome = "fallback"
                r = Recipient(c.recipient, c.recipient_name, c.route)
                key = next_method_key(c.key, nxt)
                fallback = notification_values(c.incident.id or 0, key, c.step, c.cycle, c.target, r, nxt, c.until,
                                               now)
                timeline.append(Event("notification_fallback", f"Trying {c.recipient_name}'s next contact method: "
                                      f"{c.route[nxt][0]} ({c.route[nxt][1]})",
                                      {**timeline[0].data, "next": c.route[nxt][0]}))
            elif nxt >= len(c.route):
                timeline.append(self._last_method_failed(c))
        params = {"f_id": c.id, "f_by": self.worker_id, **{f"v_{k}": v for k, v in values.items()}}
        changed = await session.execute(self._finish_statement(tuple(values)), params)
        if not changed.rowcount:  # type: ignore[attr-defined]
            return "lost"
        if fallback is not None and not (await session.execute(
                select(NotificationRow.id).where(NotificationRow.key == fallback["key"]))).first():
            await session.execute(insert(NotificationRow), [fallback])
        await bulk.insert_rows(session, _TIMELINE, [timeline_values(c.incident.id or 0, now, ACTOR, e)
                                                    for e in timeline])
        return outcome

    async def finish_at_once(self, db: Database, c: Claimed, result: SendResult, now: datetime) -> str | None:
        """PostgreSQL: record an outcome that needs nothing read first in ONE autocommit statement (the row and
        its timeline lines, atomically, only while this worker holds the claim); None: use `finish` instead."""
        if db.dialect != "postgresql":
            return None
        outcome, values, timeline = self._decide(c, result, now)
        if outcome == "failed":
            if c.method_index + 1 < len(c.route):
                return None  # whether to try the next method depends on the incident: read it in a transaction
            timeline.append(self._last_method_failed(c))
        params = {"f_id": c.id, "f_by": self.worker_id, "f_state": values["state"],
                  "f_sent_at": values.get("sent_at"), "f_due_at": values.get("due_at"),
                  "f_error": values["last_error"], "f_at": now, "f_actor": ACTOR,
                  "f_kinds": [e.kind for e in timeline], "f_messages": [e.message for e in timeline],
                  "f_data": [json_text(e.data) for e in timeline]}
        async with db.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            recorded = (await conn.execute(_FINISH_AT_ONCE, params)).all()
        return outcome if recorded else "lost"

    def _finish_statement(self, columns: tuple[str, ...]) -> Update:
        """Record an outcome only if this worker still holds the claim; a Core statement built once per shape."""
        cached = self._finishes.get(columns)
        if cached is None:
            t = _NOTIFICATIONS
            cached = (update(t).where(t.c.id == bindparam("f_id"), t.c.claimed_by == bindparam("f_by"),
                                      t.c.state == "sending")
                      .values({name: bindparam(f"v_{name}", type_=t.c[name].type) for name in columns}))
            self._finishes[columns] = cached
        return cached

    async def _still_wanted(self, session: AsyncSession, c: Claimed) -> bool:
        inc = await session.get(IncidentRow, c.incident.id)
        if inc is None or inc.resolved_at is not None:
            return False
        return not (c.until == "acknowledged" and inc.acknowledged_at is not None)

    async def next_due(self, session: AsyncSession) -> datetime | None:
        pending = (await session.execute(select(NotificationRow.due_at).where(NotificationRow.state == "pending")
                                         .order_by(NotificationRow.due_at).limit(1))).scalar_one_or_none()
        lease = (await session.execute(select(NotificationRow.lease_until).where(NotificationRow.state == "sending")
                                       .order_by(NotificationRow.lease_until).limit(1))).scalar_one_or_none()
        return min((t for t in (pending, lease) if t is not None), default=None)
