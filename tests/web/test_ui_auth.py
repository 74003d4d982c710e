"""UI login, logout, session cookie, CSRF and roles, through the ASGI app on both databases."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import httpx

from prism_ir.bootstrap import Container
from prism_ir.domain.severity import Severity
from prism_ir.services.auth import Role
from prism_ir.web.deps import SESSION_COOKIE

KeyFactory = Callable[[str], Awaitable[str]]


def hidden(html: str, name: str = "csrf_token") -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no hidden {name} field"
    return match.group(1)


async def login_with_key(client: httpx.AsyncClient, key: str, next_url: str = "/") -> httpx.Response:
    page = await client.get("/login", params={"next": next_url})
    return await client.post("/login", data={"api_key": key, "csrf_token": hidden(page.text), "next": next_url})


async def page_csrf(client: httpx.AsyncClient) -> str:
    return hidden((await client.get("/")).text)


async def test_logged_out_pages_redirect_to_login_with_next(anon_client: httpx.AsyncClient) -> None:
    r = await anon_client.get("/incidents/7", params={"done": "note"})
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=%2Fincidents%2F7%3Fdone%3Dnote"
    assert (await anon_client.get("/")).headers["location"] == "/login"
    r = await anon_client.get("/incidents/table", headers={
        "HX-Request": "true", "HX-Current-URL": "http://prism.test/?severity=P1"})
    assert r.status_code == 401 and r.headers["HX-Redirect"] == "/login?next=%2F%3Fseverity%3DP1"
    r = await anon_client.post("/incidents/new", data={"title": "x", "severity": "P1"})
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert (await anon_client.get("/api/v1/incidents")).status_code == 401
    login = await anon_client.get("/login")
    assert login.status_code == 200 and 'for="api_key"' in login.text and 'for="password"' in login.text


async def test_login_with_api_key_sets_the_session_cookie(anon_client: httpx.AsyncClient, api_key: KeyFactory) -> None:
    key = await api_key("responder")
    r = await login_with_key(anon_client, key, "/incidents/new")
    assert r.status_code == 303 and r.headers["location"] == "/incidents/new"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=") and "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    page = await anon_client.get("/incidents/new")
    assert page.status_code == 200 and "key:test-responder" in page.text
    assert (await anon_client.get("/api/v1/incidents")).status_code == 200


async def test_bad_key_and_bad_password_are_refused_without_a_session(
    anon_client: httpx.AsyncClient, container: Container
) -> None:
    r = await login_with_key(anon_client, "pir_not_a_real_key_at_all")
    assert r.status_code == 401 and "not valid or was revoked" in r.text
    assert SESSION_COOKIE not in r.headers.get("set-cookie", "")
    await container.catalog.create_user({"id": "alice", "name": "Alice", "password": "correct horse"}, "test")
    page = await anon_client.get("/login")
    token = hidden(page.text)
    r = await anon_client.post("/login", data={"user_id": "alice", "password": "wrong", "csrf_token": token})
    assert r.status_code == 401 and "Unknown user or wrong password" in r.text
    r = await anon_client.post("/login", data={"user_id": "alice", "csrf_token": hidden(page.text)})
    assert r.status_code == 422 and 'id="password-error"' in r.text
    assert (await anon_client.get("/")).status_code == 303


async def test_login_with_password_acts_as_that_user(anon_client: httpx.AsyncClient, container: Container) -> None:
    await container.catalog.create_user(
        {"id": "alice", "name": "Alice", "role": "responder", "password": "correct horse"}, "test")
    page = await anon_client.get("/login")
    r = await anon_client.post("/login", data={
        "user_id": "alice", "password": "correct horse", "csrf_token": hidden(page.text), "next": "/"})
    assert r.status_code == 303 and r.headers["location"] == "/"
    csrf = await page_csrf(anon_client)
    r = await anon_client.post("/incidents/new", data={"title": "API down", "severity": "P1", "csrf_token": csrf})
    assert r.status_code == 303
    incidents, _ = await container.incidents.list()
    assert (await container.incidents.timeline(incidents[0].id))[0].actor == "alice"


async def test_login_form_needs_its_token_and_next_stays_local(
    anon_client: httpx.AsyncClient, api_key: KeyFactory
) -> None:
    key = await api_key("viewer")
    r = await anon_client.post("/login", data={"api_key": key})
    assert r.status_code == 403 and SESSION_COOKIE not in r.headers.get("set-cookie", "")
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        r = await login_with_key(anon_client, key, target)
        assert r.status_code == 303 and r.headers["location"] == "/"
        anon_client.cookies.delete(SESSION_COOKIE)


async def test_logout_or_revoking_the_key_ends_the_session(
    anon_client: httpx.AsyncClient, container: Container
) -> None:
    issued = await container.auth.create_key("soon-gone", Role.VIEWER)
    await login_with_key(anon_client, issued.key)
    assert (await anon_client.post("/logout")).status_code == 403
    r = await anon_client.post("/logout", data={"csrf_token": await page_csrf(anon_client)})
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert (await anon_client.get("/")).status_code == 303
    await login_with_key(anon_client, issued.key)
    assert (await anon_client.get("/")).status_code == 200
    await container.auth.revoke_key(str(issued.id))
    assert (await anon_client.get("/")).status_code == 303


async def test_state_changes_need_the_csrf_token(
    anon_client: httpx.AsyncClient, api_key: KeyFactory, container: Container
) -> None:
    await login_with_key(anon_client, await api_key("admin"))
    csrf = await page_csrf(anon_client)
    body = {"title": "API down", "severity": "P1"}
    assert (await anon_client.post("/incidents/new", data=body)).status_code == 403
    r = await anon_client.post("/incidents/new", data={**body, "csrf_token": "forged"})
    assert r.status_code == 403 and "security token" in r.text
    assert (await container.incidents.list())[1] == 0
    r = await anon_client.post("/incidents/new", data=body, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 303
    incident_id = int(r.headers["location"].split("/")[-1].split("?")[0])
    assert (await anon_client.post(f"/incidents/{incident_id}/actions/acknowledge")).status_code == 403
    assert (await anon_client.post(f"/incidents/{incident_id}/notes", data={"text": "hi"})).status_code == 403
    assert (await anon_client.post("/services", data={"id": "x", "name": "X"})).status_code == 403
    assert str((await container.incidents.get(incident_id)).status) == "triggered"


async def test_viewer_sees_no_buttons_and_may_not_post(
    anon_client: httpx.AsyncClient, api_key: KeyFactory, container: Container
) -> None:
    incident = await container.incidents.create(title="DNS failure", severity=Severity.P1, actor="test")
    before = len(await container.incidents.timeline(incident.id))
    await login_with_key(anon_client, await api_key("viewer"))
    page = await anon_client.get(f"/incidents/{incident.id}")
    assert page.status_code == 200 and "DNS failure" in page.text and 'id="timeline"' in page.text
    assert "data-action" not in page.text and "Add note" not in page.text and "New incident" not in page.text
    csrf = hidden(page.text)
    for path, data in [
        (f"/incidents/{incident.id}/actions/acknowledge", {}),
        (f"/incidents/{incident.id}/notes", {"text": "hello"}),
        (f"/incidents/{incident.id}/severity", {"severity": "P2"}),
        ("/incidents/new", {"title": "x", "severity": "P1"}),
        ("/users", {"id": "eve", "name": "Eve"}),
    ]:
        r = await anon_client.post(path, data={**data, "csrf_token": csrf})
        assert r.status_code == 403, path
        assert "viewer" in r.text
    assert (await anon_client.get("/incidents/new")).status_code == 403
    assert len(await container.incidents.timeline(incident.id)) == before
