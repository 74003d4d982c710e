"""Ingestion benchmark: Prism IR on PostgreSQL vs Debian's Alertmanager, same generator, same load, loopback only.

Run: .venv/bin/python bench/ingest.py [--workers 1] [--alerts 20000] [--fingerprints 2000]
(a) 64 alerts per Alertmanager-webhook POST, 8 in flight; (b) single Events v2 events, 32 in flight.
One server process by default: on 2 cores shared with PostgreSQL, the generator and Alertmanager, a second one
cost more than it added (measured on this machine: (a) 12,000-13,000 alerts/s with two, 15,000-25,000 with one).
The server applies journaled requests in its applier child process (docs/integrations.md); peak RSS counts both.
Alertmanager gets the same alerts on its own /api/v2/alerts (64 per POST, then 1 per POST).
Both answer once an alert is accepted: Alertmanager holds it in memory, Prism IR has committed it (applied, or
journaled under load and applied moments later). The "applied" line says when the last one was applied.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import psutil

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN = os.environ.get("PRISM_IR_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
DB_NAME = "prism_bench"


def make_app():  # uvicorn --factory entry point for the server workers
    from prism_ir.bootstrap import build_container
    from prism_ir.web.app import create_app

    return create_app(build_container())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------- load generator (shared by both targets)

def generate(n_alerts: int, n_fps: int) -> list[dict[str, object]]:
    """n_alerts alerts cycling over n_fps fingerprints; each fingerprint keeps its labels and start time."""
    start = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    out = []
    for i in range(n_alerts):
        fp = i % n_fps
        out.append({
            "labels": {"alertname": f"BenchAlert{fp % 50}", "instance": f"host-{fp}", "job": "bench",
                       "severity": ("critical", "error", "warning", "info")[fp % 4]},
            "annotations": {"summary": f"Bench alert {fp} on host-{fp}"},
            "startsAt": start, "generatorURL": "http://prometheus.local/graph",
        })
    return out


def am_webhook_body(batch: list[dict[str, object]]) -> bytes:
    alerts = [{**a, "status": "firing", "endsAt": "0001-01-01T00:00:00Z"} for a in batch]
    return orjson.dumps({"version": "4", "status": "firing", "receiver": "prism", "groupKey": "{}:{}",
                         "truncatedAlerts": 0, "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
                         "externalURL": "http://am.local", "alerts": alerts})


def events_v2_body(alert: dict[str, object], routing_key: str) -> bytes:
    labels = alert["labels"]
    assert isinstance(labels, dict)
    return orjson.dumps({"routing_key": routing_key, "event_action": "trigger",
                         "dedup_key": f"{labels['instance']}/{labels['alertname']}",
                         "payload": {"summary": alert["annotations"]["summary"],  # type: ignore[index]
                                     "source": labels["instance"], "severity": labels["severity"]}})


def request_bytes(port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    head += f"Content-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


@dataclass
class RunResult:
    seconds: float
    latencies: list[float]
    statuses: dict[int, int]


async def blast_phases(port: int, requests: list[bytes], first: int, in_flight: int,
                       journal: JournalProbe) -> tuple[RunResult, ...]:
    """Run the first-occurrence requests, then the repeats; return (whole, first phase, repeat phase, applied).

    `applied` times the run until the intake journal is empty too: every answered request applied.
    """
    t = time.perf_counter()
    a = await blast(port, requests[:first], in_flight)
    b = await blast(port, requests[first:], in_flight)
    await journal.wait_empty()
    applied = RunResult(time.perf_counter() - t, [], {})
    statuses = {k: a.statuses.get(k, 0) + b.statuses.get(k, 0) for k in {*a.statuses, *b.statuses}}
    return RunResult(a.seconds + b.seconds, a.latencies + b.latencies, statuses), a, b, applied


class JournalProbe:
    """Watches the intake journal (requests answered but not yet applied) of the benchmark database."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def wait_empty(self) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.url)
        try:
            while True:
                if not await conn.fetchval("SELECT count(*) FROM alert_intake"):
                    return
                await asyncio.sleep(0.01)
        finally:
            await conn.close()


