"""Routing controls through the guard: canary, shadow, kill switch, pause, disabled
features — each audited with before and after."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from ripcord.app import Ripcord
from ripcord.drills.demo import MODEL
from ripcord.errors import InputError, PausedError
from ripcord.events import Route
from ripcord.respond import controls
from ripcord.store.tables import AuditRow, EventRow
from tests.respond.conftest import V1, V2

ROW = {
    "income_k": 50.0,
    "debt_ratio": 0.2,
    "age": 40.0,
    "tenure_months": 12.0,
    "late_payments": 3.0,
    "utilization": 0.3,
}


@pytest.fixture
def deployed(rc: Ripcord) -> Ripcord:
    rc.register(MODEL, "v1", V1, actor="ci")
    rc.register(MODEL, "v2", V2, actor="ci")
    rc.register(MODEL, "v1-retrain", V1, actor="ci", parent="v1")
    rc.deploy(MODEL, "v1", actor="ci")
    return rc


def events(rc: Ripcord, route: str) -> list[EventRow]:
    rc.flush()
    with rc.db.session() as session:
        return list(session.scalars(select(EventRow).where(EventRow.route == route)))


def test_a_canary_gets_its_share_and_each_request_sticks(deployed: Ripcord) -> None:
    controls.canary(deployed, MODEL, {"v1-retrain": 0.2}, actor="alice", reason="try it")
    guard = deployed.guard(MODEL)
    versions = [guard(ROW, request_id=f"r{i}").version for i in range(2000)]
    assert 0.17 < versions.count("v1-retrain") / 2000 < 0.23
    assert set(versions) == {"v1", "v1-retrain"}
    assert {guard(ROW, request_id="r7").version for _ in range(5)} == {versions[7]}


def test_bad_canary_shares_are_named_and_change_nothing(deployed: Ripcord) -> None:
    with pytest.raises(InputError, match=r"canary.v2: 1.5 is not in \(0, 1\]"):
        controls.canary(deployed, MODEL, {"v2": 1.5}, actor="alice", reason="x")
    with pytest.raises(InputError, match="canary: 'v9' is not a registered version"):
        controls.canary(deployed, MODEL, {"v9": 0.1}, actor="alice", reason="x")
    assert deployed.routes.state(MODEL).canary == {}


def test_the_shadow_is_scored_and_recorded_but_never_served(deployed: Ripcord) -> None:
    controls.shadow(deployed, MODEL, "v2", actor="alice", reason="compare v2")
    guard = deployed.guard(MODEL)
    served = [guard(ROW, request_id=f"r{i}") for i in range(20)]
    assert {s.version for s in served} == {"v1"}
    shadows = events(deployed, "shadow")
    assert len(shadows) == 20 and {e.version for e in shadows} == {"v2"}
    assert shadows[0].request_id == "r0:shadow"
    controls.shadow(deployed, MODEL, None, actor="alice", reason="done")
    guard(ROW)
    assert len(events(deployed, "shadow")) == 20


def test_kill_switch_pause_and_resume(deployed: Ripcord) -> None:
    guard = deployed.guard(MODEL)
    controls.kill(deployed, MODEL, on=True, actor="alice", reason="clinical review")
    assert guard(ROW).route is Route.KILLED
    controls.kill(deployed, MODEL, on=False, actor="alice", reason="cleared")
    controls.pause(deployed, MODEL, "maintenance until 14:00 UTC", actor="alice", reason="deploy")
    with pytest.raises(PausedError, match="maintenance until 14:00 UTC"):
        guard(ROW)
    controls.pause(deployed, MODEL, None, actor="alice", reason="back")
    assert guard(ROW).route is Route.CHAMPION
    with deployed.db.session() as session:
        changes = list(
            session.scalars(
                select(AuditRow).where(
                    AuditRow.action == "routing.change", AuditRow.actor == "alice"
                )
            )
        )
    assert [c.after["killed"] for c in changes] == [True, False, False, False]  # type: ignore[index]
    assert changes[2].after["paused"] == "maintenance until 14:00 UTC"  # type: ignore[index]
    assert changes[2].before["paused"] is None  # type: ignore[index]


def test_a_disabled_feature_gets_its_stand_in(deployed: Ripcord) -> None:
    guard = deployed.guard(MODEL)
    risky = guard(ROW | {"late_payments": 9.0})
    controls.disable_features(
        deployed,
        MODEL,
        {"late_payments": 1.0},
        actor="alice",
        reason="upstream field changed units",
    )
    calmer = guard(ROW | {"late_payments": 9.0})
    assert calmer.prediction == guard(ROW | {"late_payments": 1.0}).prediction
    assert (risky.prediction, risky.confidence) != (calmer.prediction, calmer.confidence)
    with pytest.raises(InputError, match="disabled_features.colour: 'red' is not a field"):
        controls.disable_features(deployed, MODEL, {"colour": "red"}, actor="a", reason="x")


def test_routing_survives_a_restart(deployed: Ripcord, sop_file, tmp_path, clock) -> None:  # type: ignore[no-untyped-def]
    controls.canary(deployed, MODEL, {"v2": 0.1}, actor="alice", reason="try")
    controls.shadow(deployed, MODEL, "v2", actor="alice", reason="compare")
    deployed.close()
    again = Ripcord.open(
        sop_file, url=f"sqlite:///{tmp_path / 'rc.db'}", home=tmp_path, clock=clock
    )
    try:
        state = again.routes.state(MODEL)
        assert (state.serving, state.canary, state.shadow) == ("v1", {"v2": 0.1}, "v2")
    finally:
        again.close()


def test_a_failing_canary_is_pulled_and_the_serving_version_keeps_serving(
    deployed: Ripcord,
) -> None:
    from ripcord.respond.breaker import BreakerState
    from ripcord.store.tables import Incident

    controls.canary(deployed, MODEL, {"v2": 0.3}, actor="alice", reason="try v2")
    guard = deployed.guard(MODEL)
    for i in range(600):
        guard(ROW | {"late_payments": float(i % 4)}, request_id=f"r{i}")
    state = deployed.routes.state(MODEL)
    assert (state.canary, state.breaker, state.serving) == ({}, BreakerState.CLOSED, "v1")
    with deployed.db.session() as session:
        [incident] = session.scalars(select(Incident)).all()
        assert (incident.version, incident.status) == ("v2", "resolved")
        assert deployed.registry.get(session, MODEL, "v2").health == "bad"
    assert guard(ROW, request_id="r1").version == "v1"
