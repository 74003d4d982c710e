"""The JSON document bulk inserts send to json_populate_recordset: times keep their instant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import orjson

from prism_ir.store.bulk import rows_document
from prism_ir.store.tables_ingest import AlertIntakeRow


def test_times_are_written_with_their_offset_and_naive_ones_as_utc() -> None:
    aware = datetime(2026, 12, 1, 23, 30, 5, 123456, tzinfo=UTC)
    paris = aware.astimezone(timezone(timedelta(hours=1)))
    naive = datetime(2026, 12, 1, 23, 30, 5)
    doc = orjson.loads(rows_document(AlertIntakeRow.__table__, [  # type: ignore[arg-type]
        {"received_at": aware, "lease_until": paris, "at": naive, "wait": timedelta(minutes=15), "ids": {3}}]))
    row = doc[0]
    assert datetime.fromisoformat(row["received_at"]) == aware
    assert row["lease_until"].endswith("+01:00") and datetime.fromisoformat(row["lease_until"]) == aware
    assert row["at"] == "2026-12-01T23:30:05+00:00"
    assert row["wait"] == "900.0 seconds" and row["ids"] == [3]
