"""Escalation up the matrix on the manual clock: primary, backup, the chain for the type,
the last level repeated; stored timers that survive a restart (or a crash between the
decision and the page) without losing or repeating a page; rotations and overrides read
when each level is reached."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from ripcord.app import Ripcord
from ripcord.clock import ManualClock
from ripcord.detect.base import Reading, Signal
from ripcord.drills import credit
from ripcord.drills.demo import MODEL
from ripcord.errors import TransitionError
from ripcord.incidents import desk, service
from ripcord.incidents.lifecycle import Status
from ripcord.notify import RecordingChannel
from ripcord.notify.base import MessageKind
from ripcord.respond.escalation import Escalator
from ripcord.store.tables import AuditRow, Incident, TimelineEntry
from tests.conftest import sop_data

SEV3_MINUTES = 240  # prediction drift is SEV-3 model quality: four hours to acknowledge


def escalation_sop() -> dict[str, Any]:
    data = sop_data()
    data["teams"]["ml-credit"] = {
        "channels": ["console"],
        "rotation": {
            "people": ["alice", "bob", "chen"],
            "start": "2025-12-29",  # alice's week holds the clock's 2026-01-01
            "handover_day": "monday",
            "handover_time": "09:00",
            "timezone": "Europe/Paris",
        },
    }
    data["teams"]["ml-lead"] = {"primary": "lena", "channels": ["pager"]}
    data["channels"]["pager"] = {"type": "console"}
    data["escalation"]["chain"] = {"model_quality": ["ml-lead", "eng-director"]}
    data["escalation"]["repeat_minutes"] = 30
    return data


class Harness:
    """Opens Ripcord on one database and SOP, again and again (a restart), each time with
    fresh recording channels."""

    def __init__(self, tmp_path: Path, clock: ManualClock) -> None:
        self.tmp_path, self.clock = tmp_path, clock
        self.sop = tmp_path / "sop.yaml"
        credit.write_golden(tmp_path / "golden" / "credit-risk.csv", n=50)
        self.write(escalation_sop())
        self.opened: list[Ripcord] = []

    def write(self, data: dict[str, Any]) -> None:
        self.sop.write_text(yaml.safe_dump(data))

    def open(self) -> tuple[Ripcord, RecordingChannel, RecordingChannel]:
        console, pager = RecordingChannel("console"), RecordingChannel("pager")
        rc = Ripcord.open(
            self.sop,
            url=f"sqlite:///{self.tmp_path / 'rc.db'}",
            home=self.tmp_path,
            clock=self.clock,
            channels={"console": console, "pager": pager},
            send_inline=True,  # each level's page read at once (test_outbox.py: queued)
        )
        self.opened.append(rc)
        return rc, console, pager

    def close_all(self) -> None:
        for rc in self.opened:
            rc.db.dispose()


@pytest.fixture
def harness(tmp_path: Path, clock: ManualClock) -> Iterator[Harness]:
    h = Harness(tmp_path, clock)
    yield h
    h.close_all()


def drift(rc: Ripcord, value: float = 0.4) -> Incident:
    reading = Reading("psi", value, 0.2, "above", 300)
    signal = Signal(MODEL, "v1", "prediction_drift", "prediction_drift", reading, rc.clock.now())
    return rc.responder.handle(signal)


def pages(*channels: RecordingChannel) -> list[str]:
    return [m.recipient for c in channels for m in c.messages if m.kind is MessageKind.PAGE]


def minutes(clock: ManualClock, n: float) -> None:
    clock.advance(n * 60)


def stored(rc: Ripcord, incident_id: int) -> Incident:
    with rc.db.session() as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None
        return incident


def test_the_ladder_is_climbed_then_the_last_level_repeats(harness: Harness) -> None:
    rc, console, pager = harness.open()
    incident = drift(rc)
    assert (incident.severity, incident.incident_type) == (2, "model_quality")
    assert pages(console) == ["alice"]
    minutes(harness.clock, SEV3_MINUTES - 1)
    assert rc.responder.escalate_overdue() == []
    minutes(harness.clock, 2)
    assert rc.responder.escalate_overdue() == [incident.id]
    assert pages(console) == ["alice", "bob"]  # alice's backup: the next in the rotation
    minutes(harness.clock, SEV3_MINUTES + 1)
    assert rc.responder.escalate_overdue() == [incident.id]
    assert (pages(console), pages(pager)) == (["alice", "bob"], ["lena"])  # ml-lead's channel
    minutes(harness.clock, SEV3_MINUTES + 1)
    rc.responder.escalate_overdue()
    assert pages(console) == ["alice", "bob", "eng-director"]
    # The last level again every repeat_minutes (30), not the ack deadline.
    minutes(harness.clock, 29)
    assert rc.responder.escalate_overdue() == []
    minutes(harness.clock, 2)
    assert rc.responder.escalate_overdue() == [incident.id]
    assert pages(console)[-2:] == ["eng-director", "eng-director"]
    row = stored(rc, incident.id)
    assert (row.escalation_level, row.escalation_paged) == (4, 4)
    with rc.db.session() as session:
        audited = session.scalars(
            select(AuditRow.after).where(AuditRow.action == "incident.escalate")
        ).all()
    assert [a["to"] for a in audited if a] == ["bob", "lena", "eng-director", "eng-director"]


def test_an_acknowledgement_stops_the_climb(harness: Harness) -> None:
    rc, console, _ = harness.open()
    incident = drift(rc)
    minutes(harness.clock, SEV3_MINUTES + 1)
    rc.responder.escalate_overdue()
    desk.acknowledge(rc, incident.id, actor="bob")
    for _ in range(5):
        minutes(harness.clock, SEV3_MINUTES + 1)
        assert rc.responder.escalate_overdue() == []
    assert pages(console) == ["alice", "bob"]


def test_a_restart_neither_loses_nor_repeats_a_page(harness: Harness) -> None:
    rc, console, _ = harness.open()
    incident = drift(rc)
    minutes(harness.clock, SEV3_MINUTES + 1)
    assert rc.responder.escalate_overdue() == [incident.id]
    rc.close()

    again, console2, pager2 = harness.open()
    assert again.responder.escalate_overdue() == []
    assert pages(console2, pager2) == []  # bob is not paged twice
    minutes(harness.clock, SEV3_MINUTES - 1)
    assert again.responder.escalate_overdue() == []  # the stored deadline, not a new one
    minutes(harness.clock, 2)
    assert again.responder.escalate_overdue() == [incident.id]
    assert again.responder.escalate_overdue() == []
    assert (pages(console), pages(console2), pages(pager2)) == (["alice", "bob"], [], ["lena"])


class Crash(BaseException):
    """The process dying: not an Exception, so nothing on the way catches it."""


def test_a_crash_between_deciding_and_paging_pages_once_on_restart(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    rc, console, _ = harness.open()
    incident = drift(rc)
    minutes(harness.clock, SEV3_MINUTES + 1)

    def die(self: Escalator, due: object) -> None:
        raise Crash

    with monkeypatch.context() as patch:
        patch.setattr(Escalator, "_send", die)
        with pytest.raises(Crash):
            rc.responder.escalate_overdue()
    assert pages(console) == ["alice"]
    row = stored(rc, incident.id)
    assert (row.escalation_level, row.escalation_paged) == (1, 0)  # decided, not sent
    rc.close()

    again, console2, _ = harness.open()  # startup sends what the crash left unsent
    assert pages(console2) == ["bob"]
    assert again.responder.escalate_overdue() == []
    assert pages(console2) == ["bob"]
    assert (stored(again, incident.id).escalation_paged, len(escalations(again, incident))) == (
        1,
        1,
    )


def escalations(rc: Ripcord, incident: Incident) -> list[TimelineEntry]:
    with rc.db.session() as session:
        query = select(TimelineEntry).where(
            TimelineEntry.incident_id == incident.id, TimelineEntry.kind == "escalation"
        )
        return list(session.scalars(query))


def test_an_unsent_page_is_left_to_its_sender_for_a_grace_period(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another replica may be sending it right now; only an old one was orphaned.
    rc, console, _ = harness.open()
    incident = drift(rc)
    minutes(harness.clock, SEV3_MINUTES + 1)
    with monkeypatch.context() as patch:
        patch.setattr(Escalator, "_send", lambda self, due: None)
        rc.responder.escalate_overdue()
    minutes(harness.clock, 1)
    assert rc.responder.escalate_overdue() == [] and pages(console) == ["alice"]
    minutes(harness.clock, 2)
    rc.responder.escalate_overdue()
    assert pages(console) == ["alice", "bob"]
    assert stored(rc, incident.id).escalation_paged == 1


def test_an_unsent_page_for_an_acknowledged_incident_is_dropped(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    rc, _, _ = harness.open()
    incident = drift(rc)
    minutes(harness.clock, SEV3_MINUTES + 1)
    with monkeypatch.context() as patch:
        patch.setattr(Escalator, "_send", lambda self, due: None)
        rc.responder.escalate_overdue()
    desk.acknowledge(rc, incident.id, actor="alice")
    rc.close()
    again, console2, _ = harness.open()
    assert pages(console2) == []
    assert stored(again, incident.id).escalation_paged == 1


def test_overrides_are_honoured_when_each_level_is_reached(harness: Harness) -> None:
    data = escalation_sop()
    data["teams"]["ml-credit"]["rotation"]["overrides"] = [
        # Paris local time: the first page (00:00 UTC, 01:00 in Paris) goes to dmitri.
        {"start": "2026-01-01T00:00", "end": "2026-01-01T03:00", "primary": "dmitri"},
        # From 04:00 UTC erin covers the backup slot.
        {"start": "2026-01-01T05:00", "end": "2026-01-02T00:00", "backup": "erin"},
    ]
    harness.write(data)
    rc, console, _ = harness.open()
    incident = drift(rc)
    minutes(harness.clock, SEV3_MINUTES + 1)  # 04:01 UTC
    rc.responder.escalate_overdue()
    assert pages(console) == ["dmitri", "erin"]
    assert escalations(rc, incident)[0].message == (
        "not acknowledged in time: paging erin (ml-credit backup)"
    )


def test_a_handover_between_levels_pages_the_new_weeks_people(
    harness: Harness, clock: ManualClock
) -> None:
    # Monday 2026-01-05 09:00 in Paris is 08:00 UTC: bob's week begins, chen is his backup.
    clock.advance((4 * 24 + 8) * 3600 - SEV3_MINUTES * 60 - 60)  # 03:59 UTC on the 5th
    rc, console, _ = harness.open()
    drift(rc)
    minutes(clock, SEV3_MINUTES)  # 07:59 UTC: still alice's week
    rc.responder.escalate_overdue()
    assert pages(console) == ["alice"]
    minutes(clock, 1)
    rc.responder.escalate_overdue()
    assert pages(console) == ["alice", "chen"]


def test_repeat_zero_pages_the_last_level_once(harness: Harness) -> None:
    data = escalation_sop()
    data["escalation"]["chain"] = {}
    data["escalation"]["repeat_minutes"] = 0
    harness.write(data)
    rc, console, _ = harness.open()
    incident = drift(rc)
    for _ in range(4):
        minutes(harness.clock, SEV3_MINUTES + 1)
        rc.responder.escalate_overdue()
    assert pages(console) == ["alice", "bob"]
    assert stored(rc, incident.id).ack_by is None


def test_without_repeat_minutes_the_last_level_repeats_at_the_ack_pace(
    harness: Harness,
) -> None:
    data = escalation_sop()
    data["escalation"]["chain"] = {}
    del data["escalation"]["repeat_minutes"]
    harness.write(data)
    rc, console, _ = harness.open()
    drift(rc)
    for _ in range(3):
        minutes(harness.clock, SEV3_MINUTES + 1)
        rc.responder.escalate_overdue()
    assert pages(console) == ["alice", "bob", "bob", "bob"]


def test_a_reopened_incident_pages_the_primary_and_climbs_again_from_there(
    harness: Harness,
) -> None:
    rc, console, pager = harness.open()
    incident = drift(rc)
    minutes(harness.clock, SEV3_MINUTES + 1)
    rc.responder.escalate_overdue()
    minutes(harness.clock, SEV3_MINUTES + 1)
    rc.responder.escalate_overdue()
    assert (pages(console), pages(pager)) == (["alice", "bob"], ["lena"])
    desk.resolve(rc, incident.id, "fixed upstream", actor="bob")
    minutes(harness.clock, 60)
    desk.reopen(rc, incident.id, "drift is back", actor="bob")
    row = stored(rc, incident.id)
    assert (row.status, row.acknowledged_at, row.escalation_level) == ("open", None, 0)
    assert row.ack_by == harness.clock.now() + timedelta(minutes=SEV3_MINUTES)
    assert pages(console) == ["alice", "bob", "alice"]  # the primary, paged at once
    minutes(harness.clock, SEV3_MINUTES + 1)
    rc.responder.escalate_overdue()
    assert pages(console)[-1] == "bob"  # then the backup, not the level reached before
    with rc.db.session() as session:
        actions = session.scalars(
            select(AuditRow.action).where(AuditRow.subject == f"incident:{incident.id}")
        ).all()
    assert "incident.open" in actions and actions.count("incident.escalate") == 3


def test_a_reviewed_incident_cannot_be_reopened(harness: Harness) -> None:
    rc, _, _ = harness.open()
    incident = drift(rc)
    desk.resolve(rc, incident.id, "fixed", actor="bob")
    with rc.db.session() as session:
        row = service.get(session, incident.id)
        service.transition(
            session, row, Status.REVIEWED, at=rc.clock.now(), actor="bob", reason="report done"
        )
    with pytest.raises(TransitionError, match="reviewed"):
        desk.reopen(rc, incident.id, "again", actor="bob")
    assert stored(rc, incident.id).status == "reviewed"
