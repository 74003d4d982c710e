"""One database fixture for the whole suite: every store, service and web test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from prism_ir.bootstrap import Container, build_container
from prism_ir.clock import FakeClock
from prism_ir.config import Settings
from prism_ir.services.auth import Role
from prism_ir.store.db import Database
from prism_ir.web.app import create_app
from tests.support import (
    IN_CI,
    PG_ADMIN_URL,
    create_pg_database,
    create_schema,
    drop_pg_database,
    pg_problem,
    pg_url_for,
    run_in_thread,
    truncate_all,
)


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A PostgreSQL database for this test run, schema created once; tests truncate it."""
    problem = run_in_thread(pg_problem())
    if problem:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI but unreachable at {PG_ADMIN_URL}: {problem}")
        pytest.skip(f"PostgreSQL unavailable: {problem}")
    name = f"prism_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    run_in_thread(create_pg_database(name))
    url = pg_url_for(name)
    run_in_thread(create_schema(url))
    yield url
    run_in_thread(drop_pg_database(name))


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
    return Settings(
        database_url=db_url, data_dir=tmp_path / "data", secret_key="test-secret-key", base_url="http://prism.test"
    )


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
