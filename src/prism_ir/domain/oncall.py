"""Who is on call: rotations in local wall time, layered per role, with overrides for holidays and swaps."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator, model_validator

from prism_ir.domain.durations import format_duration, parse_duration

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_days(v: object) -> tuple[str, ...]:
    """Accept `mon` or `Monday`, one or a list, so calendars read naturally in YAML."""
    items = [str(d).strip().lower()[:3] for d in (v if isinstance(v, list | tuple) else [v])]
    bad = [d for d in items if d not in DAYS]
    if bad:
        raise ValueError(f"unknown day {bad[0]!r}: use mon, tue, wed, thu, fri, sat, sun")
    return tuple(items)


def parse_zone(name: str) -> ZoneInfo:
    """Turn an IANA name into a zone, with an error that names the bad value."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}: use an IANA name like Europe/Berlin") from None


def parse_local(text: str | datetime) -> datetime:
    """Parse a naive wall-clock datetime (`2026-11-30T09:00`); it is read in the schedule's zone."""
    value = text if isinstance(text, datetime) else datetime.fromisoformat(str(text))
    if value.tzinfo is not None:
        raise ValueError(f"{text!r} must be wall-clock time without an offset; the schedule's time_zone applies")
    return value


def to_utc(local: datetime, zone: ZoneInfo) -> datetime:
    """Place wall time in a zone: a gap time moves forward, an ambiguous time takes its first occurrence."""
    return local.replace(tzinfo=zone, fold=0).astimezone(UTC)


