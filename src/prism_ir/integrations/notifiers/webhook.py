"""JSON POST pages with an Idempotency-Key header, so a replay after a crash can be dropped by the receiver."""

from __future__ import annotations

import importlib.util
import sys

import httpx

from prism_ir.integrations.notifiers.base import Message, SendResult

_RETRYABLE = {408, 409, 425, 429}

# httpcore asks `import sniffio` several times per request and falls back to asyncio when it is missing; a
# module that is not installed is searched for on disk every time (~0.4 ms of CPU per page here). Record its
# absence once (None in sys.modules makes that import fail at once); installed, it is used as usual.
if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
    sys.modules["sniffio"] = None  # type: ignore[assignment]


class WebhookNotifier:
    def __init__(self, client: httpx.AsyncClient | None = None, timeout: float = 10.0) -> None:
        self._client = client
        self._timeout = timeout

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout, follow_redirects=False)
        return self._client

    async def send(self, address: str, message: Message) -> SendResult:
        headers = {"Idempotency-Key": message.key, "User-Agent": "prism-ir"}
        try:
            resp = await self._http().post(address, json=message.as_json(), headers=headers)
        except httpx.HTTPError as exc:
            return SendResult.retry(f"{type(exc).__name__}: {exc}".strip(": "))
        if resp.is_success:
            return SendResult.sent(f"HTTP {resp.status_code}")
        detail = f"HTTP {resp.status_code} {resp.text[:200]}".strip()
        if resp.status_code >= 500 or resp.status_code in _RETRYABLE:
            return SendResult.retry(detail)
        return SendResult.fail(detail)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
