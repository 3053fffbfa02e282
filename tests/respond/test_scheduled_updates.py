"""A message promises the next update by a time; the service's timer keeps the promise."""

from __future__ import annotations

from sqlalchemy import select

from ripcord.app import Ripcord
from ripcord.clock import ManualClock
from ripcord.detect.base import Reading, Signal
from ripcord.drills.demo import MODEL
from ripcord.incidents import desk
from ripcord.notify import RecordingChannel
from ripcord.store.tables import Delivery


def kinds(rc: Ripcord, incident_id: int) -> list[str]:
    with rc.db.session() as session:
        query = select(Delivery.kind).where(Delivery.incident_id == incident_id)
        return list(session.scalars(query.order_by(Delivery.id)))


def test_an_active_incident_gets_an_update_each_interval_until_it_is_resolved(
    rc: Ripcord, clock: ManualClock, channel: RecordingChannel
) -> None:
    reading = Reading("latency", 120.0, 50.0, "above", window=200)  # SEV-3: every 2 hours
    incident = rc.responder.handle(
        Signal(MODEL, "v2", "latency", "latency", reading, at=rc.clock.now())
    )
    assert "Next update by" in channel.messages[-1].body
    desk.acknowledge(rc, incident.id, actor="alice")  # no escalation in the way
    clock.advance(119 * 60)
    rc.tick()
    assert kinds(rc, incident.id) == ["page", "ack"]
    clock.advance(2 * 60)
    rc.tick()
    rc.tick()  # the same due time: sent once
    assert kinds(rc, incident.id) == ["page", "ack", "update"]
    title = channel.messages[-1].title
    assert title == "Update SEV-3 credit-risk: acknowledged (scheduled update)"
    clock.advance(60 * 60)
    rc.tick()  # an hour after the update: not due yet
    clock.advance(61 * 60)
    rc.tick()
    assert kinds(rc, incident.id) == ["page", "ack", "update", "update"]
    desk.resolve(rc, incident.id, "autoscaler fixed", actor="alice")
    clock.advance(24 * 60 * 60)
    rc.tick()
    assert kinds(rc, incident.id) == ["page", "ack", "update", "update", "resolved"]
