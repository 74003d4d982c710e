"""The incident API end to end through the ASGI app, on both databases."""

from __future__ import annotations

import httpx
import pytest

from prism_ir.clock import FakeClock
from tests.support import lifecycle


async def test_create_ack_resolve_records_timeline_and_audit(client: httpx.AsyncClient, clock: FakeClock) -> None:
    r = await client.post(
        "/api/v1/incidents", json={"title": "API down", "severity": "P1", "impact": "API unavailable"}
    )
    assert r.status_code == 201, r.text
    inc = r.json()
    assert inc["status"] == "triggered" and inc["page"] is True and inc["severity"] == "P1"

    clock.advance(minutes=3)
    r = await client.post(f"/api/v1/incidents/{inc['id']}/acknowledge")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "acknowledged"
    assert r.json()["time_to_acknowledge_s"] == 180

    clock.advance(minutes=27)
    r = await client.post(f"/api/v1/incidents/{inc['id']}/resolve", json={"note": "rolled back to v1.2.2"})
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "resolved" and body["time_to_resolve_s"] == 1800
    assert body["resolution"] == "rolled back to v1.2.2"

    tl = lifecycle((await client.get(f"/api/v1/incidents/{inc['id']}/timeline")).json()["items"])
    assert [e["kind"] for e in tl] == ["triggered", "acknowledged", "resolved"]
    assert all(e["actor"].startswith("key:test-admin") for e in tl)
    audit = (await client.get(f"/api/v1/incidents/{inc['id']}/audit")).json()["items"]
    assert [a["action"] for a in audit] == ["create", "acknowledge", "resolve"]
    assert audit[1]["before"]["status"] == "triggered" and audit[1]["after"]["status"] == "acknowledged"


async def test_p3_is_a_ticket_not_a_page(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/incidents", json={"title": "Slow queries", "severity": "P3"})
    assert r.json()["page"] is False
    tl = (await client.get(f"/api/v1/incidents/{r.json()['id']}/timeline")).json()["items"]
    assert "ticket created" in tl[0]["message"]


async def test_refused_transition_says_why_and_changes_nothing(client: httpx.AsyncClient) -> None:
    inc = (await client.post("/api/v1/incidents", json={"title": "DNS failure", "severity": "P1"})).json()
    await client.post(f"/api/v1/incidents/{inc['id']}/resolve")
    r = await client.post(f"/api/v1/incidents/{inc['id']}/resolve")
    assert r.status_code == 409
    assert "already resolved" in r.json()["detail"]
    r = await client.post(f"/api/v1/incidents/{inc['id']}/acknowledge")
    assert r.status_code == 409
    tl = lifecycle((await client.get(f"/api/v1/incidents/{inc['id']}/timeline")).json()["items"])
    assert [e["kind"] for e in tl] == ["triggered", "resolved"]


async def test_patch_changes_fields_and_severity_escalation_pages(client: httpx.AsyncClient) -> None:
    await client.post("/api/v1/users", json={"id": "alice", "name": "Alice Ops"})
    inc = (await client.post("/api/v1/incidents", json={"title": "Slow", "severity": "P3"})).json()
    r = await client.patch(
        f"/api/v1/incidents/{inc['id']}",
        json={
            "severity": "P2",
            "lead": "alice",
            "impact": "30% of users",
            "customer_minutes_affected": 120,
            "status": "investigating",
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["severity"], body["lead"], body["page"], body["status"]) == ("P2", "alice", True, "investigating")
    assert body["customer_minutes_affected"] == 120
    timeline = (await client.get(f"/api/v1/incidents/{inc['id']}/timeline")).json()["items"]
    kinds = [e["kind"] for e in lifecycle(timeline)]
    assert kinds == [
        "triggered",
        "severity_changed",
        "lead_changed",
        "impact_changed",
        "customer_minutes_affected_changed",
        "status",
    ]
    r = await client.patch(f"/api/v1/incidents/{inc['id']}", json={"lead": "nobody-here"})
    assert r.status_code == 422 and r.json()["field"] == "lead"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"severity": "P1"}, "title"),
        ({"title": "x", "severity": "P9"}, "severity"),
        ({"title": "x", "severity": "P1", "bogus": 1}, "bogus"),
        ({"title": "", "severity": "P1"}, "title"),
    ],
)
async def test_malformed_bodies_get_422_naming_the_field(client: httpx.AsyncClient, body: dict, field: str) -> None:
    r = await client.post("/api/v1/incidents", json=body)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == field
    assert (await client.get("/api/v1/incidents")).json()["total"] == 0


async def test_unknown_service_is_rejected_without_a_row(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/incidents", json={"title": "x", "severity": "P1", "service_id": "nope"})
    assert r.status_code == 422 and r.json()["field"] == "service_id"
    assert (await client.get("/api/v1/incidents")).json()["total"] == 0


async def test_list_filters(client: httpx.AsyncClient, clock: FakeClock) -> None:
    await client.post("/api/v1/services", json={"id": "prism-api", "name": "Prism API"})
    a = (
        await client.post("/api/v1/incidents", json={"title": "A", "severity": "P1", "service_id": "prism-api"})
    ).json()
    clock.advance(hours=1)
    b = (await client.post("/api/v1/incidents", json={"title": "B", "severity": "P3"})).json()
    await client.post(f"/api/v1/incidents/{b['id']}/resolve")

    async def ids(**params: object) -> list[int]:
        r = await client.get("/api/v1/incidents", params=params)
        assert r.status_code == 200, r.text
        return [i["id"] for i in r.json()["items"]]

    assert await ids() == [b["id"], a["id"]]
    assert await ids(status="resolved") == [b["id"]]
    assert await ids(open="true") == [a["id"]]
    assert await ids(severity="P1") == [a["id"]]
    assert await ids(service="prism-api") == [a["id"]]
    assert await ids(since=b["created_at"]) == [b["id"]]
    assert await ids(until=b["created_at"]) == [a["id"]]
    r = await client.get("/api/v1/incidents", params={"since": "2026-01-01T00:00:00"})
    assert r.status_code == 422 and r.json()["field"] == "since"
    r = await client.get("/api/v1/incidents", params={"status": "sleeping"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"].startswith("query.status")


async def test_unknown_incident_is_404(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/incidents/999/acknowledge")
    assert r.status_code == 404 and "999" in r.json()["detail"]
