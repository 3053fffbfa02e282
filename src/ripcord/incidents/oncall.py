"""Who is on call, and who is paged at each level of an escalation (pure: no database).

A rotation hands over once a week at a local wall-clock time in its own time zone, so the
handover instant moves in UTC when the zone changes between standard and daylight time:
09:00 in Europe/Paris is 08:00 UTC in winter and 07:00 UTC in summer. A handover time that
falls in a spring-forward gap (02:30 on the night the clocks skip from 02:00 to 03:00) is
taken with the offset in force before the gap (PEP 495, `fold=0`): 03:30 local time.

    >>> from datetime import UTC, date, datetime
    >>> from ripcord.sop.schedule import Rotation, Team
    >>> team = Team(rotation=Rotation(people=("alice", "bob"), start=date(2026, 1, 5)))
    >>> who_is_on_call(team, datetime(2026, 1, 12, 8, 59, tzinfo=UTC))
    ('alice', 'bob')
    >>> who_is_on_call(team, datetime(2026, 1, 12, 9, 0, tzinfo=UTC))
    ('bob', 'alice')
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from ripcord.sop.schedule import WEEKDAYS, Override, Rotation, Team
from ripcord.sop.schema import Sop
from ripcord.sop.severity import IncidentType

WEEK = timedelta(days=7)


def who_is_on_call(team: Team, at: datetime) -> tuple[str, str | None]:
    """(primary, backup) at the instant `at`. A team without a rotation has its fixed
    primary and backup; with one, the week's person and (unless the team or an override
    names one) the next person in the rotation; overrides covering `at` replace either."""
    if at.tzinfo is None:
        raise ValueError(f"at: {at!r} must be timezone-aware")
    at = at.astimezone(UTC)  # compared across zones: by the instant, not the wall clock
    rotation = team.rotation
    if rotation is None:
        assert team.primary is not None  # the schema requires primary or a rotation
        return team.primary, team.backup
    index = shift(rotation, at)
    primary = rotation.people[index]
    backup, backup_given = team.backup, team.backup is not None
    for override in rotation.overrides:  # in file order: a later one wins
        if covers(override, at, rotation.zone):
            primary = override.primary or primary
            if override.backup is not None:
                backup, backup_given = override.backup, True
    if not backup_given:
        backup = _next_in_rotation(rotation, index, primary)
    return primary, backup


def shift(rotation: Rotation, at: datetime) -> int:
    """Index in `people` of the week holding `at`: people[0] takes over at the first
    handover on or after `start`; before it, the rotation runs backwards."""
    # Local dates, not durations: a week holding a DST change is 167 or 169 hours long.
    weeks = (_last(rotation, at).date() - _first(rotation).date()).days // 7
    return weeks % len(rotation.people)


def last_handover(rotation: Rotation, at: datetime) -> datetime:
    """The latest handover at or before `at`, in UTC."""
    return _last(rotation, at).astimezone(UTC)


def next_handover(rotation: Rotation, at: datetime) -> datetime:
    """The first handover after `at`, in UTC."""
    return _local(_last(rotation, at).date() + WEEK, rotation).astimezone(UTC)


def _first(rotation: Rotation) -> datetime:
    day = WEEKDAYS.index(rotation.handover_day)
    start = rotation.start + timedelta(days=(day - rotation.start.weekday()) % 7)
    return _local(start, rotation)


def _last(rotation: Rotation, at: datetime) -> datetime:
    local = at.astimezone(rotation.zone)
    day = WEEKDAYS.index(rotation.handover_day)
    candidate = _local(local.date() - timedelta(days=(local.weekday() - day) % 7), rotation)
    if candidate > at:  # the handover day itself, before the handover time
        candidate = _local(candidate.date() - WEEK, rotation)
    return candidate


def covers(override: Override, at: datetime, zone: ZoneInfo) -> bool:
    """Whether `at` is in [start, end); times without an offset are local to `zone`."""
    start = override.start if override.start.tzinfo else override.start.replace(tzinfo=zone)
    end = override.end if override.end.tzinfo else override.end.replace(tzinfo=zone)
    return start <= at < end


def _local(day: date, rotation: Rotation) -> datetime:
    """The handover on `day`, in the rotation's zone. (Two datetimes in the same zone
    subtract by wall clock, so the public functions hand back UTC.)"""
    return datetime.combine(day, rotation.handover_time, tzinfo=rotation.zone)


def _next_in_rotation(rotation: Rotation, index: int, primary: str) -> str | None:
    people = rotation.people
    for step in range(1, len(people) + 1):
        person = people[(index + step) % len(people)]
        if person != primary:
            return person
    return None


@dataclass(frozen=True)
class Level:
    """One level of an escalation: who is paged, through which team's channels (None: the
    incident owner's), and why (`role`, for the timeline)."""

    person: str
    team: str | None
    role: str


def ladder(sop: Sop, owner: str, incident_type: str, at: datetime) -> tuple[Level, ...]:
    """Who is paged at each level for an incident owned by `owner` (a team, or a person
    it was assigned to): the on-call primary, the backup, then the SOP's escalation chain
    for the incident type, where a team's name stands for its on-call primary at `at`."""
    team = sop.teams.get(owner)
    if team is None:
        levels = [Level(owner, None, "owner")]
    else:
        primary, backup = who_is_on_call(team, at)
        levels = [Level(primary, owner, f"{owner} primary")]
        if backup is not None:
            levels.append(Level(backup, owner, f"{owner} backup"))
    try:
        chain = sop.escalation.chain.get(IncidentType(incident_type), ())
    except ValueError:  # a type this SOP does not know (an old row) has no chain
        chain = ()
    for i, name in enumerate(chain):
        role = f"escalation.chain.{incident_type}[{i}]"
        if name in sop.teams:
            levels.append(Level(who_is_on_call(sop.teams[name], at)[0], name, f"{role} {name}"))
        else:
            levels.append(Level(name, None, role))
    return tuple(levels)
