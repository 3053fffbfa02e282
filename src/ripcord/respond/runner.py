"""Driving a rollback (respond/rollback.py) so that no failure leaves it half-done.

Each step runs in its own transaction: a SIGKILL anywhere leaves the last committed step,
and the routing that was stored with it and audited. A step that raises — the registry
down, the golden-set scorer crashing, the database locked — is rolled back whole (routing
memory is re-read from the store) and retried after a backoff that doubles from
`backoff_s`; once `retries` are spent, the rollback is escalated, the traffic where the
last committed step left it (the fallback, during validation or promotion). Every failed
attempt is noted on the incident's timeline and in the audit log.

    runner = RollbackRunner(rollback, db)
    step = runner.run(action_id)  # validating/promoting until it must wait or ends
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sqlalchemy.orm import Session

from ripcord.errors import NotFoundError, RollbackError
from ripcord.incidents import service
from ripcord.respond.rollback import Rollback, Step, StepFailed
from ripcord.store.db import Database
from ripcord.store.tables import Action

log = logging.getLogger(__name__)


class RollbackRunner:
    """Runs a rollback's steps with retries; `sleep` is injectable so tests need no wait."""

    def __init__(
        self,
        rollback: Rollback,
        db: Database,
        *,
        retries: int = 2,
        backoff_s: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if retries < 0:
            raise ValueError(f"retries: {retries!r} must be >= 0")
        if backoff_s < 0:
            raise ValueError(f"backoff_s: {backoff_s!r} must be >= 0")
        self.rollback = rollback
        self.db = db
        self.retries = retries
        self.backoff_s = backoff_s
        self.sleep = sleep

    def run(self, action_id: int) -> Step:
        """Advance the rollback one committed step at a time until it must wait (approval,
        verification) or ends; a step failing more than `retries` times escalates it. A
        configuration error (RollbackError, e.g. no golden set) escalates at once."""
        with self.db.session() as session:
            _action(session, action_id)  # an unknown action is the caller's error, raised
        failures = 0
        while True:
            try:
                with self.db.session() as session:
                    action = _action(session, action_id)
                    if not self.rollback.step(session, action):
                        return Step(action.status)
            except Exception as exc:
                with self.db.session() as session:  # memory follows what was really stored
                    self.rollback.routes.load(session)
                failures += 1
                if failures > self.retries or isinstance(exc, RollbackError):
                    return self._escalate(action_id, exc, failures)
                self._retry_later(action_id, exc, failures)
            else:
                failures = 0

    def _retry_later(self, action_id: int, exc: Exception, failures: int) -> None:
        delay = self.backoff_s * 2 ** (failures - 1)
        message = (
            f"attempt {failures} of {self.retries + 1} failed: {_why(exc)}; retrying in {delay:g} s"
        )
        log.warning("rollback step failed", extra={"action": action_id, "error": _why(exc)})
        try:
            with self.db.session() as session:
                action = _action(session, action_id)
                incident = service.get(session, action.incident_id)
                now = self.rollback.now()
                data = {"action": action.id, "status": action.status, "attempt": failures}
                service.record(
                    session, incident, at=now, kind="rollback", actor="ripcord",
                    message=message, data=data, action="rollback.retry",
                    subject=f"action:{action.id}", after=data,
                )  # fmt: skip
        except Exception:  # the store itself failing: retrying matters more than the note
            log.exception("rollback retry not recorded", extra={"action": action_id})
        self.sleep(delay)

    def _escalate(self, action_id: int, exc: Exception, attempts: int) -> Step:
        reason = f"rollback could not run: {_why(exc)} ({attempts} attempt(s)); escalating"
        log.error("rollback escalated", extra={"action": action_id, "error": _why(exc)})
        with self.db.session() as session:
            action = _action(session, action_id)
            failed = exc if isinstance(exc, StepFailed) else None
            self.rollback.escalate(session, action, reason, failed=failed)
            model = service.get(session, action.incident_id).model
        self.reconcile(model)
        return Step.ESCALATED

    def reconcile(self, model: str) -> None:
        """The registry's serving pointer back in line with the routing table, if a failed
        promotion moved it; when the registry is still down, the next start does it."""
        try:
            with self.db.session() as session:
                serving = self.rollback.routes.state(model).serving
                if serving is not None:
                    self.rollback.registry.reconcile(
                        session, model=model, serving=serving, at=self.rollback.now()
                    )
        except Exception:
            log.warning("registry not reconciled with routing", extra={"model": model})


def _action(session: Session, action_id: int) -> Action:
    action = session.get(Action, action_id)
    if action is None:
        raise NotFoundError("action", action_id)
    return action


def _why(exc: Exception) -> str:
    return str(exc) if isinstance(exc, StepFailed) else f"{type(exc).__name__}: {exc}"
