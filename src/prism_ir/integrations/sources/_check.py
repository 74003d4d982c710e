"""Small hand-rolled validators: fast on the ingest hot path, and every error names its field."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from prism_ir.domain.alert import FieldError, Link

MAX_LABELS = 64
MAX_LABEL_NAME = 256
MAX_LABEL_VALUE = 4096
MAX_TEXT = 16384


class Errors:
    """Collects field errors; `bad()` records one and returns None so checks read as expressions."""

    def __init__(self) -> None:
        self.items: list[FieldError] = []

    def bad(self, path: str, reason: str) -> None:
        self.items.append(FieldError(path, reason))

    def __bool__(self) -> bool:
        return bool(self.items)


def type_name(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


def string(errs: Errors, obj: Mapping[str, Any], key: str, path: str, *, required: bool = False,
           max_len: int = MAX_TEXT, blank_ok: bool = True) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            errs.bad(path, "is missing")
        return None
    if not isinstance(value, str):
        errs.bad(path, f"must be a string, not {type_name(value)}")
        return None
    if not blank_ok and not value.strip():
        errs.bad(path, "must not be blank")
        return None
    if len(value) > max_len:
        errs.bad(path, f"is too long ({len(value)} characters, maximum {max_len})")
        return None
    if "\x00" in value:
        errs.bad(path, "must not contain NUL characters")
        return None
    return value


def string_map(errs: Errors, value: Any, path: str, *, required: bool = False) -> dict[str, str]:
    """Labels and annotations: an object of string to string."""
    if value is None:
        if required:
            errs.bad(path, "is missing")
        return {}
    if not isinstance(value, dict):
        errs.bad(path, f"must be an object of strings, not {type_name(value)}")
        return {}
    if len(value) > MAX_LABELS:
        errs.bad(path, f"has too many entries ({len(value)}, maximum {MAX_LABELS})")
        return {}
    for k, v in value.items():  # one cheap test per entry; the first failure is explained below
        if (type(v) is not str or not k or len(k) > MAX_LABEL_NAME or len(v) > MAX_LABEL_VALUE
                or "\x00" in k or "\x00" in v):
            return _string_map_error(errs, value, path)
    return value


def _string_map_error(errs: Errors, value: dict[str, Any], path: str) -> dict[str, str]:
    for k, v in value.items():
        if not isinstance(v, str):
            errs.bad(f"{path}.{k}", f"must be a string, not {type_name(v)}")
            return {}
        if not k or len(k) > MAX_LABEL_NAME:
            errs.bad(f"{path}.{k[:40]}", f"name must be 1 to {MAX_LABEL_NAME} characters")
            return {}
        if len(v) > MAX_LABEL_VALUE:
            errs.bad(f"{path}.{k}", f"is too long ({len(v)} characters, maximum {MAX_LABEL_VALUE})")
            return {}
        if "\x00" in k or "\x00" in v:
            errs.bad(f"{path}.{k.replace(chr(0), '')}", "must not contain NUL characters")
            return {}
    return value  # only a str subclass was in doubt


def free_json(errs: Errors, value: Any, path: str) -> Any:
    """Free-form details: any JSON, but no NUL characters (PostgreSQL cannot store them)."""

    def has_nul(v: Any) -> bool:
        if isinstance(v, str):
            return "\x00" in v
        if isinstance(v, dict):
            return any(has_nul(k) or has_nul(x) for k, x in v.items())
        if isinstance(v, list):
            return any(has_nul(x) for x in v)
        return False

    if has_nul(value):
        errs.bad(path, "must not contain NUL characters")
        return None
    return value


# Alerts of one group (and of one Alertmanager) share their start and end times: parse each text once.
_TIMES: dict[str, datetime | None] = {}
_TIMES_MAX = 4096


def timestamp(errs: Errors, value: Any, path: str) -> datetime | None:
    """RFC 3339 / ISO 8601; naive times are UTC; Go's zero time (year 1) means 'not set'."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        errs.bad(path, f"must be an ISO 8601 timestamp string, not {type_name(value)}")
        return None
    try:
        return _TIMES[value]
    except KeyError:
        pass
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        errs.bad(path, f"is not an ISO 8601 timestamp: {value[:64]!r}")
        return None
    parsed = None if dt.year <= 1 else dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    if len(_TIMES) >= _TIMES_MAX:
        _TIMES.clear()
    _TIMES[value] = parsed
    return parsed


def links(errs: Errors, value: Any, path: str, *, key: str = "href") -> tuple[Link, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        errs.bad(path, f"must be an array, not {type_name(value)}")
        return ()
    out: list[Link] = []
    for i, item in enumerate(value[:MAX_LABELS]):
        if not isinstance(item, dict):
            errs.bad(f"{path}[{i}]", f"must be an object, not {type_name(item)}")
            continue
        href = string(errs, item, key, f"{path}[{i}].{key}", required=True, blank_ok=False)
        text = string(errs, item, "text", f"{path}[{i}].text") or string(errs, item, "alt", f"{path}[{i}].alt")
        if href:
            out.append(Link(href, text or ""))
    return tuple(out)
