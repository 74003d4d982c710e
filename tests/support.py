"""Database helpers shared by the fixtures and the tests that need a database of their own."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import socket
import threading
import time
from collections.abc import Awaitable
from typing import TypeVar

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from prism_ir.store.db import async_url
from prism_ir.store.tables_all import metadata

T = TypeVar("T")


def run_in_thread(coro: Awaitable[T]) -> T:
    """Run a coroutine to completion even when a loop is already running in this thread."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()  # type: ignore[arg-type]


PG_ADMIN_URL = os.environ.get("PRISM_IR_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


async def pg_problem() -> str | None:
    engine = create_async_engine(async_url(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return None
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        await engine.dispose()


async def create_pg_database(name: str) -> None:
    engine = create_async_engine(async_url(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await engine.dispose()


async def drop_pg_database(name: str) -> None:
    engine = create_async_engine(async_url(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await engine.dispose()


def pg_url_for(name: str) -> str:
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{name}"


async def create_schema(url: str) -> None:
    """Create tables from metadata (fast) and mark them migrated, so `db upgrade` sees a current schema."""
    from prism_ir.store.migrate import current_heads

    engine = create_async_engine(async_url(url))
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        await conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)"))
        for head in current_heads(url):
            await conn.execute(text("INSERT INTO alembic_version VALUES (:v)"), {"v": head})
    await engine.dispose()


async def truncate_all(url: str) -> None:
    engine = create_async_engine(async_url(url))
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    await engine.dispose()


class LiveServer:
    """The real app under uvicorn on a free loopback port, in a thread with its own event loop."""

    def __init__(self, settings: object, *, clock: object | None = None, worker: bool = False) -> None:
        self.settings = settings
        self.clock = clock
        self.worker = worker
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: object | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> LiveServer:
        import uvicorn

        from prism_ir.bootstrap import build_container
        from prism_ir.web.app import create_app

        container = build_container(self.settings, clock=self.clock)  # type: ignore[arg-type]
        if self.worker and container.extras.get("start_worker") is not None:
            container.background.append(container.extras["start_worker"])
        config = uvicorn.Config(create_app(container), host="127.0.0.1", port=self.port, log_level="warning",
                                lifespan="on")
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(target=server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("live server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.should_exit = True  # type: ignore[attr-defined]
        self._thread.join(timeout=20)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# Paging adds its own entries (pages, deliveries); lifecycle tests look at what the incident room writes.
PAGING_KINDS = ("page", "notification", "escalation", "delivery")


def lifecycle(items: list[dict]) -> list[dict]:
    return [e for e in items if not e["kind"].startswith(PAGING_KINDS)]
