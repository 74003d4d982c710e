"""Real clients against the real app: Debian's Alertmanager binary, and pdpyras' EventsAPISession."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from prism_ir.domain.incident import Status
from prism_ir.store.tables_ingest import AlertRow
from tests.ingest.conftest import LiveServer, Svc, free_port

pytestmark = pytest.mark.slow
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")

CONFIG = """
route:
  receiver: prism
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1s
receivers:
  - name: prism
    webhook_configs:
      - url: {url}/api/v1/integrations/alertmanager
        send_resolved: true
        http_config:
          authorization: {{type: Bearer, credentials: "{key}"}}
"""


@pytest.fixture
def alertmanager_factory(tmp_path: Path) -> Iterator:
    if ALERTMANAGER is None:
        pytest.skip("prometheus-alertmanager is not installed")
    procs: list[subprocess.Popen[bytes]] = []

    def start(url: str, key: str) -> str:
        port = free_port()
        cfg = tmp_path / "alertmanager.yml"
        cfg.write_text(CONFIG.format(url=url, key=key))
        proc = subprocess.Popen(
            [ALERTMANAGER, f"--config.file={cfg}", f"--storage.path={tmp_path / 'am-data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=", "--log.level=warn"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        procs.append(proc)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/-/ready", timeout=1).status_code == 200:
                    return base
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("alertmanager did not become ready")

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()


async def wait_for(predicate, within: float = 20.0):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.2)
    raise AssertionError("condition not reached before the deadline")


async def test_alertmanager_delivers_once_even_when_resending(svc: Svc, live_server: LiveServer,
                                                              alertmanager_factory) -> None:
    am = alertmanager_factory(live_server.url, svc.keys["alertmanager"])
    started = datetime.now(UTC).isoformat()
    alert = {"labels": {"alertname": "APIDown", "severity": "critical", "instance": "api-1"},
             "annotations": {"summary": "API is down"}, "startsAt": started}
    async with httpx.AsyncClient() as http:
        assert (await http.post(f"{am}/api/v2/alerts", json=[alert])).status_code == 200

        async def occurrences() -> int:
            async with svc.container.db.read() as s:
                rows = (await s.execute(select(AlertRow))).scalars().all()
            return rows[0].occurrences if rows and rows[0].occurrences >= 2 else 0

        await wait_for(occurrences)  # first delivery plus at least one re-send
        (incident,) = await svc.incidents()
        assert incident.title == "API is down" and incident.status is Status.TRIGGERED

        resolved = {**alert, "endsAt": datetime.now(UTC).isoformat()}
        assert (await http.post(f"{am}/api/v2/alerts", json=[resolved])).status_code == 200

        async def resolved_incident() -> bool:
            return (await svc.incidents())[0].status is Status.RESOLVED

        await wait_for(resolved_incident)
    assert len(await svc.incidents()) == 1


async def test_pdpyras_events_session(svc: Svc, live_server: LiveServer) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pdpyras

    session = pdpyras.EventsAPISession(svc.keys["events_v2"])
    session.url = live_server.url

    def flow() -> str:
        key = session.trigger("Disk full on db1", "db1", dedup_key="disk-db1", severity="error",
                              custom_details={"free": "1%"})
        session.acknowledge(key)
        return key

    key = await asyncio.to_thread(flow)
    assert key == "disk-db1"
    (incident,) = await svc.incidents()
    assert incident.status is Status.ACKNOWLEDGED and incident.severity.value == "P2"
    await asyncio.to_thread(session.resolve, key)
    assert (await svc.incidents())[0].status is Status.RESOLVED
