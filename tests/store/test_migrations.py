"""Alembic migrations build exactly the schema the code declares, on both databases."""

from __future__ import annotations

import asyncio
import uuid

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from prism_ir.store.db import async_url
from prism_ir.store.migrate import upgrade
from prism_ir.store.tables_all import metadata
from tests.support import create_pg_database, drop_pg_database, pg_url_for, run_in_thread


def _diff(url: str) -> list[object]:
    async def main() -> list[object]:
        engine = create_async_engine(async_url(url))
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync, opts={"compare_type": True}), metadata)
            )
            tables = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        await engine.dispose()
        assert {t.name for t in metadata.sorted_tables} <= tables
        return list(diff)

    return asyncio.run(main())


def test_sqlite_migrations_match_metadata(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    upgrade(url)  # a second upgrade is a no-op
    assert _diff(url) == []


def test_postgresql_migrations_match_metadata(pg_database: str) -> None:
    name = f"prism_mig_{uuid.uuid4().hex[:8]}"
    run_in_thread(create_pg_database(name))
    try:
        url = pg_url_for(name)
        upgrade(url)
        assert _diff(url) == []
    finally:
        run_in_thread(drop_pg_database(name))
