from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from prism_ir.clock import FakeClock
from prism_ir.domain.incident import Status
from prism_ir.domain.severity import Severity
from prism_ir.integrations.sources import alertmanager, events_v2
from prism_ir.store.tables import IncidentRow, TimelineRow
from prism_ir.store.tables_ingest import AlertRow
from tests.ingest.conftest import Svc, am_alert, am_payload, make_service


def am(*alerts):
    return alertmanager.parse(am_payload(*alerts))


async def count(svc: Svc, model, *where) -> int:
    async with svc.container.db.read() as s:
        return int((await s.execute(select(func.count()).select_from(model).where(*where))).scalar_one())


async def test_new_alert_opens_incident_with_routed_severity(svc: Svc) -> None:
    result = await svc.send(am(am_alert(instance="a")))
    assert len(result.opened) == 1
    (inc,) = await svc.incidents()
    assert inc.severity is Severity.P1 and inc.page is True and inc.source == "alertmanager"
    assert inc.title == "APIDown fired"


async def test_repeat_only_bumps_counter_and_last_seen(svc: Svc, clock: FakeClock) -> None:
    await svc.send(am(am_alert(instance="a")))
    timeline_before = await count(svc, TimelineRow)
    clock.advance(minutes=5)
    for _ in range(3):  # Alertmanager re-sends the group every group_interval
        r = await svc.send(am(am_alert(instance="a")))
        assert r.deduplicated == 1 and not r.opened
    assert await count(svc, IncidentRow) == 1
    assert await count(svc, TimelineRow) == timeline_before
    async with svc.container.db.read() as s:
        row = (await s.execute(select(AlertRow))).scalar_one()
    assert row.occurrences == 4 and row.last_seen == clock.now() and row.first_seen == clock.now() - timedelta(
        minutes=5)


async def test_warning_becomes_ticket_without_page(svc: Svc) -> None:
    await svc.send(am(am_alert(severity="warning")))
    (inc,) = await svc.incidents()
    assert inc.severity is Severity.P3 and inc.page is False


async def test_service_severity_rules_override(container) -> None:
    svc = await make_service(container, "dns", severity_rules=[{"match": {"severity": "warning"}, "severity": "P2"}])
    await svc.send(am(am_alert(severity="warning")))
    (inc,) = await svc.incidents()
    assert inc.severity is Severity.P2 and inc.page is True


async def test_batch_with_duplicates_and_resolve_in_order(svc: Svc) -> None:
    r = await svc.send(am(am_alert(instance="a"), am_alert(instance="a"), am_alert("resolved", instance="a")))
    assert (len(r.opened), r.deduplicated, r.resolved) == (1, 1, 1)
    (inc,) = await svc.incidents()
    assert inc.status is Status.RESOLVED


async def test_auto_resolve_when_every_alert_resolved(container) -> None:
    svc = await make_service(container, grouping={"by": ["alertname"], "window": "1h"})
    await svc.send(am(am_alert(instance="a"), am_alert(instance="b")))
    (inc,) = await svc.incidents()
    r = await svc.send(am(am_alert("resolved", instance="a")))
    assert not r.incidents_resolved
    assert (await svc.incidents())[0].status is Status.TRIGGERED
    r = await svc.send(am(am_alert("resolved", instance="b")))
    assert r.incidents_resolved == [inc.id]
    timeline = await container.incidents.timeline(inc.id)
    assert any(t.kind == "resolved" and "all alerts resolved" in t.message for t in timeline)
    # a re-sent resolved notification changes nothing
    r = await svc.send(am(am_alert("resolved", instance="b")))
    assert r.ignored == 1 and not r.incidents_resolved


async def test_auto_resolve_off(container) -> None:
    svc = await make_service(container, auto_resolve=False)
    await svc.send(am(am_alert()))
    await svc.send(am(am_alert("resolved")))
    assert (await svc.incidents())[0].status is Status.TRIGGERED


async def test_grouping_by_labels_within_window(container, clock: FakeClock) -> None:
    svc = await make_service(container, grouping={"by": ["alertname"], "window": "30m"})
    await svc.send(am(am_alert(instance="a")))
    clock.advance(minutes=10)
    r = await svc.send(am(am_alert(instance="b"), am_alert(instance="c", alertname="DBDown")))
    assert r.attached == 1 and len(r.opened) == 1
    assert await count(svc, IncidentRow) == 2
    clock.advance(minutes=31)
    r = await svc.send(am(am_alert(instance="d")))
    assert len(r.opened) == 1  # the APIDown group is past its window


async def test_new_alerts_in_one_batch_share_group(container) -> None:
    svc = await make_service(container, grouping={"by": ["alertname"]})
    r = await svc.send(am(*(am_alert(instance=str(i)) for i in range(5))))
    assert len(r.opened) == 1 and r.attached == 4
    assert await count(svc, AlertRow, AlertRow.incident_id == r.opened[0]) == 5


