"""Render shifts as an iCalendar feed so people see their on-call time in their own calendar."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from prism_ir.domain.oncall import Shift


def _ts(dt: datetime) -> str:
    return dt.strftime("%Y%m%dT%H%M%SZ")


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _fold(line: str) -> str:
    out, raw = [], line.encode()
    while len(raw) > 75:
        cut = 75
        while (raw[cut] & 0xC0) == 0x80:
            cut -= 1
        out.append(raw[:cut].decode())
        raw = b" " + raw[cut:]
    out.append(raw.decode())
    return "\r\n".join(out)


def shifts_ics(user_id: str, user_name: str, shifts: Sequence[Shift], now: datetime, host: str = "prism-ir") -> str:
    """One VEVENT per shift, UTC times (calendar apps convert), stable UIDs so updates replace events."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Prism IR//On-call shifts//EN", "CALSCALE:GREGORIAN",
             "METHOD:PUBLISH", f"X-WR-CALNAME:{_escape(f'On call: {user_name}')}"]
    for s in shifts:
        uid = f"{s.schedule_id}-{s.role}-{user_id}-{_ts(s.start)}@{host}"
        summary = f"On call: {s.schedule_id} {s.role}" + (" (override)" if s.override else "")
        lines += ["BEGIN:VEVENT", f"UID:{uid}", f"DTSTAMP:{_ts(now)}", f"DTSTART:{_ts(s.start)}",
                  f"DTEND:{_ts(s.end)}", f"SUMMARY:{_escape(summary)}",
                  f"DESCRIPTION:{_escape(f'{user_name} is {s.role} on call for schedule {s.schedule_id}.')}",
                  "TRANSP:OPAQUE", "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return "\r\n".join(_fold(line) for line in lines) + "\r\n"
