"""Incident pages and catalog pages: forms, validation, lifecycle buttons, SLA verdicts, list order and filters."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import httpx
import pytest

from prism_ir.bootstrap import Container
from prism_ir.clock import FakeClock
from prism_ir.domain.incident import Action
from prism_ir.domain.severity import Severity

KeyFactory = Callable[[str], Awaitable[str]]


def hidden(html: str, name: str = "csrf_token") -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no hidden {name} field"
    return match.group(1)


class Browser:
    """A logged-in UI session that posts forms with the page's CSRF token."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.csrf = ""

    async def login(self, key: str) -> Browser:
        page = await self.client.get("/login")
        r = await self.client.post("/login", data={"api_key": key, "csrf_token": hidden(page.text)})
        assert r.status_code == 303, r.text
        self.csrf = hidden((await self.client.get("/")).text)
        return self

    async def get(self, path: str, **params: str) -> httpx.Response:
        return await self.client.get(path, params=params)

    async def post(self, path: str, **data: str) -> httpx.Response:
        return await self.client.post(path, data={**data, "csrf_token": self.csrf})


@pytest.fixture
async def ui(anon_client: httpx.AsyncClient, api_key: KeyFactory) -> Browser:
    return await Browser(anon_client).login(await api_key("admin"))


def field_errors(html: str) -> dict[str, str]:
    return dict(re.findall(r'<p class="field-error" id="([\w-]+)-error">([^<]*)</p>', html))


def buttons(html: str) -> list[str]:
    return re.findall(r'data-action="(\w+)"', html)


def incident_id(r: httpx.Response) -> int:
    assert r.status_code == 303, r.text
    return int(re.match(r"/incidents/(\d+)", r.headers["location"]).group(1))  # type: ignore[union-attr]


async def test_new_incident_form_explains_severities(ui: Browser) -> None:
    page = await ui.get("/incidents/new")
    assert page.status_code == 200
    for info in ("Complete service outage or data loss", "15 minutes", "Significant degradation affecting many users",
                 "2 hours", "Next business day", "pages on-call", "ticket, no page"):
        assert info in page.text
    for name in ("title", "service_id", "lead", "impact"):
        assert f'<label for="{name}"' in page.text


async def test_form_errors_are_shown_next_to_the_fields(ui: Browser, container: Container) -> None:
    r = await ui.post("/incidents/new", title="  ", severity="P9", impact="keeps my text")
    assert r.status_code == 422
    errors = field_errors(r.text)
    assert set(errors) == {"title", "severity"} and "title" in errors["title"].lower()
    assert 'aria-describedby="title-error"' in r.text and "keeps my text" in r.text
    r = await ui.post("/incidents/new", title="API down", severity="P1", lead="ghost", service_id="nope")
    assert r.status_code == 422 and "nope" in field_errors(r.text)["service_id"]
    r = await ui.post("/incidents/new", title="API down", severity="P1", lead="ghost")
    assert r.status_code == 422 and "ghost" in field_errors(r.text)["lead"]
    assert (await container.incidents.list())[1] == 0


async def test_clicking_through_the_lifecycle_lands_on_the_timeline(
    ui: Browser, container: Container, clock: FakeClock
) -> None:
    await container.catalog.create_service({"id": "prism-api", "name": "Prism API"}, "test")
    await container.catalog.create_user({"id": "alice", "name": "Alice Ops"}, "test")
    created = await ui.post("/incidents/new", title="API down", severity="P1", service_id="prism-api",
                            lead="alice", impact="All API calls fail")
    iid = incident_id(created)
    page = await ui.get(f"/incidents/{iid}", done="created")
    assert "Incident opened." in page.text and "Prism API" in page.text and "All API calls fail" in page.text
    assert buttons(page.text) == ["acknowledge", "investigate", "identify", "monitor", "escalate", "resolve"]

    clock.advance(minutes=4)
    r = await ui.post(f"/incidents/{iid}/actions/acknowledge")
    assert r.status_code == 303 and r.headers["location"] == f"/incidents/{iid}?done=acknowledge"
    assert "acknowledge" not in buttons((await ui.get(f"/incidents/{iid}")).text)
    await ui.post(f"/incidents/{iid}/actions/investigate")
    await ui.post(f"/incidents/{iid}/notes", text="Checked docker-compose ps: prism-server restarting")
    await ui.post(f"/incidents/{iid}/severity", severity="P2")
    await ui.post(f"/incidents/{iid}/lead", lead="")
    clock.advance(minutes=30)
    r = await ui.post(f"/incidents/{iid}/actions/resolve", note="rolled back to v1.2.2")
    assert r.status_code == 303

    incident = await container.incidents.get(iid)
    assert (incident.status, incident.severity, incident.lead) == ("resolved", Severity.P2, None)
    assert incident.resolution == "rolled back to v1.2.2"
    kinds = [e.kind for e in await container.incidents.timeline(iid) if e.actor.startswith("key:")]
    assert kinds == ["triggered", "acknowledged", "status", "note", "severity_changed", "lead_changed", "resolved"]
    audit = [a.action for a in await container.incidents.audit(iid)]
    assert audit[0] == "create" and "acknowledge" in audit and "resolve" in audit

    fragment = await ui.get(f"/incidents/{iid}/timeline")
    assert 'hx-trigger="every 15s"' in fragment.text
    for text in ("Acknowledged by key:test-admin", "prism-server restarting", "Severity P1 → P2",
                 "Resolved by key:test-admin", ": rolled back to v1.2.2"):
        assert text in fragment.text
    page = await ui.get(f"/incidents/{iid}")
    assert buttons(page.text) == ["reopen", "review", "close"]
    assert "<details" in page.text and "Audit trail" in page.text and "rolled back to v1.2.2" in page.text


