"""Routing changes stored by another runtime on the same database reach a guard within a
second, without a restart."""

from __future__ import annotations

import time
from pathlib import Path

from ripcord.app import Ripcord
from ripcord.clock import ManualClock
from ripcord.drills.demo import MODEL
from ripcord.events import Route
from ripcord.respond import controls
from ripcord.respond.refresh import Refresher
from ripcord.store.tables import Routing
from tests.respond.conftest import V1
from tests.test_sdk import GOOD


def test_a_kill_switch_set_elsewhere_reaches_a_running_guard(
    rc: Ripcord, sop_file: Path, tmp_path: Path, clock: ManualClock
) -> None:
    rc.register(MODEL, "v1", V1, actor="ci")
    rc.deploy(MODEL, "v1", actor="ci")
    guard = rc.guard(MODEL)
    assert guard(GOOD).route is Route.CHAMPION
    other = Ripcord.open(
        sop_file, url=f"sqlite:///{tmp_path / 'rc.db'}", home=tmp_path, clock=clock
    )
    try:
        controls.kill(other, MODEL, on=True, actor="alice", reason="from another process")
        # The refresher polls every 0.5 s (its timing is tested with an injected clock
        # below); the deadline here is generous so a loaded machine cannot make it flaky.
        deadline = time.monotonic() + 10.0
        while guard(GOOD).route is not Route.KILLED:
            assert time.monotonic() < deadline, "the change never reached the guard"
    finally:
        other.close()


def test_a_change_to_a_model_with_a_lower_revision_is_seen(rc: Ripcord) -> None:
    now = [0.0]
    refresher = Refresher(rc.routes, rc.db, every=0.5, clock=lambda: now[0])
    with rc.db.session() as session:
        for _ in range(3):  # another model's revision climbs to 3, above this one's 1
            rc.routes.apply(session, "other", at=rc.clock.now(), actor="a", reason="x")
        rc.routes.apply(session, MODEL, at=rc.clock.now(), actor="a", reason="x")
    assert refresher.check() is True and refresher.check() is False
    assert refresher.maybe() is False  # not due yet: no query at all
    with rc.db.session() as session:  # a change made elsewhere, straight in the table
        row = session.get(Routing, MODEL)
        assert row is not None
        row.killed, row.revision = True, row.revision + 1  # 2: max(revision) stays 3
    now[0] = 0.5
    assert refresher.maybe() is True
    assert rc.routes.state(MODEL).killed is True
