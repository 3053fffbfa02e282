"""A person's decisions on a rollback: propose one, approve or reject it, and what waits.

Each decision is stored in its own transaction before the procedure moves on (so an
approval stands even if the promotion that follows dies), then the runner drives the
rollback as far as it can go and the responder tells the people concerned.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ripcord.errors import NotFoundError, TransitionError
from ripcord.incidents import lifecycle, service
from ripcord.incidents.lifecycle import Status
from ripcord.notify.base import MessageKind
from ripcord.respond.responder import Responder
from ripcord.respond.rollback import Rollback, Step
from ripcord.respond.runner import RollbackRunner
from ripcord.store.db import Database
from ripcord.store.tables import Action


class Decisions:
    def __init__(
        self, db: Database, rollback: Rollback, runner: RollbackRunner, responder: Responder
    ) -> None:
        self.db = db
        self.rollback = rollback
        self.runner = runner
        self.responder = responder

    def approve(self, action_id: int, *, actor: str) -> Step:
        with self.db.session() as session:
            self.rollback.approve(session, _action(session, action_id), actor=actor)
        step = self.runner.run(action_id)  # the approval is stored even if promotion dies
        self.responder.after_step(action_id, step)
        return step

    def reject(self, action_id: int, *, actor: str, reason: str) -> Step:
        """Refuse a rollback held for approval; the traffic stays where containment put it
        and the owning team is told, so a human takes it from there."""
        with self.db.session() as session:
            action = _action(session, action_id)
            self.rollback.reject(session, action, actor=actor, reason=reason)
            incident = service.get(session, action.incident_id)
        text = f"rollback to {action.data['target']} rejected by {actor}: {reason}"
        self.responder.page(incident, MessageKind.UPDATE, text)
        return Step.REJECTED

    def propose(self, incident_id: int, *, actor: str) -> Action:
        """A human proposes a rollback (held for another person's approval); an incident
        whose rollback is already under way gets that one back."""
        with self.db.session() as session:
            incident = service.get(session, incident_id)
            existing = self.rollback.find(session, incident_id)
            if existing is not None and Step(existing.status).final:
                raise TransitionError(
                    f"incident {incident_id}: rollback action {existing.id} already ended "
                    f"({existing.status})"
                )
            if existing is None and Status(incident.status) not in lifecycle.ACTIVE:
                raise TransitionError(
                    f"incident {incident_id}: status {incident.status} is not active"
                )
            action_id = self.rollback.start(session, incident, actor=actor, approval=True).id
        step = self.runner.run(action_id)
        self.responder.after_step(action_id, step)
        with self.db.session() as session:
            return _action(session, action_id)

    def pending(self) -> list[Action]:
        """Rollbacks waiting for an approver."""
        with self.db.session() as session:
            query = select(Action).where(Action.status == Step.AWAITING_APPROVAL.value)
            return list(session.scalars(query))


def _action(session: Session, action_id: int) -> Action:
    action = session.get(Action, action_id)
    if action is None:
        raise NotFoundError("action", action_id)
    return action
