"""Many rows in one statement: PostgreSQL gets fixed-text INSERT … SELECT FROM unnest(arrays), others Core executemany.

One fixed statement per table means one prepared statement per connection (insertmanyvalues would prepare a new
one per batch size) and no per-row SQLAlchemy parameter processing on the hot ingestion path.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any

import orjson
from sqlalchemy import JSON, Table, TextClause, insert, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

_PG = postgresql.dialect()


def _is_pg(session: AsyncSession) -> bool:
    return session.bind.dialect.name == "postgresql"  # type: ignore[union-attr]


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given to the store; pass aware UTC datetimes")
    return value.astimezone(UTC)


def _converter(table: Table, name: str) -> Any:
    col = table.c[name]
    impl = getattr(col.type, "impl", col.type)
    if isinstance(col.type, JSON) or isinstance(impl, JSON) or "JSON" in col.type.compile(dialect=_PG):
        return _json
    if "TIMESTAMP" in col.type.compile(dialect=_PG):
        return _utc
    return None


@cache
def _pg_insert(table: Table, cols: tuple[str, ...], tail: str) -> tuple[TextClause, tuple[Any, ...]]:
    casts = ", ".join(f"CAST(:c{i} AS {table.c[c].type.compile(dialect=_PG)}[])" for i, c in enumerate(cols))
    names = ", ".join(cols)
    sql = (f"INSERT INTO {table.name} ({names}) SELECT {names} FROM unnest({casts}) WITH ORDINALITY "
           f"AS u({names}, ord) ORDER BY ord {tail}")
    return text(sql), tuple(_converter(table, c) for c in cols)


def _pg_params(cols: tuple[str, ...], convert: tuple[Any, ...], rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for i, (c, f) in enumerate(zip(cols, convert, strict=True)):
        values = [r[c] for r in rows]
        params[f"c{i}"] = [f(v) for v in values] if f is not None else values
    return params


async def insert_rows(session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows that all have the same keys."""
    if not rows:
        return
    if not _is_pg(session) or len(rows) == 1:
        await session.execute(insert(table), list(rows))
        return
    cols = tuple(rows[0])
    stmt, convert = _pg_insert(table, cols, "")
    await session.execute(stmt, _pg_params(cols, convert, rows))


async def insert_returning_ids(session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert rows (same keys) and return their generated ids in the order of `rows`."""
    if not rows:
        return []
    if not _is_pg(session):
        stmt = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        return [int(i) for i in (await session.execute(stmt, list(rows))).scalars()]
    cols = tuple(rows[0])
    stmt, convert = _pg_insert(table, cols, "RETURNING id")
    # Rows are inserted in `ord` order within one statement, so the sequence hands out ascending ids
    # (SQLAlchemy's own insertmanyvalues ordering relies on the same property).
    return sorted(int(i) for i in (await session.execute(stmt, _pg_params(cols, convert, rows))).scalars())


async def pg_insert_returning(session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]],
                              tail: str) -> list[Any]:
    """PostgreSQL only: the unnest insert with a caller's tail (ON CONFLICT …, RETURNING …); rows as returned."""
    cols = tuple(rows[0])
    stmt, convert = _pg_insert(table, cols, tail)
    return list(await session.execute(stmt, _pg_params(cols, convert, rows)))
