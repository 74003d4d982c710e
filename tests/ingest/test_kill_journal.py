"""SIGKILL a server holding answered-but-unapplied requests; after a restart every accepted alert is there once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from prism_ir.store.tables_ingest import AlertIntakeRow, AlertRow
from tests.ingest.conftest import Svc, am_alert, am_payload, free_port

pytestmark = pytest.mark.slow


def serve(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    """In a process group of its own: its applier process is stopped and killed with it."""
    return subprocess.Popen([sys.executable, "-m", "prism_ir.cli.main", "serve", "--port", str(port),
                             "--no-worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)


async def wait_healthy(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient() as http:
        while time.monotonic() < deadline:
            assert proc.poll() is None, (proc.stderr.read() if proc.stderr else b"").decode()[-2000:]
            try:
                answer = await http.get(f"{url}/api/health")  # up, journaled requests going to its applier
                if answer.status_code == 200 and answer.json()["applier"]["status"] == "ok":
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("server did not come up")


async def journal_rows(svc: Svc) -> int:
    async with svc.container.db.read() as s:
        return int((await s.execute(select(func.count()).select_from(AlertIntakeRow))).scalar_one())


async def test_sigkill_after_answer_loses_nothing_and_doubles_nothing(
    svc: Svc, db_url: str, tmp_path: Path
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("the journal serves several processes on PostgreSQL; SQLite applies before answering")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PRISM_IR_DATABASE_URL": db_url, "PRISM_IR_SECRET_KEY": "test-secret-key",
           "PRISM_IR_DATA_DIR": str(tmp_path / "data"), "PRISM_IR_INGEST_QUEUE": "always",
           "PRISM_IR_INGEST_RATE": "100000", "PRISM_IR_INGEST_BURST": "100000",
           "PRISM_IR_INGEST_QUEUE_LEASE": "1", "PRISM_IR_INGEST_RECOVER_INTERVAL": "0.2"}
    proc = serve(env, port)
    accepted: set[str] = set()
    try:
        await wait_healthy(url, proc)
        headers = {"Authorization": f"Bearer {svc.keys['alertmanager']}"}
        killed_with = 0
        async with httpx.AsyncClient(timeout=10) as http:
            for round_ in range(20):
                names = [f"r{round_}-{i}-{j}" for i in range(24) for j in range(4)]

                async def send(i: int, names: list[str] = names) -> None:
                    mine = names[i * 4:(i + 1) * 4]
                    r = await http.post(f"{url}/api/v1/integrations/alertmanager", headers=headers,
                                        json=am_payload(*(am_alert(instance=n) for n in mine)))
                    if r.status_code == 200:
                        accepted.update(mine)

                await asyncio.gather(*(send(i) for i in range(24)), return_exceptions=True)
                # freeze the process, look: answered requests it has not applied yet are what a kill must not lose
                os.killpg(proc.pid, signal.SIGSTOP)
                killed_with = await journal_rows(svc)
                if killed_with:
                    os.killpg(proc.pid, signal.SIGKILL)
                    break
                os.killpg(proc.pid, signal.SIGCONT)
        assert killed_with > 0, "never caught the server holding unapplied requests"
        proc.wait(10)
        proc = serve(env, port)
        await wait_healthy(url, proc)
        deadline = time.monotonic() + 30
        while await journal_rows(svc) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        assert await journal_rows(svc) == 0
        async with svc.container.db.read() as s:
            rows = (await s.execute(select(AlertRow.labels["instance"].as_string(), AlertRow.occurrences))).all()
        instances = [r[0] for r in rows]
        assert set(instances) == accepted  # nothing accepted is lost, nothing unaccepted appears
        assert len(instances) == len(set(instances))  # nothing applied twice
        assert all(r[1] == 1 for r in rows)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGCONT)
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
