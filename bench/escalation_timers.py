"""Escalation timers under load: 10,000 open incidents with a 10 s step, half acknowledged at 5 s.

Run: .venv/bin/python bench/escalation_timers.py [--incidents 10000] [--rate 500] [--step 10] [--ack 5]
Incidents are opened through the incident service (the real hook creates each durable timer) at `rate` per
second; every other one is acknowledged through the service `ack` seconds after it opened. A separate
`prism-ir worker` process on PostgreSQL fires the steps and pages a webhook receiver here. Lateness = when the
step fired (the outbox row's created_at, worker clock) minus when it was due (opened + step). A step that fires
for an incident acknowledged before its due time is a wrong fire.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter, deque
from datetime import timedelta
from pathlib import Path

import asyncpg
from sqlalchemy import select

from prism_ir.bootstrap import build_container
from prism_ir.config import Settings
from prism_ir.domain.incident import Action
from prism_ir.domain.severity import Severity
from prism_ir.services.config_apply import apply_document, parse_document
from prism_ir.store.tables import IncidentRow
from prism_ir.store.tables_all import metadata
from prism_ir.store.tables_oncall import NotificationRow
from time_to_page import PG_ADMIN, Receiver

DB_NAME = "prism_bench_timers"


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "prism_ir.cli.main", "worker", "--id", "bench"], env=env,
                                stdout=out, stderr=out)


def pct(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, int(p * len(values)))] if values else float("nan")


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--incidents", type=int, default=10_000)
    ap.add_argument("--rate", type=float, default=100.0, help="incidents opened per second")
    ap.add_argument("--step", type=float, default=10.0)
    ap.add_argument("--ack", type=float, default=5.0)
    args = ap.parse_args()

    admin = await asyncpg.connect(PG_ADMIN)
    await admin.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{DB_NAME}"')
    await admin.close()
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + DB_NAME
    rec = Receiver()
    hook_port = rec.start()
    tmp = Path(tempfile.mkdtemp())
    settings = Settings(database_url=url, secret_key="bench", data_dir=tmp, db_pool_size=10)
    c = build_container(settings)
    async with c.db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    step = f"{int(args.step)}s"
    await apply_document(c.db, c.clock, parse_document(f"""
users:
  - id: pager
    contact_methods: [{{type: webhook, url: "http://127.0.0.1:{hook_port}/page"}}]
escalation_policies:
  - id: timers
    steps: [{{after: {step}, notify: ["user:pager"], until: acknowledged}}]
services:
  - id: timers
    name: Timers
    escalation: {{P1: timers}}
""", env={}), actor="bench")

    env = {**os.environ, "PRISM_IR_DATABASE_URL": url, "PRISM_IR_SECRET_KEY": "bench", "PRISM_IR_DATA_DIR": str(tmp)}
    worker = start_worker(env, tmp / "worker.log")
    await asyncio.sleep(2.0)  # let the worker connect and LISTEN

    opened: dict[int, float] = {}
    ack_queue: deque[tuple[float, int]] = deque()
    late_acks: list[float] = []
    tx = c.incidents.tx
    batch = max(1, int(args.rate / 20))  # one transaction every 50 ms

    async def open_all() -> None:
        t0 = time.perf_counter()
        n = 0
        while n < args.incidents:
            delay = t0 + n / args.rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            async with c.db.transaction() as s:
                made = []
                for _ in range(min(batch, args.incidents - n)):
                    inc = await tx.create_in(s, title=f"timer {n}", severity=Severity.P1, now=c.clock.now(),
                                             actor="bench", service_id="timers")
                    made.append((inc.id, n))
                    n += 1
            for iid, k in made:
                opened[iid] = time.perf_counter()
                if k % 2 == 0:
                    ack_queue.append((opened[iid] + args.ack, iid))

    async def ack_all() -> None:
        done = 0
        total = (args.incidents + 1) // 2
        while done < total:
            if not ack_queue:
                await asyncio.sleep(0.005)
                continue
            wait = ack_queue[0][0] - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            ready = []
            while ack_queue and ack_queue[0][0] <= time.perf_counter() and len(ready) < 200:
                ready.append(ack_queue.popleft())
            async with c.db.transaction() as s:
                for d, i in ready:
                    await tx.act_in(s, i, Action.ACKNOWLEDGE, "bench", c.clock.now())
                    late_acks.append(time.perf_counter() - d)
            done += len(ready)

    started = time.perf_counter()
    await asyncio.gather(open_all(), ack_all())
    opening = time.perf_counter() - started
    await asyncio.sleep(args.step + 3.0)
    expected = args.incidents // 2
    for _ in range(300):
        async with c.db.read() as s:
            fired = len((await s.execute(select(NotificationRow.id))).all())
        if fired >= expected:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)
    async with c.db.read() as s:
        incs = {r.id: r for r in (await s.execute(select(IncidentRow))).scalars()}
        notes = (await s.execute(select(NotificationRow.incident_id, NotificationRow.created_at,
                                        NotificationRow.state))).all()
    worker.terminate()
    worker.wait(30)
    await c.close()

    step_delta = timedelta(seconds=args.step)
    fired = {iid: created for iid, created, _ in notes}
    lateness = sorted((created - (incs[iid].created_at + step_delta)).total_seconds() for iid, created in fired.items())
    wrong = sum(1 for iid, created in fired.items()
                if incs[iid].acknowledged_at is not None and incs[iid].acknowledged_at < created)
    never_acked = [i for i, r in incs.items() if r.acknowledged_at is None]
    lost = sum(1 for i in never_acked if i not in fired)
    raced = sum(1 for i, r in incs.items() if i not in fired and r.acknowledged_at is not None
                and r.acknowledged_at >= r.created_at + step_delta)
    states = Counter(st for *_, st in notes)
    late_acks.sort()
    print(f"escalation timers: {args.incidents} open incidents (opened at {args.rate:.0f}/s over {opening:.1f} s), "
          f"{args.step:.0f} s step, every other one acknowledged at {args.ack:.0f} s "
          f"(PostgreSQL, separate worker process, {os.cpu_count()} CPUs)")
    print(f"  steps fired: {len(fired)} (never-acknowledged incidents: {len(never_acked)}, of them not paged: {lost});"
          f" pages {dict(states)}")
    print(f"  acks that landed after the due time and beat the step (not paged, correctly): {raced}")
    print(f"  lateness of fired steps: p50 {pct(lateness, 0.5) * 1000:.0f} ms, p99 {pct(lateness, 0.99) * 1000:.0f} ms,"
          f" max {lateness[-1] * 1000 if lateness else float('nan'):.0f} ms")
    print(f"  steps that wrongly fired (incident acknowledged before the step was due): {wrong}")
    print(f"  acknowledgements applied late by the load generator: p99 {pct(late_acks, 0.99) * 1000:.0f} ms")
    print("  target: p99 lateness ≤ 1 s, 0 wrong")
    if lost:
        print((tmp / "worker.log").read_text()[-1500:])


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    asyncio.run(main())
