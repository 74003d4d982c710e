"""Demo data so a newcomer's first screen shows a real quarter of incidents, not an empty table."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from prism_ir.bootstrap import Container
from prism_ir.domain.incident import Action
from prism_ir.domain.severity import Severity
from prism_ir.services.auth import Role
from prism_ir.services.config_apply import apply_document, parse_document
from prism_ir.services.incident_tx import IncidentTx
from prism_ir.store.tables import ApiKeyRow, IncidentRow

DEMO_KEY_NAME = "demo-admin"
TITLES = {
    "prism-api": [("API down", Severity.P1), ("High latency on /zones", Severity.P2), ("Auth failures", Severity.P2),
                  ("Single endpoint 500s", Severity.P3)],
    "prism-db": [("Database connection pool exhausted", Severity.P1), ("Slow queries", Severity.P3)],
    "powerdns": [("DNS failure", Severity.P1), ("Partial resolution errors", Severity.P2)],
    "prism-web": [("UI glitch on zone editor", Severity.P4), ("Docs typo in API reference", Severity.P4)],
}
TTA = {Severity.P1: (1, 14), Severity.P2: (3, 35), Severity.P3: (10, 150), Severity.P4: (60, 900)}
TTR = {Severity.P1: (20, 150), Severity.P2: (40, 300), Severity.P3: (120, 1600), Severity.P4: (600, 4000)}


async def load_demo(container: Container) -> dict[str, Any]:
    """Apply the demo YAML, add ~90 days of incidents once, and rotate (or create) the demo admin key."""
    parsed = parse_document((Path(__file__).parent / "prism-dns.yaml").read_text())
    await apply_document(container.db, container.clock, parsed, actor="demo")
    async with container.db.read() as session:
        already = (await session.execute(select(IncidentRow.id).where(IncidentRow.source == "demo").limit(1))).first()
        has_key = (await session.execute(
            select(ApiKeyRow.id).where(ApiKeyRow.name == DEMO_KEY_NAME, ApiKeyRow.revoked_at.is_(None)))).first()
    created = 0 if already else await _history(container)
    if has_key:
        issued = await container.auth.rotate_key(DEMO_KEY_NAME, actor="demo")
    else:
        issued = await container.auth.create_key(DEMO_KEY_NAME, Role.ADMIN, actor="demo")
    message = f"demo data: {created} incidents added" if created else "demo data already loaded"
    return {"message": message, "incidents_added": created, "admin_key": issued.key}


async def _history(container: Container) -> int:
    rng = random.Random(42)
    tx = IncidentTx(container.hooks)
    now = container.clock.now().replace(second=0, microsecond=0)
    people = ["alice", "bob", "carol"]
    count = 0
    async with container.db.transaction() as session:
        for day in range(90, 0, -1):
            if rng.random() > 0.35:
                continue
            service = rng.choice(list(TITLES))
            title, severity = rng.choice(TITLES[service])
            start = now - timedelta(days=day, minutes=rng.randint(0, 1439))
            who = rng.choice(people)
            inc = await tx.create_in(session, title=title, severity=severity, now=start, actor="alertmanager",
                                     service_id=service, source="demo", impact="see timeline")
            assert inc.id is not None
            acked = start + timedelta(minutes=rng.randint(*TTA[severity]))
            await tx.act_in(session, inc.id, Action.ACKNOWLEDGE, who, acked)
            await tx.act_in(session, inc.id, Action.INVESTIGATE, who, acked + timedelta(minutes=2))
            resolved = start + timedelta(minutes=rng.randint(*TTR[severity]))
            resolved = max(resolved, acked + timedelta(minutes=5))
            await tx.act_in(session, inc.id, Action.RESOLVE, who, resolved, "fixed and verified")
            minutes = int((resolved - start).total_seconds() // 60)
            share = {Severity.P1: 1.0, Severity.P2: 0.3, Severity.P3: 0.05, Severity.P4: 0.0}[severity]
            row = await session.get(IncidentRow, inc.id)
            assert row is not None
            row.customer_minutes_affected = int(minutes * share * 100)
            if day > 7:
                await tx.act_in(session, inc.id, Action.REVIEW, who, resolved + timedelta(days=1))
            count += 1
        for title, severity, service, action in [
            ("API down", Severity.P1, "prism-api", Action.INVESTIGATE),
            ("High latency on /zones", Severity.P2, "prism-api", Action.IDENTIFY),
            ("Slow queries", Severity.P3, "prism-db", None),
        ]:
            start = now - timedelta(minutes=rng.randint(5, 40))
            inc = await tx.create_in(session, title=title, severity=severity, now=start, actor="alertmanager",
                                     service_id=service, source="demo", impact="investigating")
            assert inc.id is not None
            if action is not None:
                await tx.act_in(session, inc.id, Action.ACKNOWLEDGE, "alice", start + timedelta(minutes=3))
                await tx.act_in(session, inc.id, action, "alice", start + timedelta(minutes=4))
            count += 1
    return count