async def test_threshold_opens_after_n_within_window(container, clock: FakeClock) -> None:
    svc = await make_service(container, grouping={"threshold": 3, "threshold_window": "10m"})
    for _ in range(2):
        r = await svc.send(am(am_alert()))
        assert r.held == 1
        clock.advance(minutes=4)
    assert await count(svc, IncidentRow) == 0
    r = await svc.send(am(am_alert()))
    assert len(r.opened) == 1
    clock.advance(minutes=1)
    assert (await svc.send(am(am_alert()))).deduplicated == 1


async def test_threshold_window_expiry_restarts_count(container, clock: FakeClock) -> None:
    svc = await make_service(container, grouping={"threshold": 2, "threshold_window": "5m"})
    await svc.send(am(am_alert()))
    clock.advance(minutes=6)
    assert (await svc.send(am(am_alert()))).held == 1
    clock.advance(minutes=1)
    assert len((await svc.send(am(am_alert()))).opened) == 1


async def test_silence_records_but_pages_nobody(container, clock: FakeClock) -> None:
    now = clock.now()
    svc = await make_service(container, silences=[{
        "id": "db-maint", "matchers": ["instance=~db.*"], "starts_at": (now - timedelta(minutes=1)).isoformat(),
        "ends_at": (now + timedelta(hours=1)).isoformat(), "comment": "upgrade"}])
    r = await svc.send(am(am_alert(instance="db1"), am_alert(instance="web1")))
    assert r.silenced == 1 and len(r.opened) == 1
    async with container.db.read() as s:
        silenced = (await s.execute(select(AlertRow).where(AlertRow.silenced_by == "db-maint"))).scalar_one()
    assert silenced.incident_id is None and silenced.labels["instance"] == "db1"
    # after the window a still-firing alert opens (like Alertmanager's notification after a silence expires)
    clock.advance(hours=2)
    svc.ingest.invalidate()
    r = await svc.send(am(am_alert(instance="db1")))
    assert len(r.opened) == 1


async def test_silenced_alert_attaching_adds_timeline_note(container, clock: FakeClock) -> None:
    now = clock.now()
    svc = await make_service(container, grouping={"by": ["alertname"]}, silences=[{
        "id": "maint", "matchers": {"instance": "b"}, "starts_at": now.isoformat(),
        "ends_at": (now + timedelta(hours=1)).isoformat()}])
    r = await svc.send(am(am_alert(instance="a")))
    r = await svc.send(am(am_alert(instance="b")))
    assert r.attached == 1
    (inc,) = await svc.incidents()
    notes = [t.message for t in await container.incidents.timeline(inc.id) if t.kind == "note"]
    assert any("during silence 'maint'" in n for n in notes)


async def test_manual_resolve_then_resend_stays_quiet_new_firing_reopens(svc: Svc, clock: FakeClock) -> None:
    r = await svc.send(am(am_alert()))
    await svc.container.incidents.resolve(r.opened[0], "alice", "fixed")
    assert (await svc.send(am(am_alert()))).deduplicated == 1
    clock.advance(hours=1)
    r = await svc.send(am(am_alert(starts="2026-11-30T15:00:00Z")))
    assert len(r.opened) == 1
    assert await count(svc, IncidentRow) == 2


async def test_events_v2_trigger_ack_resolve(svc: Svc) -> None:
    def ev(action: str, **extra):
        body = {"routing_key": svc.keys["events_v2"], "event_action": action, "dedup_key": "disk-1", **extra}
        return [events_v2.parse(body).alert]

    payload = {"summary": "Disk full", "source": "db1", "severity": "error"}
    r = await svc.send(ev("trigger", payload=payload), "events_v2")
    (inc,) = await svc.incidents()
    assert inc.severity is Severity.P2
    r = await svc.send(ev("acknowledge"), "events_v2")
    assert r.acknowledged == 1
    assert (await svc.incidents())[0].status is Status.ACKNOWLEDGED
    r = await svc.send(ev("acknowledge"), "events_v2")
    assert r.acknowledged == 0
    r = await svc.send(ev("resolve"), "events_v2")
    assert r.incidents_resolved == [inc.id]
    # after resolution a trigger with the same dedup_key opens a new incident, as in PagerDuty
    r = await svc.send(ev("trigger", payload=payload), "events_v2")
    assert len(r.opened) == 1


async def test_events_v2_resolve_ignores_auto_resolve_off(container) -> None:
    svc = await make_service(container, auto_resolve=False)
    key = svc.keys["events_v2"]
    trig = {"routing_key": key, "event_action": "trigger", "dedup_key": "x",
            "payload": {"summary": "s", "source": "h", "severity": "info"}}
    await svc.send([events_v2.parse(trig).alert], "events_v2")
    res = {"routing_key": key, "event_action": "resolve", "dedup_key": "x"}
    r = await svc.send([events_v2.parse(res).alert], "events_v2")
    assert len(r.incidents_resolved) == 1


