"""Triage through the responder: one incident per key while open, a worse signal raises
the severity and pages at once, and a flapping signal neither reopens nor re-pages within
the SOP's `triage.cooldown_minutes` (30 by default)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from ripcord.app import Ripcord
from ripcord.clock import ManualClock
from ripcord.detect.base import Reading, Signal
from ripcord.drills.demo import MODEL
from ripcord.incidents import desk
from ripcord.notify import RecordingChannel
from ripcord.notify.base import MessageKind
from ripcord.store.tables import Incident, SignalRow


def drift(rc: Ripcord, value: float = 0.4) -> Incident:
    """SEV-3 model quality: notify only, no automatic action."""
    reading = Reading("psi", value, 0.2, "above", 300)
    signal = Signal(MODEL, "v1", "prediction_drift", "prediction_drift", reading, rc.clock.now())
    return rc.responder.handle(signal)


def confidence_drop(rc: Ripcord) -> Incident:
    """SEV-2 model quality: the same key as `drift`, worse."""
    reading = Reading("mean_confidence", 0.5, 0.78, "below", 100)
    signal = Signal(MODEL, "v1", "confidence", "confidence", reading, rc.clock.now())
    return rc.responder.handle(signal)


def pages(channel: RecordingChannel) -> list[tuple[int, str]]:
    return [(m.incident_id, m.recipient) for m in channel.messages if m.kind is MessageKind.PAGE]


def count(rc: Ripcord, table: type[Incident] | type[SignalRow]) -> int:
    with rc.db.session() as session:
        return session.scalar(select(func.count()).select_from(table)) or 0


def test_a_flapping_signal_neither_reopens_nor_repages(
    rc: Ripcord, clock: ManualClock, channel: RecordingChannel
) -> None:
    first = drift(rc)
    clock.advance(60)
    assert drift(rc).id == first.id  # open: later signals join
    desk.resolve(rc, first.id, "threshold noise", actor="alice")
    clock.advance(29 * 60)
    again = drift(rc)
    assert (again.id, again.status) == (first.id, "resolved")
    assert pages(channel) == [(first.id, "alice")]
    assert (count(rc, Incident), count(rc, SignalRow)) == (1, 3)
    clock.advance(2 * 60)  # 31 minutes after the resolution: a new incident, paged
    later = drift(rc)
    assert later.id != first.id and later.status == "open"
    assert pages(channel) == [(first.id, "alice"), (later.id, "alice")]


def test_severity_rises_at_once_on_an_open_incident(
    rc: Ripcord, clock: ManualClock, channel: RecordingChannel
) -> None:
    first = drift(rc)
    clock.advance(60)
    raised = confidence_drop(rc)
    assert (raised.id, raised.severity) == (first.id, 3)  # SEV-2 now
    assert pages(channel) == [(first.id, "alice"), (first.id, "alice")]
    with rc.db.session() as session:
        stored = session.get(Incident, first.id)
        assert stored is not None
    assert stored.ack_by == clock.now() + timedelta(minutes=60)  # SEV-2's, sooner than SEV-3's
    clock.advance(60)
    drift(rc)  # a milder one changes nothing and pages no one
    assert len(pages(channel)) == 2 and count(rc, Incident) == 1


def test_a_worse_signal_after_a_resolution_is_not_flapping(
    rc: Ripcord, clock: ManualClock, channel: RecordingChannel
) -> None:
    first = drift(rc)
    desk.resolve(rc, first.id, "noise", actor="alice")
    clock.advance(5 * 60)
    worse = confidence_drop(rc)
    assert worse.id != first.id
    assert pages(channel) == [(first.id, "alice"), (worse.id, "alice")]
