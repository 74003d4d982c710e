"""Young tables get planner statistics as they grow, not a minute later (PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from prism_ir.domain.severity import Severity
from prism_ir.store import bulk
from prism_ir.store.stats import StatsKeeper
from prism_ir.store.tables import TimelineRow


async def _timeline_rows(container, incident_id: int, n: int) -> None:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    async with container.db.transaction() as s:
        await bulk.insert_rows(s, TimelineRow.__table__, [
            {"incident_id": incident_id, "at": now, "kind": "note", "actor": "t", "message": f"m{i}", "data": {}}
            for i in range(n)])


async def _planner_rows(container, table: str) -> int:
    async with container.db.read() as s:
        return int((await s.execute(text("SELECT reltuples FROM pg_class WHERE relname = :t"), {"t": table}))
                   .scalar_one())


async def test_a_table_is_analyzed_when_it_doubles(container) -> None:
    keeper = StatsKeeper(container.db, ["timeline_events"], floor=100)
    if container.db.dialect != "postgresql":
        assert await keeper.refresh() == []  # SQLite has no planner statistics to keep
        pytest.skip("planner statistics are PostgreSQL's")
    incident = await container.incidents.create(title="stats", severity=Severity.P3, actor="t")
    await keeper.analyze(["timeline_events"])  # from here on, growth counts from what the planner knows
    await _timeline_rows(container, incident.id, 60)
    assert await keeper.refresh(sweep=False) == []  # below the floor: left to autovacuum
    await _timeline_rows(container, incident.id, 60)
    assert await keeper.refresh(sweep=False) == ["timeline_events"]
    assert await _planner_rows(container, "timeline_events") >= 120
    await _timeline_rows(container, incident.id, 100)
    assert await keeper.refresh(sweep=False) == []  # 100 more on ~120: not doubled yet
    await _timeline_rows(container, incident.id, 50)
    assert await keeper.refresh(sweep=False) == ["timeline_events"]
    assert keeper.analyzed["timeline_events"] == 3
