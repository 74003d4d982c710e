"""Signed, expiring one-click acknowledge tokens: HMAC over the claim, no database lookup to verify."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


class AckTokenError(ValueError):
    """Why a token was refused: `tampered`, `expired` or `malformed`."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class AckClaim:
    incident_id: int
    recipient: str
    expires_at: datetime
    notification: str = ""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, payload: str) -> str:
    return _b64(hmac.new(secret.encode(), b"prism-ir-ack." + payload.encode(), hashlib.sha256).digest())


def sign_ack(secret: str, incident_id: int, recipient: str, now: datetime,
             ttl: timedelta = timedelta(days=2), notification: str = "") -> str:
    """Make the token carried in a page's ack link."""
    if not secret:
        raise ValueError("PRISM_IR_SECRET_KEY is empty: cannot sign acknowledge links")
    claim = {"i": incident_id, "r": recipient, "e": int((now + ttl).timestamp()), "n": notification}
    payload = _b64(json.dumps(claim, separators=(",", ":")).encode())
    return f"{payload}.{_mac(secret, payload)}"


def verify_ack(secret: str, token: str, now: datetime) -> AckClaim:
    """Check signature then expiry; raise AckTokenError saying which."""
    try:
        payload, mac = token.split(".")
    except ValueError:
        raise AckTokenError("malformed", "this acknowledge link is malformed") from None
    if not hmac.compare_digest(_mac(secret, payload), mac):
        raise AckTokenError("tampered", "this acknowledge link is not valid (signature mismatch)")
    try:
        claim = json.loads(_unb64(payload))
        out = AckClaim(int(claim["i"]), str(claim["r"]), datetime.fromtimestamp(int(claim["e"]), UTC),
                       str(claim.get("n", "")))
    except (ValueError, KeyError, TypeError):
        raise AckTokenError("malformed", "this acknowledge link is malformed") from None
    if now >= out.expires_at:
        raise AckTokenError("expired", f"this acknowledge link expired at {out.expires_at:%Y-%m-%d %H:%M} UTC")
    return out
