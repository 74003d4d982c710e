"""Retries, fallback, visible failures, the signed ack link, on-call answers and the pre-flight check."""

from __future__ import annotations

import re

import pytest
from harness import Harness

from prism_ir.services.config_apply import ConfigError, apply_document, parse_document


def kinds(events: list[dict]) -> list[str]:
    return [e["kind"] for e in events]


async def test_refused_email_falls_back_to_the_next_method(h: Harness) -> None:
    h.mail.refuse.add("alice@example.com")
    iid = await h.incident("P1")
    assert [x.path for x in h.http.hits] == ["/alice"]
    events = await h.timeline(iid)
    assert {"notification_failed", "notification_fallback", "notification_sent"} <= set(kinds(events))
    sent = next(e for e in events if e["kind"] == "notification_sent")
    assert sent["data"]["channel"] == "webhook" and "Alice" in sent["message"]


async def test_transient_failures_back_off_then_fail_visibly(h: Harness) -> None:
    h.http.responses["/bob"] = [503, 503, 503]
    iid = await h.incident("P1")
    await h.fast_forward(minutes=15)                      # bob's webhook: attempt 1 fails
    assert len(h.http.at("/bob")) == 1
    await h.fast_forward(seconds=29)
    assert len(h.http.at("/bob")) == 1                    # backoff 30 s not over yet
    await h.fast_forward(seconds=1)
    assert len(h.http.at("/bob")) == 2
    await h.fast_forward(seconds=60)                      # backoff doubles
    assert len(h.http.at("/bob")) == 3
    await h.fast_forward(minutes=5)
    assert len(h.http.at("/bob")) == 3                    # bob has no other method: failed for good
    failed = (await h.client.get("/api/v1/notifications", params={"state": "failed"})).json()["items"]
    assert [(n["recipient"], n["attempts"]) for n in failed] == [("user:bob", 3)]
    events = await h.timeline(iid)
    assert kinds(events).count("notification_retry") == 2
    assert any("Could not reach Bob" in e["message"] for e in events)
    metrics = (await h.client.get("/metrics")).text
    assert "prism_notifications_failed 1.0" in metrics
    assert 'prism_notifications{channel="webhook",state="failed"} 1.0' in metrics


def ack_link(h: Harness, to: str = "alice@example.com") -> str:
    [mail] = h.mail.to(to)
    m = re.search(r"http://prism\.test(/ack/\S+)", mail.body)
    assert m
    return m.group(1)


async def test_ack_link_confirms_on_get_acknowledges_on_post_once(h: Harness) -> None:
    iid = await h.incident("P1")
    link = ack_link(h)
    page = await h.client.get(link)
    assert page.status_code == 200 and "<form method=post" in page.text
    assert (await h.client.get(f"/api/v1/incidents/{iid}")).json()["status"] == "triggered"   # GET changes nothing
    done = await h.client.post(link)
    assert done.status_code == 200 and "Acknowledged" in done.text
    inc = (await h.client.get(f"/api/v1/incidents/{iid}")).json()
    assert inc["status"] == "acknowledged" and inc["acknowledged_by"] == "alice"
    again = await h.client.post(link)
    assert again.status_code == 200 and "Already acknowledged" in again.text
    tampered = link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB")
    assert (await h.client.post(tampered)).status_code == 400
    events = await h.timeline(iid)
    assert [e["actor"] for e in events if e["kind"] == "acknowledged"] == ["alice"]
    h.clock.advance(days=3)
    assert (await h.client.get(link)).status_code == 410


async def test_ack_stops_pending_until_acknowledged_pages(h: Harness) -> None:
    h.http.responses["/alice"] = [503]
    h.mail.refuse.add("alice@example.com")
    iid = await h.incident("P1")                          # email refused → webhook 503 → retry pending
    pending = (await h.client.get(f"/api/v1/incidents/{iid}/notifications")).json()["items"]
    assert [n["state"] for n in pending] == ["pending", "failed"]
    await h.client.post(f"/api/v1/incidents/{iid}/acknowledge")
    await h.fast_forward(minutes=5)
    assert len(h.http.at("/alice")) == 1
    assert "notification_cancelled" in kinds(await h.timeline(iid))


