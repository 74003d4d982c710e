"""Ingestion fixtures: a service with one key per integration type, and payload builders."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from prism_ir.bootstrap import Container
from prism_ir.domain.alert import AlertIn
from prism_ir.services.ingest import IngestResult, IngestService
from prism_ir.services.ingest_install import ingest_service


@dataclass
class Svc:
    id: str
    keys: dict[str, str]
    ingest: IngestService
    container: Container

    async def send(self, alerts: list[AlertIn], type_: str = "alertmanager") -> IngestResult:
        ref = await self.ingest.authenticate(self.keys[type_])
        assert ref is not None
        return await self.ingest.ingest(ref, alerts)

    async def incidents(self, **filters: Any) -> list[Any]:
        items, _ = await self.container.incidents.list(service_id=self.id, limit=1000, **filters)
        return items


async def make_service(container: Container, service_id: str = "api", **settings: Any) -> Svc:
    auto_resolve = settings.pop("auto_resolve", True)
    await container.catalog.create_service(
        {"id": service_id, "name": service_id.upper(), "auto_resolve": auto_resolve, "settings": settings}, "test"
    )
    keys = {}
    for type_ in ("alertmanager", "events_v2", "webhook"):
        keys[type_] = (await container.catalog.create_integration_key(service_id, type_, "test")).key
    service = ingest_service(container)
    service.invalidate()
    return Svc(service_id, keys, service, container)


@pytest.fixture
async def svc(container: Container) -> Svc:
    return await make_service(container)


def am_alert(status: str = "firing", starts: str = "2026-11-30T14:00:00Z", **labels: str) -> dict[str, Any]:
    labels = {"alertname": "APIDown", "severity": "critical", **labels}
    return {"status": status, "labels": labels, "annotations": {"summary": f"{labels['alertname']} fired"},
            "startsAt": starts, "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prom/g"}


def am_payload(*alerts: dict[str, Any]) -> dict[str, Any]:
    return {"version": "4", "status": "firing", "receiver": "prism", "groupKey": "{}:{}", "truncatedAlerts": 0,
            "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am",
            "alerts": list(alerts)}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    container: Container


@pytest.fixture
def live_server(settings, clock) -> Any:
    """The real app under uvicorn on a free loopback port, in a thread with its own loop and engine."""
    import threading
    import time

    import uvicorn

    from prism_ir.bootstrap import build_container
    from prism_ir.web.app import create_app

    port = free_port()
    container = build_container(settings, clock=clock)
    server = uvicorn.Server(uvicorn.Config(create_app(container), host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    yield LiveServer(f"http://127.0.0.1:{port}", container)
    server.should_exit = True
    thread.join(timeout=10)