async def test_a_refused_action_says_why_and_changes_nothing(ui: Browser, container: Container) -> None:
    iid = incident_id(await ui.post("/incidents/new", title="DNS failure", severity="P1"))
    await ui.post(f"/incidents/{iid}/actions/resolve")
    before = len(await container.incidents.timeline(iid))
    r = await ui.post(f"/incidents/{iid}/actions/acknowledge")
    assert r.status_code == 409 and 'role="alert"' in r.text and "cannot acknowledge incident" in r.text
    assert len(await container.incidents.timeline(iid)) == before
    assert (await ui.post(f"/incidents/{iid}/actions/dance")).status_code == 404
    r = await ui.post(f"/incidents/{iid}/notes", text="   ")
    assert r.status_code == 422 and "text" in field_errors(r.text)
    await ui.post(f"/incidents/{iid}/actions/close")
    page = await ui.get(f"/incidents/{iid}")
    assert buttons(page.text) == [] and "closed incident is final" in page.text
    r = await ui.post(f"/incidents/{iid}/severity", severity="P3")
    assert r.status_code == 409 and "closed" in r.text
    assert (await ui.get("/incidents/999")).status_code == 404


@pytest.mark.parametrize(("severity", "ack_after", "wait", "expect"), [
    (Severity.P1, None, 20, ["breached", "within SLA"]),
    (Severity.P2, 5, 10, ["within SLA", "within SLA"]),
    (Severity.P4, 600, 700, ["no SLA target", "no SLA target"]),
])
async def test_header_judges_tta_and_ttr_against_sla(
    ui: Browser, container: Container, clock: FakeClock, severity: Severity, ack_after: int | None, wait: int,
    expect: list[str],
) -> None:
    incident = await container.incidents.create(title="x", severity=severity, actor="test")
    if ack_after is not None:
        clock.advance(minutes=ack_after)
        await container.incidents.act(incident.id, Action.ACKNOWLEDGE, "test")  # type: ignore[arg-type]
    clock.advance(minutes=wait)
    page = (await ui.get(f"/incidents/{incident.id}")).text
    verdicts = re.findall(r'<span class="sla sla-\w+">(?:[✓✗] )?([^<]+)</span>', page)
    assert verdicts == expect


async def test_list_puts_open_first_and_filters(ui: Browser, container: Container, clock: FakeClock) -> None:
    await container.catalog.create_service({"id": "prism-db", "name": "Prism DB"}, "test")
    p1 = await container.incidents.create(title="API down", severity=Severity.P1, actor="t")
    clock.advance(minutes=5)
    p3 = await container.incidents.create(title="Slow queries", severity=Severity.P3, actor="t", service_id="prism-db")
    clock.advance(minutes=5)
    p2 = await container.incidents.create(title="Auth failures", severity=Severity.P2, actor="t")
    await container.incidents.resolve(p2.id, "t")  # type: ignore[arg-type]

    def order(html: str) -> list[int]:
        return [int(i) for i in re.findall(r'<a href="/incidents/(\d+)">', html)]

    page = await ui.get("/")
    assert order(page.text) == [p1.id, p3.id, p2.id]
    assert 'hx-get="/incidents/table"' in page.text and 'hx-trigger="every 15s"' in page.text
    assert 'class="sev sev-p1"' in page.text and "P1<span class=\"sev-name\"> Critical" in page.text
    assert order((await ui.get("/", open="1")).text) == [p1.id, p3.id]
    assert order((await ui.get("/", severity="P3")).text) == [p3.id]
    assert order((await ui.get("/", status="resolved")).text) == [p2.id]
    assert order((await ui.get("/", service="prism-db")).text) == [p3.id]
    assert order((await ui.get("/", q="auth")).text) == [p2.id]
    table = await ui.get("/incidents/table", severity="P1", open="1")
    assert order(table.text) == [p1.id] and 'hx-get="/incidents/table?severity=P1&amp;open=1"' in table.text
    bogus = await ui.get("/", status="sleeping")
    assert bogus.status_code == 200 and "Unknown status" in bogus.text and len(order(bogus.text)) == 3


async def test_catalog_lists_and_admin_forms(
    ui: Browser, anon_client: httpx.AsyncClient, container: Container, api_key: KeyFactory
) -> None:
    r = await ui.post("/services", id="Bad Id", name="")
    assert r.status_code == 422 and set(field_errors(r.text)) == {"id", "name"}
    r = await ui.post("/services", id="prism-api", name="Prism API", description="Public API")
    assert r.status_code == 303
    page = await ui.get("/services")
    assert "Prism API" in page.text and "Public API" in page.text and "Add a service" in page.text
    assert (await ui.post("/services", id="prism-api", name="Again")).status_code == 409
    r = await ui.post("/users", id="bob", name="Bob", email="nope", role="responder", password="short")
    assert r.status_code == 422 and set(field_errors(r.text)) == {"email", "password"}
    r = await ui.post("/users", id="bob", name="Bob", email="bob@example.com", role="responder",
                      password="long enough", time_zone="Europe/Berlin")
    assert r.status_code == 303
    assert (await container.catalog.check_login("bob", "long enough")) is not None
    users = await ui.get("/users")
    assert "bob@example.com" in users.text and "can log in" in users.text

    anon_client.cookies.clear()
    responder = await Browser(anon_client).login(await api_key("responder"))
    page = await responder.get("/services")
    assert "Prism API" in page.text and "Add a service" not in page.text
    assert (await responder.post("/services", id="other", name="Other")).status_code == 403
