"""The seed's 'Monthly incident metrics' SQL runs unchanged on our PostgreSQL schema and gives right figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from prism_ir.bootstrap import Container
from prism_ir.clock import FakeClock
from prism_ir.domain.severity import Severity
from prism_ir.services.incidents import IncidentPatch

# The seed has a trailing space after SELECT; keep it so the text is byte for byte the seed's.
SEED_QUERY = (
    "-- Monthly incident metrics\nSELECT "
    + """
  DATE_TRUNC('month', created_at) as month,
  severity,
  COUNT(*) as incident_count,
  AVG(time_to_acknowledge) as avg_tta,
  AVG(time_to_resolve) as avg_ttr,
  SUM(customer_minutes_affected) as total_impact
FROM incidents
GROUP BY month, severity
ORDER BY month DESC;"""
)

SEED_FILE = Path(__file__).resolve().parents[3] / "shared" / "seed" / "incident-response-guide.md"


def test_query_is_the_seeds_verbatim() -> None:
    if not SEED_FILE.exists():
        pytest.skip(f"seed guide not beside the checkout ({SEED_FILE})")
    assert SEED_QUERY in SEED_FILE.read_text()


async def _incident(
    c: Container, clock: FakeClock, at: datetime, sev: Severity, tta_min: int, ttr_min: int, impact: int
) -> None:
    clock.set(at)
    inc = await c.incidents.create(title=f"{sev} at {at:%m-%d}", severity=sev, actor="test")
    assert inc.id is not None
    clock.set(at + timedelta(minutes=tta_min))
    await c.incidents.acknowledge(inc.id, "alice")
    clock.set(at + timedelta(minutes=ttr_min))
    await c.incidents.resolve(inc.id, "alice")
    await c.incidents.patch(
        inc.id,
        IncidentPatch(customer_minutes_affected=impact, fields_set=frozenset({"customer_minutes_affected"})),
        "alice",
    )


async def test_seed_metrics_query_returns_expected_figures(container: Container, clock: FakeClock) -> None:
    if container.db.dialect != "postgresql":
        pytest.skip("DATE_TRUNC and interval averages are PostgreSQL's; the seed query targets PostgreSQL")
    oct_ = datetime(2026, 10, 5, 14, 0, tzinfo=UTC)
    nov = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
    await _incident(container, clock, oct_, Severity.P1, 4, 60, 600)
    await _incident(container, clock, oct_ + timedelta(days=3), Severity.P1, 10, 120, 300)
    await _incident(container, clock, nov, Severity.P1, 2, 30, 100)
    await _incident(container, clock, nov + timedelta(days=1), Severity.P3, 60, 600, 0)
    await container.incidents.create(title="still open", severity=Severity.P2, actor="test")

    async with container.db.read() as session:
        rows = (await session.execute(text(SEED_QUERY))).all()
    got = [
        (r.month.date().isoformat(), r.severity, r.incident_count, r.avg_tta, r.avg_ttr, r.total_impact) for r in rows
    ]
    by_key = {(m, s): rest for m, s, *rest in got}
    assert [g[0] for g in got] == sorted([g[0] for g in got], reverse=True)
    assert by_key[("2026-10-01", "P1")] == [2, timedelta(minutes=7), timedelta(minutes=90), 900]
    assert by_key[("2026-11-01", "P1")] == [1, timedelta(minutes=2), timedelta(minutes=30), 100]
    assert by_key[("2026-11-01", "P3")] == [1, timedelta(hours=1), timedelta(hours=10), 0]
    open_row = by_key[(clock.now().replace(day=1).date().isoformat(), "P2")]
    assert open_row == [1, None, None, None]
