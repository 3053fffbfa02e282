"""SIGKILL at every step of the rollback, from outside, then a restart.

A child process runs the loop (v1 verified, v2 deployed and caught, the rollback proposed,
approved, verified over 10 % → 50 % → 100 % of traffic) and stops at one named point: it
writes a marker file and blocks, inside whatever transaction that point is in. The test
waits for the marker (polling, with a deadline), checks what the database holds, and kills
the child with SIGKILL. Then it asserts what the issue asks for each step:

- the routing row is the `after` of the last audited routing change, and a fresh process
  serves exactly that (a known, audited state), before and after the restart;
- a restarted runtime completes the rollback (done, incident resolved, v1 serving closed);
- running it again (resume, the runner, `start`, another restart) writes nothing.

test_crash.py and test_parts_crash.py kill from inside (the child kills itself in the
middle of a step); here the kill comes from another process, as an OOM killer's would.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select

from ripcord.app import Ripcord
from ripcord.clock import ManualClock
from ripcord.drills import credit
from ripcord.drills.demo import MODEL
from ripcord.notify import RecordingChannel
from ripcord.respond.breaker import BreakerState
from ripcord.respond.rollback import Step
from ripcord.respond.routing import RoutingTable
from ripcord.store import audit
from ripcord.store.db import Database
from ripcord.store.tables import (
    Action,
    ArtifactActivation,
    AuditRow,
    Deployment,
    Incident,
    Routing,
    TimelineEntry,
)
from tests.conftest import sop_data
from tests.respond.conftest import Drive
from tests.respond.test_parts import rollback_activations, write_sop

pytestmark = pytest.mark.slow

DEADLINE_S = 120.0  # generous: two cores shared by several suites

# `point` names where the child stops; `hold()` marks it and blocks until killed.
CHILD = textwrap.dedent("""
    import sys, threading
    from pathlib import Path
    from ripcord.app import Ripcord
    from ripcord.clock import ManualClock
    from ripcord.notify import RecordingChannel
    from ripcord.respond import parts
    import ripcord.respond.rollback as rollback
    from tests.respond.conftest import Drive, deploy_v1
    from tests.respond.test_parts import K, start_targets

    point, tmp = sys.argv[1], Path(sys.argv[2])

    def hold():
        (tmp / "held").write_text(point)
        threading.Event().wait()  # until the SIGKILL

    def after(owner, name, when=lambda *a, **k: True):
        original = getattr(owner, name)
        def wrapper(*args, **kwargs):
            result = original(*args, **kwargs)
            if when(*args, **kwargs):
                hold()
            return result
        setattr(owner, name, wrapper)

    clock = ManualClock()
    rc = Ripcord.open(tmp / "sop.yaml", url=f"sqlite:///{tmp / 'rc.db'}", home=tmp,
                      clock=clock, channels={"console": RecordingChannel("console")})
    if point == "between_parts":
        drive = start_targets(rc, clock)
        rc.targets.record_config("credit-risk", "pipeline", K | {"join": "v2"}, actor="etl",
                                 version="p2")
        rc.targets.record_config("credit-risk", "prompt", {"text": "promise"}, actor="ml",
                                 version="q2")
    else:
        drive = deploy_v1(rc, clock)
    if point == "validating":  # inside the validation's transaction, the candidate scored
        after(rollback, "validate")
    rc.deploy("credit-risk", "v2", actor="deploy-bot")
    drive.serve(600, until=lambda: drive.incident() is not None)
    if point == "awaiting_approval":
        hold()
    if point == "promoting":  # inside the promotion's transaction: v1's deployment written
        after(rc.registry, "record_deployment")
    calls = []
    if point == "between_parts":  # the first part restored, the second not yet
        after(parts, "restore", when=lambda *a, **k: calls.append(1) or len(calls) == 1)
    if point == "verifying":  # the window closed: the verdict written, not committed
        after(rc.rollback, "verified")
    if point == "done":  # the rollback committed as done (and announced)
        after(rc.responder, "after_step", when=lambda _id, step: step == "done")
    [action] = rc.pending_approvals()
    rc.approve(action.id, actor="carol")
    steps = {"traffic_10": 0, "traffic_50": 1, "traffic_100": 2}
    def at_step():
        check = rc.verifier.active.get("credit-risk")
        return check is not None and check.step == steps.get(point) and check.seen >= 10
    drive.serve(4000, until=at_step if point in steps else None)
    if point in steps:
        hold()
    sys.exit(3)  # the point was never reached
