"""Two-person approval: the SOP's `rollback.approvals_required` for the incident's SEV, from
distinct approvers, never the proposer; each approval audited and kept in the action's
data, so a restart between two approvals loses neither."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from ripcord.app import Ripcord
from ripcord.clock import ManualClock
from ripcord.drills import credit
from ripcord.drills.demo import MODEL
from ripcord.errors import ApprovalError
from ripcord.notify import RecordingChannel
from ripcord.notify.base import MessageKind
from ripcord.respond.rollback import Step
from ripcord.store import audit
from ripcord.store.tables import Action, AuditRow
from tests.conftest import sop_data
from tests.respond.conftest import Drive


@pytest.fixture
def sop_file(tmp_path: Path) -> Path:
    """The demo SOP with three approvers, two of whom must approve at SEV-2."""
    credit.write_golden(tmp_path / "golden" / "credit-risk.csv", n=300)
    data = sop_data()
    data["rollback"]["approvers"] = ["carol", "dave", "erin"]
    data["rollback"]["approvals_required"] = {"SEV-2": 2}
    path = tmp_path / "sop.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def awaiting(rc: Ripcord, drive: Drive) -> Action:
    rc.deploy(MODEL, "v2", actor="deploy-bot")
    drive.serve(400, until=lambda: drive.incident() is not None)
    [action] = rc.pending_approvals()
    return action


def reload(rc: Ripcord, action_id: int) -> Action:
    with rc.db.session() as session:
        action = session.get(Action, action_id)
        assert action is not None
        return action


def approvals_audited(rc: Ripcord) -> list[tuple[str, list[str]]]:
    with rc.db.session() as session:
        rows = session.scalars(select(AuditRow).where(AuditRow.action == "rollback.approve"))
        return [(r.actor, (r.after or {})["approvals"]) for r in rows]


def test_sev2_waits_for_two_distinct_approvers(
    rc: Ripcord, drive: Drive, channel: RecordingChannel
) -> None:
    action = awaiting(rc, drive)
    assert rc.approve(action.id, actor="carol") is Step.AWAITING_APPROVAL
    first = reload(rc, action.id)
    assert (first.status, first.approved_by, first.data["approvals"]) == (
        "awaiting_approval",
        None,
        ["carol"],
    )
    reminder = [m for m in channel.messages if m.kind is MessageKind.UPDATE][-2:]
    assert [m.recipient for m in reminder] == ["dave", "erin"]  # not carol again
    assert "(approval needed (1 of 2): roll back to v1 (action" in reminder[0].title
    with pytest.raises(ApprovalError, match=r"approver: 'carol' already approved action"):
        rc.approve(action.id, actor="carol")
    with pytest.raises(ApprovalError, match=r"approver: 'mallory' is not one of carol"):
        rc.approve(action.id, actor="mallory")
    assert reload(rc, action.id).data["approvals"] == ["carol"]
    assert rc.approve(action.id, actor="erin") is Step.VERIFYING
    done = reload(rc, action.id)
    assert (done.approved_by, done.data["approvals"]) == ("erin", ["carol", "erin"])
    assert approvals_audited(rc) == [("carol", ["carol"]), ("erin", ["carol", "erin"])]
    with rc.db.session() as session:
        assert audit.verify(session).rows > 0


def test_the_proposer_cannot_be_one_of_the_two(rc: Ripcord, drive: Drive) -> None:
    action = awaiting(rc, drive)
    with rc.db.session() as session:
        row = session.get(Action, action.id)
        assert row is not None
        row.proposed_by = "dave"  # as if dave had proposed it by hand
    with pytest.raises(ApprovalError, match="'dave' proposed this rollback and cannot approve"):
        rc.approve(action.id, actor="dave")
    assert reload(rc, action.id).data.get("approvals", []) == []


def test_a_restart_between_approvals_keeps_the_first(
    rc: Ripcord,
    drive: Drive,
    sop_file: Path,
    tmp_path: Path,
    clock: ManualClock,
    channel: RecordingChannel,
) -> None:
    action = awaiting(rc, drive)
    rc.approve(action.id, actor="dave")
    rc.close()
    again = Ripcord.open(
        sop_file,
        url=f"sqlite:///{tmp_path / 'rc.db'}",
        home=tmp_path,
        clock=clock,
        channels={"console": channel},
    )
    try:
        assert reload(again, action.id).data["approvals"] == ["dave"]
        assert again.approve(action.id, actor="carol") is Step.VERIFYING
    finally:
        again.close()
