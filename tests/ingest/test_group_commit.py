"""Group commit: requests queued behind a transaction share the next one, and each hears back only after it."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from sqlalchemy import func, select

from prism_ir.services.ingest_group import GroupCommit
from prism_ir.store import repos_ingest
from prism_ir.store.tables import IncidentRow
from prism_ir.store.tables_ingest import AlertRow
from tests.ingest.conftest import am_alert, am_payload, make_service


def am(*alerts):
    from prism_ir.integrations.sources import alertmanager

    return alertmanager.parse(am_payload(*alerts))


async def _fingerprints(container) -> set[str]:
    async with container.db.read() as s:
        return {r for r in (await s.execute(select(AlertRow.labels))).scalars()
                for r in [r.get("instance", "")]}


class Gate:
    """Hold the first transaction inside the database until released, so others queue behind it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        real = repos_ingest.lock_open_alerts

        async def gated(*args, **kwargs):
            if not self.release.is_set():
                self.entered.set()
                await self.release.wait()
            return await real(*args, **kwargs)

        monkeypatch.setattr(repos_ingest, "lock_open_alerts", gated)


async def test_bad_request_merged_with_good_ones_does_not_lose_them(container, monkeypatch) -> None:
    svc = await make_service(container)
    ref = await svc.ingest.authenticate(svc.keys["alertmanager"])
    assert ref is not None
    gate = Gate(monkeypatch)
    first = asyncio.create_task(svc.ingest.ingest(ref, am(am_alert(instance="first"))))
    await gate.entered.wait()
    good1 = am(am_alert(instance="good1"))
    bad = [replace(a, summary="   ") for a in am(am_alert(instance="bad"))]  # an incident needs a title
    good2 = am(am_alert(instance="good2"), am_alert(instance="good3"))
    before = svc.ingest.group.transactions
    tasks = [asyncio.create_task(svc.ingest.ingest(ref, b)) for b in (good1, bad, good2)]
    await asyncio.sleep(0)
    gate.release.set()
    results = await asyncio.gather(first, *tasks, return_exceptions=True)
    assert isinstance(results[2], ValueError)
    assert [len(r.opened) for r in (results[0], results[1], results[3])] == [1, 1, 2]  # type: ignore[union-attr]
    # one merged attempt for the three queued requests, then each alone after it failed
    assert svc.ingest.group.transactions == before + 1
    assert svc.ingest.group.retried_alone == 3
    assert await _fingerprints(container) == {"first", "good1", "good2", "good3"}
    async with container.db.read() as s:
        assert (await s.execute(select(func.count()).select_from(IncidentRow))).scalar_one() == 4


async def test_queued_requests_share_one_commit_and_answer_only_after_it(container, monkeypatch) -> None:
    svc = await make_service(container)
    ref = await svc.ingest.authenticate(svc.keys["alertmanager"])
    assert ref is not None
    gate = Gate(monkeypatch)
    first = asyncio.create_task(svc.ingest.ingest(ref, am(am_alert(instance="first"))))
    await gate.entered.wait()
    batches = [am(am_alert(instance=f"n{i}"), am_alert(instance="shared")) for i in range(5)]
    tasks = [asyncio.create_task(svc.ingest.ingest(ref, b)) for b in batches]
    for _ in range(5):
        await asyncio.sleep(0)
    assert not any(t.done() for t in (first, *tasks))  # nothing answered while its commit is pending
    assert await _fingerprints(container) == set()
    before = svc.ingest.group.transactions
    seen: list[set[str]] = []

    async def check(task: asyncio.Task) -> None:
        await task
        seen.append(await _fingerprints(container))

    gate.release.set()
    await asyncio.gather(check(first), *(check(t) for t in tasks))
    results = [t.result() for t in tasks]
    assert svc.ingest.group.transactions == before + 1  # the five queued requests went in one transaction
    for i, fps in enumerate(seen[1:]):
        assert {f"n{i}", "shared"} <= fps or len(fps) == 7
    assert sum(len(r.opened) for r in results) == 6  # n0..n4 and `shared` once
    assert sum(r.deduplicated for r in results) == 4
    assert all(r.received == 2 for r in results)
    async with container.db.read() as s:
        assert (await s.execute(select(func.count()).select_from(IncidentRow))).scalar_one() == 7


async def test_group_commit_bounds_batch_size_and_keeps_order() -> None:
    runs: list[list[int]] = []
    release = asyncio.Event()

    async def run(_key, items: list[int]) -> list[int]:
        runs.append(items)
        if len(runs) == 1:
            await release.wait()
        return [i * 10 for i in items]

    group: GroupCommit[int, int] = GroupCommit(run, max_size=3)
    tasks = [asyncio.create_task(group.submit("k", i, size=1)) for i in range(8)]
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*tasks) == [i * 10 for i in range(8)]
    assert runs == [[0, 1, 2], [3, 4, 5], [6, 7]]
