"""SPEC scenario 10, feedback poisoning: thumbs-down from a handful of sources is flagged as
a feedback-loop problem, owned by the data team, and not taken as a model failure: no
containment, no circuit breaker, no rollback."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from ripcord.app import Ripcord
from ripcord.drills import credit
from ripcord.drills.demo import MODEL
from ripcord.notify import RecordingChannel
from ripcord.notify.base import MessageKind
from ripcord.respond.breaker import BreakerState
from ripcord.sop.severity import POISONING
from ripcord.store.tables import Action, Incident, SignalRow
from tests.conftest import sop_data
from tests.respond.conftest import Drive

FEEDBACK_DETECTORS = [
    {"type": "feedback_spike", "window": 300},
    {"type": "feedback_poisoning", "window": 300},
]


@pytest.fixture
def sop_file(tmp_path: Path) -> Path:
    """The demo's SOP with the two feedback families added."""
    credit.write_golden(tmp_path / "golden" / "credit-risk.csv", n=300)
    data = sop_data()
    data["models"][MODEL]["detectors"] += FEEDBACK_DETECTORS
    path = tmp_path / "sop.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def serve_with_feedback(rc: Ripcord, drive: Drive, n: int, *, bots: bool) -> None:
    """`n` requests, each rated by one of 300 users (a thumbs-down one time in twenty), and
    with `bots`, thumbs-down on every request from each of two sources as well."""
    for i in range(n):
        drive.serve(1)
        request_id = drive.traffic.labels[-1][0]
        rc.feedback(MODEL, request_id, -1.0 if i % 20 == 0 else 1.0, source=f"user-{i % 300}")
        if bots:
            for bot in ("bot-1", "bot-2"):
                rc.feedback(MODEL, request_id, -1.0, source=bot)


def incidents(rc: Ripcord) -> list[Incident]:
    with rc.db.session() as session:
        return list(session.scalars(select(Incident).order_by(Incident.id)))


def families(rc: Ripcord, incident: Incident) -> set[str]:
    with rc.db.session() as session:
        query = select(SignalRow.family).where(SignalRow.incident_id == incident.id)
        return set(session.scalars(query))


def test_calm_feedback_raises_nothing(rc: Ripcord, drive: Drive) -> None:
    serve_with_feedback(rc, drive, 600, bots=False)
    assert incidents(rc) == []


def test_poisoning_opens_a_data_incident_and_takes_no_action(
    rc: Ripcord, drive: Drive, channel: RecordingChannel
) -> None:
    serve_with_feedback(rc, drive, 300, bots=False)
    serve_with_feedback(rc, drive, 200, bots=True)
    poisoned = [i for i in incidents(rc) if "feedback_poisoning" in families(rc, i)]
    assert len(poisoned) == 1
    incident = poisoned[0]
    assert (incident.incident_type, incident.severity) == ("data", 2)  # SEV-3
    assert incident.title == f"{MODEL} v1: {POISONING}"
    assert incident.status == "open"  # not contained: nothing was done to the traffic
    assert rc.routes.state(MODEL).breaker is BreakerState.CLOSED
    assert rc.routes.state(MODEL).serving == "v1"
    with rc.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Action)) == 0  # no rollback
        evidence = session.scalars(
            select(SignalRow.evidence).where(SignalRow.family == "feedback_poisoning")
        ).one()
    assert set(evidence["top_sources"]) >= {"bot-1", "bot-2"}
    pages = [m for m in channel.messages if m.incident_id == incident.id]
    assert [(m.kind, m.recipient) for m in pages] == [(MessageKind.PAGE, "farah")]  # data-eng
    # Only the feedback channel is blamed: capped at five votes a source, the bots do not
    # make a thumbs-down spike on the model, so no model-quality incident opens.
    kinds = {(i.incident_type, i.severity, i.status) for i in incidents(rc)}
    assert kinds == {("data", 2, "open")}
    with rc.db.session() as session:
        spikes = session.scalars(
            select(SignalRow.evidence).where(SignalRow.family == "feedback_spike")
        ).all()
    assert spikes == []
