"""Alert intake over HTTP: Alertmanager webhook, PagerDuty Events v2 (`/v2/enqueue`) and a generic webhook."""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, Counter, Gauge
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from prism_ir.domain.alert import AlertValidationError, FieldError
from prism_ir.integrations.sources import PARSERS, events_v2
from prism_ir.services.ingest import IngestService, IntegrationRef
from prism_ir.services.ingest_install import IngestSettings
from prism_ir.web.api.health import METRIC_WRITERS

router = APIRouter(tags=["integrations"])


class _TooLarge(Exception):
    pass


class _Gone(Exception):
    """The client hung up before sending its whole body."""


class TokenBuckets:
    """Per-integration-key token bucket (per process): smooths bursts, answers 429 with Retry-After past them."""

    def __init__(self, rate: float, burst: int, now: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self.now = rate, burst, now
        self._buckets: dict[int, tuple[float, float]] = {}

    def take(self, key: int) -> float:
        """Return 0 when allowed, else the seconds to wait for a token."""
        t = self.now()
        tokens, last = self._buckets.get(key, (float(self.burst), t))
        tokens = min(float(self.burst), tokens + (t - last) * self.rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, t)
            return 0.0
        self._buckets[key] = (tokens, t)
        return (1.0 - tokens) / self.rate


Answer = tuple[int, bytes, dict[str, str]]
BodyReader = Callable[[int], Awaitable[bytes]]


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Answer:
    return status, orjson.dumps(body), headers or {}


def _parts(extras: dict[str, Any]) -> tuple[IngestService, IngestSettings, TokenBuckets]:
    settings: IngestSettings = extras["ingest_settings"]
    buckets = extras.get("ingest_buckets")
    if buckets is None:
        buckets = extras["ingest_buckets"] = TokenBuckets(settings.rate, settings.burst)
    return extras["ingest"], settings, buckets


def _errors(errors: list[FieldError]) -> Answer:
    return _json({"detail": "; ".join(str(e) for e in errors),
                  "errors": [{"field": e.field, "message": e.reason} for e in errors]}, 400)


def _bearer(headers: dict[str, str]) -> str | None:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


async def _bearer_intake(extras: dict[str, Any], headers: dict[str, str], read: BodyReader, type_: str) -> Answer:
    """Alertmanager and the generic webhook: parsed by PARSERS[type_], the parser a journaled request is re-read
    with, so what was answered and what is applied cannot differ."""
    service, settings, buckets = _parts(extras)
    key = _bearer(headers)
    if key is None:
        return _json({"detail": "send the integration key as 'Authorization: Bearer <key>'"}, 401,
                     {"WWW-Authenticate": "Bearer"})
    ref = await service.authenticate(key)
    if ref is None or ref.type != type_:
        return _json({"detail": f"unknown or revoked {type_} integration key"}, 401, {"WWW-Authenticate": "Bearer"})
    wait = buckets.take(ref.id)
    if wait:
        return _json({"detail": "too many requests for this integration key; retry later"}, 429,
                     {"Retry-After": str(max(1, math.ceil(wait)))})
    try:
        raw = await read(settings.max_body)
    except _TooLarge:
        return _json({"detail": f"request body exceeds {settings.max_body // 1024} KB"}, 413)
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return _errors([FieldError("body", f"is not valid JSON: {exc}")])
    try:
        alerts = PARSERS[type_](body)
    except AlertValidationError as exc:
        return _errors(exc.errors)
    result = await service.ingest(ref, alerts, raw, type_)
    return _json({"status": "queued" if result.queued else "ok", **result.as_dict()})


def _pd_invalid(errors: list[str], status: int = 400) -> Answer:
    return _json({"status": "invalid event", "message": "Event object is invalid", "errors": errors}, status)


async def _enqueue(extras: dict[str, Any], headers: dict[str, str], read: BodyReader) -> Answer:
    service, settings, buckets = _parts(extras)
    try:
        raw = await read(settings.max_body)
    except _TooLarge:
        return _pd_invalid([f"Event exceeds the size limit of {settings.max_body // 1024} KB"], 413)
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _pd_invalid(["Malformed JSON: the request body is not valid JSON"])
    try:
        event = events_v2.parse(body)
    except AlertValidationError as exc:
        return _pd_invalid(events_v2.pd_errors(exc))
    ref: IntegrationRef | None = await service.authenticate(event.routing_key)
    if ref is None or ref.type != "events_v2":
        return _pd_invalid(["Invalid routing key: no Events v2 integration has this key"])
    wait = buckets.take(ref.id)
    if wait:
        return _json({"status": "throttle event", "message": "Requests for this integration are arriving too "
                      "quickly. Please retry later."}, 429, {"Retry-After": str(max(1, math.ceil(wait)))})
    # journaled as sent, except that a generated dedup_key must survive a re-read
    journal = raw if body.get("dedup_key") else orjson.dumps({**body, "dedup_key": event.alert.fingerprint})
    await service.ingest(ref, [event.alert], journal, "events_v2")
    return _json({"status": "success", "message": "Event processed", "dedup_key": event.alert.fingerprint}, 202)


HANDLERS: dict[str, Callable[[dict[str, Any], dict[str, str], BodyReader], Awaitable[Answer]]] = {
    "/api/v1/integrations/alertmanager":
        lambda extras, headers, read: _bearer_intake(extras, headers, read, "alertmanager"),
    "/api/v1/integrations/webhook": lambda extras, headers, read: _bearer_intake(extras, headers, read, "webhook"),
    "/v2/enqueue": _enqueue,
}


def _respond(answer: Answer) -> Response:
    status, body, headers = answer
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def _body_reader(headers: dict[str, str], receive: Receive) -> BodyReader:
    """Read the request body from ASGI messages, refusing it past `limit` bytes (declared or counted)."""

    async def read(limit: int) -> bytes:
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise _TooLarge
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Gone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    return read


async def _route(request: Request) -> Response:
    handler = HANDLERS[request.url.path]
    headers = dict(request.headers)
    try:
        answer = await handler(request.app.state.container.extras, headers, _body_reader(headers, request.receive))
    except _Gone as gone:
        raise ClientDisconnect from gone
    return _respond(answer)


@router.post("/api/v1/integrations/alertmanager", summary="Alertmanager webhook (payload version 4)")
async def alertmanager_webhook(request: Request) -> Response:
    return await _route(request)


@router.post("/api/v1/integrations/webhook", summary="Generic JSON alert (see docs/integrations.md)")
async def generic_webhook(request: Request) -> Response:
    return await _route(request)


@router.post("/v2/enqueue", status_code=202, summary="PagerDuty Events API v2 compatible")
async def enqueue(request: Request) -> Response:
    return await _route(request)


async def answer_intake(extras: dict[str, Any], scope: Scope, receive: Receive, send: Send) -> bool:
    """Answer an HTTP POST to one of the intake paths straight from ASGI; False when `scope` is not one of them.

    Same handlers as the routes above (which stay for the OpenAPI docs). The application calls this before
    its middleware and routing, whose per-request overhead is most of what an all-dedup Events v2 event costs.
    """
    handler = HANDLERS.get(scope.get("path", ""))
    if handler is None or scope["method"] != "POST":
        return False
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    try:
        status, body, extra = await handler(extras, headers, _body_reader(headers, receive))
    except _Gone:
        return True
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw_headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in extra.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})
    return True


async def write_intake_metrics(c: Any, registry: CollectorRegistry) -> None:
    service: IngestService = c.extras["ingest"]
    paths = Counter("prism_ingest_requests", "Alert requests this process answered, by path: fast (one-statement "
                    "repeat), inline (applied, then answered), queued (journaled, answered, applied after)",
                    ["path"], registry=registry)
    for path in ("fast", "inline", "queued"):
        paths.labels(path).inc(service.paths[path])
    remote = service.remote
    Gauge("prism_ingest_applier_up", "1 while journaled requests go to this process's applier process",
          registry=registry).set(1 if remote is not None and remote.ready else 0)
    Counter("prism_ingest_applier_handed", "Journaled requests handed to the applier process",
            registry=registry).inc(remote.handed if remote is not None else 0)
    waiting, stuck = await service.journal.counts()
    Gauge("prism_intake_journaled", "Accepted alert requests journaled and not applied yet",
          registry=registry).set(waiting)
    Gauge("prism_intake_stuck", "Journaled alert requests that failed to apply repeatedly (kept, never dropped)",
          registry=registry).set(stuck)


METRIC_WRITERS.append(write_intake_metrics)
