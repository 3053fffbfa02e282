"""Approval of a rollback: who may decide, and how one approval is recorded.

The SOP's `rollback.approvers` lists who may approve or reject (empty: anyone but the
proposer); `rollback.approvals` how many distinct approvers a severity needs (SEV-1 can
require two). The procedure itself (respond/rollback.py) moves on once the count is met.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from ripcord.errors import ApprovalError
from ripcord.incidents import service
from ripcord.sop.schema import Sop
from ripcord.store.tables import Action, Incident


def check_approver(sop: Sop, actor: str) -> None:
    approvers = sop.rollback.approvers
    if approvers and actor not in approvers:
        raise ApprovalError(f"approver: {actor!r} is not one of {', '.join(approvers)}")


def record(
    session: Session, incident: Incident, action: Action, actor: str, needed: int, *, at: datetime
) -> None:
    """One approval on the incident's timeline and in the audit log, with the count so far."""
    given = action.data["approvals"]
    message = f"rollback to {action.data['target']}: approval {len(given)} of {needed}"
    data = {"action": action.id, "approvals": given, "needed": needed}
    service.record(
        session, incident, at=at, kind="approval", actor=actor, message=message, data=data,
        action="rollback.approve", subject=f"action:{action.id}", after=data,
    )  # fmt: skip
