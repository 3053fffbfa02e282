"""Traffic that stops dead: the service's timer reads the silence and opens an incident."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from ripcord.app import Ripcord
from ripcord.clock import ManualClock
from ripcord.drills import credit
from ripcord.drills.demo import MODEL
from ripcord.events import InferenceEvent
from ripcord.notify import RecordingChannel
from ripcord.sop.severity import Severity
from ripcord.store.tables import Incident

from ..conftest import sop_data


@pytest.fixture
def rc(tmp_path: Path, clock: ManualClock, channel: RecordingChannel) -> Iterator[Ripcord]:
    credit.write_golden(tmp_path / "golden" / "credit-risk.csv", n=300)
    data = sop_data()
    data["models"][MODEL]["detectors"] = [{"type": "throughput", "window": 200}]
    path = tmp_path / "sop.yaml"
    path.write_text(yaml.safe_dump(data))
    app = Ripcord.open(
        path,
        url=f"sqlite:///{tmp_path / 'rc.db'}",
        home=tmp_path,
        clock=clock,
        channels={"console": channel},
    )
    app.register(MODEL, "v1", credit.train(), actor="ci")
    app.deploy(MODEL, "v1", actor="ci")
    yield app
    app.close()


def serve(rc: Ripcord, clock: ManualClock, n: int) -> None:
    """`n` events at 20 per second, stored in batches of 20, the timer ticking each second."""
    for start in range(0, n, 20):
        batch = []
        for k in range(start, start + 20):
            clock.advance(0.05)
            batch.append(
                InferenceEvent(
                    model=MODEL,
                    version="v1",
                    request_id=f"r{k}",
                    timestamp=clock.now(),
                    latency_ms=4.0,
                    prediction=0,
                    confidence=0.9,
                )
            )
        assert rc.ingest_stored(batch) == []
        assert rc.tick() == []


def incidents(rc: Ripcord) -> list[Incident]:
    with rc.db.session() as session:
        return list(session.scalars(select(Incident)))


def test_a_model_whose_traffic_stops_gets_an_infrastructure_incident(
    rc: Ripcord, clock: ManualClock
) -> None:
    serve(rc, clock, 1_000)
    start = clock.now()
    for _ in range(120):
        clock.advance(1.0)
        if rc.tick():
            break
    silent = (clock.now() - start).total_seconds()
    assert 20 <= silent <= 45, silent  # the 10 s window's rate, extended by the silence
    (incident,) = incidents(rc)
    assert incident.model == MODEL and incident.incident_type == "infrastructure"
    assert incident.severity == Severity.SEV2 and incident.title.endswith("throughput collapse")
    for _ in range(60):  # the silence goes on: the same incident, no second page
        clock.advance(1.0)
        assert rc.tick() == []
    assert len(incidents(rc)) == 1


def test_a_version_rolled_back_away_from_is_not_read_as_silent(
    rc: Ripcord, clock: ManualClock
) -> None:
    serve(rc, clock, 1_000)
    rc.register(MODEL, "v2", credit.train(), actor="ci", parent="v1")
    rc.deploy(MODEL, "v2", actor="ci")  # v1 no longer serves: its silence is by design
    clock.advance(timedelta(minutes=5).total_seconds())
    assert rc.tick() == []
    assert incidents(rc) == []
