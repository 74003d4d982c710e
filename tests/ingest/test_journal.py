"""The intake journal: answered before applied, applied exactly once, recovered after a process dies."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import orjson
import pytest
from sqlalchemy import func, select

from prism_ir.clock import FakeClock
from prism_ir.integrations.sources import alertmanager
from prism_ir.services.ingest import IngestService
from prism_ir.services.ingest_state import QueuedStops
from prism_ir.store.tables import IncidentRow
from prism_ir.store.tables_ingest import AlertIntakeRow, AlertRow
from tests.ingest.conftest import Svc, am_alert, am_payload

AM = "/api/v1/integrations/alertmanager"


async def rows(svc: Svc, model, *where) -> list:
    async with svc.container.db.read() as s:
        return list((await s.execute(select(model).where(*where))).scalars())


async def journal_size(svc: Svc) -> int:
    async with svc.container.db.read() as s:
        return int((await s.execute(select(func.count()).select_from(AlertIntakeRow))).scalar_one())


def stall(service: IngestService, monkeypatch: pytest.MonkeyPatch) -> None:
    """This process answers from the journal and then dies before applying: nothing is queued in memory."""
    monkeypatch.setattr(service, "queue", "always")
    monkeypatch.setattr(service.group, "enqueue",
                        lambda *a, **k: asyncio.get_running_loop().create_future())


async def test_queued_request_is_answered_then_applied(anon_client: httpx.AsyncClient, svc: Svc) -> None:
    svc.ingest.queue = "always"
    body = am_payload(am_alert(instance="a"), am_alert(instance="b"))
    r = await anon_client.post(AM, json=body, headers={"Authorization": f"Bearer {svc.keys['alertmanager']}"})
    assert r.status_code == 200
    assert r.json()["status"] == "queued" and r.json()["queued"] == 2 and r.json()["opened"] == []
    await svc.ingest.group.drained()
    assert len(await svc.incidents()) == 2
    assert await journal_size(svc) == 0  # applying took the journal row in the same transaction


async def test_accepted_request_survives_a_dead_process(
    anon_client: httpx.AsyncClient, svc: Svc, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    stall(svc.ingest, monkeypatch)
    body = am_payload(am_alert(instance="a"))
    r = await anon_client.post(AM, json=body, headers={"Authorization": f"Bearer {svc.keys['alertmanager']}"})
    assert r.status_code == 200 and r.json()["status"] == "queued"
    assert await svc.incidents() == [] and await journal_size(svc) == 1
    monkeypatch.undo()
    assert await svc.ingest.recover() == 0  # its lease still runs: the owner may be alive and busy
    clock.advance(seconds=61)
    assert await svc.ingest.recover() == 1
    (incident,) = await svc.incidents()
    assert incident.title == "APIDown fired"
    assert await journal_size(svc) == 0
    clock.advance(seconds=61)
    assert await svc.ingest.recover() == 0  # applied once, not twice
    assert len(await rows(svc, AlertRow)) == 1


async def test_events_v2_generated_dedup_key_survives_a_reread(
    anon_client: httpx.AsyncClient, svc: Svc, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    stall(svc.ingest, monkeypatch)
    event = {"routing_key": svc.keys["events_v2"], "event_action": "trigger",
             "payload": {"summary": "disk full", "source": "db-1", "severity": "error"}}
    r = await anon_client.post("/v2/enqueue", json=event)
    assert r.status_code == 202
    key = r.json()["dedup_key"]
    monkeypatch.undo()
    clock.advance(seconds=61)
    assert await svc.ingest.recover() == 1
    (alert,) = await rows(svc, AlertRow)
    assert alert.fingerprint == key  # the client can resolve with the key it was given


async def test_owner_and_recovery_never_both_apply(svc: Svc, clock: FakeClock) -> None:
    svc.ingest.queue = "always"
    other = IngestService(svc.container.db, clock, svc.container.hooks, cache_ttl=0)  # a second process
    try:
        raw = orjson.dumps(am_payload(am_alert(instance="a")))
        cfg = await svc.ingest.config(svc.id)
        journal_id = await svc.ingest.journal.append(svc.id, "alertmanager", raw, 1, clock.now())
        clock.advance(seconds=61)  # the owner stalled past its lease
        assert await other.recover() == 1
        from prism_ir.services.ingest import _Request

        late = await svc.ingest.group.submit(svc.id, _Request(cfg, alertmanager.parse(orjson.loads(raw)),
                                                              clock.now(), journal_id))
        assert late.opened == [] and late.deduplicated == 0  # the owner finds its row taken and applies nothing
        assert len(await svc.incidents()) == 1
        (alert,) = await rows(svc, AlertRow)
        assert alert.occurrences == 1
    finally:
        await other.aclose()


async def test_a_request_that_cannot_be_reread_is_kept_and_counted(
    client: httpx.AsyncClient, svc: Svc, clock: FakeClock
) -> None:
    await svc.ingest.journal.append(svc.id, "alertmanager", b"{not json", 1, clock.now())
    clock.advance(seconds=61)
    assert await svc.ingest.recover() == 0
    (row,) = await rows(svc, AlertIntakeRow)
    assert "cannot re-read the request" in row.last_error
    clock.advance(seconds=61)
    assert await svc.ingest.recover() == 0  # given up on: not retried forever, not deleted either
    assert await svc.ingest.journal.counts() == (0, 1)
    metrics = (await client.get("/metrics")).text
    assert "prism_intake_stuck 1.0" in metrics and "prism_intake_journaled 0.0" in metrics


async def test_queued_requests_apply_in_arrival_order(svc: Svc, clock: FakeClock) -> None:
    """firing → resolved → firing again, all queued: the alert resolves and a second episode opens."""
    svc.ingest.queue = "always"
    ref = await svc.ingest.authenticate(svc.keys["alertmanager"])
    assert ref is not None
    for status in ("firing", "resolved", "firing"):
        payload = am_payload(am_alert(status=status, instance="a"))
        result = await svc.ingest.ingest(ref, alertmanager.parse(payload), orjson.dumps(payload), "alertmanager")
        assert result.queued == 1
        clock.advance(seconds=1)
    await svc.ingest.group.drained()
    episodes = await rows(svc, AlertRow)
    assert sorted((a.resolved_at is None) for a in episodes) == [False, True]
    assert len(await svc.incidents()) == 2


async def test_queued_stop_holds_back_repeats_of_its_fingerprint() -> None:
    stops = QueuedStops()
    resolve = alertmanager.parse(am_payload(am_alert(status="resolved", instance="a")))
    firing_a = alertmanager.parse(am_payload(am_alert(instance="a")))
    firing_b = alertmanager.parse(am_payload(am_alert(instance="b")))
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    stops.hold("api", resolve, done)
    assert stops.has_any("api", firing_a) and not stops.has_any("api", firing_b)
    assert not stops.has_any("other", firing_a)
    stops.hold("api", firing_b, done)  # firing events commute with repeats: they hold nothing back
    assert not stops.has_any("api", firing_b)
    done.set_result(None)
    await asyncio.sleep(0)
    assert not stops.has_any("api", firing_a)


async def test_closing_applies_what_was_queued(svc: Svc) -> None:
    svc.ingest.queue = "always"
    ref = await svc.ingest.authenticate(svc.keys["alertmanager"])
    assert ref is not None
    payload = am_payload(am_alert(instance="z"))
    await svc.ingest.ingest(ref, alertmanager.parse(payload), orjson.dumps(payload), "alertmanager")
    await svc.ingest.aclose()
    assert await journal_size(svc) == 0
    async with svc.container.db.read() as s:
        assert (await s.execute(select(func.count()).select_from(IncidentRow))).scalar_one() == 1


async def test_lease_is_measured_from_acceptance(svc: Svc, clock: FakeClock) -> None:
    journal_id = await svc.ingest.journal.append(svc.id, "alertmanager", b"{}", 0, clock.now())
    (row,) = await rows(svc, AlertIntakeRow)
    assert row.id == journal_id and row.lease_until - row.received_at == timedelta(seconds=60)
