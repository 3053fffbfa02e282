"""Incident records on a real database: open or join, transitions, acks, and their audit."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ripcord.detect.base import Reading, Signal
from ripcord.errors import NotFoundError, TransitionError
from ripcord.incidents import service
from ripcord.incidents.lifecycle import Status
from ripcord.sop.severity import Classification, IncidentType, Severity
from ripcord.store import audit
from ripcord.store.db import Database
from ripcord.store.tables import AuditRow, Incident, SignalRow, TimelineEntry

T0 = datetime(2026, 1, 1, 9, tzinfo=UTC)
STARTED = T0 - timedelta(minutes=10)
ACK_BY = T0 + timedelta(minutes=15)

SEV2_INFRA = Classification(Severity.SEV2, IncidentType.INFRASTRUCTURE, "error rate over SLA")
SEV1_INFRA = Classification(
    Severity.SEV1, IncidentType.INFRASTRUCTURE, "model down: error rate over 50 %"
)
SEV3_INFRA = Classification(Severity.SEV3, IncidentType.INFRASTRUCTURE, "p95 latency over target")
SEV3_DATA = Classification(Severity.SEV3, IncidentType.DATA, "contract breaks")


def signal(
    value: float = 0.2,
    *,
    at: datetime = T0,
    family: str = "error_rate",
    model: str = "credit-risk",
    version: str = "v2",
    segment: Mapping[str, str] | None = None,
) -> Signal:
    reading = Reading(
        metric=family,
        value=value,
        threshold=0.05,
        direction="above",
        window=200,
        evidence={"errors": np.int64(round(value * 200)), "share": np.float64(value)},
    )
    return Signal(model, version, family, family, reading, at, segment)


def triage(session: Session, sig: Signal, cls: Classification = SEV2_INFRA) -> service.Triage:
    return service.open_or_join(
        session, sig, cls, owner="oncall-ml", started_at=STARTED, ack_by=ACK_BY
    )


def counts(db: Database) -> dict[str, int]:
    with db.session() as session:
        return {
            table.__tablename__: session.scalar(select(func.count()).select_from(table)) or 0
            for table in (Incident, TimelineEntry, SignalRow, AuditRow)
        }


def opened(db: Database, sig: Signal | None = None, cls: Classification = SEV2_INFRA) -> int:
    with db.session() as session:
        result = triage(session, sig or signal(), cls)
        assert result.created
        return result.incident.id


def move(db: Database, incident_id: int, target: Status, at: datetime, reason: str = "") -> None:
    with db.session() as session:
        incident = service.get(session, incident_id)
        service.transition(session, incident, target, at=at, actor="alice", reason=reason)


def ack(db: Database, incident_id: int, at: datetime, actor: str = "bob") -> None:
    with db.session() as session:
        service.acknowledge(session, service.get(session, incident_id), at=at, actor=actor)


def load(db: Database, incident_id: int) -> Incident:
    with db.session() as session:
        return service.get(session, incident_id)


def timeline(db: Database, incident_id: int) -> list[tuple[str, str, str]]:
    with db.session() as session:
        rows = session.scalars(
            select(TimelineEntry)
            .where(TimelineEntry.incident_id == incident_id)
            .order_by(TimelineEntry.id)
        )
        return [(e.kind, e.actor, e.message) for e in rows]


def audits(db: Database) -> list[AuditRow]:
    with db.session() as session:
        return list(session.scalars(select(AuditRow).order_by(AuditRow.id)))


def verified(db: Database) -> int:
    with db.session() as session:
        return audit.verify(session).rows


# --- open or join ----------------------------------------------------------------------


def test_a_first_signal_opens_an_incident_with_timeline_signal_and_audit(db: Database) -> None:
    sig = signal(0.2)
    with db.session() as session:
        result = triage(session, sig)
        assert result.created and not result.raised
        incident_id = result.incident.id

    incident = load(db, incident_id)
    assert (incident.model, incident.version, incident.segment) == ("credit-risk", "v2", "")
    assert incident.incident_type == "infrastructure"
    assert incident.severity == int(Severity.SEV2) == 3
    assert incident.status == "open"
    assert incident.owner == "oncall-ml"
    assert incident.title == "credit-risk v2: error rate over SLA"
    assert (incident.started_at, incident.detected_at, incident.ack_by) == (STARTED, T0, ACK_BY)
    assert incident.acknowledged_at is None and incident.resolved_at is None

    summary = "error_rate error_rate=0.2 > 0.05 over 200"
    assert sig.summary == summary
    assert timeline(db, incident_id) == [("signal", "ripcord", f"SEV-2 infrastructure: {summary}")]

    with db.session() as session:
        row = session.scalars(select(SignalRow)).one()
        entry = session.scalars(select(TimelineEntry)).one()
    assert row.incident_id == incident_id
    assert (row.model, row.version, row.detector, row.family) == (
        "credit-risk",
        "v2",
        "error_rate",
        "error_rate",
    )
    assert (row.metric, row.value, row.threshold, row.direction, row.window) == (
        "error_rate",
        0.2,
        0.05,
        "above",
        200,
    )
    assert (row.severity, row.at) == (3, T0)
    assert row.evidence == {"errors": 40, "share": 0.2}
    assert type(row.evidence["errors"]) is int
    assert entry.data == {"detector": "error_rate", "value": 0.2, "threshold": 0.05}

    [opened_row] = audits(db)
    assert (opened_row.actor, opened_row.action, opened_row.subject) == (
        "ripcord",
        "incident.open",
        f"incident:{incident_id}",
    )
    assert opened_row.reason == summary
    assert opened_row.at == T0
    assert opened_row.before is None
    assert opened_row.after == {"status": "open", "severity": "SEV-2"}
    assert counts(db) == {"incidents": 1, "timeline": 1, "signals": 1, "audit": 1}


def test_a_second_signal_of_the_same_kind_joins(db: Database) -> None:
    first = opened(db)
    with db.session() as session:
        result = triage(session, signal(0.1, at=T0 + timedelta(minutes=1)), SEV3_INFRA)
        assert (result.incident.id, result.created, result.raised) == (first, False, False)
    # a milder signal neither lowers the severity nor writes an audit row
    assert load(db, first).severity == int(Severity.SEV2)
    assert counts(db) == {"incidents": 1, "timeline": 2, "signals": 2, "audit": 1}
    with db.session() as session:
        severities = session.scalars(select(SignalRow.severity).order_by(SignalRow.id)).all()
    assert severities == [int(Severity.SEV2), int(Severity.SEV3)]


def test_a_worse_signal_raises_the_severity_and_is_audited(db: Database) -> None:
    first = opened(db)
    later = T0 + timedelta(minutes=2)
    with db.session() as session:
        result = triage(session, signal(0.6, at=later), SEV1_INFRA)
        assert (result.incident.id, result.created, result.raised) == (first, False, True)

    assert load(db, first).severity == int(Severity.SEV1)
    summary = "error_rate error_rate=0.6 > 0.05 over 200"
    assert timeline(db, first)[1:] == [
        ("severity", "ripcord", f"severity raised to SEV-1: {summary}"),
        ("signal", "ripcord", f"SEV-1 infrastructure: {summary}"),
    ]
    raised = audits(db)[-1]
    assert (raised.action, raised.subject, raised.reason, raised.at) == (
        "incident.severity",
        f"incident:{first}",
        summary,
        later,
    )
    assert raised.before == {"status": "open", "severity": "SEV-2"}
    assert raised.after == {"status": "open", "severity": "SEV-1"}
    assert counts(db) == {"incidents": 1, "timeline": 3, "signals": 2, "audit": 2}


def test_a_signal_of_another_type_opens_a_second_incident(db: Database) -> None:
    first = opened(db)
    with db.session() as session:
        result = triage(session, signal(0.3, family="contract"), SEV3_DATA)
        assert result.created and not result.raised
        second = result.incident.id
    assert second != first
    assert load(db, second).incident_type == "data"
    assert load(db, first).severity == int(Severity.SEV2)  # untouched
    assert counts(db) == {"incidents": 2, "timeline": 2, "signals": 2, "audit": 2}


@pytest.mark.parametrize(
    "other",
    [signal(model="fraud"), signal(segment={"region": "eu"})],
    ids=["another model", "a segment"],
)
def test_another_model_or_segment_opens_its_own_incident(db: Database, other: Signal) -> None:
    first = opened(db)
    with db.session() as session:
        result = triage(session, other)
        assert result.created
        assert result.incident.id != first


def test_segments_are_keyed_in_a_stable_order(db: Database) -> None:
    first = opened(db, signal(segment={"region": "eu", "channel": "web"}))
    assert load(db, first).segment == "channel=web,region=eu"
    with db.session() as session:
        result = triage(session, signal(segment={"channel": "web", "region": "eu"}))
        assert (result.incident.id, result.created) == (first, False)


def test_after_resolution_a_new_signal_opens_a_new_incident(db: Database) -> None:
    first = opened(db)
    move(db, first, Status.RESOLVED, T0 + timedelta(hours=1), "fixed upstream")
    with db.session() as session:
        result = triage(session, signal(at=T0 + timedelta(hours=2)))
        assert result.created
        second = result.incident.id
    assert second != first
    assert load(db, first).status == "resolved"
    assert load(db, second).status == "open"
    assert counts(db)["incidents"] == 2


def test_a_reopened_incident_takes_new_signals_again(db: Database) -> None:
    first = opened(db)
    move(db, first, Status.RESOLVED, T0 + timedelta(hours=1))
    move(db, first, Status.OPEN, T0 + timedelta(hours=2), "it came back")
    with db.session() as session:
        result = triage(session, signal(at=T0 + timedelta(hours=3)))
        assert (result.incident.id, result.created) == (first, False)


# --- transitions -----------------------------------------------------------------------


def test_transition_writes_status_stamp_timeline_and_audit(db: Database) -> None:
    first = opened(db)
    at = T0 + timedelta(minutes=5)
    before = counts(db)
    move(db, first, Status.CONTAINED, at, "breaker opened")

    incident = load(db, first)
    assert incident.status == "contained"
    assert incident.contained_at == at
    assert incident.acknowledged_at is None  # skipping a status stamps nothing for it
    assert timeline(db, first)[-1] == ("status", "alice", "open → contained: breaker opened")
    row = audits(db)[-1]
    assert (row.actor, row.action, row.subject, row.reason, row.at) == (
        "alice",
        "incident.contained",
        f"incident:{first}",
        "breaker opened",
        at,
    )
    assert row.before == {"status": "open", "severity": "SEV-2"}
    assert row.after == {"status": "contained", "severity": "SEV-2"}
    assert counts(db) == {
        **before,
        "timeline": before["timeline"] + 1,
        "audit": before["audit"] + 1,
    }


def test_a_transition_is_stored_whole_or_not_at_all(db: Database) -> None:
    first = opened(db)
    before = counts(db)
    with pytest.raises(RuntimeError), db.session() as session:
        incident = service.get(session, first)
        service.transition(
            session, incident, Status.CONTAINED, at=T0, actor="alice", reason="breaker opened"
        )
        session.flush()
        raise RuntimeError("the caller failed after the transition")
    assert counts(db) == before
    incident = load(db, first)
    assert (incident.status, incident.contained_at) == ("open", None)


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ([], Status.REVIEWED),
        ([Status.CONTAINED], Status.ACKNOWLEDGED),
        ([Status.CONTAINED], Status.OPEN),
        ([Status.RESOLVED, Status.REVIEWED], Status.OPEN),
    ],
    ids=["open->reviewed", "contained->acknowledged", "contained->open", "reviewed->open"],
)
def test_an_illegal_transition_raises_and_stores_nothing(
    db: Database, path: list[Status], target: Status
) -> None:
    first = opened(db)
    for step in path:
        move(db, first, step, T0 + timedelta(minutes=1))
    before = counts(db)
    status = path[-1].value if path else "open"

    in_memory = ""
    with (
        pytest.raises(TransitionError, match=rf"^status: {status} -> {target.value} "),
        db.session() as session,
    ):
        incident = service.get(session, first)
        try:
            service.transition(session, incident, target, at=T0, actor="eve", reason="why")
        except TransitionError:
            in_memory = incident.status
            raise
    assert in_memory == status  # refused before anything changed, even in memory

    assert counts(db) == before
    assert load(db, first).status == status
    assert verified(db) == before["audit"]


def test_stamps_keep_the_first_time_a_status_was_reached(db: Database) -> None:
    first = opened(db)
    times = [T0 + timedelta(minutes=m) for m in range(1, 6)]
    for target, at in zip(
        [Status.CONTAINED, Status.RECOVERING, Status.CONTAINED, Status.RECOVERING, Status.RESOLVED],
        times,
        strict=True,
    ):
        move(db, first, target, at)
    incident = load(db, first)
    assert (incident.contained_at, incident.recovering_at, incident.resolved_at) == (
        times[0],
        times[1],
        times[4],
    )
    assert [e[2].split(":")[0] for e in timeline(db, first) if e[0] == "status"] == [
        "open → contained",
        "contained → recovering",
        "recovering → contained",
        "contained → recovering",
        "recovering → resolved",
    ]


def test_get_names_an_unknown_incident(db: Database) -> None:
    with pytest.raises(NotFoundError, match=r"^unknown incident: 42$"), db.session() as session:
        service.get(session, 42)


def test_note_stores_plain_json_data(db: Database) -> None:
    first = opened(db)
    with db.session() as session:
        service.note(
            session,
            service.get(session, first),
            at=T0,
            kind="comment",
            actor="carol",
            message="looking",
            data={"p": np.float64(0.01), "n": np.int64(5)},
        )
    with db.session() as session:
        entry = session.scalars(select(TimelineEntry).where(TimelineEntry.kind == "comment")).one()
    assert (entry.actor, entry.message, entry.data) == ("carol", "looking", {"p": 0.01, "n": 5})


# --- acknowledgement -------------------------------------------------------------------


def test_acknowledging_an_open_incident_moves_it_to_acknowledged(db: Database) -> None:
    first = opened(db)
    at = T0 + timedelta(minutes=3)
    ack(db, first, at)
    incident = load(db, first)
    assert (incident.status, incident.acknowledged_at) == ("acknowledged", at)
    assert timeline(db, first)[-1] == ("status", "bob", "open → acknowledged: page acknowledged")
    row = audits(db)[-1]
    assert (row.action, row.actor, row.reason) == (
        "incident.acknowledged",
        "bob",
        "page acknowledged",
    )
    assert row.after == {"status": "acknowledged", "severity": "SEV-2"}


def test_acknowledging_a_contained_incident_only_stamps_the_time(db: Database) -> None:
    first = opened(db)
    move(db, first, Status.CONTAINED, T0 + timedelta(minutes=1), "automatic containment")
    at = T0 + timedelta(minutes=4)
    ack(db, first, at)
    incident = load(db, first)
    assert (incident.status, incident.acknowledged_at) == ("contained", at)
    assert timeline(db, first)[-1] == ("ack", "bob", "page acknowledged")
    row = audits(db)[-1]
    assert (row.action, row.actor, row.subject, row.at) == (
        "incident.ack",
        "bob",
        f"incident:{first}",
        at,
    )
    assert row.before is None
    assert row.after == {"status": "contained", "severity": "SEV-2"}


@pytest.mark.parametrize("contain_first", [False, True], ids=["open", "contained"])
def test_acknowledging_twice_changes_nothing(db: Database, contain_first: bool) -> None:
    first = opened(db)
    if contain_first:
        move(db, first, Status.CONTAINED, T0 + timedelta(minutes=1))
    ack(db, first, T0 + timedelta(minutes=2), actor="bob")
    before, stamped = counts(db), load(db, first)
    ack(db, first, T0 + timedelta(minutes=9), actor="dave")
    again = load(db, first)
    assert counts(db) == before
    assert (again.status, again.acknowledged_at) == (stamped.status, T0 + timedelta(minutes=2))


def test_the_audit_chain_verifies_after_a_whole_incident(db: Database) -> None:
    first = opened(db)
    with db.session() as session:
        assert triage(session, signal(0.7, at=T0 + timedelta(minutes=1)), SEV1_INFRA).raised
    with db.session() as session:
        assert triage(session, signal(0.3, family="contract"), SEV3_DATA).created
    move(db, first, Status.CONTAINED, T0 + timedelta(minutes=2), "breaker opened")
    ack(db, first, T0 + timedelta(minutes=3))
    ack(db, first, T0 + timedelta(minutes=4))
    with pytest.raises(TransitionError), db.session() as session:
        service.transition(
            session, service.get(session, first), Status.OPEN, at=T0, actor="eve", reason="x"
        )
    move(db, first, Status.RECOVERING, T0 + timedelta(minutes=5), "rolled back to v1")
    move(db, first, Status.RESOLVED, T0 + timedelta(minutes=30), "verified")
    move(db, first, Status.REVIEWED, T0 + timedelta(days=1), "postmortem done")

    assert [r.action for r in audits(db)] == [
        "incident.open",
        "incident.severity",
        "incident.open",
        "incident.contained",
        "incident.ack",
        "incident.recovering",
        "incident.resolved",
        "incident.reviewed",
    ]
    assert verified(db) == 8
    incident = load(db, first)
    assert incident.status == "reviewed"
    assert incident.reviewed_at == T0 + timedelta(days=1)
