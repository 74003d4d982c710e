"""One database fixture for the whole suite: every store, service and web test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from prism_ir.bootstrap import Container, build_container
from prism_ir.clock import FakeClock
from prism_ir.config import Settings
from prism_ir.services.auth import Role
from prism_ir.store.db import Database, async_url
from prism_ir.store.tables_all import metadata
from prism_ir.web.app import create_app

def run_in_thread(coro: Awaitable[T]) -> T:
    """Run a coroutine to completion even when a loop is already running in this thread."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()  # type: ignore[arg-type]


PG_ADMIN_URL = os.environ.get("PRISM_IR_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
T = TypeVar("T")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


async def _pg_available() -> str | None:
    engine = create_async_engine(async_url(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return None
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        await engine.dispose()


async def _create_pg_database(name: str) -> None:
    engine = create_async_engine(async_url(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await engine.dispose()


async def _drop_pg_database(name: str) -> None:
    engine = create_async_engine(async_url(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await engine.dispose()


def pg_url_for(name: str) -> str:
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{name}"


async def create_schema(url: str) -> None:
    engine = create_async_engine(async_url(url))
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    await engine.dispose()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A PostgreSQL database for this test run, schema created once; tests truncate it."""
    problem = run_in_thread(_pg_available())
    if problem:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI but unreachable at {PG_ADMIN_URL}: {problem}")
        pytest.skip(f"PostgreSQL unavailable: {problem}")
    name = f"prism_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    run_in_thread(_create_pg_database(name))
    url = pg_url_for(name)
    run_in_thread(create_schema(url))
    yield url
    run_in_thread(_drop_pg_database(name))


async def truncate_all(url: str) -> None:
    engine = create_async_engine(async_url(url))
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    await engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty, fully created schema on the parametrised backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'test.db'}"
        await create_schema(url)
        yield url
    else:
        url = request.getfixturevalue("pg_database")
        await truncate_all(url)
        yield url


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=db_url, data_dir=tmp_path / "data", secret_key="test-secret-key",
                    base_url="http://prism.test")


@pytest.fixture
async def container(settings: Settings, clock: FakeClock) -> AsyncIterator[Container]:
    c = build_container(settings, clock=clock)
    yield c
    await c.close()


@pytest.fixture
def db(container: Container) -> Database:
    return container.db


@pytest.fixture
def api_key(container: Container) -> Callable[[str], Awaitable[str]]:
    async def make(role: str = "admin") -> str:
        issued = await container.auth.create_key(f"test-{role}-{uuid.uuid4().hex[:6]}", Role(role))
        return issued.key

    return make


@pytest.fixture
async def anon_client(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(container)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://prism.test") as client:
        yield client


@pytest.fixture
async def client(anon_client: httpx.AsyncClient, api_key: Callable[[str], Awaitable[str]]) -> httpx.AsyncClient:
    anon_client.headers["X-API-Key"] = await api_key("admin")
    return anon_client