async def blast(port: int, requests: list[bytes], in_flight: int) -> RunResult:
    """A minimal keep-alive HTTP/1.1 client: `in_flight` connections, each sending its next request on reply."""
    queue = list(reversed(requests))
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def conn() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while queue:
                req = queue.pop()
                t0 = time.perf_counter()
                writer.write(req)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                length = 0
                chunked = False
                for line in head.split(b"\r\n"):
                    low = line.lower()
                    if low.startswith(b"content-length:"):
                        length = int(line[15:])
                    elif low.startswith(b"transfer-encoding:") and b"chunked" in low:
                        chunked = True
                if length:
                    await reader.readexactly(length)
                while chunked:
                    size = int((await reader.readuntil(b"\r\n")).strip(), 16)
                    await reader.readexactly(size + 2)
                    chunked = size > 0
                latencies.append(time.perf_counter() - t0)
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            writer.close()

    t = time.perf_counter()
    await asyncio.gather(*(conn() for _ in range(in_flight)))
    return RunResult(time.perf_counter() - t, latencies, statuses)


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))] * 1000 if s else float("nan")


class RssSampler:
    """Peak resident memory of a process tree, sampled every 50 ms."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.peak = 0
        self._task: asyncio.Task[None] | None = None

    def sample(self) -> None:
        try:
            procs = [self.proc, *self.proc.children(recursive=True)]
            self.peak = max(self.peak, sum(p.memory_info().rss for p in procs if p.is_running()))
        except psutil.Error:
            pass

    async def _loop(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(0.05)

    def __enter__(self) -> RssSampler:
        self._task = asyncio.get_running_loop().create_task(self._loop())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


# ---------------------------------------------------------------- processes

def wait_http(url: str, timeout: float = 30.0, ready: Callable[[Any], bool] = lambda _: True) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            answer = httpx.get(url, timeout=1)
            if answer.status_code < 500 and ready(answer):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


async def prepare_database(url: str) -> dict[str, dict[str, str]]:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from prism_ir.bootstrap import build_container
    from prism_ir.config import Settings
    from prism_ir.store.db import async_url
    from prism_ir.store.migrate import upgrade

    admin = create_async_engine(async_url(PG_ADMIN), isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)'))
        await conn.execute(text(f'CREATE DATABASE "{DB_NAME}"'))
    await admin.dispose()
    await asyncio.to_thread(upgrade, url)
    container = build_container(Settings(database_url=url, secret_key="bench"))
    keys: dict[str, dict[str, str]] = {}
    try:
        for sid, types in (("bench-am", ["alertmanager"]), ("bench-ev", ["events_v2"]),
                           ("bench-warm", ["alertmanager", "events_v2"])):
            await container.catalog.create_service({"id": sid, "name": sid}, "bench")
            keys[sid] = {t: (await container.catalog.create_integration_key(sid, t, "bench")).key for t in types}
    finally:
        await container.close()
    return keys


async def count_results(url: str) -> dict[str, tuple[int, int, int]]:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from prism_ir.store.db import async_url

    engine = create_async_engine(async_url(url))
    out = {}
    async with engine.connect() as conn:
        for sid in ("bench-am", "bench-ev"):
            incidents = (await conn.execute(text("SELECT count(*) FROM incidents WHERE service_id = :s"),
                                            {"s": sid})).scalar_one()
            alerts, occurrences = (await conn.execute(
                text("SELECT count(*), coalesce(sum(occurrences), 0) FROM alerts WHERE service_id = :s"),
                {"s": sid})).one()
            out[sid] = (int(incidents), int(alerts), int(occurrences))
    await engine.dispose()
    return out


def start_server(url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PRISM_IR_DATABASE_URL": url, "PRISM_IR_SECRET_KEY": "bench",
           "PRISM_IR_INGEST_RATE": "1000000", "PRISM_IR_INGEST_BURST": "1000000",
           "PRISM_IR_DATA_DIR": tempfile.mkdtemp(prefix="prism-bench-")}
    cmd = [sys.executable, "-m", "uvicorn", "bench.ingest:make_app", "--factory", "--app-dir", str(ROOT),
           "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
           "--loop", "uvloop",
           "--http", "httptools", "--no-access-log", "--log-level", "warning"]
    return subprocess.Popen(cmd, env=env, cwd=ROOT)


def start_alertmanager(port: int, data: Path) -> subprocess.Popen[bytes]:
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if binary is None:
        raise SystemExit("prometheus-alertmanager is not installed (apt-get install prometheus-alertmanager)")
    cfg = data / "am.yml"
    cfg.write_text("route: {receiver: blackhole, group_wait: 30s}\nreceivers: [{name: blackhole}]\n")
    return subprocess.Popen([binary, f"--config.file={cfg}", f"--storage.path={data / 'am'}",
                             f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
                             "--log.level=warn"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


# ---------------------------------------------------------------- main

def report(name: str, n: int, runs: tuple[RunResult, ...], theirs: RunResult, rss: int, am_rss: int,
           first: int, per_request: int) -> float:
    ours, one, rest, applied = runs
    rate, am_rate = n / ours.seconds, n / theirs.seconds
    print(f"{name}")
    n_first = min(n, first * per_request)
    print(f"  Prism IR phases: first occurrences (incident creation) {n_first / one.seconds:8.0f} alerts/s "
          f"p99 {pct(one.latencies, 99):6.1f} ms; repeats (dedup) {(n - n_first) / rest.seconds:8.0f} alerts/s "
          f"p50 {pct(rest.latencies, 50):6.1f} ms p99 {pct(rest.latencies, 99):6.1f} ms")
    print(f"  Prism IR applied: every answered alert applied (incidents open, occurrences counted) "
          f"{(applied.seconds - ours.seconds) * 1000:.0f} ms after the last answer; end to end "
          f"{n / applied.seconds:.0f} alerts/s")
    print("  slowest requests (ms): first phase", [round(x * 1000) for x in sorted(one.latencies)[-5:]],
          "repeats", [round(x * 1000) for x in sorted(rest.latencies)[-5:]])
    print(f"  Prism IR     : {rate:9.0f} alerts/s  p50 {pct(ours.latencies, 50):6.1f} ms  "
          f"p99 {pct(ours.latencies, 99):6.1f} ms  {len(ours.latencies)} requests  statuses {ours.statuses}")
    print(f"  Alertmanager : {am_rate:9.0f} alerts/s  p50 {pct(theirs.latencies, 50):6.1f} ms  "
          f"p99 {pct(theirs.latencies, 99):6.1f} ms  {len(theirs.latencies)} requests  statuses {theirs.statuses}")
    print(f"  ratio ours/Alertmanager: {rate / am_rate:.2f}   peak RSS: Prism IR {rss / 2**20:.0f} MiB, "
          f"Alertmanager {am_rss / 2**20:.0f} MiB")
    return rate


async def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--alerts", type=int, default=20000)
    ap.add_argument("--fingerprints", type=int, default=2000)
    args = ap.parse_args()
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{DB_NAME}"
    keys = await prepare_database(url)
    port, am_port = free_port(), free_port()
    tmp = Path(tempfile.mkdtemp(prefix="prism-bench-am-"))
    server = start_server(url, port, args.workers)
    am = start_alertmanager(am_port, tmp)
    failures: list[str] = []
    try:
        # journaled requests are applied by the server's applier process once it has started
        wait_http(f"http://127.0.0.1:{port}/api/health", ready=lambda r: r.json()["applier"]["status"] == "ok")
        wait_http(f"http://127.0.0.1:{am_port}/-/ready")
        alerts = generate(args.alerts, args.fingerprints)
        am_key = keys["bench-am"]["alertmanager"]
        ev_key = keys["bench-ev"]["events_v2"]
        batches = [alerts[i:i + 64] for i in range(0, len(alerts), 64)]
        ours_a = [request_bytes(port, "/api/v1/integrations/alertmanager", am_webhook_body(b),
                                {"Authorization": f"Bearer {am_key}"}) for b in batches]
        theirs_a = [request_bytes(am_port, "/api/v2/alerts", orjson.dumps(b), {}) for b in batches]
        ours_b = [request_bytes(port, "/v2/enqueue", events_v2_body(a, ev_key), {}) for a in alerts]
        theirs_b = [request_bytes(am_port, "/api/v2/alerts", orjson.dumps([a]), {}) for a in alerts]
        print(f"Prism IR: {args.workers} uvicorn worker(s) (uvloop, httptools) on PostgreSQL database {DB_NAME}; "
              f"Alertmanager {am_version()}; {os.cpu_count()} cores; "
              f"{args.alerts} alerts from {args.fingerprints} fingerprints")
        await warm_up(port, am_port, keys["bench-warm"], JournalProbe(PG_ADMIN.rsplit("/", 1)[0] + f"/{DB_NAME}"))
        am_sampler = RssSampler(am.pid)
        with RssSampler(server.pid) as sampler, am_sampler:
            first_a = -(-args.fingerprints // 64)
            journal = JournalProbe(PG_ADMIN.rsplit("/", 1)[0] + f"/{DB_NAME}")
            r_ours_a = await blast_phases(port, ours_a, first_a, 8, journal)
            r_am_a = await blast(am_port, theirs_a, 8)
            r_ours_b = await blast_phases(port, ours_b, args.fingerprints, 32, journal)
            r_am_b = await blast(am_port, theirs_b, 32)
        rate_a = report("(a) Alertmanager webhook, 64 alerts/POST, 8 in flight", args.alerts, r_ours_a, r_am_a,
                        sampler.peak, am_sampler.peak, first_a, 64)
        rate_b = report("(b) Events v2, 1 event/POST, 32 in flight", args.alerts, r_ours_b, r_am_b,
                        sampler.peak, am_sampler.peak, args.fingerprints, 1)
        counts = await count_results(url)
        for sid, (incidents, rows, occurrences) in counts.items():
            print(f"  {sid}: {incidents} incidents, {rows} alert rows, {occurrences} occurrences recorded")
            if incidents != args.fingerprints:
                failures.append(f"{sid}: expected {args.fingerprints} incidents, found {incidents}")
            if occurrences != args.alerts:
                failures.append(f"{sid}: expected {args.alerts} occurrences durable, found {occurrences}")
        p99_b, p99_a = pct(r_ours_b[0].latencies, 99), pct(r_ours_a[0].latencies, 99)
        for ok, what in ((rate_a >= 15000, f"(a) {rate_a:.0f} alerts/s >= 15000"),
                         (rate_b >= 3000, f"(b) {rate_b:.0f} events/s >= 3000"),
                         (p99_b <= 50, f"(b) p99 {p99_b:.1f} ms <= 50 ms"),
                         (p99_a <= 50, f"(a) p99 {p99_a:.1f} ms <= 50 ms")):
            print(f"  target {'met' if ok else 'MISSED'}: {what}")
        for s in (r_ours_a[0], r_ours_b[0]):
            bad = {k: v for k, v in s.statuses.items() if k >= 300}
            if bad:
                failures.append(f"non-2xx answers: {bad}")
    finally:
        stop(server)
        stop(am)
        shutil.rmtree(tmp, ignore_errors=True)
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


async def warm_up(port: int, am_port: int, keys: dict[str, str], journal: JournalProbe) -> None:
    """Both servers first see a little traffic of their own (another service, other alerts), as a running
    platform would have: connection pools, caches and prepared statements are warm when measuring starts."""
    alerts = [{**a, "labels": {**a["labels"], "job": "warm-up"}} for a in generate(512, 256)]  # type: ignore[dict-item]
    batches = [alerts[i:i + 64] for i in range(0, len(alerts), 64)]
    await blast(port, [request_bytes(port, "/api/v1/integrations/alertmanager", am_webhook_body(b),
                                     {"Authorization": f"Bearer {keys['alertmanager']}"}) for b in batches], 8)
    await blast(port, [request_bytes(port, "/v2/enqueue", events_v2_body(a, keys["events_v2"]), {})
                       for a in alerts], 32)
    await blast(am_port, [request_bytes(am_port, "/api/v2/alerts", orjson.dumps(b), {}) for b in batches], 8)
    await blast(am_port, [request_bytes(am_port, "/api/v2/alerts", orjson.dumps([a]), {}) for a in alerts], 32)
    await journal.wait_empty()


def am_version() -> str:
    binary = shutil.which("prometheus-alertmanager") or "alertmanager"
    out = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    return out.split("version ")[-1].split(" ")[0] if out else "?"


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))



