"""A per-service business-hours calendar, so P3/P4 notify people only while they are at work."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from pydantic import BaseModel, ConfigDict, field_validator

from prism_ir.domain.oncall import DAYS, parse_days, parse_zone, to_utc


class BusinessHours(BaseModel):
    """Working days and hours in a zone, minus holidays."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    time_zone: str = "UTC"
    days: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri")
    start: time = time(9, 0)
    end: time = time(17, 0)
    holidays: tuple[date, ...] = ()

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, v: str) -> str:
        parse_zone(v)
        return v

    _days = field_validator("days", mode="before")(classmethod(lambda cls, v: parse_days(v)))

    @field_validator("end")
    @classmethod
    def _end(cls, v: time, info: object) -> time:
        start = getattr(info, "data", {}).get("start")
        if start is not None and v <= start:
            raise ValueError("end must be later than start on the same day")
        return v

    def _working_day(self, d: date) -> bool:
        return DAYS[d.weekday()] in self.days and d not in self.holidays

    def is_open(self, at: datetime) -> bool:
        """True when `at` falls inside working hours."""
        local = at.astimezone(parse_zone(self.time_zone))
        return self._working_day(local.date()) and self.start <= local.time() < self.end

    def next_open(self, at: datetime) -> datetime:
        """The first instant at or after `at` inside working hours (`at` itself when already open)."""
        if self.is_open(at):
            return at
        zone = parse_zone(self.time_zone)
        day = at.astimezone(zone).date()
        for _ in range(400):
            if self._working_day(day):
                opening = to_utc(datetime.combine(day, self.start), zone)
                if opening >= at:
                    return opening
            day += timedelta(days=1)
        raise ValueError("business hours never open: check days and holidays")