async def test_oncall_api_overrides_and_calendar(h: Harness) -> None:
    r = await h.client.get("/api/v1/oncall", params={"at": "2026-12-24T10:00:00Z"})
    answer = {(x["role"], x["user"]) for x in r.json()["on_call"]}
    assert answer == {("primary", "carol"), ("secondary", "alice")}   # week 4: bob primary, on holiday
    r = await h.client.get("/api/v1/oncall", params={"at": "2026-12-01T10:00:00"})
    assert r.status_code == 422 and "time zone" in r.text
    ics = await h.client.get("/api/v1/users/alice/shifts.ics")
    assert ics.headers["content-type"].startswith("text/calendar")
    assert "BEGIN:VEVENT" in ics.text and "DTSTART:20261130T080000Z" in ics.text
    assert (await h.client.get("/api/v1/users/nobody/shifts.ics")).status_code == 404


async def test_preflight_names_targets_that_reach_nobody(h: Harness) -> None:
    assert (await h.client.get("/api/v1/oncall/preflight")).json()["ok"] is True
    r = await h.client.put("/api/v1/escalation-policies/vendor", json={
        "id": "vendor", "steps": [{"after": "0m", "notify": ["contact:external.aws_support"]}]})
    assert r.status_code == 200, r.text
    r = await h.client.put("/api/v1/escalation-policies/bad", json={
        "id": "bad", "steps": [{"after": "0m", "notify": ["schedule:prism-oncall/tertiary"]}]})
    assert r.status_code == 422 and "no role 'tertiary'" in r.text
    body = (await h.client.get("/api/v1/oncall/preflight")).json()
    assert body["ok"] is False
    [problem] = body["problems"]
    assert problem["policy"] == "vendor" and "web page" in problem["problem"]


def test_config_errors_name_the_path() -> None:
    doc = """
schedules:
  - id: s
    rotations: [{role: primary, users: [alice], length: 1x, handoff: "2026-11-30T09:00"}]
escalation_policies:
  - id: p
    steps: [{after: 15m, notify: ["pager:alice"]}]
users:
  - id: alice
    contact_methods: [{type: email, address: not-an-email}]
"""
    with pytest.raises(ConfigError) as err:
        parse_document(doc, env={})
    text = "\n".join(err.value.problems)
    assert "schedules[0].rotations[0].length: invalid duration" in text
    assert "escalation_policies[0].steps[0].notify" in text and "invalid target" in text
    assert "users[0].contact_methods[0]" in text and "not an email address" in text


async def test_apply_rejects_unknown_references_with_their_path(h: Harness) -> None:
    bad_schedule = """
schedules:
  - id: s2
    rotations: [{role: primary, users: [alice, zed], handoff: "2026-11-30T09:00"}]
"""
    bad_policy = """
escalation_policies:
  - id: p2
    steps: [{after: 0m, notify: ["user:alice"]}, {after: 5m, notify: ["contact:management.nobody"]}]
"""
    bad_service = """
services:
  - id: prism-api
    escalation: {P1: missing-policy}
"""
    for text, where in [(bad_schedule, "schedules[0].rotations[0].users[1]: unknown user 'zed'"),
                        (bad_policy, "escalation_policies[0].steps[1].notify[0]: unknown contact"),
                        (bad_service, "services[0].escalation.P1: unknown escalation policy")]:
        with pytest.raises(ConfigError) as err:
            await apply_document(h.container.db, h.clock, parse_document(text, env={}), actor="test")
        assert any(p.startswith(where) for p in err.value.problems), err.value.problems


def test_cli_oncall_prints_who_and_fails_preflight(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from prism_ir.cli import oncall
    from prism_ir.cli.main import app

    answers = {"/api/v1/oncall": {"at": "2026-12-24T10:00:00Z", "on_call": [
        {"schedule": "prism-oncall", "role": "primary", "user": "carol", "name": "Carol", "until": None}]},
        "/api/v1/oncall/preflight": {"ok": False, "problems": [
            {"kind": "policy_step", "policy": "vendor", "step": 1, "target": "contact:external.aws_support",
             "problem": "a web page, not a way to page someone"}]}}
    calls: list[tuple[str, dict]] = []

    def fake_api(method: str, path: str, **kw: object) -> object:
        calls.append((path, dict(kw.get("params") or {})))  # type: ignore[call-overload]
        return answers[path]

    monkeypatch.setattr(oncall, "api", fake_api)
    runner = CliRunner()
    r = runner.invoke(app, ["oncall", "--at", "2026-12-24T10:00Z"])
    assert r.exit_code == 0 and "carol" in r.output
    assert calls[-1] == ("/api/v1/oncall", {"at": "2026-12-24T10:00Z"})
    r = runner.invoke(app, ["oncall", "preflight"])
    assert r.exit_code == 1 and "vendor" in r.output and "pre-flight found problems" in r.output
