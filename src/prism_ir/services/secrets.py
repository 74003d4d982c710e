"""Key and password hashing: only hashes are stored, keys are shown once."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets


def new_key(kind: str) -> tuple[str, str, str]:
    """Return (plaintext key, lookup prefix, hash); the prefix finds the row without scanning hashes."""
    prefix = secrets.token_hex(4)
    key = f"{kind}_{prefix}_{secrets.token_urlsafe(32)}"
    return key, prefix, hash_key(key)


def hash_key(key: str) -> str:
    # Keys carry ~256 bits of entropy, so a fast hash is enough; passwords get scrypt below.
    return hashlib.sha256(key.encode()).hexdigest()


def key_prefix(key: str) -> str | None:
    parts = key.split("_")
    return parts[1] if len(parts) >= 3 and len(parts[1]) == 8 else None


def key_matches(key: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_key(key), stored_hash)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def check_password(password: str, stored: str | None) -> bool:
    if not stored or not stored.startswith("scrypt$"):
        return False
    _, salt_b64, digest_b64 = stored.split("$", 2)
    digest = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt_b64), n=2**14, r=8, p=1)
    return hmac.compare_digest(digest, base64.b64decode(digest_b64))