""")


@dataclass(frozen=True)
class Expect:
    """What the database holds when the child is killed at a point."""

    status: Step
    serving: str
    breaker: BreakerState
    share: float | None = None
    traffic_step: int | None = None


POINTS = {
    "validating": Expect(Step.VALIDATING, "v2", BreakerState.OPEN),
    "awaiting_approval": Expect(Step.AWAITING_APPROVAL, "v2", BreakerState.OPEN),
    "promoting": Expect(Step.PROMOTING, "v2", BreakerState.OPEN),
    "between_parts": Expect(Step.PROMOTING, "v2", BreakerState.OPEN),
    "traffic_10": Expect(Step.VERIFYING, "v1", BreakerState.HALF_OPEN, 0.1, 0),
    "traffic_50": Expect(Step.VERIFYING, "v1", BreakerState.HALF_OPEN, 0.5, 1),
    "traffic_100": Expect(Step.VERIFYING, "v1", BreakerState.HALF_OPEN, 1.0, 2),
    "verifying": Expect(Step.VERIFYING, "v1", BreakerState.HALF_OPEN, 1.0, 2),
    "done": Expect(Step.DONE, "v1", BreakerState.CLOSED),
}


@pytest.fixture
def folder(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    point: str = request.node.callspec.params["point"]
    if point == "between_parts":
        write_sop(tmp_path, ["pipeline", "prompt", "model"])
    else:
        credit.write_golden(tmp_path / "golden" / "credit-risk.csv", n=300)
        (tmp_path / "sop.yaml").write_text(yaml.safe_dump(sop_data()))
    return tmp_path


def kill_at(point: str, folder: Path) -> None:
    """Run the child until it holds at `point` (the marker file, polled with a deadline),
    then SIGKILL it from here."""
    env = os.environ | {
        "PYTHONPATH": os.pathsep.join([str(Path.cwd()), os.environ.get("PYTHONPATH", "")])
    }
    log = (folder / "child.log").open("w")
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, point, str(folder)], env=env, stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + DEADLINE_S
        while not (folder / "held").exists():
            if child.poll() is not None or time.monotonic() > deadline:
                tail = (folder / "child.log").read_text()[-3000:]
                pytest.fail(f"the child never held at {point} (exit {child.returncode}):\n{tail}")
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=0.05)  # the pause between polls, and a death detector
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=DEADLINE_S) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        log.close()


def known_routing(url: str) -> dict[str, Any]:
    """The routing a fresh process reads, checked against the last audited routing change
    (its `after`); the audit chain verifies. Returns it."""
    db = Database.open(url)
    try:
        with db.session() as session:
            audit.verify(session)
            fresh = RoutingTable()
            fresh.load(session)
            last = session.scalars(
                select(AuditRow)
                .where(AuditRow.action == "routing.change", AuditRow.subject == f"model:{MODEL}")
                .order_by(AuditRow.id.desc())
            ).first()
            assert last is not None
            stored = fresh.state(MODEL).as_dict()
            assert stored == last.after
            return stored
    finally:
        db.dispose()


def stored_action(url: str) -> Action:
    db = Database.open(url)
    try:
        with db.session() as session:
            return session.scalars(select(Action)).one()
    finally:
        db.dispose()


def open_again(folder: Path, url: str) -> tuple[Ripcord, ManualClock]:
    clock = ManualClock()
    rc = Ripcord.open(
        folder / "sop.yaml",
        url=url,
        home=folder,
        clock=clock,
        channels={"console": RecordingChannel("console")},
    )
    return rc, clock


def complete(rc: Ripcord, clock: ManualClock) -> None:
    """Whatever step the restart found, the rollback finishes: approved if it waits, then
    verified over the traffic steps."""
    for pending in rc.pending_approvals():
        rc.approve(pending.id, actor="carol")
    drive = Drive(rc, clock)

    def resolved() -> bool:
        incident = drive.incident()
        return incident is not None and incident.status == "resolved"

    drive.serve(4000, until=resolved)
    assert resolved(), "the rollback did not complete after the restart"


def counts(rc: Ripcord) -> tuple[int, ...]:
    with rc.db.session() as session:
        row = session.get(Routing, MODEL)
        assert row is not None
        return (
            *(
                session.scalar(select(func.count()).select_from(table)) or 0
                for table in (AuditRow, TimelineEntry, Action, Deployment, ArtifactActivation)
            ),
            row.revision,
        )


def rerun(rc: Ripcord) -> None:
    """Every way the rollback could be run again."""
    rc.responder.resume()
    with rc.db.session() as session:
        incident = session.scalars(select(Incident)).one()
        action = rc.rollback.start(session, incident, actor="ripcord", approval=True)
    assert rc.runner.run(action.id) is Step.DONE


@pytest.mark.parametrize("point", list(POINTS))
def test_a_kill_at_each_step_resumes_to_a_clean_finish(point: str, folder: Path) -> None:
    expect = POINTS[point]
    url = f"sqlite:///{folder / 'rc.db'}"
    kill_at(point, folder)

    action = stored_action(url)  # what the dead process left
    assert Step(action.status) is expect.status
    if expect.traffic_step is not None:
        assert action.data.get("traffic_step", 0) == expect.traffic_step
    routing = known_routing(url)
    assert (routing["serving"], routing["breaker"], routing["share"]) == (
        expect.serving,
        expect.breaker.value,
        expect.share,
    )

    rc, clock = open_again(folder, url)
    try:
        assert rc.routes.state(MODEL).as_dict() == known_routing(url)  # memory = row = audit
        if expect.traffic_step is not None:  # the window resumes at the step it reached
            assert rc.verifier.active[MODEL].step == expect.traffic_step
            assert rc.routes.breaker(MODEL).state.share == expect.share
        complete(rc, clock)
        with rc.db.session() as session:
            action = session.scalars(select(Action)).one()
            assert Step(action.status) is Step.DONE
        routing = known_routing(url)
        assert (routing["serving"], routing["breaker"], routing["share"]) == ("v1", "closed", None)
        assert rc.routes.state(MODEL).as_dict() == routing
        if point == "between_parts":  # each part restored once, in the SOP's order
            assert rollback_activations(rc) == [("pipeline", "p1", "p2"), ("prompt", "q1", "q2")]
        before = counts(rc)
        rerun(rc)
        assert counts(rc) == before
    finally:
        rc.close()
    rc, _ = open_again(folder, url)  # and a restart after the end: nothing either
    try:
        assert counts(rc) == before
        assert rc.routes.state(MODEL).breaker is BreakerState.CLOSED
    finally:
        rc.close()
