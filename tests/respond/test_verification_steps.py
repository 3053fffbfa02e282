"""The checks between traffic steps: a rollback target that passes the golden set but goes
bad on live traffic at the 50 % step is stopped there (never 100 %), marked bad, the
traffic goes back to the fallback, and the next candidate is validated and verified."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select

from ripcord.app import Ripcord
from ripcord.drills.demo import MODEL
from ripcord.notify import RecordingChannel
from ripcord.registry.base import Scored
from ripcord.respond.breaker import BreakerState
from ripcord.respond.plan import plan
from ripcord.respond.rollback import Step
from ripcord.store.tables import Action, AuditRow
from tests.respond.conftest import V1, V2, Drive


class BreaksLive:
    """v1's answers for the golden set (the batch and the 100 single-row latency calls) and
    for its first `good` live calls, then the broken join's. Each loaded copy counts its
    own calls: the validation's and the guard's are separate."""

    def __init__(self, good: int) -> None:
        self.good = good
        self.calls = 0

    def predict(self, rows: Sequence[Mapping[str, Any]]) -> list[Scored]:
        if len(rows) == 1:
            self.calls += 1
            if self.calls > self.good:
                return V2.predict(rows)
        return V1.predict(rows)


def shares(rc: Ripcord) -> list[float | None]:
    """Every share the routing table was given, in order."""
    with rc.db.session() as session:
        rows = session.scalars(
            select(AuditRow).where(AuditRow.action == "routing.change").order_by(AuditRow.id)
        )
        return [r.after["share"] for r in rows if r.after["share"] is not None]  # type: ignore[index]


def test_a_target_that_goes_bad_at_the_second_step_is_stopped_for_the_next(
    rc: Ripcord, drive: Drive, channel: RecordingChannel
) -> None:
    # v1x: newer than v1, verified good once, passes the golden set; breaks after 120 live
    # calls, i.e. clean through the 10 % step (100 events) and bad inside the 50 % step.
    rc.register(MODEL, "v1x", BreaksLive(good=120), actor="ci", parent="v1")
    with rc.db.session() as session:
        row = rc.registry.get(session, MODEL, "v1x")
        rc.registry.mark(session, row, "good", at=rc.clock.now(), actor="test", reason="earlier")
    rc.deploy(MODEL, "v2", actor="deploy-bot")
    drive.serve(400, until=lambda: drive.incident() is not None)
    [action] = rc.pending_approvals()
    assert action.data["target"] == "v1x"
    rc.approve(action.id, actor="carol")

    def back_to_validation() -> bool:
        with rc.db.session() as session:
            stored = session.get(Action, action.id)
            assert stored is not None
            return stored.status == Step.AWAITING_APPROVAL.value and stored.data["target"] == "v1"

    drive.serve(3000, until=back_to_validation)
    assert back_to_validation(), "v1x's failure at the 50 % step did not reach the next candidate"
    assert shares(rc) == [0.1, 0.5]  # stopped at the second step: never 100 %
    state = rc.routes.state(MODEL)
    assert (state.serving, state.breaker) == ("v1x", BreakerState.OPEN)  # on the fallback
    with rc.db.session() as session:
        assert rc.registry.get(session, MODEL, "v1x").health == "bad"
        choices = {c.version: c for c in plan(session, rc.registry, MODEL, serving=state.serving)}
        stored = session.get(Action, action.id)
        assert stored is not None
        tried = [(t["version"], t["passed"]) for t in stored.data["tried"]]
    assert tried == [("v1x", True), ("v1", True)]
    assert choices["v1x"].eligible is False and choices["v1"].eligible is True
    asked = channel.messages[-1]  # the new target needs its own approval, from carol again
    assert asked.recipient == "carol" and "approval needed (0 of 1): roll back to v1" in asked.title

    rc.approve(action.id, actor="carol")
    drive.serve(3000, until=lambda: (drive.incident() or action).status == "resolved")
    incident = drive.incident()
    assert incident is not None and incident.status == "resolved"
    assert shares(rc) == [0.1, 0.5, 0.1, 0.5, 1.0]  # v1 from the first step again
    state = rc.routes.state(MODEL)
    assert (state.serving, state.breaker, state.share) == ("v1", BreakerState.CLOSED, None)
