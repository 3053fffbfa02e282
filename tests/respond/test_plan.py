"""The last-known-good choice skips versions implicated in incidents, open or past."""

from __future__ import annotations

from ripcord.app import Ripcord
from ripcord.clock import ManualClock
from ripcord.detect.base import Reading, Signal
from ripcord.drills import credit
from ripcord.drills.demo import MODEL
from ripcord.incidents import desk
from ripcord.registry.local import Health
from ripcord.respond.plan import plan
from ripcord.store.tables import Incident

MODEL_V = credit.train()


def versions(rc: Ripcord, *names: str) -> None:
    for name in names:
        rc.register(MODEL, name, MODEL_V, actor="ci")
        good(rc, name)


def good(rc: Ripcord, version: str) -> None:
    with rc.db.session() as session:
        row = rc.registry.get(session, MODEL, version)
        rc.registry.mark(session, row, Health.GOOD, at=rc.clock.now(), actor="ci", reason="ok")


def incident(rc: Ripcord, version: str, family: str, value: float, limit: float) -> Incident:
    reading = Reading(family, value, limit, "above", window=200)  # SEV-3 for both families
    signal = Signal(MODEL, version, family, family, reading, at=rc.clock.now())
    return rc.responder.handle(signal)


def choices(rc: Ripcord) -> dict[str, tuple[bool, str]]:
    with rc.db.session() as session:
        return {
            c.version: (c.eligible, c.reason)
            for c in plan(session, rc.registry, MODEL, serving="v4")
        }


def test_a_version_blamed_in_a_past_incident_is_skipped_until_verified_again(
    rc: Ripcord, clock: ManualClock
) -> None:
    versions(rc, "v1", "v2", "v3")
    clock.advance(60)
    drift = incident(rc, "v3", "prediction_drift", 0.5, 0.2)  # model quality
    slow = incident(rc, "v2", "latency", 120.0, 50.0)  # infrastructure
    assert choices(rc)["v3"] == (False, f"implicated in open incident {drift.id}")
    clock.advance(60)
    desk.resolve(rc, drift.id, "a person closed it without a rollback", actor="alice")
    desk.resolve(rc, slow.id, "autoscaler fixed", actor="alice")
    assert choices(rc) == {
        "v3": (False, f"implicated in incident {drift.id} (model_quality)"),
        "v2": (True, "candidate #1"),  # the platform was slow, not the version
        "v1": (True, "candidate #2"),
    }
    clock.advance(60)
    good(rc, "v3")  # verified clean in service after the incident
    assert choices(rc)["v3"] == (True, "candidate #1")
