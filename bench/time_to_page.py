"""Time to page: alerts POSTed into the running platform → webhook page arrives; Prism IR vs Alertmanager 0.25.

Run: .venv/bin/python bench/time_to_page.py [--rate 50] [--seconds 20]
Prism IR runs as the quick start runs it: `prism-ir serve` with its in-process worker (which sends the pages its
own requests create, pre-claimed, right after their commit) plus one more `prism-ir worker --id bench` process
sharing the outbox on PostgreSQL, so a page sent twice would show as a duplicate. Each alert is a new P1 incident
whose policy pages one user's webhook. Alertmanager: Debian's prometheus-alertmanager, group_by ['...'],
group_wait 0s, webhook receiver. Both get the same open-loop load from the same minimal keep-alive HTTP/1.1
client (bodies encoded up front; each alert's clock starts when it is due to be sent), and one threaded
receiver in this process timestamps arrivals. Everything is loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN = os.environ.get("PRISM_IR_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
DB_NAME = "prism_bench_ttp"
KEY = "bench-alertmanager-key-0123456789"
ID = re.compile(r"bench-(\d+)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Receiver:
    arrivals: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> int:
        rec = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                at = time.perf_counter()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                ids = [int(m) for m in ID.findall(body.decode(errors="replace"))]
                with rec.lock:
                    for i in set(ids):
                        rec.arrivals.setdefault(self.path, []).append((i, at))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 512
            daemon_threads = True

        server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return int(server.server_address[1])


def spawn(cmd: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def run_cli(cmd: list[str], env: dict[str, str]) -> None:
    subprocess.run(cmd, env=env, check=True, capture_output=True)


def alert(i: int) -> dict[str, object]:
    return {"labels": {"alertname": "BenchDown", "instance": f"bench-{i}", "severity": "critical"},
            "annotations": {"summary": f"Bench outage bench-{i}"}}


class KeepAlive:
    """A minimal HTTP/1.1 keep-alive client (as `blast` in bench/ingest.py): an idle connection if there is one,
    else a new one. Much lighter than httpx, so the generator adds little to what is measured, for both targets."""

    def __init__(self, url: str) -> None:
        u = urlsplit(url)
        self.host, self.port, self.path = u.hostname or "127.0.0.1", u.port or 80, u.path
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    def request(self, body: bytes, headers: dict[str, str]) -> bytes:
        head = f"POST {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        return (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body

    async def warm(self, n: int) -> None:
        self.idle += [await asyncio.open_connection(self.host, self.port) for _ in range(n)]

    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        while self.idle:
            reader, writer = self.idle.pop()
            if not reader.at_eof():  # the server closes connections idle for a while (uvicorn: 5 s)
                return reader, writer
            writer.close()
        return await asyncio.open_connection(self.host, self.port)

    async def post(self, request: bytes) -> int:
        reader, writer = await self._connection()
        writer.write(request)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):  # closed just as it was reused: once more, anew
            writer.close()
            reader, writer = await asyncio.open_connection(self.host, self.port)
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
        status, length, chunked, close = int(head[9:12]), 0, False, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value:
                chunked = True
            elif name == b"connection" and value == b"close":
                close = True
        if length:
            await reader.readexactly(length)
        while chunked:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
            await reader.readexactly(size + 2)
            chunked = size > 0
        if close:
            writer.close()
        else:
            self.idle.append((reader, writer))
        return status

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()


async def load(url: str, body_of, rate: float, seconds: float, headers: dict[str, str]) -> dict[int, float]:
    """Open-loop: POST alert i at t0 + i/rate regardless of how earlier POSTs are doing.

    Bodies are encoded up front; the clock starts when alert i is due to be sent (a busy client would count).
    """
    sent: dict[int, float] = {}
    n = int(rate * seconds)
    errors: Counter[object] = Counter()
    client = KeepAlive(url)
    requests = [client.request(json.dumps(body_of(i)).encode(), headers) for i in range(n)]
    await client.warm(4)

    async def one(i: int) -> None:
        sent[i] = time.perf_counter()
        try:
            async with asyncio.timeout(30):
                status = await client.post(requests[i])
            if status >= 300:
                errors[status] += 1
        except (TimeoutError, OSError, asyncio.IncompleteReadError) as exc:
            errors[type(exc).__name__] += 1

    t0 = time.perf_counter()
    tasks = []
    for i in range(n):
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    client.close()
    if errors:
        print(f"  POST errors: {dict(errors)}")
    return sent


def summarise(name: str, sent: dict[int, float], arrivals: list[tuple[int, float]]) -> list[str]:
    first: dict[int, float] = {}
    count = Counter(i for i, _ in arrivals)
    for i, at in arrivals:
        first[i] = min(at, first.get(i, at))
    lat = sorted((first[i] - sent[i]) * 1000 for i in sent if i in first)

    def pct(p: float) -> str:
        return f"{lat[min(len(lat) - 1, int(p * len(lat)))]:.1f}" if lat else "-"

    dups = sum(c - 1 for c in count.values() if c > 1)
    return [name, pct(0.5), pct(0.99), f"{lat[-1]:.1f}" if lat else "-", f"{len(first)}/{len(sent)}", str(dups)]


async def wait_arrivals(rec: Receiver, path: str, n: int, limit: float = 15.0) -> None:
    end = time.monotonic() + limit
    while time.monotonic() < end:
        with rec.lock:
            if len({i for i, _ in rec.arrivals.get(path, [])}) >= n:
                break
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)  # late duplicates would show up here


async def bench_prism(rec: Receiver, hook_port: int, rate: float, seconds: float, tmp: Path) -> list[str]:
    admin = await asyncpg.connect(PG_ADMIN)
    await admin.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{DB_NAME}"')
    await admin.close()
    port = free_port()
    env = {**os.environ, "PRISM_IR_DATABASE_URL": PG_ADMIN.rsplit("/", 1)[0] + "/" + DB_NAME,
           "PRISM_IR_SECRET_KEY": "bench-secret", "PRISM_IR_DATA_DIR": str(tmp / "data"), "PRISM_IR_PORT": str(port),
           "PRISM_IR_BASE_URL": f"http://127.0.0.1:{port}", "PRISM_IR_INGEST_RATE": "1000",
           "PRISM_IR_INGEST_BURST": "2000"}
    config = tmp / "prism.yaml"
    config.write_text(f"""
