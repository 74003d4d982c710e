"""Keys and roles: 401 without a key, 403 for a role that may not, keys stored hashed and revocable."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
from sqlalchemy import select

from prism_ir.bootstrap import Container
from prism_ir.services.auth import Role
from prism_ir.store.tables import ApiKeyRow


async def test_requests_without_a_key_get_401(anon_client: httpx.AsyncClient) -> None:
    for method, path in [
        ("GET", "/api/v1/incidents"),
        ("POST", "/api/v1/incidents"),
        ("GET", "/api/v1/services"),
        ("GET", "/api/v1/users"),
        ("GET", "/api/v1/incidents/1/timeline"),
    ]:
        r = await anon_client.request(method, path, json={})
        assert r.status_code == 401, (method, path, r.status_code)
    r = await anon_client.get("/api/v1/incidents", headers={"X-API-Key": "pir_deadbeef_nope"})
    assert r.status_code == 401 and "invalid" in r.json()["detail"]


async def test_health_needs_no_key(anon_client: httpx.AsyncClient) -> None:
    r = await anon_client.get("/api/health")
    assert r.status_code == 200 and r.json()["database"]["status"] == "ok"


async def test_roles(anon_client: httpx.AsyncClient, api_key: Callable[[str], Awaitable[str]]) -> None:
    viewer = {"X-API-Key": await api_key("viewer")}
    responder = {"X-API-Key": await api_key("responder")}
    assert (await anon_client.get("/api/v1/incidents", headers=viewer)).status_code == 200
    r = await anon_client.post("/api/v1/incidents", json={"title": "x", "severity": "P1"}, headers=viewer)
    assert r.status_code == 403 and "needs responder" in r.json()["detail"]
    r = await anon_client.post("/api/v1/incidents", json={"title": "x", "severity": "P1"}, headers=responder)
    assert r.status_code == 201
    r = await anon_client.post("/api/v1/services", json={"id": "a", "name": "A"}, headers=responder)
    assert r.status_code == 403


async def test_keys_are_hashed_rotated_and_revoked(container: Container, anon_client: httpx.AsyncClient) -> None:
    issued = await container.auth.create_key("grafana", Role.VIEWER)
    async with container.db.read() as s:
        stored = list((await s.execute(select(ApiKeyRow.key_hash, ApiKeyRow.prefix))).all())
    assert all(issued.key not in (h, p) for h, p in stored)
    ok = await anon_client.get("/api/v1/incidents", headers={"X-API-Key": issued.key})
    assert ok.status_code == 200
    rotated = await container.auth.rotate_key("grafana")
    assert (await anon_client.get("/api/v1/incidents", headers={"X-API-Key": issued.key})).status_code == 401
    assert (await anon_client.get("/api/v1/incidents", headers={"X-API-Key": rotated.key})).status_code == 200
    await container.auth.revoke_key(str(rotated.id))
    assert (await anon_client.get("/api/v1/incidents", headers={"X-API-Key": rotated.key})).status_code == 401


async def test_health_is_503_when_the_database_is_unreachable(
    container: Container, anon_client: httpx.AsyncClient
) -> None:
    from prism_ir.store.db import Database

    container.db = Database("postgresql://nobody@127.0.0.1:1/none")
    try:
        r = await anon_client.get("/api/health")
    finally:
        await container.db.dispose()
    assert r.status_code == 503 and r.json()["database"]["status"] == "down"


async def test_service_and_user_crud(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/services", json={"id": "prism-api", "name": "Prism API"})
    assert r.status_code == 201
    assert (await client.post("/api/v1/services", json={"id": "prism-api", "name": "x"})).status_code == 409
    r = await client.patch("/api/v1/services/prism-api", json={"description": "public API"})
    assert r.json()["description"] == "public API"
    r = await client.post("/api/v1/services/prism-api/integrations", json={"type": "alertmanager"})
    assert r.status_code == 201 and r.json()["key"].startswith("pik_")
    r = await client.post("/api/v1/services/prism-api/integrations", json={"type": "nagios"})
    assert r.status_code == 422 and r.json()["field"] == "type"
    r = await client.post("/api/v1/users", json={"id": "alice", "name": "Alice", "time_zone": "Mars/Base"})
    assert r.status_code == 422 and r.json()["field"] == "time_zone"
    r = await client.post("/api/v1/users", json={"id": "alice", "name": "Alice", "time_zone": "Europe/Berlin"})
    assert r.status_code == 201 and r.json()["time_zone"] == "Europe/Berlin"
    inc = (
        await client.post("/api/v1/incidents", json={"title": "x", "severity": "P2", "service_id": "prism-api"})
    ).json()
    r = await client.delete("/api/v1/services/prism-api")
    assert r.status_code == 409 and "open incident" in r.json()["detail"]
    await client.post(f"/api/v1/incidents/{inc['id']}/resolve")
    assert (await client.delete("/api/v1/services/prism-api")).status_code == 204
    assert (await client.get("/api/v1/services/prism-api")).status_code == 404
    audit_actions = [u["id"] for u in (await client.get("/api/v1/users")).json()["items"]]
    assert audit_actions == ["alice"]
