"""SIGKILL the worker process between steps and mid-send; restart it; every page arrives exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from harness import CONFIG
from receivers import HttpReceiver, SmtpServer
from sqlalchemy import select

from prism_ir.bootstrap import Container
from prism_ir.clock import FakeClock
from prism_ir.domain.severity import Severity
from prism_ir.engine.loop import Worker
from prism_ir.services.config_apply import apply_document, parse_document
from prism_ir.store.tables_oncall import NotificationRow

pytestmark = pytest.mark.slow


class Procs:
    """Worker subprocesses sharing a file clock with the test."""

    def __init__(self, tmp: Path, db_url: str, smtp: SmtpServer, http: HttpReceiver, clock: FakeClock) -> None:
        self.clock_file = tmp / "clock"
        self.clock = clock
        self.env = {**os.environ, "PRISM_IR_DATABASE_URL": db_url, "PRISM_IR_SECRET_KEY": "test-secret-key",
                    "PRISM_IR_BASE_URL": "http://prism.test", "PRISM_IR_SMTP_URL": smtp.url,
                    "PRISM_IR_DATA_DIR": str(tmp / "data"), "PRISM_IR_SEND_BACKOFF_SECONDS": "30",
                    "PRISM_IR_SMS_URL_TEMPLATE": f"json://127.0.0.1:{http.port}/sms/{{phone_digits}}"}
        self.procs: list[subprocess.Popen[bytes]] = []
        self.sync()

    def sync(self) -> None:
        tmp = self.clock_file.with_suffix(".tmp")
        tmp.write_text(self.clock.now().isoformat())
        tmp.replace(self.clock_file)

    def advance(self, **delta: float) -> None:
        self.clock.advance(**delta)
        self.sync()

    def start(self, name: str) -> subprocess.Popen[bytes]:
        p = subprocess.Popen([sys.executable, "-m", "prism_ir.cli.main", "worker", "--id", name,
                              "--clock-file", str(self.clock_file)], env=self.env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.procs.append(p)
        return p

    def stop_all(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait(10)
            err = p.stderr.read().decode() if p.stderr else ""
            if "Traceback" in err:
                print(err[-3000:])


@pytest.fixture
def procs(tmp_path: Path, db_url: str, smtp_server: SmtpServer, http_receiver: HttpReceiver,
          clock: FakeClock) -> Iterator[Procs]:
    p = Procs(tmp_path, db_url, smtp_server, http_receiver, clock)
    yield p
    http_receiver.release.set()
    p.stop_all()


def wait_for(cond: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Wait for another process to do something (a real-time bound, never a timing assumption)."""
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


async def states(container: Container) -> dict[str, str]:
    async with container.db.read() as s:
        return dict((await s.execute(select(NotificationRow.key, NotificationRow.state))).tuples().all())


async def settled(container: Container, count: int, within: float = 30.0) -> None:
    end = time.monotonic() + within
    while list((await states(container)).values()) != ["sent"] * count:
        assert time.monotonic() < end, f"not all {count} sends recorded: {Counter((await states(container)).values())}"
        await asyncio.sleep(0.02)


async def sent(container: Container, count: int, within: float = 30.0) -> None:
    end = time.monotonic() + within
    while list((await states(container)).values()).count("sent") < count:
        now = Counter((await states(container)).values())
        assert time.monotonic() < end, f"fewer than {count} sends recorded: {now}"
        await asyncio.sleep(0.02)


async def setup(container: Container, http: HttpReceiver, clock: FakeClock) -> None:
    text = CONFIG.format(hook=http.url("").rstrip("/"))
    await apply_document(container.db, clock, parse_document(text, env={}), actor="test")


async def test_sigkill_between_steps_and_mid_send(container: Container, procs: Procs, smtp_server: SmtpServer,
                                                  http_receiver: HttpReceiver, clock: FakeClock) -> None:
    await setup(container, http_receiver, clock)
    inc = await container.incidents.create(title="API down", severity=Severity.P1, actor="test",
                                           service_id="prism-api")
    w = procs.start("w1")
    wait_for(lambda: len(smtp_server.to("alice@example.com")) == 1, "the primary's email")
    await settled(container, 1)
    w.kill()                                               # SIGKILL between steps
    w.wait(10)

    http_receiver.hold.add("/bob")
    procs.advance(minutes=15)
    w = procs.start("w2")
    wait_for(lambda: len(http_receiver.at("/bob")) == 1, "the secondary's webhook to start")
    w.kill()                                               # SIGKILL after the send started, before it is recorded
    w.wait(10)
    http_receiver.release.set()
    assert "sending" in (await states(container)).values()

    w = procs.start("w3")
    procs.advance(minutes=2)                               # the dead worker's lease runs out
    # each jump of the clock waits until the send that just arrived is recorded: a jump past the lease of a
    # send still in flight would (rightly) make it in doubt and send it again
    wait_for(lambda: len(http_receiver.at("/bob")) == 2, "the in-doubt send to be repeated")
    await sent(container, 2)
    procs.advance(minutes=13)
    wait_for(lambda: len(smtp_server.to("em@example.com")) == 1, "the manager's email")
    await sent(container, 3)
    procs.advance(minutes=30)
    wait_for(lambda: len(http_receiver.at("/sms/15550020")) == 1, "the VP's SMS")
    await sent(container, 4)
    procs.advance(hours=2)
    await settled(container, 4)
    w.terminate()
    assert w.wait(20) == 0

    # what the receivers saw: one email each, one SMS, and the in-doubt webhook twice with ONE idempotency key
    assert [m.to[0] for m in smtp_server.mails] == ["alice@example.com", "em@example.com"]
    assert len(http_receiver.at("/sms/15550020")) == 1
    bob_keys = [h.headers["Idempotency-Key"] for h in http_receiver.at("/bob")]
    assert len(bob_keys) == 2 and len(set(bob_keys)) == 1
    delivered = Counter(http_receiver.idempotency_keys())
    assert len(delivered) == 2                             # distinct pages over HTTP: bob + VP, each once
    final = await states(container)
    assert sorted(final.values()) == ["sent"] * 4
    timeline = await container.incidents.timeline(inc.id or 0)
    assert any("resent after a worker stopped mid-send" in e.message for e in timeline)
    assert sum(e.kind == "notification_sent" for e in timeline) == 4


