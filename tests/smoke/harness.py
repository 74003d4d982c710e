"""The real app and worker on a fake clock, with real SMTP and HTTP receivers catching every page."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

import httpx
from receivers import HttpReceiver, SmtpServer

from prism_ir.bootstrap import Container
from prism_ir.clock import FakeClock
from prism_ir.engine.loop import Worker
from prism_ir.engine.runtime import runtime_of
from prism_ir.services.config_apply import apply_document, parse_document

CONFIG = """
users:
  - id: alice
    name: Alice Primary
    contact_methods:
      - {{type: email, address: alice@example.com}}
      - {{type: webhook, url: "{hook}/alice"}}
  - id: bob
    name: Bob Secondary
    contact_methods:
      - {{type: webhook, url: "{hook}/bob"}}
  - id: carol
    name: Carol Holiday Cover
    contact_methods:
      - {{type: email, address: carol@example.com}}
contacts:
  on_call: {{primary: "+1-555-0001", secondary: "+1-555-0002"}}
  management: {{engineering_manager: "em@example.com", vp_engineering: "+1-555-0020", cto: "+1-555-0030"}}
  external: {{aws_support: "https://console.aws.amazon.com/support", datadog: "support@datadoghq.com"}}
  stakeholders: {{customer_success: "cs-team@example.com", legal: "legal@example.com"}}
schedules:
  - id: prism-oncall
    time_zone: Europe/Berlin
    rotations:
      - {{role: primary, users: [alice, bob], length: 1w, handoff: "2026-11-30T09:00"}}
      - {{role: secondary, users: [bob, alice], length: 1w, handoff: "2026-11-30T09:00"}}
    overrides:
      - {{role: primary, user: carol, start: "2026-12-24T00:00", end: "2026-12-27T00:00"}}
services:
  - id: prism-api
    name: Prism API
"""


@dataclass
class Harness:
    container: Container
    clock: FakeClock
    client: httpx.AsyncClient
    mail: SmtpServer
    http: HttpReceiver
    worker: Worker | None = None
    task: asyncio.Task[None] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    async def start(self, config: str | None = None) -> None:
        rt = runtime_of(self.container)
        self.container.settings.smtp_url = self.mail.url
        sms = f"json://127.0.0.1:{self.http.port}/sms/{{phone_digits}}"
        rt.settings.sms_url_template = sms
        rt.escalations.sms_template = sms
        rt.settings.send_backoff_seconds = 30
        text = (config or CONFIG).format(hook=self.http.url("").rstrip("/"))
        await apply_document(self.container.db, self.clock, parse_document(text, env={}), actor="test")
        self.worker = Worker(self.container, worker_id="test-worker")
        self.task = asyncio.create_task(self.worker.run())

    async def stop(self) -> None:
        if self.task:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def settle(self) -> None:
        """Wake the worker and wait until nothing is due and nothing is in flight."""
        assert self.worker is not None
        for _ in range(3):  # a send finishing can queue a fallback: settle until stable
            self.worker.idle.clear()
            runtime_of(self.container).wakeup.set()
            await asyncio.wait_for(self.worker.idle.wait(), 20)

    async def fast_forward(self, **delta: float) -> None:
        self.clock.advance(**delta)
        await self.settle()

    async def incident(self, severity: str = "P1", title: str = "API down", service: str | None = "prism-api") -> int:
        r = await self.client.post("/api/v1/incidents", json={"title": title, "severity": severity,
                                                              "service_id": service})
        assert r.status_code in (200, 201), r.text
        await self.settle()
        return int(r.json()["id"])

    async def timeline(self, incident_id: int) -> list[dict[str, Any]]:
        r = await self.client.get(f"/api/v1/incidents/{incident_id}/timeline")
        assert r.status_code == 200, r.text
        body = r.json()
        return body["items"] if isinstance(body, dict) else body

    def paged(self) -> list[str]:
        """Everyone paged so far, in arrival order: email recipients, webhook paths, SMS numbers."""
        out: list[tuple[float, str]] = []
        with self.mail.lock:
            out += [(i, f"mail:{m.to[0]}") for i, m in enumerate(self.mail.mails)]
        with self.http.lock:
            out += [(len(out) + i, f"http:{h.path}") for i, h in enumerate(self.http.hits)]
        return [x for _, x in out]
