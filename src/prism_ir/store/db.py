"""One async engine per process, with the driver chosen from a plain database URL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


def async_url(url: str) -> str:
    """Map the plain URLs users write onto the async drivers the platform uses."""
    u = make_url(url)
    backend = u.get_backend_name()
    if backend in ("postgresql", "postgres"):
        return u.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    if backend == "sqlite":
        return u.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
    raise ValueError(f"unsupported database URL {url!r}: use postgresql://… or sqlite:///…")


def sync_url(url: str) -> str:
    """Alembic and admin commands use the same URL through the same async drivers."""
    return async_url(url)


def ensure_sqlite_dir(url: str) -> None:
    """Create the directory of a SQLite file so a fresh data dir just works."""
    u = make_url(async_url(url))
    if u.get_backend_name() == "sqlite" and u.database and u.database != ":memory:":
        Path(u.database).parent.mkdir(parents=True, exist_ok=True)


class Database:
    def __init__(self, url: str, *, pool_size: int = 10, max_overflow: int = 10, echo: bool = False) -> None:
        self.url = url
        full = async_url(url)
        self.dialect = make_url(full).get_backend_name()
        kwargs: dict[str, Any] = {"echo": echo}
        if self.dialect == "sqlite":
            ensure_sqlite_dir(url)
            kwargs["connect_args"] = {"timeout": 30}
        else:
            # No pre-ping (a round trip on every checkout): connections are recycled after 30 min, and a
            # connection found dead mid-request invalidates the pool so the next checkout reconnects.
            kwargs.update(pool_size=pool_size, max_overflow=max_overflow, pool_pre_ping=False, pool_recycle=1800)
        self.engine: AsyncEngine = create_async_engine(full, **kwargs)
        if self.dialect == "sqlite":
            _tune_sqlite(self.engine)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        self.max_connections = 1 if self.dialect == "sqlite" else pool_size + max_overflow

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """Yield a session whose work commits together or not at all."""
        async with self.sessionmaker() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self.sessionmaker() as session:
            yield session

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    def active_connections(self) -> int:
        pool = self.engine.pool
        checked = getattr(pool, "checkedout", None)
        return int(checked()) if callable(checked) else 0

    async def dispose(self) -> None:
        await self.engine.dispose()


def _tune_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Writers queue on BEGIN IMMEDIATE instead of failing mid-transaction on a lock upgrade.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
