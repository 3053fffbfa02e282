"""SIGKILL in the middle of a rollback, then a restart: the rollback completes, routing is
always a state that was stored and audited, and the audit chain verifies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import select

from ripcord.app import Ripcord
from ripcord.clock import ManualClock
from ripcord.drills.demo import MODEL
from ripcord.notify import RecordingChannel
from ripcord.respond.breaker import BreakerState
from ripcord.respond.rollback import Step
from ripcord.store import audit
from ripcord.store.db import Database
from ripcord.store.tables import Action, Incident
from tests.respond.conftest import Drive

pytestmark = pytest.mark.slow

# The child process runs the loop up to the approval, then approves; `CRASH` names the
# function inside which it kills itself with SIGKILL (no cleanup, no commit).
CHILD = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from ripcord.app import Ripcord
    from ripcord.clock import ManualClock
    from ripcord.notify import RecordingChannel
    from tests.respond.conftest import Drive, deploy_v1

    crash, tmp = sys.argv[1], Path(sys.argv[2])

    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    clock = ManualClock()
    rc = Ripcord.open(tmp / "sop.yaml", url=f"sqlite:///{tmp / 'rc.db'}", home=tmp, clock=clock,
                      channels={"console": RecordingChannel("console")})
    drive = deploy_v1(rc, clock)
    if crash == "validate":
        import ripcord.respond.rollback as rollback
        rollback.validate = die
    rc.deploy("credit-risk", "v2", actor="deploy-bot")
    drive.serve(400, until=lambda: drive.incident() is not None)
    if crash == "promote":
        rc.rollback._promote = die
    [action] = rc.pending_approvals()
    rc.approve(action.id, actor="carol")
    if crash == "verify":
        drive.serve(120)
        die()
    sys.exit(3)  # not reached when the crash point is hit
""")


def run_child(crash: str, tmp: Path) -> int:
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(Path.cwd()), env_path()])}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, crash, str(tmp)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr[-3000:]
    return done.returncode


def env_path() -> str:
    return os.environ.get("PYTHONPATH", "")


@pytest.mark.parametrize(
    ("crash", "stored_step"),
    [
        ("validate", Step.VALIDATING),  # killed while scoring the golden set
        ("promote", Step.PROMOTING),  # killed inside the promotion transaction
        ("verify", Step.VERIFYING),  # killed during the verification window
    ],
)
def test_a_killed_rollback_completes_after_restart(
    crash: str, stored_step: Step, sop_file: Path, tmp_path: Path
) -> None:
    run_child(crash, tmp_path)
    url = f"sqlite:///{tmp_path / 'rc.db'}"
    db = Database.open(url)  # what the dead process left
    with db.session() as session:
        assert Step(session.scalars(select(Action)).one().status) is stored_step
        audit.verify(session)
    db.dispose()

    clock = ManualClock()
    rc = Ripcord.open(
        sop_file,
        url=url,
        home=tmp_path,
        clock=clock,
        channels={"console": RecordingChannel("console")},
    )
    try:
        state = rc.routes.state(MODEL)
        if stored_step is Step.VALIDATING:  # validated again on restart; waits for approval
            assert (state.breaker, state.serving) == (BreakerState.OPEN, "v2")
            [pending] = rc.pending_approvals()
            rc.approve(pending.id, actor="carol")
        # promoted on restart (or already promoted): v1 serves a trial share while verified
        state = rc.routes.state(MODEL)
        assert (state.breaker, state.serving) == (BreakerState.HALF_OPEN, "v1")
        drive = Drive(rc, clock)
        drive.serve(2500, until=lambda: (drive.incident() or _none()).status == "resolved")
        with rc.db.session() as session:
            incident = session.scalars(select(Incident)).one()
            action = session.scalars(select(Action)).one()
            assert (incident.status, action.status) == ("resolved", "done")
            audit.verify(session)
        assert rc.routes.state(MODEL).serving == "v1"
        assert rc.routes.state(MODEL).breaker is BreakerState.CLOSED
    finally:
        rc.close()


def _none() -> Incident:
    return Incident(status="none")
