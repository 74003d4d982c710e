"""Turn the domain's pages into outbox rows and timeline entries, inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from prism_ir.domain.escalation import EscalationPolicy, Page, parse_target
from prism_ir.domain.incident import Event, Incident
from prism_ir.services.contacts import Recipient, Resolver
from prism_ir.services.preclaim import LocalSends, note_queued
from prism_ir.store import bulk
from prism_ir.store.tables import TimelineRow
from prism_ir.store.tables_oncall import NotificationRow
from prism_ir.store.types import json_safe

ACTOR = "escalation"
_NOTIFICATIONS: Table = NotificationRow.__table__  # type: ignore[assignment]
_TIMELINE: Table = TimelineRow.__table__  # type: ignore[assignment]
_CLAIM_COLUMNS = ("claimed_by", "lease_until", "started_at")


def notification_key(incident_id: int, generation: int, cycle: int, step: int, target: str, recipient: str,
                      method: int) -> str:
    """The idempotency key: the same page to the same address always gets the same key."""
    return f"i{incident_id}.g{generation}.c{cycle}.s{step}.{target}.{recipient}.m{method}"


def next_method_key(key: str, method: int) -> str:
    """The key of the same page on the recipient's next contact method."""
    return f"{key.rsplit('.m', 1)[0]}.m{method}"


def notification_values(incident_id: int, key: str, page_step: int, cycle: int, target: str, r: Recipient,
                        method: int, until: str, now: datetime) -> dict[str, object]:
    channel, address = r.routes[method] if method < len(r.routes) else ("", "")
    return {
        "key": key, "incident_id": incident_id, "step": page_step, "cycle": cycle, "target": target,
        "recipient": r.id, "recipient_name": r.name, "method_index": method, "channel": channel,
        "address": address, "route": [list(x) for x in r.routes], "until": until,
        "state": "pending" if channel else "failed", "attempts": 0, "due_at": now, "created_at": now,
        "last_error": "" if channel else (r.problem or "no contact method"),
    }


def timeline_values(incident_id: int, now: datetime, actor: str, event: Event) -> dict[str, object]:
    return {"incident_id": incident_id, "at": now, "kind": event.kind, "actor": actor, "message": event.message,
            "data": json_safe(event.data)}


async def existing_keys(session: AsyncSession, keys: Sequence[str]) -> set[str]:
    if not keys:
        return set()
    rows = await session.execute(select(NotificationRow.key).where(NotificationRow.key.in_(list(keys))))
    return set(rows.scalars())


async def materialize(
    session: AsyncSession, resolver: Resolver, incident: Incident, policy: EscalationPolicy, generation: int,
    pages: Sequence[Page], now: datetime, *, manual_by: str | None = None, new_generation: bool = False,
    local: LocalSends | None = None,
) -> int:
    """Insert one outbox row per recipient's first method and say on the timeline who is paged; return rows added."""
    return await materialize_many(session, resolver, [(incident, policy, generation, pages)], now,
                                  manual_by=manual_by, new_generation=new_generation, local=local)


async def materialize_many(
    session: AsyncSession, resolver: Resolver, items: Sequence[tuple[Incident, EscalationPolicy, int, Sequence[Page]]],
    now: datetime, *, manual_by: str | None = None, new_generation: bool = False, local: LocalSends | None = None,
) -> int:
    """Batch form for the worker's tick: one key lookup and one insert per table for many incidents.

    With `local`, rows due now go in already claimed by this process's running worker, which sends them right
    after COMMIT (services/preclaim.py); the rest stay `pending` for any worker.
    """
    rows: list[dict[str, object]] = []
    timeline: list[dict[str, object]] = []
    for incident, policy, generation, pages in items:
        if pages:
            await _collect(resolver, incident, policy, generation, pages, now, manual_by, rows, timeline)
    if not rows:
        return 0
    if new_generation:
        # keys of a generation that has just started cannot exist yet: no lookup, and Core inserts (no ORM flush);
        # the timeline rows join the new incidents' own timeline INSERT when the caller collects them
        await _insert(session, rows, now, items, local)
        await bulk.insert_or_defer(session, _TIMELINE, timeline)
        return len(rows)
    known = await existing_keys(session, [str(r["key"]) for r in rows])
    fresh = [r for r in rows if r["key"] not in known]
    if fresh:
        await _insert(session, fresh, now, items, local, orm=True)
        fresh_incidents = {r["incident_id"] for r in fresh}
        timeline = [t for t in timeline if manual_by or t["incident_id"] in fresh_incidents]
    elif not manual_by:
        timeline = []
    if timeline:
        await session.execute(insert(TimelineRow), timeline)
    return len(fresh)


async def _insert(session: AsyncSession, rows: list[dict[str, object]], now: datetime,
                  items: Sequence[tuple[Incident, EscalationPolicy, int, Sequence[Page]]], local: LocalSends | None,
                  orm: bool = False) -> None:
    """Insert the rows, those due now pre-claimed for this process's worker if it has room (bound to their ids)."""
    pre = local.claim(session, rows, now) if local is not None else None
    if pre is None:
        if orm:
            await session.execute(insert(NotificationRow), rows)
        else:
            await bulk.insert_or_defer(session, _NOTIFICATIONS, rows)
    else:
        for r in rows:  # one column set for all rows (the claimed ones carry the claim's columns)
            for c in _CLAIM_COLUMNS:
                r.setdefault(c, None)
        incidents = {inc.id: inc for inc, *_ in items if inc.id is not None}
        # in a batch the ids (and so the hand-off) come when it is flushed, still before COMMIT
        await bulk.insert_or_defer(session, _NOTIFICATIONS, rows, lambda ids: pre.bind(rows, ids, incidents))
    note_queued(session, rows)


async def _collect(resolver: Resolver, incident: Incident, policy: EscalationPolicy, generation: int,
                   pages: Sequence[Page], now: datetime, manual_by: str | None, rows: list[dict[str, object]],
                   timeline: list[dict[str, object]]) -> None:
    assert incident.id is not None
    by_step: dict[tuple[int, int], list[Page]] = {}
    for p in pages:
        by_step.setdefault((p.cycle, p.step), []).append(p)
    for (cycle, step), group in by_step.items():
        who: list[str] = []
        problems: list[str] = []
        for page in group:
            res = await resolver.resolve(parse_target(page.target), now, incident.service_id)
            recipients = res.recipients or (Recipient(f"unresolved:{page.target}", page.target, (), res.problem),)
            for r in recipients:
                key = notification_key(incident.id, generation, cycle, step, page.target, r.id, 0)
                rows.append(notification_values(incident.id, key, step, cycle, page.target, r, 0, str(page.until),
                                                now))
                if r.routes:
                    who.append(f"{r.name} ({page.target}) via {r.routes[0][0]}")
                else:
                    problems.append(f"{page.target}: {r.problem or res.problem}")
        after = policy.steps[step].after
        label = f"step {step + 1}" + (f", repeat {cycle}" if cycle else "")
        how = f"by hand ({manual_by})" if manual_by else f"at +{int(after.total_seconds() // 60)}m"
        message = f"Escalation {label} {how}: paging " + ("; ".join(who) if who else "nobody")
        data = {"step": step, "cycle": cycle, "targets": [p.target for p in group], "policy": policy.id}
        timeline.append(timeline_values(incident.id, now, manual_by or ACTOR,
                                        Event("escalation_step", message, data)))
        for problem in problems:
            timeline.append(timeline_values(incident.id, now, ACTOR, Event(
                "notification_failed", f"Cannot page {problem}", {"step": step, "cycle": cycle})))
