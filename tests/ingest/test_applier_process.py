"""The applier process (PostgreSQL): journaled requests are applied by a child, in order, exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import func, select

from prism_ir.integrations.sources import alertmanager
from prism_ir.services.ingest import IngestResult, _Request
from prism_ir.services.ingest_remote import ApplierProcess
from prism_ir.store.tables_ingest import AlertIntakeRow, AlertRow
from tests.ingest.conftest import Svc, am_alert, am_payload, make_service
from tests.support import truncate_all

pytestmark = pytest.mark.slow


async def until(condition: Any, what: str, limit: float = 30.0) -> None:
    """Wait for another process to get somewhere (it starts an interpreter: no fixed time is right)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not condition():
        assert loop.time() < deadline, f"timed out waiting until {what}"
        await asyncio.sleep(0.02)


@pytest.fixture
async def db_url(pg_database: str) -> str:
    """PostgreSQL only: only it journals, so only it hands requests to an applier process."""
    await truncate_all(pg_database)
    return pg_database


@pytest.fixture
async def child(container: Any) -> AsyncIterator[tuple[Svc, ApplierProcess[Any]]]:
    svc = await make_service(container)
    remote = svc.ingest.applier_process(container.settings.model_dump_json())
    remote.restart_delay = 0.05
    task = asyncio.create_task(remote.run())
    await until(lambda: remote.ready, "the applier process is ready")
    yield svc, remote
    if remote.pid is not None:  # a test may have left it stopped
        with contextlib.suppress(ProcessLookupError):
            os.kill(remote.pid, signal.SIGCONT)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def send(svc: Svc, *alerts: dict[str, Any]) -> IngestResult:
    """As the intake routes do: parsed alerts plus the raw body a journal row keeps."""
    payload = am_payload(*alerts)
    ref = await svc.ingest.authenticate(svc.keys["alertmanager"])
    assert ref is not None
    return await svc.ingest.ingest(ref, alertmanager.parse(payload), orjson.dumps(payload), "alertmanager")


async def scalar(svc: Svc, stmt: Any) -> Any:
    async with svc.container.db.read() as s:
        return (await s.execute(stmt)).scalar_one()


async def episodes(svc: Svc, instance: str) -> list[tuple[bool, int]]:
    """(resolved, occurrences) per stored episode of one alert, oldest first."""
    async with svc.container.db.read() as s:
        found = (await s.execute(select(AlertRow).order_by(AlertRow.id))).scalars()
        return [(a.resolved_at is not None, a.occurrences) for a in found if a.labels.get("instance") == instance]


async def test_the_child_applies_what_this_process_journaled(
    child: tuple[Svc, ApplierProcess[Any]], anon_client: httpx.AsyncClient,
) -> None:
    svc, remote = child
    svc.ingest.queue = "always"
    health = (await anon_client.get("/api/health")).json()["applier"]
    assert health == {"status": "ok", "pid": remote.pid, "handed": 0}
    for i in range(10):
        result = await send(svc, *(am_alert(instance=f"h{i}-{j}") for j in range(3)))
        assert result.queued == 3
    await remote.idle(svc.id)
    assert remote.handed == 10 and remote.pid not in (None, os.getpid())
    assert svc.ingest.group.transactions == 0  # nothing was applied in this process
    assert len(await svc.incidents()) == 30
    assert await scalar(svc, select(func.count()).select_from(AlertIntakeRow)) == 0
    # what the child applied, this process learns: a repeat now takes the one-statement path
    await send(svc, am_alert(instance="h0-0"))
    assert svc.ingest.paths["fast"] == 1 and remote.handed == 10
    assert await episodes(svc, "h0-0") == [(False, 2)]
    metrics = (await anon_client.get("/metrics")).text
    assert "prism_ingest_applier_up 1.0" in metrics and "prism_ingest_applier_handed_total 10.0" in metrics


async def test_order_holds_across_the_two_processes(child: tuple[Svc, ApplierProcess[Any]]) -> None:
    """A big firing batch and a resolve of one of its alerts go to the (stopped) child; a repeat arriving
    without a raw body, which this process would apply itself, waits until the child has applied them."""
    svc, remote = child
    assert remote.pid is not None
    os.kill(remote.pid, signal.SIGSTOP)
    # (bounded: a request that waited for the stopped child here would hang the test instead of failing it)
    batch = await asyncio.wait_for(send(svc, *(am_alert(instance=f"b{j}") for j in range(20))), 10)  # journaled
    resolve = await asyncio.wait_for(send(svc, am_alert(status="resolved", instance="b0")), 10)  # small, queued
    assert batch.queued == 20 and resolve.queued == 1 and remote.busy(svc.id)
    refire = asyncio.create_task(svc.send(alertmanager.parse(am_payload(am_alert(instance="b0")))))
    await asyncio.sleep(0.2)
    assert not refire.done()  # it would otherwise have been applied here, ahead of the resolve
    os.kill(remote.pid, signal.SIGCONT)
    result = await refire
    assert result.opened  # a new episode: the resolve was applied first
    assert await episodes(svc, "b0") == [(True, 1), (False, 1)]
    assert svc.ingest.group.transactions == 1 and remote.handed == 2