class Restriction(BaseModel):
    """A weekly window (schedule-local) in which a layer has coverage, e.g. weekdays 09:00-17:00."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    days: tuple[str, ...] = DAYS
    start: time = time(0, 0)
    end: time = time(0, 0)

    _days = field_validator("days", mode="before")(classmethod(lambda cls, v: parse_days(v)))

    def covers(self, local: datetime) -> bool:
        t = local.time()
        day = DAYS[local.weekday()]
        prev = DAYS[(local.weekday() - 1) % 7]
        if self.start < self.end:
            return day in self.days and self.start <= t < self.end
        # overnight window (or whole day when start == end): it belongs to the day it starts on
        return (day in self.days and t >= self.start) or (prev in self.days and t < self.end)


class Rotation(BaseModel):
    """One layer for one role: users take turns of `length`, handing off at `handoff` wall time."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    role: str = "primary"
    users: tuple[str, ...]
    length: timedelta = timedelta(weeks=1)
    handoff: datetime
    layer: int | None = None
    restrictions: tuple[Restriction, ...] = ()
    start: datetime | None = None
    end: datetime | None = None

    @field_validator("length", mode="before")
    @classmethod
    def _length(cls, v: object) -> timedelta:
        d = v if isinstance(v, timedelta) else parse_duration(v)  # type: ignore[arg-type]
        if d <= timedelta(0):
            raise ValueError("length must be positive, e.g. 1d or 1w")
        return d

    @field_serializer("length")
    def _dump_length(self, v: timedelta) -> str:
        return format_duration(v)

    @field_validator("handoff", "start", "end", mode="before")
    @classmethod
    def _local(cls, v: object) -> datetime | None:
        return None if v is None else parse_local(v)  # type: ignore[arg-type]

    @field_validator("users")
    @classmethod
    def _users(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v:
            raise ValueError("a rotation needs at least one user")
        return v

    def shift_start(self, index: int, zone: ZoneInfo) -> datetime:
        # wall-clock arithmetic keeps a 09:00 handoff at 09:00 local across DST changes
        return to_utc(self.handoff + self.length * index, zone)

    def index_at(self, at: datetime, zone: ZoneInfo) -> int:
        local = at.astimezone(zone).replace(tzinfo=None)
        i = (local - self.handoff) // self.length
        while self.shift_start(i, zone) > at:
            i -= 1
        while self.shift_start(i + 1, zone) <= at:
            i += 1
        return i

    def user_at(self, at: datetime, zone: ZoneInfo) -> str | None:
        local = at.astimezone(zone).replace(tzinfo=None)
        if (self.start and local < self.start) or (self.end and local >= self.end):
            return None
        if self.restrictions and not any(r.covers(local) for r in self.restrictions):
            return None
        return self.users[self.index_at(at, zone) % len(self.users)]


class Override(BaseModel):
    """Someone else covers a role for a window: a holiday, or a swap when `replaces` names the usual person."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    role: str = "primary"
    user: str
    start: datetime
    end: datetime
    replaces: str | None = None
    reason: str = ""

    @field_validator("start", "end", mode="before")
    @classmethod
    def _local(cls, v: object) -> datetime:
        return parse_local(v)  # type: ignore[arg-type]

    @model_validator(mode="after")
    def _order(self) -> Override:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class Schedule(BaseModel):
    """A team's on-call schedule: several roles, each built from layered rotations plus overrides."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    name: str = ""
    time_zone: str = "UTC"
    rotations: tuple[Rotation, ...] = ()
    overrides: tuple[Override, ...] = ()

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, v: str) -> str:
        parse_zone(v)
        return v

    @property
    def zone(self) -> ZoneInfo:
        return parse_zone(self.time_zone)

    @property
    def roles(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for r in self.rotations:
            seen.setdefault(r.role, None)
        for o in self.overrides:
            seen.setdefault(o.role, None)
        return tuple(seen)

    def layers(self, role: str) -> list[Rotation]:
        """Layers of a role, highest priority first: explicit `layer` numbers, else later in the list wins."""
        rs = [(r.layer if r.layer is not None else i, i, r) for i, r in enumerate(self.rotations) if r.role == role]
        return [r for _, _, r in sorted(rs, key=lambda x: (x[0], x[1]), reverse=True)]

    def boundaries(self, start: datetime, end: datetime) -> list[datetime]:
        """Every instant in [start, end) where the answer may change, so shifts can be computed exactly."""
        zone = self.zone
        points = {start}
        for r in self.rotations:
            i = r.index_at(start, zone)
            while (t := r.shift_start(i, zone)) < end:
                points.add(t)
                i += 1
            for edge in (r.start, r.end):
                if edge is not None:
                    points.add(to_utc(edge, zone))
            local_day = start.astimezone(zone).date() - timedelta(days=1)
            last_day = end.astimezone(zone).date() + timedelta(days=1)
            while r.restrictions and local_day <= last_day:
                for res in r.restrictions:
                    points.add(to_utc(datetime.combine(local_day, res.start), zone))
                    points.add(to_utc(datetime.combine(local_day, res.end), zone))
                local_day += timedelta(days=1)
        for o in self.overrides:
            points.update((to_utc(o.start, zone), to_utc(o.end, zone)))
        return sorted(p for p in points if start <= p < end)


@dataclass(frozen=True)
class Shift:
    schedule_id: str
    role: str
    user: str
    start: datetime
    end: datetime
    override: bool = False


def who_is_on_call(schedule: Schedule, at: datetime, role: str | None = None) -> dict[str, str | None]:
    """Answer role -> user at an instant: the top layer with coverage, then overrides on top."""
    if at.tzinfo is None:
        raise ValueError("`at` must be timezone-aware")
    zone = schedule.zone
    local = at.astimezone(zone).replace(tzinfo=None)
    out: dict[str, str | None] = {}
    for r in [role] if role else schedule.roles:
        user = next((u for layer in schedule.layers(r) if (u := layer.user_at(at, zone))), None)
        for o in schedule.overrides:
            if o.role == r and o.start <= local < o.end and (o.replaces is None or o.replaces == user):
                user = o.user
        out[r] = user
    return out


def _override_at(schedule: Schedule, role: str, at: datetime, base: str | None) -> bool:
    local = at.astimezone(schedule.zone).replace(tzinfo=None)
    return any(o.role == role and o.start <= local < o.end and (o.replaces is None or o.replaces == base)
               for o in schedule.overrides)


def shifts(schedule: Schedule, start: datetime, end: datetime, *, user: str | None = None) -> list[Shift]:
    """List merged shifts overlapping [start, end), optionally only one user's: the feed for calendars."""
    points = [*schedule.boundaries(start, end), end]
    out: list[Shift] = []
    open_: dict[str, Shift] = {}
    for a, b in itertools.pairwise(points):
        if a >= b:
            continue
        answer = who_is_on_call(schedule, a)
        for role, who in answer.items():
            cur = open_.get(role)
            if cur and cur.user == who and cur.end == a:
                open_[role] = Shift(cur.schedule_id, role, cur.user, cur.start, b, cur.override)
                continue
            if cur:
                out.append(cur)
                del open_[role]
            if who:
                base = who_is_on_call(schedule.model_copy(update={"overrides": ()}), a, role)[role]
                open_[role] = Shift(schedule.id, role, who, a, b, _override_at(schedule, role, a, base))
    out.extend(open_.values())
    out.sort(key=lambda s: (s.start, s.role))
    return [s for s in out if user is None or s.user == user]


def next_change(schedule: Schedule, at: datetime, horizon: timedelta = timedelta(days=60)) -> datetime | None:
    """When the current answer next changes, so the API can say `until`."""
    now_answer = who_is_on_call(schedule, at)
    for p in schedule.boundaries(at + timedelta(microseconds=1), at + horizon):
        if who_is_on_call(schedule, p) != now_answer:
            return p
    return None


def local_day_start(day: date, zone: ZoneInfo) -> datetime:
    return to_utc(datetime.combine(day, time(0, 0)), zone)
