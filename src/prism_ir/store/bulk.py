"""Many rows in one statement: PostgreSQL gets fixed-text INSERT … SELECT FROM json_populate_recordset, others
Core executemany.

One fixed statement per table means one prepared statement per connection (insertmanyvalues would prepare a new
one per batch size) and no per-row SQLAlchemy parameter processing on the hot ingestion path. The rows travel
as ONE JSON document per table, written by orjson: encoding text arrays element by element in the driver cost
about a fifth of the CPU of opening an incident (measured with cProfile on 2,000 new alerts).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache
from typing import Any

import orjson
from sqlalchemy import Table, TextClause, insert, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from prism_ir.store.stats import note_inserted

# orjson writes datetimes itself (an eighth of the CPU of a Python `default` per value); a naive one, which the
# services never pass, is written as UTC rather than read by PostgreSQL in the session's time zone
_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_NAIVE_UTC


def _is_pg(session: AsyncSession) -> bool:
    return session.bind.dialect.name == "postgresql"  # type: ignore[union-attr]


def _default(value: Any) -> Any:
    if isinstance(value, timedelta):
        return f"{value.total_seconds()} seconds"  # interval input
    if isinstance(value, set | frozenset):
        return list(value)
    raise TypeError(f"cannot store {type(value).__name__} in a bulk insert")


def rows_document(table: Table, rows: Sequence[dict[str, Any]]) -> str:
    """The rows as one JSON array for json_populate_recordset (JSON columns nest as JSON)."""
    note_inserted(table.name, len(rows))
    return orjson.dumps(list(rows), default=_default, option=_OPTIONS).decode()


@dataclass(frozen=True)
class _PgStatement:
    stmt: TextClause  # :c0, :c1 … for SQLAlchemy
    sql: str  # the same with $1, $2 … for asyncpg


def _insert_sql(table: Table, cols: tuple[str, ...], tail: str, param: str) -> str:
    names = ", ".join(cols)
    # each object's keys fill the columns of the table's row type; ordinality keeps the rows' order (and ids)
    return (f"INSERT INTO {table.name} ({names}) SELECT {names} FROM json_populate_recordset("
            f"NULL::{table.name}, CAST({param} AS JSON)) WITH ORDINALITY AS u ORDER BY u.ordinality {tail}").rstrip()


@cache
def _pg_insert(table: Table, cols: tuple[str, ...], tail: str) -> _PgStatement:
    return _PgStatement(text(_insert_sql(table, cols, tail, ":c0")), _insert_sql(table, cols, tail, "$1"))


_RAW = "prism_raw_connection"


async def _raw_connection(session: AsyncSession) -> Any:
    """The session transaction's DBAPI adapter, looked up once per transaction (session.connection() is costly)."""
    tx = session.sync_session.get_transaction()
    cached = session.info.get(_RAW)
    if cached is not None and tx is not None and cached[0] is tx:
        return cached[1]
    adapted = (await (await session.connection()).get_raw_connection()).dbapi_connection
    session.info[_RAW] = (session.sync_session.get_transaction(), adapted)
    return adapted


async def _pg_run(session: AsyncSession, ins: _PgStatement, values: Sequence[object]) -> Sequence[Any]:
    """Run on the asyncpg connection directly (a fifth of the CPU of session.execute), in the session's transaction.

    Only once SQLAlchemy has begun the transaction on that connection and nothing waits to be flushed; otherwise
    (and on any surprise in SQLAlchemy's adapter) through session.execute. Driver errors are raised as
    SQLAlchemy's DBAPIError, as session.execute would (callers retry deadlocks by their sqlstate).
    """
    adapted = None
    if not (session.new or session.dirty or session.deleted):
        adapted = await _raw_connection(session)
    if adapted is None or getattr(adapted, "_transaction", None) is None or not hasattr(adapted, "_connection"):
        result = await session.execute(ins.stmt, {f"c{i}": v for i, v in enumerate(values)})
        return list(result) if result.returns_rows else []
    try:
        return await adapted._connection.fetch(ins.sql, *values)  # type: ignore[no-any-return]
    except Exception as error:
        try:
            adapted._handle_exception(error)  # raises the driver-level error SQLAlchemy's cursor would raise
        except Exception as translated:
            raise DBAPIError.instance(ins.sql, values, translated, adapted.dbapi.Error) from error
        raise


