"""Response actions (rollbacks): list, show, propose, approve, reject.

Approval follows the SOP file: only its `rollback.approvers` may decide, and never the
person who proposed the rollback; on top of that the token needs the approver role.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from sqlalchemy import select

from ripcord.api.deps import ApiState, Approver, Responder, State, Viewer
from ripcord.api.errors import CONFLICT, NOT_FOUND, RESPONSES
from ripcord.api.models import ActionOut, ReasonIn
from ripcord.errors import NotFoundError
from ripcord.respond.rollback import Step
from ripcord.store.tables import Action

router = APIRouter(tags=["actions"])
ActionId = Annotated[int, Path(ge=1, le=2**62, description="the action's id", examples=[1])]
DECIDE = {**RESPONSES, **NOT_FOUND, **CONFLICT}


@router.get("/v1/actions", responses=RESPONSES)
def list_actions(
    state: State,
    who: Viewer,
    status: Step | None = None,
    incident_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[ActionOut]:
    """Actions, newest first; `status=awaiting_approval` lists what waits for a decision."""
    query = select(Action).order_by(Action.id.desc()).limit(limit)
    if status is not None:
        query = query.where(Action.status == status.value)
    if incident_id is not None:
        query = query.where(Action.incident_id == incident_id)
    with state.runtime() as rc, rc.db.session() as session:
        return [ActionOut.of(a) for a in session.scalars(query)]


@router.get("/v1/actions/{action_id}", responses={**RESPONSES, **NOT_FOUND})
def show_action(action_id: ActionId, state: State, who: Viewer) -> ActionOut:
    with state.runtime():
        return _action(state, action_id)


@router.post("/v1/actions/{action_id}/approve", responses=DECIDE)
def approve(action_id: ActionId, state: State, who: Approver) -> ActionOut:
    """Approve a rollback held for approval: the version is promoted and verified on live
    traffic. 409 for the proposer, for someone the SOP does not name, or a wrong status."""
    with state.runtime() as rc:
        rc.approve(action_id, actor=who.name)
        return _action(state, action_id)


@router.post("/v1/actions/{action_id}/reject", responses=DECIDE)
def reject(action_id: ActionId, body: ReasonIn, state: State, who: Approver) -> ActionOut:
    """Refuse a rollback held for approval; the traffic stays on the fallback and the owners
    are told. The reason is audited."""
    with state.runtime() as rc:
        rc.reject(action_id, actor=who.name, reason=body.reason)
        return _action(state, action_id)


@router.post("/v1/incidents/{incident_id}/rollback", responses=DECIDE)
def propose_rollback(
    incident_id: Annotated[int, Path(ge=1, le=2**62, examples=[1])], state: State, who: Responder
) -> ActionOut:
    """Propose a rollback by hand: the last known good version is validated on the golden
    set and then waits for someone else's approval. An incident whose rollback is already
    under way gets that action back; one whose rollback ended is a 409."""
    with state.runtime() as rc:
        action = rc.propose_rollback(incident_id, actor=who.name)
        return _action(state, action.id)


def _action(state: ApiState, action_id: int) -> ActionOut:
    """Read an action (the caller holds the runtime lock)."""
    with state.rc.db.session() as session:
        action = session.get(Action, action_id)
        if action is None:
            raise NotFoundError("action", action_id)
        return ActionOut.of(action)
