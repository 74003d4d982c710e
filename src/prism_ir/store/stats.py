"""Fresh planner statistics for tables that grow fast (PostgreSQL).

Autovacuum analyzes a table only after 10 % of it changed and on its own round (a minute by default). Until
then a young table looks empty to the planner, which then reads every open alert of a service through any
partial index on open alerts instead of probing the fingerprint index: measured with 2,000 open alerts, the
repeat statement took 3.2 ms instead of 0.3 ms, and the lookup of 64 fingerprints 2.8 ms instead of 0.2 ms.

So this process counts the rows it inserts per table (`note_inserted`, called by the bulk inserts) and analyzes
a table as soon as it doubled since its last analysis (at least `floor` rows); every `sweep` seconds it
also asks the statistics collector, which sees other processes' writes, updates and deletes.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

from sqlalchemy import text

from prism_ir.store.db import Database

log = logging.getLogger("prism_ir.store.stats")

_GROWN: Counter[str] = Counter()  # rows this process inserted per table since the keeper last looked

STALE = text("""
SELECT relname FROM pg_stat_user_tables
WHERE schemaname = current_schema() AND relname = ANY(:tables)
  AND n_mod_since_analyze > GREATEST(:floor, :fraction * n_live_tup)
""")
SIZES = text("""
SELECT c.relname, GREATEST(c.reltuples, 0)::bigint FROM pg_class AS c
WHERE c.relnamespace = current_schema()::regnamespace AND c.relname = ANY(:tables)
""")


def note_inserted(table: str, rows: int) -> None:
    _GROWN[table] += rows


class StatsKeeper:
    def __init__(self, db: Database, tables: list[str], *, floor: int = 100, fraction: float = 1.0) -> None:
        self.db = db
        self.tables = tables
        self.floor = floor
        self.fraction = fraction
        self.analyzed: Counter[str] = Counter()  # table -> times analyzed by this keeper (tests, metrics)
        self._size: dict[str, int] = {}  # rows at the last analysis, as the planner knows them
        self._grown: Counter[str] = Counter()

    def _due_by_growth(self) -> list[str]:
        self._grown.update({t: n for t, n in _GROWN.items() if t in self._size})
        _GROWN.clear()
        return [t for t, n in self._grown.items() if n >= max(self.floor, self.fraction * self._size[t])]

    async def _stale_by_collector(self) -> list[str]:
        async with self.db.engine.connect() as conn:
            rows = await conn.execute(STALE, {"tables": self.tables, "floor": self.floor,
                                              "fraction": self.fraction})
            return [str(r[0]) for r in rows]

    async def analyze(self, tables: list[str]) -> None:
        """Analyze these tables now and count their growth from here."""
        async with self.db.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            for table in sorted(set(tables)):
                if table in self.tables:  # our own table names only: safe to quote into the statement
                    await conn.execute(text(f'ANALYZE "{table}"'))
                    self.analyzed[table] += 1
                    self._grown.pop(table, None)
                    _GROWN.pop(table, None)
            await self._read_sizes(conn)

    async def _read_sizes(self, conn: object) -> None:
        rows = await conn.execute(SIZES, {"tables": self.tables})  # type: ignore[attr-defined]
        self._size = {str(name): int(n) for name, n in rows}

    async def refresh(self, *, sweep: bool = True) -> list[str]:
        """Analyze the tables that grew (and, with `sweep`, those the collector says changed); return them."""
        if self.db.dialect != "postgresql":
            return []
        if not self._size:
            async with self.db.engine.connect() as conn:
                await self._read_sizes(conn)
        due = self._due_by_growth()
        if sweep:
            due += await self._stale_by_collector()
        if due:
            await self.analyze(due)
        return sorted(set(due))

    async def run(self, tick: float = 0.25, sweep: float = 10.0) -> None:
        loop = asyncio.get_running_loop()
        next_sweep = loop.time()
        while True:
            try:
                now = loop.time()
                await self.refresh(sweep=now >= next_sweep)
                if now >= next_sweep:
                    next_sweep = now + sweep
            except Exception:  # the database may be away for a moment; the next round tries again
                log.exception("refreshing planner statistics failed")
            await asyncio.sleep(tick)