async def test_a_dead_child_hands_its_work_back_and_restarts(
    child: tuple[Svc, ApplierProcess[Any]], anon_client: httpx.AsyncClient,
) -> None:
    svc, remote = child
    svc.ingest.queue = "always"
    first_pid = remote.pid
    assert first_pid is not None
    os.kill(first_pid, signal.SIGSTOP)
    for i in range(5):
        await send(svc, *(am_alert(instance=f"k{i}-{j}") for j in range(4)))
    assert remote.busy(svc.id)
    os.kill(first_pid, signal.SIGKILL)
    await until(lambda: not remote.busy(svc.id), "the dead child's work is taken back")
    assert (await anon_client.get("/api/health")).status_code == 200  # this process applies meanwhile
    await svc.ingest.group.drained()
    assert svc.ingest.group.transactions >= 1  # applied here instead
    assert len(await svc.incidents()) == 20
    assert await scalar(svc, select(func.coalesce(func.sum(AlertRow.occurrences), 0))) == 20
    assert await scalar(svc, select(func.count()).select_from(AlertIntakeRow)) == 0
    await until(lambda: remote.ready and remote.pid != first_pid, "a new applier process is ready")
    assert remote.starts == 2
    await send(svc, *(am_alert(instance=f"n{j}") for j in range(3)))
    await remote.idle(svc.id)
    assert len(await svc.incidents()) == 23


async def test_taking_back_what_the_child_committed_applies_nothing_twice(
    child: tuple[Svc, ApplierProcess[Any]],
) -> None:
    """The child may die after its commit and before its answer: the journal row is gone, so this process skips
    the request it takes back."""
    svc, _ = child
    now = svc.container.clock.now()
    payload = orjson.dumps(am_payload(am_alert(instance="once")))
    journal_id = await svc.ingest.journal.append(svc.id, "alertmanager", payload, 1, now)
    await (await svc.ingest.apply_journaled(svc.id, "alertmanager", payload, now, journal_id))
    cfg = await svc.ingest.config(svc.id)
    lost: asyncio.Future[IngestResult] = asyncio.get_running_loop().create_future()
    request = _Request(cfg, alertmanager.parse(orjson.loads(payload)), now, journal_id)
    svc.ingest._take_back([(svc.id, request, lost)])
    await lost
    assert await episodes(svc, "once") == [(False, 1)]


async def test_closing_lets_the_child_finish(child: tuple[Svc, ApplierProcess[Any]]) -> None:
    svc, remote = child
    svc.ingest.queue = "always"
    for i in range(8):
        await send(svc, *(am_alert(instance=f"c{i}-{j}") for j in range(8)))
    await svc.ingest.aclose()
    assert not remote.ready and remote.stopping
    assert len(await svc.incidents()) == 64
    assert await scalar(svc, select(func.count()).select_from(AlertIntakeRow)) == 0


async def test_rule_changes_reach_the_child(child: tuple[Svc, ApplierProcess[Any]]) -> None:
    svc, remote = child
    svc.ingest.queue = "always"
    await send(svc, am_alert(instance="before", severity="warning"))
    await remote.idle(svc.id)
    await svc.container.catalog.update_service(
        svc.id, {"settings": {"severity_rules": [{"match": {"severity": "warning"}, "severity": "P1"}]}}, "test")
    svc.ingest.invalidate()
    await send(svc, am_alert(instance="after", severity="warning", alertname="Other"))
    await remote.idle(svc.id)
    assert sorted(i.severity.name for i in await svc.incidents()) == ["P1", "P3"]


async def test_the_child_outlives_signals_meant_for_the_group(child: tuple[Svc, ApplierProcess[Any]]) -> None:
    """Ctrl-C or a service manager's SIGTERM reach every process of the group; the child stops only when this
    process closes its pipe, so what it holds is applied first."""
    svc, remote = child
    svc.ingest.queue = "always"
    pid = remote.pid
    assert pid is not None
    os.kill(pid, signal.SIGINT)
    os.kill(pid, signal.SIGTERM)
    await send(svc, am_alert(instance="after-signals"))
    await remote.idle(svc.id)
    assert remote.pid == pid and remote.starts == 1 and remote.ready
    assert await episodes(svc, "after-signals") == [(False, 1)]
