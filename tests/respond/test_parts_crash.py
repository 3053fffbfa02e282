"""SIGKILL between two parts of a multi-part rollback, then a restart: no part is left
half-restored, and after the restart each is restored exactly once, in order."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import select

from ripcord.clock import ManualClock
from ripcord.drills.demo import MODEL
from ripcord.respond.breaker import BreakerState
from ripcord.respond.rollback import Step
from ripcord.store import audit
from ripcord.store.db import Database
from ripcord.store.tables import Action, ArtifactActivation
from tests.respond.test_parts import open_rc, rollback_activations, write_sop

pytestmark = pytest.mark.slow

# Both pipeline and prompt changed before v2's bad deploy; the child dies inside the second
# part's restore, after the first part's was written in the same (uncommitted) transaction.
CHILD = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from ripcord.clock import ManualClock
    from ripcord.respond import parts
    from tests.respond.test_parts import K, incident_with_approval, open_rc, start_targets

    tmp = Path(sys.argv[1])
    clock = ManualClock()
    rc = open_rc(tmp / "sop.yaml", tmp, clock)
    drive = start_targets(rc, clock)
    rc.targets.record_config("credit-risk", "pipeline", K | {"join": "v2"}, actor="etl",
                             version="p2")
    rc.targets.record_config("credit-risk", "prompt", {"text": "promise"}, actor="ml",
                             version="q2")
    rc.deploy("credit-risk", "v2", actor="deploy-bot")
    action = incident_with_approval(rc, drive)
    restore, calls = parts.restore, []

    def dying_restore(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGKILL)
        return restore(*args, **kwargs)

    parts.restore = dying_restore
    rc.approve(action.id, actor="carol")
    sys.exit(3)  # not reached
""")


def test_a_kill_between_parts_restores_each_once_after_restart(tmp_path: Path) -> None:
    sop = write_sop(tmp_path, ["pipeline", "prompt", "model"])
    env = os.environ | {
        "PYTHONPATH": os.pathsep.join([str(Path.cwd()), os.environ.get("PYTHONPATH", "")])
    }
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr[-3000:]

    url = f"sqlite:///{tmp_path / 'rc.db'}"
    db = Database.open(url)  # what the dead process left: approved, nothing restored
    with db.session() as session:
        action = session.scalars(select(Action)).one()
        assert Step(action.status) is Step.PROMOTING
        assert [p.get("state") for p in action.data["parts"]] == ["pending", "pending", None]
        query = select(ArtifactActivation).where(ArtifactActivation.incident_id.is_not(None))
        assert session.scalars(query).all() == []
        audit.verify(session)
    db.dispose()

    clock = ManualClock()
    rc = open_rc(sop, tmp_path, clock)  # resumes the promotion on open
    try:
        assert rollback_activations(rc) == [("pipeline", "p1", "p2"), ("prompt", "q1", "q2")]
        state = rc.routes.state(MODEL)
        assert (state.serving, state.breaker) == ("v1", BreakerState.HALF_OPEN)
        rc.responder.resume()  # and again: nothing more
        assert len(rollback_activations(rc)) == 2
        with rc.db.session() as session:
            action = session.scalars(select(Action)).one()
            assert [p.get("state") for p in action.data["parts"]] == ["restored", "restored", None]
            audit.verify(session)
    finally:
        rc.close()
