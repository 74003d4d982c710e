"""A responder runs an incident with clicks in real headless Chromium; a viewer only looks."""

from __future__ import annotations

import re
from typing import Any

import pytest

from prism_ir.domain.severity import Severity
from tests.browser.conftest import LiveServer, login

pytestmark = pytest.mark.slow
SCREENSHOT = "/tmp/prism-ui.png"


def expect_on_timeline(page: Any, text: str) -> None:
    page.locator("#timeline").get_by_text(text).first.wait_for()


def test_responder_opens_acknowledges_notes_and_resolves(page: Any, live_server: LiveServer) -> None:
    login(page, live_server.key("admin", "browser-admin"))
    page.get_by_role("link", name="New incident").click()
    page.get_by_label("Title", exact=True).fill("API down")
    page.get_by_role("radio", name=re.compile(r"^P1 Critical")).check()
    page.get_by_label("Impact", exact=True).fill("All API requests fail with 502")
    page.get_by_role("button", name="Open incident").click()
    page.wait_for_url(re.compile(r"/incidents/\d+\?done=created$"))
    assert "Incident opened." in page.get_by_role("status").inner_text()
    expect_on_timeline(page, "P1 incident opened: API down")

    page.get_by_role("button", name="Acknowledge").click()
    page.wait_for_url(re.compile(r"done=acknowledge$"))
    expect_on_timeline(page, "Acknowledged by key:browser-admin")
    assert page.locator("button[data-action=acknowledge]").count() == 0

    page.get_by_label("Add a note to the timeline").fill("Restarted prism-server; watching error rate")
    page.get_by_role("button", name="Add note").click()
    page.wait_for_url(re.compile(r"done=note$"))
    expect_on_timeline(page, "Restarted prism-server; watching error rate")

    page.get_by_label("Resolution note").fill("Rolled back to v1.2.2")
    page.get_by_role("button", name="Resolve").click()
    page.wait_for_url(re.compile(r"done=resolve$"))
    expect_on_timeline(page, "Resolved by key:browser-admin: Rolled back to v1.2.2")
    assert page.locator(".incident-head .status").inner_text().lower() == "resolved"
    assert [b.get_attribute("data-action") for b in page.locator("button[data-action]").all()] == [
        "reopen", "review", "close"]

    incident_id = int(page.url.split("/incidents/")[1].split("?")[0])
    live_server.run(live_server.container.incidents.add_note(incident_id, "Customer comms sent", "carol"))
    page.evaluate(f"htmx.ajax('GET', '/incidents/{incident_id}/timeline', {{target: '#timeline', swap: 'outerHTML'}})")
    expect_on_timeline(page, "Customer comms sent")
    page.screenshot(path=SCREENSHOT, full_page=True)


def test_viewer_sees_the_incident_but_no_buttons(page: Any, live_server: LiveServer) -> None:
    incident = live_server.run(
        live_server.container.incidents.create(title="DNS failure", severity=Severity.P2, actor="monitor"))
    login(page, live_server.key("viewer", "browser-viewer"))
    assert page.get_by_role("link", name="New incident").count() == 0
    page.get_by_role("link", name=re.compile("DNS failure")).click()
    page.locator("#timeline").get_by_text("P2 incident opened: DNS failure").wait_for()
    assert page.locator("button[data-action]").count() == 0
    assert page.get_by_role("button", name="Add note").count() == 0
    assert page.locator("main form").count() == 0
    assert page.url.endswith(f"/incidents/{incident.id}")
