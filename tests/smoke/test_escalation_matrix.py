"""The seed's escalation matrix end to end: API → hook → worker → real SMTP/HTTP, on a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime

from harness import Harness


def mails(h: Harness) -> list[str]:
    return [m.to[0] for m in h.mail.mails]


def hooks(h: Harness) -> list[str]:
    return [x.path for x in h.http.hits]


async def test_p1_matrix_row_by_row(h: Harness) -> None:
    # 2026-11-30 14:32 UTC: Monday, first week of the rotation → alice primary, bob secondary
    iid = await h.incident("P1", "Prism API down")
    assert mails(h) == ["alice@example.com"] and hooks(h) == []          # 0-15 min: primary on-call
    [mail] = h.mail.to("alice@example.com")
    assert "[P1]" in mail.subject and "Prism API down" in mail.subject and "/ack/" in mail.body
    await h.fast_forward(minutes=14, seconds=59)
    assert hooks(h) == []
    await h.fast_forward(seconds=1)                                       # 15-30: secondary joins
    assert hooks(h) == ["/bob"]
    assert h.http.hits[0].body["title"] == "Prism API down" and h.http.hits[0].headers["Idempotency-Key"]
    await h.fast_forward(minutes=15)                                      # 30-60: manager notified
    assert mails(h) == ["alice@example.com", "em@example.com"]
    await h.fast_forward(minutes=30)                                      # 60+: VP engineering (SMS gateway)
    assert hooks(h) == ["/bob", "/sms/15550020"]
    await h.fast_forward(hours=3)
    assert len(h.mail.mails) == 2 and len(h.http.hits) == 2               # nothing more, nothing twice
    kinds = [e["kind"] for e in await h.timeline(iid)]
    assert kinds.count("escalation_step") == 4 and kinds.count("notification_sent") == 4


async def test_p1_acknowledged_stops_primary_but_secondary_joins_until_resolved(h: Harness) -> None:
    iid = await h.incident("P1")
    r = await h.client.post(f"/api/v1/incidents/{iid}/acknowledge")
    assert r.status_code == 200
    await h.fast_forward(minutes=15)
    assert hooks(h) == ["/bob"]                                           # unresolved at 15 → secondary
    r = await h.client.post(f"/api/v1/incidents/{iid}/resolve", json={"note": "rolled back"})
    assert r.status_code == 200
    await h.fast_forward(hours=2)
    assert mails(h) == ["alice@example.com"] and hooks(h) == ["/bob"]     # resolving stops all


async def test_p2_matrix_row_by_row(h: Harness) -> None:
    await h.incident("P2", "High latency")
    assert mails(h) == ["alice@example.com"]                             # 0-15 primary
    await h.fast_forward(minutes=29)                                      # 15-30 assess priority: no page
    assert hooks(h) == []
    await h.fast_forward(minutes=1)                                       # 30-60 secondary available
    assert hooks(h) == ["/bob"]
    await h.fast_forward(minutes=29)
    assert mails(h) == ["alice@example.com"]
    await h.fast_forward(minutes=1)                                       # 60+ manager notified
    assert mails(h) == ["alice@example.com", "em@example.com"]


async def test_p3_waits_for_business_hours(h: Harness) -> None:
    h.clock.set(datetime(2026, 11, 28, 22, 0, tzinfo=UTC))               # Saturday night
    await h.incident("P3", "Slow queries")
    assert h.paged() == []
    await h.fast_forward(hours=35)                                        # Monday 09:00 UTC (default calendar)
    assert mails(h) == ["alice@example.com"] or hooks(h) == ["/alice"]


async def test_manual_escalation_jumps_to_the_next_step(h: Harness) -> None:
    iid = await h.incident("P1")
    r = await h.client.post(f"/api/v1/incidents/{iid}/escalate", json={"note": "need the database expert"})
    assert r.status_code == 200, r.text
    await h.settle()
    assert hooks(h) == ["/bob"]
    await h.fast_forward(minutes=14)
    assert mails(h) == ["alice@example.com"]
    await h.fast_forward(minutes=1)                                       # spacing kept: manager 15 min later
    assert mails(h) == ["alice@example.com", "em@example.com"]
    steps = [e for e in await h.timeline(iid) if e["kind"] == "escalation_step"]
    assert "by hand" in steps[1]["message"]
