"""Apply a batch of alerts inside one transaction: dedup, hold, silence, group, open, attach, resolve."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from prism_ir.domain.alert import AlertIn, AlertStatus
from prism_ir.domain.grouping import (
    Acknowledge,
    Attach,
    Dedup,
    Hold,
    Ignore,
    KnownAlert,
    Open,
    OpenGroup,
    Resolve,
    group,
    group_key,
    pick_rule,
)
from prism_ir.domain.incident import Action, Status
from prism_ir.domain.routing import route_severity
from prism_ir.services.config_ingest import IngestConfig
from prism_ir.services.errors import Conflict
from prism_ir.services.incident_tx import IncidentSpec, IncidentTx
from prism_ir.services.ingest_state import Tally, WriteSet
from prism_ir.store import bulk
from prism_ir.store import repos_ingest as repo
from prism_ir.store.repos_ingest import StoredAlert

# Incidents prepared per slice: a big batch is prepared in slices so the event loop stays responsive (each
# slice is a few milliseconds of CPU; requests arriving meanwhile are answered between slices).
_OPEN_SLICE = 32


class BatchApply:
    def __init__(self, tx: IncidentTx) -> None:
        self.tx = tx

    async def apply(
        self, session: AsyncSession, cfg: IngestConfig, alerts: Sequence[AlertIn], now: datetime, result: Tally
    ) -> None:
        # A fingerprint repeated inside one batch is applied in order: one pass per repetition.
        passes: list[list[AlertIn]] = []
        seen: dict[str, int] = {}
        for alert in alerts:
            n = seen.get(alert.fingerprint, 0)
            seen[alert.fingerprint] = n + 1
            if n == len(passes):
                passes.append([])
            passes[n].append(alert)
        touched: dict[int, tuple[str, AlertIn]] = {}
        for batch in passes:
            await self._round(session, cfg, batch, now, result, touched)
        await self._auto_resolve(session, cfg, touched, now, result)

    async def _round(
        self, session: AsyncSession, cfg: IngestConfig, batch: list[AlertIn], now: datetime,
        result: Tally, touched: dict[int, tuple[str, AlertIn]],
    ) -> None:
        sid = cfg.service_id
        known = await repo.lock_open_alerts(session, sid, [a.fingerprint for a in batch])
        groups: dict[str, OpenGroup] = {}
        if cfg.groups_by_labels:
            keys = [group_key(a, pick_rule(a.match_labels, cfg.grouping)) for a in batch
                    if a.status is AlertStatus.FIRING]
            keys = [k for k in keys if not k.startswith("fp:")]
            if keys:
                await repo.advisory_lock(session, keys)
                for key, incident_id, opened_at in await repo.open_groups(session, sid, keys):
                    if key not in groups or groups[key].opened_at < opened_at:
                        groups[key] = OpenGroup(key, incident_id, opened_at)
        w = WriteSet()
        for n, alert in enumerate(batch):
            if n and not n % _OPEN_SLICE:
                await asyncio.sleep(0)
            stored = known.get(alert.fingerprint)
            decision = group(alert, _known(stored), groups, cfg.grouping, now, cfg.silences)
            if isinstance(decision, Dedup):
                assert stored is not None
                w.bumps.append({"b_id": stored.id, "b_occ": stored.occurrences + 1, "b_seen": now})
                result(alert).deduplicated += 1
            elif isinstance(decision, Hold) or (isinstance(decision, Open) and decision.silence is not None):
                # Held below threshold, or silenced: recorded, no incident, nobody paged.
                silence = decision.silence
                count = decision.count if isinstance(decision, Hold) else (stored.hold_count + 1 if stored else 1)
                start = decision.window_start if isinstance(decision, Hold) else now
                if silence is not None:
                    result(alert).silenced += 1
                else:
                    result(alert).held += 1
                sil = silence.id if silence else None
                if stored is not None and stored.incident_id is None:
                    w.holds.append({"b_id": stored.id, "b_occ": stored.occurrences + 1, "b_seen": now,
                                    "b_hold": count, "b_ws": start, "b_sil": sil})
                else:
                    self._new_row(w, cfg, alert, stored, decision.group_key, now, hold_count=count,
                                  window_start=start, silenced_by=sil)
            elif isinstance(decision, Open | Attach):
                if isinstance(decision, Open):
                    incident_ref = -(len(w.opens) + 1)
                    w.opens.append((alert, decision.group_key))
                    if not decision.group_key.startswith("fp:"):
                        groups[decision.group_key] = OpenGroup(decision.group_key, incident_ref, now)
                else:
                    incident_ref = decision.incident_id
                    result(alert).attached += 1
                    if incident_ref > 0:
                        note = f"Alert attached: {alert.summary} [{alert.source} {alert.fingerprint[:16]}]"
                        if decision.silence is not None:
                            note += f" (during silence {decision.silence.id!r}: nobody paged)"
                        w.notes.append((incident_ref, note))
                if stored is not None and stored.incident_id is None:
                    w.holds.append({"b_id": stored.id, "b_occ": stored.occurrences + 1, "b_seen": now,
                                    "b_hold": stored.hold_count + 1, "b_ws": stored.window_start, "b_sil": None})
                    w.links.append((stored.id, incident_ref))
                else:
                    self._new_row(w, cfg, alert, stored, decision.group_key, now)
                    w.new_links.append((len(w.new_rows) - 1, incident_ref))
            elif isinstance(decision, Resolve):
                assert stored is not None
                w.resolve_ids.append(stored.id)
                result(alert).resolved += 1
                if decision.incident_id is not None:
                    # Events v2 `resolve` is an explicit order; other sources follow the service's auto_resolve.
                    explicit = alert.source == "events_v2"
                    touched[decision.incident_id] = ("explicit" if explicit else alert.source, alert)
            elif isinstance(decision, Acknowledge):
                w.acks.append((decision.incident_id, alert))
            else:
                assert isinstance(decision, Ignore)
                result(alert).ignored += 1
        await self._write(session, cfg, w, now, result)

    def _new_row(
        self, w: WriteSet, cfg: IngestConfig, alert: AlertIn, stored: StoredAlert | None, key: str, now: datetime,
        *, hold_count: int = 0, window_start: datetime | None = None, silenced_by: str | None = None,
    ) -> None:
        if stored is not None:
            w.close_ids.append(stored.id)  # a new firing after the incident was closed: a new episode
        w.new_rows.append({
            "service_id": cfg.service_id, "fingerprint": alert.fingerprint, "source": alert.source,
            "status": "firing", "incident_id": None, "group_key": key, "summary": alert.summary[:1024],
            "severity": str(route_severity(alert, cfg.severity_rules, cfg.default_severity).severity),
            "severity_raw": (alert.severity or "")[:64] or None, "labels": dict(alert.labels),
            "annotations": dict(alert.annotations), "details": dict(alert.details), "occurrences": 1,
            "hold_count": hold_count, "window_start": window_start, "silenced_by": silenced_by,
            "first_seen": now, "last_seen": now, "starts_at": alert.starts_at, "ends_at": alert.ends_at,
            "resolved_at": None,
        })

    async def _write(
        self, session: AsyncSession, cfg: IngestConfig, w: WriteSet, now: datetime, result: Tally
    ) -> None:
        await repo.bump(session, w.bumps)
        await repo.hold(session, w.holds)
        await repo.resolve_alerts(session, w.close_ids, now, status="superseded")
        await repo.resolve_alerts(session, w.resolve_ids, now)
        specs: list[IncidentSpec] = []
        for alert, _key in w.opens:
            routed = route_severity(alert, cfg.severity_rules, cfg.default_severity)
            specs.append(IncidentSpec(title=alert.summary[:500], severity=routed.severity, service_id=cfg.service_id,
                                      summary=_describe(alert, routed.reason), source=alert.source,
                                      actor=alert.source))
        # New incidents, their hooks' rows and the new alert rows (each already pointing at its incident) go in
        # one insert batch: on PostgreSQL one statement after the incident ids are drawn. A fingerprint another
        # process opened meanwhile fails the batch on the open-alert unique index; the caller retries it, and
        # the retry finds that alert and counts a repeat.
        created: dict[int, int] = {}
        owner = bulk.start_batch(session)
        try:
            for start in range(0, len(specs), _OPEN_SLICE):
                if start:
                    await asyncio.sleep(0)  # let requests waiting on this event loop through between slices
                made = await self.tx.create_many_in(session, specs[start:start + _OPEN_SLICE], now)
                for i, incident in enumerate(made, start):
                    assert incident.id is not None
                    created[-(i + 1)] = incident.id
                    result(w.opens[i][0]).opened.append(incident.id)
            if specs:
                await asyncio.sleep(0)  # the last slice, and writing the statement, are separate steps
            for row, ref in w.new_links:
                w.new_rows[row]["incident_id"] = created.get(ref, ref)
            await repo.insert_alerts(session, w.new_rows)
            if owner:
                await bulk.flush_batch(session)
        finally:
            if owner:
                bulk.drop_batch(session)
        await repo.link_incidents(session, [{"b_id": row_id, "b_inc": created.get(ref, ref)}
                                            for row_id, ref in w.links])
        for incident_id, note in w.notes:
            await self.tx.note_in(session, incident_id, note, "ingest", now)
        for incident_id, alert in w.acks:
            try:
                await self.tx.act_in(session, incident_id, Action.ACKNOWLEDGE, alert.source, now)
                result(alert).acknowledged += 1
            except Conflict:
                result(alert).ignored += 1

    async def _auto_resolve(
        self, session: AsyncSession, cfg: IngestConfig, touched: dict[int, tuple[str, AlertIn]], now: datetime,
        result: Tally,
    ) -> None:
        if not touched:
            return
        for incident_id, remaining in (await repo.open_alert_counts(session, touched)).items():
            how, alert = touched[incident_id]
            if remaining or (how != "explicit" and not cfg.auto_resolve):
                continue
            incident = await self.tx.load_for_update(session, incident_id)
            if incident.status not in (Status.RESOLVED, Status.REVIEWED, Status.CLOSED):
                actor = "events_v2" if how == "explicit" else how
                await self.tx.act_in(session, incident_id, Action.RESOLVE, actor, now,
                                     note="all alerts resolved")
                result(alert).incidents_resolved.append(incident_id)


def _known(stored: StoredAlert | None) -> KnownAlert | None:
    if stored is None:
        return None
    return KnownAlert(stored.fingerprint, stored.incident_id, stored.incident_open, stored.starts_at,
                      stored.hold_count, stored.window_start)


def _describe(alert: AlertIn, reason: str) -> str:
    labels = ", ".join(f"{k}={v}" for k, v in sorted(alert.labels.items()))
    return f"Opened from {alert.source} alert {alert.fingerprint} ({labels}); severity by {reason}."