async def test_two_workers_never_send_the_same_page_twice(container: Container, procs: Procs,
                                                          http_receiver: HttpReceiver, clock: FakeClock) -> None:
    if container.db.dialect != "postgresql":
        pytest.skip("several workers share work through SKIP LOCKED on PostgreSQL only")
    config = CONFIG.replace("{{type: email, address: alice@example.com}}", "{{type: webhook, url: \"{hook}/alice2\"}}")
    await apply_document(container.db, clock, parse_document(config.format(hook=http_receiver.url("").rstrip("/")),
                                                             env={}), actor="test")
    procs.start("a")
    procs.start("b")
    for i in range(40):
        await container.incidents.create(title=f"outage {i}", severity=Severity.P1, actor="test",
                                         service_id="prism-api")
    wait_for(lambda: len(http_receiver.hits) >= 40, "40 primary pages")
    await settled(container, 40)       # a real clock never jumps past a send's lease while it is in flight
    procs.advance(minutes=15)
    wait_for(lambda: len(http_receiver.hits) >= 80, "40 secondary pages")
    await settled(container, 80)
    async with container.db.read() as s:
        rows = (await s.execute(select(NotificationRow.state, NotificationRow.claimed_by))).tuples().all()
    keys = http_receiver.idempotency_keys()
    assert len(keys) == 80 and len(set(keys)) == 80
    assert {state for state, _ in rows} == {"sent"}


async def test_a_preclaiming_server_and_two_workers_never_send_the_same_page_twice(
        container: Container, procs: Procs, http_receiver: HttpReceiver, clock: FakeClock) -> None:
    """As `prism-ir serve` with its in-process worker (pre-claiming the pages its requests create) plus two
    `prism-ir worker` processes: escalation ticks race over SKIP LOCKED, each pre-claiming what it fires."""
    if container.db.dialect != "postgresql":
        pytest.skip("several workers share work through SKIP LOCKED on PostgreSQL only")
    config = CONFIG.replace("{{type: email, address: alice@example.com}}", "{{type: webhook, url: \"{hook}/alice2\"}}")
    await apply_document(container.db, clock, parse_document(config.format(hook=http_receiver.url("").rstrip("/")),
                                                             env={}), actor="test")
    server = Worker(container, worker_id="server")
    task = asyncio.create_task(server.run())
    procs.start("a")
    procs.start("b")

    async def until(cond: Callable[[], bool], what: str) -> None:
        try:  # a real-time bound only; waiting asynchronously keeps the in-process worker running
            async with asyncio.timeout(30):
                while not cond():
                    await asyncio.sleep(0.02)
        except TimeoutError:
            raise AssertionError(f"timed out waiting for {what}") from None

    try:
        for i in range(40):
            await container.incidents.create(title=f"outage {i}", severity=Severity.P1, actor="test",
                                             service_id="prism-api")
        await until(lambda: len(http_receiver.hits) >= 40, "40 primary pages")
        await settled(container, 40)
        procs.advance(minutes=15)
        await until(lambda: len(http_receiver.hits) >= 80, "40 secondary pages")
        await settled(container, 80)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    async with container.db.read() as s:
        rows = (await s.execute(select(NotificationRow.key, NotificationRow.state, NotificationRow.claimed_by,
                                       NotificationRow.attempts))).tuples().all()
    keys = http_receiver.idempotency_keys()
    assert len(keys) == 80 and len(set(keys)) == 80
    assert {state for _, state, _, _ in rows} == {"sent"} and {attempts for *_, attempts in rows} == {1}
    assert server.handed_off > 0
    assert "server" in {by for key, _, by, _ in rows if ".s0." in key}   # first steps: pre-claimed by the server
