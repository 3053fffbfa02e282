"""On-call schedules (pure): weekly rotations handing over at a local time across DST
changes, overrides, backups, the escalation ladder, and the schema's errors."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ripcord.errors import SopError
from ripcord.incidents.oncall import ladder, last_handover, next_handover, who_is_on_call
from ripcord.sop.load import parse
from ripcord.sop.schedule import Override, Rotation, Team
from ripcord.sop.schema import Sop
from tests.conftest import sop_data

PARIS = "Europe/Paris"


def team(*people: str, start: date = date(2026, 1, 5), **fields: Any) -> Team:
    overrides = fields.pop("overrides", ())
    backup = fields.pop("backup", None)
    rotation = Rotation(people=people, start=start, overrides=overrides, **fields)
    return Team(rotation=rotation, backup=backup)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_a_team_without_a_rotation_keeps_its_primary_and_backup() -> None:
    fixed = Team(primary="alice", backup="bob")
    assert who_is_on_call(fixed, utc(2026, 6, 1)) == ("alice", "bob")
    assert who_is_on_call(Team(primary="alice"), utc(2026, 6, 1)) == ("alice", None)


def test_weekly_turns_with_the_next_person_as_backup() -> None:
    t = team("alice", "bob", "chen")  # Monday 2026-01-05, 09:00 UTC
    assert who_is_on_call(t, utc(2026, 1, 5, 9)) == ("alice", "bob")
    assert who_is_on_call(t, utc(2026, 1, 12, 8, 59)) == ("alice", "bob")
    assert who_is_on_call(t, utc(2026, 1, 12, 9)) == ("bob", "chen")
    assert who_is_on_call(t, utc(2026, 1, 19, 9)) == ("chen", "alice")
    assert who_is_on_call(t, utc(2026, 1, 26, 9)) == ("alice", "bob")
    # Before the first handover the rotation runs backwards: the week before is chen's.
    assert who_is_on_call(t, utc(2026, 1, 5, 8, 59)) == ("chen", "alice")


def test_the_start_date_is_rounded_up_to_the_handover_day() -> None:
    t = team("alice", "bob", start=date(2026, 1, 7), handover_day="friday")  # a Wednesday
    assert who_is_on_call(t, utc(2026, 1, 9, 8, 59))[0] == "bob"
    assert who_is_on_call(t, utc(2026, 1, 9, 9))[0] == "alice"


def test_a_single_person_rotation_has_the_teams_fixed_backup_or_none() -> None:
    assert who_is_on_call(team("alice"), utc(2026, 2, 1)) == ("alice", None)
    assert who_is_on_call(team("alice", backup="lena"), utc(2026, 2, 1)) == ("alice", "lena")
    assert who_is_on_call(team("alice", "bob", backup="lena"), utc(2026, 1, 6)) == (
        "alice",
        "lena",
    )


def test_handover_follows_local_time_across_the_spring_dst_change() -> None:
    # Paris leaves CET (UTC+1) for CEST (UTC+2) on Sunday 2026-03-29: the Monday 09:00
    # handover is 08:00 UTC on the 23rd and 07:00 UTC on the 30th.
    t = team("alice", "bob", start=date(2026, 3, 16), timezone=PARIS)
    assert who_is_on_call(t, utc(2026, 3, 23, 7, 59))[0] == "alice"
    assert who_is_on_call(t, utc(2026, 3, 23, 8, 0))[0] == "bob"
    assert who_is_on_call(t, utc(2026, 3, 30, 6, 59))[0] == "bob"
    assert who_is_on_call(t, utc(2026, 3, 30, 7, 0))[0] == "alice"
    rotation = t.rotation
    assert rotation is not None
    assert next_handover(rotation, utc(2026, 3, 24)) == utc(2026, 3, 30, 7)
    assert next_handover(rotation, utc(2026, 3, 24)) - last_handover(
        rotation, utc(2026, 3, 24)
    ) == timedelta(hours=167)


def test_handover_follows_local_time_across_the_autumn_dst_change() -> None:
    # New York falls back on Sunday 2026-11-01: a Sunday 01:30 handover happens twice on
    # the wall clock; the first (EDT, 05:30 UTC) is the handover.
    t = team(
        "alice",
        "bob",
        start=date(2026, 10, 25),
        handover_day="sunday",
        handover_time=time(1, 30),
        timezone="America/New_York",
    )
    assert who_is_on_call(t, utc(2026, 10, 25, 5, 29))[0] == "bob"
    assert who_is_on_call(t, utc(2026, 10, 25, 5, 30))[0] == "alice"
    assert who_is_on_call(t, utc(2026, 11, 1, 5, 29))[0] == "alice"
    assert who_is_on_call(t, utc(2026, 11, 1, 5, 30))[0] == "bob"
    assert who_is_on_call(t, utc(2026, 11, 8, 6, 30))[0] == "alice"  # EST from now on


def test_a_handover_time_in_the_spring_gap_takes_the_offset_before_it() -> None:
    # 02:30 does not exist in Paris on 2026-03-29; PEP 495's fold=0 reads it as 02:30 CET,
    # which is 01:30 UTC (03:30 CEST).
    t = team(
        "alice",
        "bob",
        start=date(2026, 3, 22),
        handover_day="sunday",
        handover_time=time(2, 30),
        timezone=PARIS,
    )
    assert who_is_on_call(t, utc(2026, 3, 29, 1, 29))[0] == "alice"
    assert who_is_on_call(t, utc(2026, 3, 29, 1, 30))[0] == "bob"


def test_overrides_cover_their_window_only_and_later_ones_win() -> None:
    weekend = Override(
        start=datetime(2026, 1, 9, 18), end=datetime(2026, 1, 12, 9), primary="dmitri"
    )
    sunday = Override(start=datetime(2026, 1, 11), end=datetime(2026, 1, 12), backup="erin")
    late = Override(start=datetime(2026, 1, 11, 12), end=datetime(2026, 1, 11, 13), primary="f")
    t = team("alice", "bob", "chen", timezone=PARIS, overrides=(weekend, sunday, late))
    assert who_is_on_call(t, utc(2026, 1, 9, 16, 59)) == ("alice", "bob")
    assert who_is_on_call(t, utc(2026, 1, 9, 17)) == ("dmitri", "bob")  # 18:00 in Paris
    assert who_is_on_call(t, utc(2026, 1, 10, 23)) == ("dmitri", "erin")  # Sunday in Paris
    assert who_is_on_call(t, utc(2026, 1, 11, 11, 30)) == ("f", "erin")
    assert who_is_on_call(t, utc(2026, 1, 12, 7, 59)) == ("dmitri", "bob")
    assert who_is_on_call(t, utc(2026, 1, 12, 8)) == ("bob", "chen")  # end is excluded


def test_an_override_with_an_offset_is_taken_as_written() -> None:
    cover = Override(
        start=datetime(2026, 1, 6, 12, tzinfo=UTC),
        end=datetime(2026, 1, 6, 13, tzinfo=UTC),
        primary="dmitri",
    )
    t = team("alice", "bob", timezone=PARIS, overrides=(cover,))
    assert who_is_on_call(t, utc(2026, 1, 6, 12, 30))[0] == "dmitri"
    assert who_is_on_call(t, utc(2026, 1, 6, 13))[0] == "alice"


def test_cover_by_the_backup_moves_the_backup_along() -> None:
    cover = Override(start=datetime(2026, 1, 6), end=datetime(2026, 1, 7), primary="bob")
    t = team("alice", "bob", "chen", overrides=(cover,))
    assert who_is_on_call(t, utc(2026, 1, 6, 12)) == ("bob", "chen")


def test_a_naive_instant_is_refused() -> None:
    with pytest.raises(ValueError, match="at: .* must be timezone-aware"):
        who_is_on_call(team("alice"), datetime(2026, 1, 6))


@given(
    st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)
    )
)
def test_someone_is_always_on_call_and_never_their_own_backup(at: datetime) -> None:
    t = team("alice", "bob", "chen", timezone="America/New_York", handover_time=time(2, 30))
    primary, backup = who_is_on_call(t, at)
    assert primary in ("alice", "bob", "chen") and backup not in (None, primary)
    rotation = t.rotation
    assert rotation is not None
    assert last_handover(rotation, at) <= at < next_handover(rotation, at)


def sop(**changes: Any) -> Sop:
    data = sop_data()
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        node = data
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return parse(data)


def test_the_ladder_climbs_primary_backup_then_the_chain_for_the_type() -> None:
    s = sop(
        teams__ml_lead={"primary": "lena"},
        escalation__chain={"model_quality": ["ml_lead", "eng-director"], "safety": ["legal"]},
    )
    levels = ladder(s, "ml-credit", "model_quality", utc(2026, 1, 1))
    assert [(lv.person, lv.team) for lv in levels] == [
        ("alice", "ml-credit"),
        ("bob", "ml-credit"),
        ("lena", "ml_lead"),
        ("eng-director", None),
    ]
    assert levels[2].role == "escalation.chain.model_quality[0] ml_lead"
    assert [lv.person for lv in ladder(s, "data-eng", "data", utc(2026, 1, 1))] == ["farah"]
    assert [lv.person for lv in ladder(s, "someone", "safety", utc(2026, 1, 1))] == [
        "someone",
        "legal",
    ]


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(SopError) as info:
        parse(data)
    return [str(p) for p in info.value.problems]


def with_rotation(**rotation: Any) -> dict[str, Any]:
    data = sop_data()
    base = {"people": ["alice", "bob"], "start": "2026-01-05"}
    data["teams"]["ml-credit"] = {"rotation": {**base, **rotation}}
    return data


def test_the_schema_names_a_bad_override_and_a_bad_zone() -> None:
    data = with_rotation(
        timezone="Mars/Olympus_Mons",
        overrides=[{"start": "2026-03-02T09:00", "end": "2026-03-01T09:00", "primary": "x"}],
    )
    assert problems(data) == [
        "teams.ml-credit.rotation.timezone: 'Mars/Olympus_Mons' is not a known IANA time zone "
        "(e.g. Europe/Paris, America/New_York, UTC)",
        "teams.ml-credit.rotation.overrides.0.end: '2026-03-01T09:00' is not after start "
        "2026-03-02T09:00:00",
    ]


@pytest.mark.parametrize(
    ("rotation", "expected"),
    [
        ({"people": ["alice", "bob", "alice"]}, "rotation.people: ['alice', 'bob', 'alice'] "),
        ({"handover_time": 540}, "rotation.handover_time: 540 is a number, not a time"),
        ({"handover_day": "caturday"}, "rotation.handover_day: 'caturday' is not one of"),
        ({"people": []}, "rotation.people: [] "),
        (
            {"overrides": [{"start": "2026-03-01T09:00", "end": "2026-03-02T09:00+01:00"}]},
            "overrides.0.end: '2026-03-02T09:00+01:00' and start 2026-03-01T09:00:00: give both",
        ),
    ],
)
def test_the_schema_names_each_bad_rotation_field(rotation: dict[str, Any], expected: str) -> None:
    found = problems(with_rotation(**rotation))
    assert len(found) == 1 and expected in found[0], found


def test_a_team_needs_exactly_one_way_of_naming_its_primary() -> None:
    data = sop_data()
    data["teams"]["ml-credit"] = {"backup": "bob"}
    assert problems(data) == [
        "teams.ml-credit: {'backup': 'bob'} a team needs primary or a rotation"
    ]
    data = with_rotation()
    data["teams"]["ml-credit"]["primary"] = "alice"
    [found] = problems(data)
    assert found.startswith("teams.ml-credit: ") and "primary: 'alice' is not used" in found


def test_a_rotation_in_yaml_loads() -> None:
    import yaml

    text = """
    people: [alice, bob]
    start: 2026-01-05
    handover_day: monday
    handover_time: "09:00"
    timezone: Europe/Paris
    overrides:
      - {start: 2026-01-06T18:00, end: 2026-01-07T09:00, primary: dmitri}
    """
    rotation = Rotation.model_validate(yaml.safe_load(text))
    assert rotation.handover_time == time(9) and rotation.overrides[0].primary == "dmitri"
    t = Team(rotation=rotation)
    assert who_is_on_call(t, utc(2026, 1, 6, 17))[0] == "dmitri"  # 18:00 in Paris


def test_escalation_and_triage_and_approval_settings_are_checked() -> None:
    data = sop_data()
    data["escalation"]["chain"] = {"moon": ["x"]}
    data["escalation"]["repeat_minutes"] = -1
    data["triage"] = {"cooldown_minutes": -5}
    data["rollback"]["approvals_required"] = {"SEV-9": 2, "SEV-1": 2}
    found = problems(data)
    assert any(p.startswith("escalation.chain.moon.[key]: 'moon' is not one of") for p in found)
    assert "escalation.repeat_minutes: -1 is not >= 0" in found
    assert "triage.cooldown_minutes: -5 is not >= 0" in found
    assert any("rollback.approvals_required: " in p and "'SEV-9' is not one of" in p for p in found)
    data = sop_data()
    data["rollback"]["approvals_required"] = {"sev1": 2}
    [found_one] = problems(data)
    assert "approvals_required.SEV-1: 2 is more than the 1 approver(s)" in found_one
    data["rollback"]["approvers"] = ["carol", "dave"]
    assert parse(data).rollback.approvals_required == {"SEV-1": 2}