async def insert_rows(session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows that all have the same keys."""
    if not rows:
        return
    if not _is_pg(session):
        await session.execute(insert(table), list(rows))
        return
    ins = _pg_insert(table, tuple(rows[0]), "")
    await _pg_run(session, ins, [rows_document(table, rows)])


_BATCH = "prism_insert_batch"
IdsCallback = Callable[[list[int]], None]


@dataclass
class _Pending:
    """Rows for one table with one column set, inserted together; `wants` maps row slices to id callbacks."""

    table: Table
    cols: tuple[str, ...]
    rows: list[dict[str, Any]] = field(default_factory=list)
    wants: list[tuple[int, int, IdsCallback]] = field(default_factory=list)

    def add(self, rows: Sequence[dict[str, Any]], on_ids: IdsCallback | None) -> None:
        if on_ids is not None:
            self.wants.append((len(self.rows), len(self.rows) + len(rows), on_ids))
        self.rows.extend(rows)

    def hand_out(self, ids: list[int]) -> None:
        for start, end, on_ids in self.wants:
            on_ids(ids[start:end])


def start_batch(session: AsyncSession) -> bool:
    """Until `flush_batch`, `insert_or_defer` collects rows instead of inserting them; False if already batching.

    Meant for a use case that writes several tables at once (opening incidents: escalations, pages, timeline,
    audit): on PostgreSQL `flush_batch` writes them all in ONE statement. Nothing written through the batch can be
    read back before the flush.
    """
    if _BATCH in session.info:
        return False
    session.info[_BATCH] = {}
    return True


def drop_batch(session: AsyncSession) -> None:
    session.info.pop(_BATCH, None)


async def insert_or_defer(session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]],
                          on_ids: IdsCallback | None = None) -> None:
    """Insert rows (same keys) now, or join the caller's batch; `on_ids` gets their new ids, in row order."""
    if not rows:
        if on_ids is not None:
            on_ids([])
        return
    batch: dict[tuple[Table, tuple[str, ...]], _Pending] | None = session.info.get(_BATCH)
    if batch is None:
        if on_ids is not None:
            on_ids(await insert_returning_ids(session, table, rows))
        else:
            await insert_rows(session, table, rows)
        return
    cols = tuple(rows[0])
    pending = batch.get((table, cols))
    if pending is None:
        pending = batch[(table, cols)] = _Pending(table, cols)
    pending.add(rows, on_ids)


async def flush_batch(session: AsyncSession) -> None:
    """Write what the batch collected (in the order tables first appeared) and end it."""
    batch: dict[tuple[Table, tuple[str, ...]], _Pending] = session.info.pop(_BATCH, {})
    parts = list(batch.values())
    if not parts:
        return
    if not _is_pg(session) or len(parts) == 1:
        for p in parts:
            if p.wants:
                p.hand_out(await insert_returning_ids(session, p.table, p.rows))
            else:
                await insert_rows(session, p.table, p.rows)
        return
    ins = _pg_combined(tuple((p.table, p.cols, bool(p.wants)) for p in parts))
    ids: dict[int, list[int]] = {}
    for part, row_id in await _pg_run(session, ins, [rows_document(p.table, p.rows) for p in parts]):
        ids.setdefault(int(part), []).append(int(row_id))
    for i, p in enumerate(parts):
        if p.wants:
            p.hand_out(sorted(ids.get(i, [])))  # one statement in ordinality order: ascending ids in row order


@cache
def _pg_combined(parts: tuple[tuple[Table, tuple[str, ...], bool], ...]) -> _PgStatement:
    """`WITH w0 AS (INSERT …), w1 AS (INSERT … RETURNING id) … SELECT part, id …`: every insert in one round trip.

    PostgreSQL runs each data-modifying WITH exactly once, whether or not its output is read.
    """
    def build(param: Callable[[int], str]) -> str:
        ctes, selects = [], []
        for n, (table, cols, returning) in enumerate(parts):
            sql = _insert_sql(table, cols, "RETURNING id" if returning else "", param(n))
            ctes.append(f"w{n} AS ({sql})")
            if returning:
                selects.append(f"SELECT {n} AS part, id FROM w{n}")
        tail = " UNION ALL ".join(selects) or "SELECT 0 AS part, 0 AS id WHERE false"
        return f"WITH {', '.join(ctes)} {tail}"

    return _PgStatement(text(build(lambda i: f":c{i}")), build(lambda i: f"${i + 1}"))


async def next_ids(session: AsyncSession, table: Table, n: int) -> list[int] | None:
    """PostgreSQL: draw `n` ids from the table's sequence (ascending), so rows can be inserted later in a batch
    with their ids known now; None elsewhere (insert with RETURNING instead)."""
    if not _is_pg(session) or n <= 0:
        return None
    return sorted(int(r[0]) for r in await _pg_run(session, _next_ids(table), [n]))  # type: ignore[list-item]


@cache
def _next_ids(table: Table) -> _PgStatement:
    sql = "SELECT nextval(pg_get_serial_sequence('{t}', 'id')) FROM generate_series(1, {p})"
    return _PgStatement(text(sql.format(t=table.name, p="CAST(:c0 AS INTEGER)")), sql.format(t=table.name, p="$1::int"))


async def insert_returning_ids(session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert rows (same keys) and return their generated ids in the order of `rows`."""
    if not rows:
        return []
    if not _is_pg(session):
        stmt = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        return [int(i) for i in (await session.execute(stmt, list(rows))).scalars()]
    ins = _pg_insert(table, tuple(rows[0]), "RETURNING id")
    # Rows are inserted in ordinality order within one statement, so the sequence hands out ascending ids
    # (SQLAlchemy's own insertmanyvalues ordering relies on the same property).
    return sorted(int(r[0]) for r in await _pg_run(session, ins, [rows_document(table, rows)]))
