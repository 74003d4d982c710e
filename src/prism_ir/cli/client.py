"""A small HTTP client for commands that act on incidents through the server, as `pd-cli` does."""

from __future__ import annotations

import os
from typing import Any

import httpx

from prism_ir.cli.common import fail


def api(method: str, path: str, **kwargs: Any) -> Any:
    base = os.environ.get("PRISM_IR_URL", "http://127.0.0.1:8090").rstrip("/")
    key = os.environ.get("PRISM_IR_API_KEY")
    if not key:
        fail("set PRISM_IR_API_KEY (create one with `prism-ir keys create NAME --role responder`)")
    try:
        r = httpx.request(method, base + path, headers={"X-API-Key": key}, timeout=15, **kwargs)
    except httpx.HTTPError as exc:
        fail(f"cannot reach {base}: {exc}")
        raise
    if r.status_code >= 400:
        try:
            detail = r.json().get("detail", r.text)
        except ValueError:
            detail = r.text
        fail(f"{r.status_code}: {detail}")
    return r.json() if r.content else None
