"""Pre-claimed local sends: a transaction's new due pages go to this process's running worker without a claim."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from receivers import HttpReceiver
from sqlalchemy import event, select

from prism_ir.bootstrap import Container
from prism_ir.clock import FakeClock
from prism_ir.domain.severity import Severity
from prism_ir.engine.loop import Worker
from prism_ir.engine.runtime import runtime_of
from prism_ir.services.config_apply import apply_document, parse_document
from prism_ir.services.incident_tx import IncidentTx
from prism_ir.services.preclaim import Claimed
from prism_ir.store.tables import TimelineRow
from prism_ir.store.tables_oncall import NotificationRow

CONFIG = """
users:
  - id: alice
    name: Alice
    contact_methods: [{{type: webhook, url: "{hook}/alice"}}]
  - id: bob
    name: Bob
    contact_methods: [{{type: webhook, url: "{hook}/bob"}}]
escalation_policies:
  - id: {policy}
    steps: [{steps}]
services:
  - id: api
    name: API
    escalation: {{P1: {policy}}}
"""
ONE_STEP = '{after: 0m, notify: ["user:alice"], until: acknowledged}'
TWO_PEOPLE = '{after: 0m, notify: ["user:alice", "user:bob"], until: acknowledged}'
CLAIM_SQL = "attempts=(notifications.attempts +"  # the outbox's claim statement, and only it


async def configure(container: Container, clock: FakeClock, http: HttpReceiver, steps: str = ONE_STEP) -> None:
    text = CONFIG.format(hook=http.url("").rstrip("/"), policy="p1", steps=steps)
    await apply_document(container.db, clock, parse_document(text, env={}), actor="test")


@dataclass
class Statements:
    seen: list[str] = field(default_factory=list)

    def claims(self) -> list[str]:
        return [s for s in self.seen if CLAIM_SQL in s]

    def notifies(self) -> list[str]:
        return [s for s in self.seen if "pg_notify" in s]


@contextlib.contextmanager
def statements(container: Container) -> Any:
    """Every statement SQLAlchemy sends (the worker's claim and the NOTIFY always go through it)."""
    log = Statements()

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        log.seen.append(statement)

    engine = container.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield log
    finally:
        event.remove(engine, "before_cursor_execute", record)


@contextlib.asynccontextmanager
async def running(container: Container, worker_id: str = "local") -> AsyncIterator[Worker]:
    """A worker running in this process (as `prism-ir serve` has), settled into its first wait."""
    worker = Worker(container, worker_id=worker_id)
    task = asyncio.create_task(worker.run())
    try:
        await asyncio.wait_for(worker.idle.wait(), 10)
        yield worker
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def drain(worker: Worker) -> None:
    while worker.inflight:
        await asyncio.wait_for(asyncio.gather(*worker.inflight), 10)


async def rows(container: Container) -> list[NotificationRow]:
    async with container.db.read() as s:
        return list((await s.execute(select(NotificationRow).order_by(NotificationRow.id))).scalars())


async def timeline(container: Container, incident_id: int) -> list[TimelineRow]:
    async with container.db.read() as s:
        return list((await s.execute(select(TimelineRow).where(TimelineRow.incident_id == incident_id)
                                     .order_by(TimelineRow.id))).scalars())


async def new_p1(container: Container, title: str = "API down") -> int:
    incident = await container.incidents.create(title=title, severity=Severity.P1, actor="test", service_id="api")
    assert incident.id is not None
    return incident.id


async def test_a_new_p1_is_sent_by_the_local_worker_without_a_claim_or_notify(
        container: Container, clock: FakeClock, http_receiver: HttpReceiver) -> None:
    await configure(container, clock, http_receiver)
    async with running(container) as worker:
        with statements(container) as log:
            iid = await new_p1(container)
            await drain(worker)
        assert worker.handed_off == 1
        assert log.claims() == [] and log.notifies() == []
    [row] = await rows(container)
    assert (row.state, row.attempts, row.claimed_by) == ("sent", 1, "local")
    assert row.started_at == clock.now() and row.sent_at == clock.now() and row.lease_until is None
    [hit] = http_receiver.at("/alice")
    assert hit.headers["Idempotency-Key"] == row.key == f"i{iid}.g0.c0.s0.user:alice.user:alice.m0"
    kinds = [e.kind for e in await timeline(container, iid)]
    assert kinds.count("escalation_step") == 1 and kinds.count("notification_sent") == 1


async def test_the_row_is_recorded_as_claimed_before_the_send(
        container: Container, clock: FakeClock, http_receiver: HttpReceiver) -> None:
    await configure(container, clock, http_receiver)
    http_receiver.hold.add("/alice")  # the receiver keeps the request open until released
    async with running(container) as worker:
        await new_p1(container)
        await asyncio.to_thread(http_receiver.arrived.wait, 10)
        [row] = await rows(container)  # the page is on the wire: the row says who is sending it, and until when
        assert (row.state, row.attempts, row.claimed_by) == ("sending", 1, "local")
        lease = timedelta(seconds=runtime_of(container).settings.send_lease_seconds)
        assert row.started_at == clock.now() and row.lease_until == clock.now() + lease
        http_receiver.release.set()
        await drain(worker)
    [row] = await rows(container)
    assert row.state == "sent" and len(http_receiver.hits) == 1


@dataclass
class DeadSender:
    """A local sender whose process dies right after the COMMIT: it takes the rows and never sends them."""

    clock: FakeClock
    id: str = "dead"
    taken: list[Claimed] = field(default_factory=list)

    def lease_until(self) -> datetime:
        return self.clock.now() + timedelta(seconds=60)

    def reserve(self, n: int) -> int:
        return n

    def release(self, n: int) -> None:
        pass

    def start(self, claimed: Sequence[Claimed]) -> None:
        self.taken.extend(claimed)


async def test_a_preclaimed_send_whose_process_died_is_resent_in_doubt_after_the_lease(
        container: Container, clock: FakeClock, http_receiver: HttpReceiver) -> None:
    await configure(container, clock, http_receiver)
    dead = DeadSender(clock)
    runtime_of(container).local.attach(dead)
    iid = await new_p1(container)
    runtime_of(container).local.detach(dead)
    [row] = await rows(container)
    assert [c.id for c in dead.taken] == [row.id] and dead.taken[0].key == row.key
    assert (row.state, row.claimed_by, row.attempts) == ("sending", "dead", 1)

    rescuer = Worker(container, worker_id="rescuer", listen=False)
    await rescuer.run_once()                       # the lease still runs: not another worker's to take
    await drain(rescuer)
    assert http_receiver.hits == []
    clock.advance(seconds=61)
    await rescuer.run_once()
    await drain(rescuer)
    [hit] = http_receiver.at("/alice")
    [row] = await rows(container)
    assert hit.headers["Idempotency-Key"] == row.key
    assert (row.state, row.claimed_by, row.attempts) == ("sent", "rescuer", 2)
    sent = [e for e in await timeline(container, iid) if e.kind == "notification_sent"]
    assert len(sent) == 1 and "resent after a worker stopped mid-send" in sent[0].message
    await rescuer.run_once()
    await drain(rescuer)
    assert len(http_receiver.hits) == 1
    await rescuer.channels.aclose()


async def test_a_rolled_back_transaction_hands_nothing_to_the_worker(
        container: Container, clock: FakeClock, http_receiver: HttpReceiver) -> None:
    await configure(container, clock, http_receiver)
    async with running(container) as worker:
        with pytest.raises(RuntimeError, match="changed my mind"):
            async with container.db.transaction() as session:
                await IncidentTx(container.hooks).create_in(session, title="API down", severity=Severity.P1,
                                                            now=clock.now(), actor="test", service_id="api")
                assert worker._reserved == 1   # room held for the page while the transaction is open
                raise RuntimeError("changed my mind")
        await asyncio.sleep(0)
        assert worker._reserved == 0 and worker.handed_off == 0 and not worker.inflight
    assert await rows(container) == [] and http_receiver.hits == []


async def test_preclaims_stay_within_send_concurrency(
        container: Container, clock: FakeClock, http_receiver: HttpReceiver) -> None:
    await configure(container, clock, http_receiver, steps=TWO_PEOPLE)
    runtime_of(container).settings.send_concurrency = 1
    http_receiver.hold.add("/alice")
    http_receiver.hold.add("/bob")
    async with running(container) as worker:
        with statements(container) as log:
            await new_p1(container)
            states = {r.recipient: (r.state, r.claimed_by) for r in await rows(container)}
            # one pre-claimed (the only free slot), the other left pending for a claim, announced as usual
            assert sorted(states.values(), key=str) == [("pending", None), ("sending", "local")]
            assert worker.handed_off == 1
            if container.db.dialect == "postgresql":
                assert len(log.notifies()) == 1
            http_receiver.release.set()
            for _ in range(200):
                await drain(worker)
                if len(http_receiver.hits) == 2 and {r.state for r in await rows(container)} == {"sent"}:
                    break
                await asyncio.sleep(0.01)
        assert len(log.claims()) >= 1
    assert sorted(h.path for h in http_receiver.hits) == ["/alice", "/bob"]
    assert {r.state for r in await rows(container)} == {"sent"}


async def test_pages_fired_by_the_workers_tick_are_preclaimed_too(
        container: Container, clock: FakeClock, http_receiver: HttpReceiver) -> None:
    steps = '{after: 0m, notify: ["user:alice"], until: acknowledged}, {after: 15m, notify: ["user:bob"]}'
    await configure(container, clock, http_receiver, steps=steps)
    async with running(container) as worker:
        iid = await new_p1(container)
        await drain(worker)
        assert worker.handed_off == 1
        with statements(container) as log:
            worker.idle.clear()
            clock.advance(minutes=15)                # the worker's alarm: the second step is due
            await asyncio.wait_for(worker.idle.wait(), 10)
            await drain(worker)
        assert worker.handed_off == 2                # the tick's page went in claimed by the worker that fired it
        assert log.notifies() == []
    assert [h.path for h in http_receiver.hits] == ["/alice", "/bob"]
    assert [(r.state, r.claimed_by, r.attempts) for r in await rows(container)] == [("sent", "local", 1)] * 2
    kinds = [e.kind for e in await timeline(container, iid)]
    assert kinds.count("escalation_step") == 2 and kinds.count("notification_sent") == 2


async def test_without_a_running_worker_pages_are_queued_and_announced(
        container: Container, clock: FakeClock, http_receiver: HttpReceiver) -> None:
    await configure(container, clock, http_receiver)
    woken: list[object] = []
    runtime = runtime_of(container)
    original = runtime.escalations.wake
    runtime.escalations.wake = woken.append
    try:
        with statements(container) as log:
            await new_p1(container)
    finally:
        runtime.escalations.wake = original
    [row] = await rows(container)
    assert (row.state, row.claimed_by, row.attempts) == ("pending", None, 0)
    assert woken == [None]
    assert len(log.notifies()) == (1 if container.db.dialect == "postgresql" else 0)


async def test_a_send_recorded_after_another_worker_took_the_claim_over_is_lost(
        container: Container, clock: FakeClock, http_receiver: HttpReceiver) -> None:
    """Recording is conditional on still holding the claim, on both recording paths (one statement on PostgreSQL)."""
    from prism_ir.engine.jobs.send import send_one

    await configure(container, clock, http_receiver)
    iid = await new_p1(container)                 # no worker in this process: the page waits, pending
    slow = Worker(container, worker_id="slow", listen=False)
    fast = Worker(container, worker_id="fast", listen=False)
    [mine] = await slow._claim(10)
    clock.advance(seconds=61)                     # slow's lease runs out before it records anything
    [theirs] = await fast._claim(10)
    assert theirs.recovered and theirs.key == mine.key
    assert await send_one(container, fast.outbox, fast.channels, theirs) == "sent"
    assert await send_one(container, slow.outbox, slow.channels, mine) == "lost"
    [row] = await rows(container)
    assert (row.state, row.claimed_by, row.attempts) == ("sent", "fast", 2)
    sent = [e for e in await timeline(container, iid) if e.kind.startswith("notification_")]
    assert [e.kind for e in sent] == ["notification_sent"] and "resent after a worker stopped" in sent[0].message
    assert sent[0].data["attempt"] == 2 and sent[0].data["key"] == row.key
    assert len(http_receiver.hits) == 2           # on the wire: twice, with one idempotency key
    assert len(set(http_receiver.idempotency_keys())) == 1
    await slow.channels.aclose()
    await fast.channels.aclose()


async def test_nothing_is_preclaimed_inside_a_savepoint(
        container: Container, clock: FakeClock, http_receiver: HttpReceiver) -> None:
    """A SAVEPOINT may roll back while its transaction commits: its pages go the ordinary way (pending, announced)."""
    await configure(container, clock, http_receiver)
    async with running(container) as worker:
        async with container.db.transaction() as session, session.begin_nested():
            await IncidentTx(container.hooks).create_in(session, title="API down", severity=Severity.P1,
                                                        now=clock.now(), actor="test", service_id="api")
            assert worker._reserved == 0
        for _ in range(200):                      # the commit woke the worker, which claims and sends it
            await drain(worker)
            if http_receiver.hits and {r.state for r in await rows(container)} == {"sent"}:
                break
            await asyncio.sleep(0.01)
        assert worker.handed_off == 0
    [row] = await rows(container)
    assert (row.state, row.claimed_by, row.attempts) == ("sent", "local", 1)
    assert len(http_receiver.hits) == 1
