from __future__ import annotations

import httpx
from sqlalchemy import func, select

from prism_ir.store.tables import IncidentRow
from prism_ir.store.tables_ingest import AlertRow
from tests.ingest.conftest import Svc, am_alert, am_payload

AM = "/api/v1/integrations/alertmanager"
HOOK = "/api/v1/integrations/webhook"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def counts(svc: Svc) -> tuple[int, int]:
    async with svc.container.db.read() as s:
        incidents = (await s.execute(select(func.count()).select_from(IncidentRow))).scalar_one()
        alerts = (await s.execute(select(func.count()).select_from(AlertRow))).scalar_one()
    return int(incidents), int(alerts)


async def test_alertmanager_webhook(anon_client: httpx.AsyncClient, svc: Svc) -> None:
    r = await anon_client.post(AM, json=am_payload(am_alert(instance="a")), headers=bearer(svc.keys["alertmanager"]))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "ok" and len(r.json()["opened"]) == 1
    r = await anon_client.post(AM, json=am_payload(am_alert(instance="a")), headers=bearer(svc.keys["alertmanager"]))
    assert r.json()["deduplicated"] == 1
    assert await counts(svc) == (1, 1)


async def test_auth_errors(anon_client: httpx.AsyncClient, svc: Svc) -> None:
    body = am_payload(am_alert())
    assert (await anon_client.post(AM, json=body)).status_code == 401
    r = await anon_client.post(AM, json=body, headers=bearer("nope-nope-nope-nope"))
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    # a key of another type is not accepted here
    assert (await anon_client.post(AM, json=body, headers=bearer(svc.keys["webhook"]))).status_code == 401
    assert await counts(svc) == (0, 0)


async def test_malformed_and_invalid_bodies_name_the_field(anon_client: httpx.AsyncClient, svc: Svc) -> None:
    h = {**bearer(svc.keys["alertmanager"]), "Content-Type": "application/json"}
    r = await anon_client.post(AM, content=b"{not json", headers=h)
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "body"
    bad = am_payload(am_alert(), {"status": "firing", "labels": {"a": 1}})
    r = await anon_client.post(AM, json=bad, headers=h)
    assert r.status_code == 400
    assert r.json()["errors"] == [{"field": "alerts[1].labels.a", "message": "must be a string, not a number"}]
    assert await counts(svc) == (0, 0)  # the valid first alert was not half-applied


async def test_body_over_512_kb_is_refused(anon_client: httpx.AsyncClient, svc: Svc) -> None:
    big = am_payload(*(am_alert(instance=str(i), pad="x" * 4000) for i in range(140)))
    r = await anon_client.post(AM, json=big, headers=bearer(svc.keys["alertmanager"]))
    assert r.status_code == 413

    async def chunks():
        for _ in range(600):
            yield b" " * 1024

    # no Content-Length (chunked): the streamed size is checked too
    r = await anon_client.post(AM, content=chunks(), headers=bearer(svc.keys["alertmanager"]))
    assert r.status_code == 413
    r = await anon_client.post("/v2/enqueue", content=chunks())
    assert r.status_code == 413 and r.json()["status"] == "invalid event"


async def test_rate_limit_answers_429_with_retry_after(anon_client: httpx.AsyncClient, svc: Svc) -> None:
    from prism_ir.web.api.integrations import TokenBuckets

    fake_time = [0.0]
    svc.container.extras["ingest_buckets"] = TokenBuckets(rate=1.0, burst=2, now=lambda: fake_time[0])
    h = bearer(svc.keys["alertmanager"])
    codes = [(await anon_client.post(AM, json=am_payload(am_alert()), headers=h)).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    r = await anon_client.post(AM, json=am_payload(am_alert()), headers=h)
    assert r.headers["retry-after"] == "1"
    fake_time[0] += 1.0
    assert (await anon_client.post(AM, json=am_payload(am_alert()), headers=h)).status_code == 200


async def test_events_v2_enqueue(anon_client: httpx.AsyncClient, svc: Svc) -> None:
    event = {"routing_key": svc.keys["events_v2"], "event_action": "trigger", "dedup_key": "k1",
             "payload": {"summary": "Disk full", "source": "db1", "severity": "critical"}}
    r = await anon_client.post("/v2/enqueue", json=event)
    assert r.status_code == 202
    assert r.json() == {"status": "success", "message": "Event processed", "dedup_key": "k1"}
    no_key = {k: v for k, v in event.items() if k != "dedup_key"}
    r = await anon_client.post("/v2/enqueue", json=no_key)
    assert r.status_code == 202 and len(r.json()["dedup_key"]) == 32
    assert await counts(svc) == (2, 2)


async def test_events_v2_errors_have_pagerduty_shape(anon_client: httpx.AsyncClient, svc: Svc) -> None:
    r = await anon_client.post("/v2/enqueue", json={"routing_key": svc.keys["events_v2"], "event_action": "trigger",
                                                    "payload": {"summary": "s", "severity": "fatal"}})
    assert r.status_code == 400
    body = r.json()
    assert body["status"] == "invalid event" and body["message"] == "Event object is invalid"
    assert "'payload.source' is missing" in body["errors"]
    assert "'payload.severity' must be one of critical, error, warning, info" in body["errors"]
    r = await anon_client.post("/v2/enqueue", json={"routing_key": "unknown-routing-key-0000000000000",
                                                    "event_action": "resolve", "dedup_key": "x"})
    assert r.status_code == 400 and "Invalid routing key" in r.json()["errors"][0]
    r = await anon_client.post("/v2/enqueue", content=b"[", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["status"] == "invalid event"


async def test_generic_webhook(anon_client: httpx.AsyncClient, svc: Svc) -> None:
    h = bearer(svc.keys["webhook"])
    r = await anon_client.post(HOOK, json={"title": "Queue backlog", "severity": "warning", "dedup_key": "q"},
                               headers=h)
    assert r.status_code == 200 and len(r.json()["opened"]) == 1
    r = await anon_client.post(HOOK, json={"title": "Queue backlog", "status": "resolved", "dedup_key": "q"},
                               headers=h)
    assert r.json()["incidents_resolved"] == r.json()["incidents_resolved"] != []
    r = await anon_client.post(HOOK, json={"severity": "warning"}, headers=h)
    assert r.status_code == 400 and r.json()["errors"][0] == {"field": "title", "message": "is missing or blank"}


async def test_plain_routes_answer_the_same_without_the_fast_lane(container, svc: Svc) -> None:
    from fastapi import FastAPI

    from prism_ir.web.api.integrations import router

    app = FastAPI()
    app.state.container = container
    app.include_router(router)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        event = {"routing_key": svc.keys["events_v2"], "event_action": "trigger", "dedup_key": "k",
                 "payload": {"summary": "s", "source": "h", "severity": "info"}}
        r = await c.post("/v2/enqueue", json=event)
        assert r.status_code == 202 and r.json()["dedup_key"] == "k"
        r = await c.post(AM, json=am_payload(am_alert()), headers=bearer(svc.keys["alertmanager"]))
        assert r.status_code == 200 and len(r.json()["opened"]) == 1
        r = await c.post(HOOK, content=b"x" * (600 * 1024), headers=bearer(svc.keys["webhook"]))
        assert r.status_code == 413