users:
  - id: pager
    name: Bench Pager
    contact_methods: [{{type: webhook, url: "http://127.0.0.1:{hook_port}/prism"}}]
schedules:
  - id: bench
    rotations: [{{role: primary, users: [pager], length: 1w, handoff: "2026-01-05T09:00"}}]
escalation_policies:
  - id: bench-p1
    steps: [{{after: 0m, notify: ["schedule:bench/primary"], until: acknowledged}}]
services:
  - id: bench
    name: Bench
    integrations: [{{type: alertmanager, key: "{KEY}"}}]
    escalation: {{P1: bench-p1}}
    severity_rules: [{{match: {{severity: critical}}, severity: P1}}]
""")
    cli = [sys.executable, "-m", "prism_ir.cli.main"]
    run_cli([*cli, "apply", str(config)], env)
    # as the quick start runs it: `serve` with its in-process worker (which sends the pages its own requests
    # create, pre-claimed), plus one more `prism-ir worker` sharing the outbox, so a duplicate would show
    server = spawn([*cli, "serve", "--port", str(port)], env)
    worker = spawn([*cli, "worker", "--id", "bench"], env)
    try:
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient() as c:
            for _ in range(200):
                try:
                    if (await c.get(base + "/api/health")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        # warm-up alert so the first measured page does not pay for connection setup
        body = {"version": "4", "status": "firing", "receiver": "prism", "groupKey": "k", "alerts": []}

        def am_payload(i: int) -> dict[str, object]:
            a = alert(i)
            return {**body, "groupLabels": {}, "commonLabels": a["labels"], "alerts": [{**a, "status": "firing"}]}

        headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
        await load(base + "/api/v1/integrations/alertmanager", lambda i: am_payload(1_000_000 + i), 5, 1, headers)
        await wait_arrivals(rec, "/prism", 5, 10)
        with rec.lock:
            rec.arrivals.pop("/prism", None)
        sent = await load(base + "/api/v1/integrations/alertmanager", am_payload, rate, seconds, headers)
        await wait_arrivals(rec, "/prism", len(sent))
        with rec.lock:
            arrivals = list(rec.arrivals.get("/prism", []))
        return summarise("Prism IR (alertmanager webhook → incident → page)", sent, arrivals)
    finally:
        for p in (server, worker):
            p.terminate()
            p.wait(20)


async def bench_alertmanager(rec: Receiver, hook_port: int, rate: float, seconds: float, tmp: Path) -> list[str]:
    port = free_port()
    cfg = tmp / "am.yml"
    cfg.write_text(f"""
route:
  receiver: hook
  group_by: ['...']
  group_wait: 0s
  group_interval: 5m
  repeat_interval: 24h
receivers:
  - name: hook
    webhook_configs:
      - url: http://127.0.0.1:{hook_port}/am
        send_resolved: false
""")
    am = spawn(["prometheus-alertmanager", f"--config.file={cfg}", f"--storage.path={tmp / 'am'}",
                f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="])
    try:
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient() as c:
            for _ in range(200):
                try:
                    if (await c.get(base + "/-/ready")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        headers = {"Content-Type": "application/json"}
        await load(base + "/api/v2/alerts", lambda i: [alert(1_000_000 + i)], 5, 1, headers)
        await wait_arrivals(rec, "/am", 5, 10)
        with rec.lock:
            rec.arrivals.pop("/am", None)
        sent = await load(base + "/api/v2/alerts", lambda i: [alert(i)], rate, seconds, headers)
        await wait_arrivals(rec, "/am", len(sent))
        with rec.lock:
            arrivals = list(rec.arrivals.get("/am", []))
        return summarise("Alertmanager 0.25 (api/v2/alerts → webhook)", sent, arrivals)
    finally:
        am.terminate()
        am.wait(20)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    rec = Receiver()
    hook_port = rec.start()
    rows = [["target", "p50 ms", "p99 ms", "max ms", "delivered", "duplicates"]]
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(await bench_prism(rec, hook_port, args.rate, args.seconds, Path(tmp)))
        rows.append(await bench_alertmanager(rec, hook_port, args.rate, args.seconds, Path(tmp)))
    print(f"time to page: {args.rate:.0f} new alerts/s for {args.seconds:.0f} s, POST → webhook arrival "
          f"(PostgreSQL, {os.cpu_count()} CPUs, loopback)")
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  " + "  ".join(c.ljust(w) if j == 0 else c.rjust(w) for j, (c, w) in enumerate(zip(r, widths,
                                                                                                  strict=True))))
    print("  target: p50 ≤ 10 ms, p99 ≤ 50 ms, 100% delivered, 0 duplicates")


if __name__ == "__main__":
    asyncio.run(main())
