"""Durations as people write them in the YAML: `30s`, `15m`, `2h`, `1d`, `1w`."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+)([smhdw])")


def parse_duration(text: str | int | float) -> timedelta:
    """Parse `1h30m`-style text (or bare seconds) so config stays readable."""
    if isinstance(text, bool):
        raise ValueError("expected a duration like '15m', got a boolean")
    if isinstance(text, int | float):
        if text < 0:
            raise ValueError("a duration cannot be negative")
        return timedelta(seconds=text)
    s = str(text).strip().lower()
    if not s:
        raise ValueError("empty duration")
    pos = 0
    total = 0
    for m in _PART.finditer(s):
        if m.start() != pos:
            break
        total += int(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(s):
        raise ValueError(f"invalid duration {text!r}: use e.g. 30s, 15m, 2h, 1d, 1w")
    return timedelta(seconds=total)


def format_duration(delta: timedelta) -> str:
    """Render a timedelta back in the same short form, largest units first."""
    seconds = int(delta.total_seconds())
    if seconds == 0:
        return "0s"
    out = []
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        n, seconds = divmod(seconds, size)
        if n:
            out.append(f"{n}{unit}")
    return "".join(out)
