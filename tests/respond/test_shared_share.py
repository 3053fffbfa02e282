"""The stepped half-open share of a progressive traffic return lives in the routing row, so
another runtime on the same database (a guard's host, `ripcord gateway`) serves the same
10 % → 50 % → 100 % as the runtime running the rollback, not its own default share."""

from __future__ import annotations

from pathlib import Path

import pytest

from ripcord.app import Ripcord
from ripcord.clock import ManualClock
from ripcord.drills.demo import MODEL
from ripcord.events import Route
from ripcord.respond.breaker import BreakerState
from ripcord.respond.refresh import Refresher
from ripcord.respond.routing import RoutingTable
from ripcord.sdk import Guard
from tests.respond.conftest import Drive
from tests.test_sdk import GOOD

CALLS = 1000


class Tick:
    """The other guard's refresh clock: it moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def champion_calls(guard: Guard) -> int:
    """How many of `CALLS` requests the guard sends to the serving version."""
    return sum(guard(GOOD).route is Route.CHAMPION for _ in range(CALLS))


def test_each_traffic_step_reaches_another_runtimes_guard(
    rc: Ripcord, drive: Drive, sop_file: Path, tmp_path: Path
) -> None:
    other = Ripcord.open(
        sop_file, url=f"sqlite:///{tmp_path / 'rc.db'}", home=tmp_path, clock=ManualClock()
    )
    try:
        guard = other.guard(MODEL)
        tick = Tick()
        guard.refresher = Refresher(other.routes, other.db, every=0.5, clock=tick)
        rc.deploy(MODEL, "v2", actor="deploy-bot")
        drive.serve(400, until=lambda: drive.incident() is not None)
        [action] = rc.pending_approvals()
        rc.approve(action.id, actor="carol")  # v1 back on 10 % of the traffic

        seen = []
        for step, share in enumerate((0.1, 0.5, 1.0)):

            def reached(step: int = step) -> bool:
                return rc.verifier.active[MODEL].step == step

            drive.serve(3000, until=reached)
            tick.now += 0.5  # the other guard's next refresh is due
            assert champion_calls(guard) == round(CALLS * share)  # exact, evenly spread
            state = other.routes.state(MODEL)
            seen.append((state.serving, state.breaker, state.share))
        assert seen == [("v1", BreakerState.HALF_OPEN, s) for s in (0.1, 0.5, 1.0)]

        drive.serve(3000, until=lambda: (drive.incident() or action).status == "resolved")
        tick.now += 0.5
        assert champion_calls(guard) == CALLS
        state = other.routes.state(MODEL)
        assert (state.serving, state.breaker, state.share) == ("v1", BreakerState.CLOSED, None)
    finally:
        other.close()


def test_a_share_is_checked_and_cleared_when_the_breaker_leaves_half_open(rc: Ripcord) -> None:
    at = rc.clock.now()
    with rc.db.session() as session, pytest.raises(ValueError, match="share: 1.5 must be"):
        rc.routes.apply(session, MODEL, at=at, actor="a", reason="r", share=1.5)
    with rc.db.session() as session:
        rc.routes.apply(
            session,
            MODEL,
            at=at,
            actor="a",
            reason="r",
            serving="v1",
            breaker=BreakerState.HALF_OPEN,
            share=0.25,
        )
    breaker = rc.routes.breaker(MODEL)
    assert sum(breaker.use_champion() for _ in range(100)) == 25
    with rc.db.session() as session:
        rc.routes.apply(session, MODEL, at=at, actor="a", reason="r", breaker=BreakerState.OPEN)
        fresh = RoutingTable()
        fresh.load(session)
        assert fresh.state(MODEL).share is None  # a stale share never outlives half-open


def test_a_share_moved_elsewhere_restarts_the_count(rc: Ripcord) -> None:
    """Loaded from the table, a new share is exact from its first call."""
    at = rc.clock.now()
    other = RoutingTable()
    with rc.db.session() as session:
        rc.routes.apply(
            session, MODEL, at=at, actor="a", reason="r", breaker=BreakerState.HALF_OPEN, share=0.5
        )
        other.load(session)
    assert [other.breaker(MODEL).use_champion() for _ in range(3)] == [False, True, False]
    with rc.db.session() as session:
        rc.routes.apply(session, MODEL, at=at, actor="a", reason="r", share=0.1)
        other.load(session)
    assert sum(other.breaker(MODEL).use_champion() for _ in range(10)) == 1