async def test_batch_is_atomic_when_a_statement_fails(svc: Svc, monkeypatch: pytest.MonkeyPatch) -> None:
    await svc.send(am(am_alert(instance="a")))
    from prism_ir.store import repos_ingest

    async def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(repos_ingest, "link_incidents", boom)
    with pytest.raises(RuntimeError):
        await svc.send(am(am_alert(instance="a"), am_alert(instance="b"), am_alert(instance="c")))
    monkeypatch.undo()
    assert await count(svc, IncidentRow) == 1
    assert await count(svc, AlertRow) == 1
    async with svc.container.db.read() as s:
        assert (await s.execute(select(AlertRow.occurrences))).scalar_one() == 1


async def test_concurrent_first_firings_open_one_incident(container) -> None:
    svc = await make_service(container)
    ref = await svc.ingest.authenticate(svc.keys["alertmanager"])
    assert ref is not None
    batches = [am(am_alert(instance="same"), am_alert(instance=f"other{i}")) for i in range(6)]
    results = await asyncio.gather(*(svc.ingest.ingest(ref, b) for b in batches))
    assert sum(len(r.opened) for r in results) == 7
    assert await count(svc, IncidentRow) == 7
    assert await count(svc, AlertRow, AlertRow.resolved_at.is_(None)) == 7


async def test_concurrent_group_openers_share_one_incident(container) -> None:
    svc = await make_service(container, grouping={"by": ["alertname"]})
    ref = await svc.ingest.authenticate(svc.keys["alertmanager"])
    assert ref is not None
    batches = [am(am_alert(instance=f"i{i}")) for i in range(6)]
    await asyncio.gather(*(svc.ingest.ingest(ref, b) for b in batches))
    assert await count(svc, IncidentRow) == 1
    assert await count(svc, AlertRow) == 6


async def test_two_processes_opening_the_same_alert_make_one_incident(container, settings, clock, monkeypatch) -> None:
    """Two API processes see the same first firing at once: the loser's batch fails on the open-alert index and
    is retried as a repeat, so there is one incident, one open alert, and both occurrences are counted."""
    if container.db.dialect != "postgresql":
        pytest.skip("one SQLite writer at a time: two processes cannot both miss the alert")
    from prism_ir.bootstrap import build_container
    from prism_ir.services.ingest_install import ingest_service
    from prism_ir.store import repos_ingest

    svc = await make_service(container)
    other = build_container(settings, clock=clock)
    try:
        both_looked = asyncio.Barrier(2)
        looked = 0
        real_lock = repos_ingest.lock_open_alerts

        async def lock_then_wait(session, service_id, fingerprints):  # type: ignore[no-untyped-def]
            nonlocal looked
            found = await real_lock(session, service_id, fingerprints)
            looked += 1
            if looked <= 2:  # both first attempts find nothing before either commits
                await both_looked.wait()
            return found

        monkeypatch.setattr(repos_ingest, "lock_open_alerts", lock_then_wait)
        services = [svc.ingest, ingest_service(other)]
        refs = [await s.authenticate(svc.keys["alertmanager"]) for s in services]
        results = await asyncio.gather(*(s.ingest(r, am(am_alert(instance="same"))) for s, r in zip(services, refs,
                                                                                                   strict=True)))
    finally:
        await other.close()
    assert sorted(len(r.opened) for r in results) == [0, 1]
    assert sorted(r.deduplicated for r in results) == [0, 1]
    assert looked == 3  # the loser looked again after its batch failed
    assert await count(svc, IncidentRow) == 1
    async with container.db.read() as s:
        assert (await s.execute(select(AlertRow.occurrences))).scalars().all() == [2]


async def test_merged_repeats_apply_each_request_whole_or_not_at_all(container, clock: FakeClock) -> None:
    """Repeats merged into one statement: a request with an alert that is not open changes nothing of its own
    and goes the general way; the requests beside it are still counted."""
    if container.db.dialect != "postgresql":
        pytest.skip("the one-statement repeat path is PostgreSQL's")
    svc = await make_service(container)
    await svc.send(am(am_alert(instance="a"), am_alert(instance="b")))
    async with container.db.read() as s:
        fp = dict((await s.execute(select(AlertRow.labels["instance"].as_string(), AlertRow.fingerprint))).all())
    fast = svc.ingest.fast
    assert fast is not None
    ok, mixed = await asyncio.gather(fast.bump_all("api", [fp["a"]], clock.now()),
                                     fast.bump_all("api", [fp["b"], "not-open"], clock.now()))
    assert (ok, mixed) == (True, False)
    assert await fast.fast.bump_requests("api", [[fp["b"]], ["never-seen"], [fp["a"], fp["b"] + "x"]],
                                         clock.now()) == {0}
    async with container.db.read() as s:
        counts = dict((await s.execute(select(AlertRow.fingerprint, AlertRow.occurrences))).all())
    assert counts == {fp["a"]: 2, fp["b"]: 2}
