"""Pages leave the response's path: a webhook receiver that holds every request open
delays neither a second incident's containment nor a guarded call; the Delivery rows and
dead letters are written once the outbox is done; `flush` and `close` drain it; an
escalation page waiting in the outbox is marked paged only once sent, and is not sent
twice meanwhile. Ordering, not seconds: the receiver logs when it answers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from ripcord.app import Ripcord
from ripcord.clock import ManualClock
from ripcord.detect.base import Reading, Signal
from ripcord.drills.demo import MODEL
from ripcord.events import Route
from ripcord.notify import WebhookChannel
from ripcord.respond.breaker import BreakerState
from ripcord.store.tables import DeadLetter, Delivery, Incident
from tests.conftest import sop_data
from tests.notify.holding import Holding, holding, wait_for

OTHER = "fraud"
GOOD = {
    "income_k": 50.0,
    "debt_ratio": 0.2,
    "age": 40.0,
    "tenure_months": 12.0,
    "late_payments": 0.0,
    "utilization": 0.3,
}


@pytest.fixture
def two_models(sop_file: Path) -> Path:
    """The demo SOP with a second model; SEV-3 contains and pages, with no rollback."""
    data = sop_data()
    data["models"][OTHER] = dict(data["models"][MODEL])
    data["response"]["SEV-3"] = {"contain": True, "rollback": "none"}
    sop_file.write_text(yaml.safe_dump(data))
    return sop_file


def open_rc(sop: Path, tmp_path: Path, clock: ManualClock, rec: Holding) -> Ripcord:
    hook = WebhookChannel("console", rec.url, retries=0, timeout_s=60.0)
    return Ripcord.open(
        sop,
        url=f"sqlite:///{tmp_path / 'rc.db'}",
        home=tmp_path,
        clock=clock,
        channels={"console": hook},
    )


@pytest.fixture
def held(two_models: Path, tmp_path: Path, clock: ManualClock) -> Iterator[tuple[Ripcord, Holding]]:
    with holding() as rec:
        rc = open_rc(two_models, tmp_path, clock, rec)
        try:
            yield rc, rec
        finally:
            rec.release.set()
            rc.close()


def latency(rc: Ripcord, model: str = MODEL) -> Incident:
    """SEV-3 infrastructure: contained, and the platform's primary (dmitri) paged."""
    reading = Reading("latency", 120.0, 50.0, "above", window=200)
    return rc.responder.handle(Signal(model, "v1", "latency", "latency", reading, rc.clock.now()))


def drift(rc: Ripcord, model: str) -> Incident:
    """SEV-3 model quality: contained, and ml-credit's primary (alice) paged."""
    reading = Reading("psi", 0.4, 0.2, "above", 300)
    signal = Signal(model, "v1", "prediction_drift", "prediction_drift", reading, rc.clock.now())
    return rc.responder.handle(signal)


def deliveries(rc: Ripcord) -> list[tuple[int, str, str, bool]]:
    with rc.db.session() as session:
        rows = session.scalars(select(Delivery).order_by(Delivery.id))
        return [(d.incident_id, d.recipient, d.kind, d.ok) for d in rows]


def test_a_hanging_receiver_delays_neither_containment_nor_a_guarded_call(
    held: tuple[Ripcord, Holding],
) -> None:
    rc, rec = held
    first = latency(rc)
    wait_for(lambda: rec.count("received dmitri") == 1, "the first page to reach the receiver")
    second = drift(rc, OTHER)  # the outbox's thread is stuck in the first page
    assert second.status == "contained"
    assert rc.routes.state(OTHER).breaker is BreakerState.OPEN
    rec.note("contained")
    served = rc.guard(OTHER, predict=lambda f: (0, 0.9))(GOOD)
    assert served.route is Route.FALLBACK
    rec.note("guarded")
    assert rec.count("answered") == 0, rec.events
    assert rc.outbox.pending == 2  # the first page in flight, the second queued
    assert deliveries(rc) == []  # nothing recorded before the channel is done
    rec.release.set()
    rc.flush()
    assert rec.events == [
        "received dmitri",
        "contained",
        "guarded",
        "answered dmitri",
        "received alice",
        "answered alice",
    ]
    assert deliveries(rc) == [
        (first.id, "dmitri", "page", True),
        (second.id, "alice", "page", True),
    ]


def test_failures_become_dead_letters_once_the_sender_gives_up(
    two_models: Path, tmp_path: Path, clock: ManualClock
) -> None:
    with holding(status=500) as rec:
        rc = open_rc(two_models, tmp_path, clock, rec)
        try:
            first, second = latency(rc), drift(rc, OTHER)
            wait_for(lambda: rec.count("received") == 1, "the first page")
            with rc.db.session() as session:
                assert session.scalars(select(DeadLetter)).all() == []
            rec.release.set()
            rc.flush()
            with rc.db.session() as session:
                letters = [(d.incident_id, d.channel) for d in session.scalars(select(DeadLetter))]
            assert letters == [(first.id, "console"), (second.id, "console")]
            assert deliveries(rc) == [
                (first.id, "dmitri", "page", False),
                (second.id, "alice", "page", False),
            ]
        finally:
            rec.release.set()
            rc.close()


def test_flush_and_close_wait_for_a_slow_receiver(
    two_models: Path, tmp_path: Path, clock: ManualClock
) -> None:
    with holding(hold_s=0.2) as rec:  # answers each request after a pause, on its own
        rc = open_rc(two_models, tmp_path, clock, rec)
        incident = latency(rc)
        rc.flush()
        assert rec.count("answered") == 1 and rc.outbox.pending == 0
        assert deliveries(rc) == [(incident.id, "dmitri", "page", True)]
        drift(rc, OTHER)
        rc.close()  # sends what is queued before the database goes
        assert rec.count("answered") == 2
        again = Ripcord.open(two_models, url=str(rc.db.url), home=tmp_path, clock=clock)
        try:
            assert [d[1] for d in deliveries(again)] == ["dmitri", "alice"]
        finally:
            again.close()


def test_an_escalation_page_is_marked_paged_once_sent_and_not_repeated_meanwhile(
    held: tuple[Ripcord, Holding], clock: ManualClock
) -> None:
    rc, rec = held
    incident = latency(rc)  # SEV-3: four hours to acknowledge
    wait_for(lambda: rec.count("received dmitri") == 1, "the first page")
    clock.advance(241 * 60)
    assert rc.responder.escalate_overdue() == [incident.id]

    def paged() -> tuple[int, int]:
        with rc.db.session() as session:
            row = session.get(Incident, incident.id)
            assert row is not None
            return row.escalation_level, row.escalation_paged

    assert paged() == (1, 0)  # decided, still queued: a crash now re-sends it on restart
    clock.advance(3 * 60)  # past the grace an orphaned page is given
    assert rc.responder.escalate_overdue() == []  # queued here: not sent a second time
    rec.release.set()
    rc.flush()
    assert paged() == (1, 1)
    assert [e for e in rec.events if e.startswith("received")] == [
        "received dmitri",
        "received erin",  # the platform's backup
    ]
