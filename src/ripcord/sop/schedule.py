"""Who is paged, and when: teams with their on-call schedules, the escalation matrix, and
how triage groups signals. `ripcord.sop.schema` re-exports these as parts of the SOP file.

A team's weekly `rotation`, with its `overrides`:

    teams:
      ml-credit:
        channels: [console]
        rotation:
          people: [alice, bob, chen]     # alice takes the first week, then bob, then chen
          start: 2026-01-05              # alice takes over at the first handover on/after it
          handover_day: monday
          handover_time: "09:00"         # quoted: YAML reads 9:00 unquoted as a number
          timezone: Europe/Paris         # an IANA zone: handovers follow its DST changes
          overrides:                     # someone else covers; later entries win
            - {start: 2026-03-27T18:00, end: 2026-03-30T09:00, primary: dmitri}

The person on call is the rotation's primary; the backup is the next person in the rotation,
unless the team names a fixed `backup` or an override gives one. Override times without a
UTC offset are the rotation's local time; `end` is excluded. Who is on call at an instant is
worked out by `ripcord.incidents.oncall`; the escalation timers by
`ripcord.respond.escalation`.

Pure: pydantic and zoneinfo only.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    Field,
    PositiveInt,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ripcord.sop.base import Strict
from ripcord.sop.severity import IncidentType

Name = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.\-]+$")]
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
WEEKDAYS: tuple[Weekday, ...] = (
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
)


UNKNOWN_ZONE = "is not a known IANA time zone (e.g. Europe/Paris, America/New_York, UTC)"


def zone(name: str) -> ZoneInfo:
    """The IANA zone `name`; a ValueError naming it when the system does not know it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"timezone: {name!r} {UNKNOWN_ZONE}") from None


class Override(Strict):
    """Someone else covers the primary or the backup slot (or both) from `start` to `end`."""

    start: datetime
    end: datetime
    primary: Name | None = None
    backup: Name | None = None

    @field_validator("end")
    @classmethod
    def _after_start(cls, end: datetime, info: ValidationInfo) -> datetime:
        start = info.data.get("start")
        if not isinstance(start, datetime):
            return end  # start itself failed and is reported on its own
        if (start.tzinfo is None) != (end.tzinfo is None):
            raise ValueError(f"and start {start.isoformat()}: give both a UTC offset or neither")
        if end <= start:
            raise ValueError(f"is not after start {start.isoformat()}")
        return end

    @model_validator(mode="after")
    def _someone(self) -> Override:
        if self.primary is None and self.backup is None:
            raise ValueError("an override needs primary or backup (or both)")
        return self


class Rotation(Strict):
    """A weekly rotation: `people` take turns, one week each, handing over at a local time."""

    people: tuple[Name, ...] = Field(min_length=1)
    start: date
    handover_day: Weekday = "monday"
    handover_time: time = time(9, 0)
    timezone: str = "UTC"
    overrides: tuple[Override, ...] = ()

    @field_validator("people")
    @classmethod
    def _distinct(cls, people: tuple[str, ...]) -> tuple[str, ...]:
        twice = sorted({p for p in people if people.count(p) > 1})
        if twice:
            raise ValueError(f"lists {', '.join(twice)} more than once")
        return people

    @field_validator("handover_time", mode="before")
    @classmethod
    def _clock_time(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            raise ValueError(
                "is a number, not a time: quote it ('09:00'); YAML reads an unquoted 9:00 as 540"
            )
        return value

    @field_validator("handover_time")
    @classmethod
    def _local(cls, value: time) -> time:
        if value.tzinfo is not None:
            raise ValueError("has a UTC offset; leave it out: `timezone` sets it")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(UNKNOWN_ZONE) from None
        return name

    @property
    def zone(self) -> ZoneInfo:
        return zone(self.timezone)


def _default_ack() -> dict[str, PositiveInt]:
    return {"SEV-1": 15, "SEV-2": 60, "SEV-3": 240, "SEV-4": 1440}


class Team(Strict):
    """Who a team's pages go to: a fixed `primary` (and `backup`), or a weekly `rotation`.
    With a rotation, `backup` is optional and fixed: left out, the
    backup is the next person in the rotation."""

    primary: Name | None = None
    backup: Name | None = None
    channels: tuple[Name, ...] = ("console",)
    rotation: Rotation | None = None

    @model_validator(mode="after")
    def _who(self) -> Team:
        if self.rotation is None and self.primary is None:
            raise ValueError("a team needs primary or a rotation")
        if self.rotation is not None and self.primary is not None:
            raise ValueError(
                f"primary: {self.primary!r} is not used with a rotation (the rotation says "
                "who is primary; an override gives cover)"
            )
        return self


class Escalation(Strict):
    """Which team owns each incident type, how soon a page must be acknowledged, and who
    is paged when nobody does (ripcord.respond.escalation):

        escalation:
          teams: {model_quality: ml-credit, safety: ml-credit}
          ack_minutes: {SEV-1: 15, SEV-2: 60, SEV-3: 240, SEV-4: 1440}
          chain:                          # after the owner's primary, then its backup
            model_quality: [ml-lead, eng-director]
            safety: [compliance, legal]   # a team name pages that team's on-call primary
          repeat_minutes: 30              # the last level is paged again every 30 minutes

    Each level waits the severity's ack minutes before the next. `repeat_minutes` left
    out repeats the last level at that same pace; 0 pages it once only.
    """

    teams: dict[IncidentType, Name] = Field(default_factory=dict)
    ack_minutes: dict[str, PositiveInt] = Field(default_factory=_default_ack)
    chain: dict[IncidentType, tuple[Name, ...]] = Field(default_factory=dict)
    repeat_minutes: Annotated[int, Field(ge=0)] | None = None


class TriageSpec(Strict):
    """How signals are grouped into incidents. A signal for a (model, type, segment) whose
    incident was resolved less than `cooldown_minutes` ago joins that incident's timeline,
    without reopening or paging, unless it is more severe: flapping is not a new incident."""

    cooldown_minutes: Annotated[int, Field(ge=0)] = 30
