"""From a signal to action: triage, containment, rollback, pages.

Containment and the incident record are written in one transaction before any message is
queued; notifications go out afterwards on the outbox's thread (`respond/paging.py`,
`notify/outbox.py`) and their failures are recorded, never raised, so a channel that is
down can neither delay containment nor lose the incident.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from ripcord.detect.base import Signal
from ripcord.errors import NotFoundError
from ripcord.incidents import lifecycle, service
from ripcord.incidents.lifecycle import Status
from ripcord.notify.base import MessageKind
from ripcord.registry.local import Health
from ripcord.respond import paging
from ripcord.respond.breaker import BreakerState
from ripcord.respond.escalation import Escalator
from ripcord.respond.rollback import Step
from ripcord.sop.schema import ResponseSpec
from ripcord.sop.severity import Classification, Severity
from ripcord.store import audit
from ripcord.store.tables import Action, Incident

if TYPE_CHECKING:
    from ripcord.app import Ripcord

log = logging.getLogger(__name__)


class Responder:
    def __init__(self, app: Ripcord) -> None:
        self.app = app
        self.escalator = Escalator(app)
        self._updating: set[int] = set()  # incidents whose scheduled update is queued

    def handle(self, signal: Signal) -> Incident:
        """Record the signal in an incident and contain at once; then try the rollback.

        The incident and the containment commit first, on their own: whatever happens to
        the rollback afterwards, neither is lost and the routing is known.
        """
        app = self.app
        cls = app.policy.classify(signal.family, signal.reading.value)
        log.info(
            "signal",
            extra={
                "model": signal.model,
                "detector": signal.detector,
                "severity": cls.severity.label,
                "value": signal.reading.value,
            },
        )
        try:
            with app.db.session() as session:
                triage = self._triage(session, signal, cls)
                incident = triage.incident
                response = self.response_for(incident)
                self._fail_verification(session, signal)
                if (triage.created or triage.raised) and response.contain:
                    self._contain(session, incident, signal)
        except Exception:
            self._reload_routes()
            raise
        if triage.created or triage.raised:
            self.page(incident, MessageKind.PAGE, incident.title.removeprefix(f"{incident.model} "))
        if response.rollback != "none" and Status(incident.status) is not Status.RESOLVED:
            self.run_rollback(incident, approval=response.rollback == "approval")
        return incident

    def response_for(self, incident: Incident) -> ResponseSpec:
        return self.app.sop.response.get(Severity(incident.severity).label, ResponseSpec())

    def run_rollback(self, incident: Incident, *, approval: bool) -> None:
        """Start or continue the incident's rollback. A failure here is recorded on the
        incident and escalated; the traffic stays where containment put it."""
        app = self.app
        try:
            with app.db.session() as session:  # committed first: a crash from here resumes
                action_id = app.rollback.start(
                    session, incident, actor="ripcord", approval=approval
                ).id
            step = app.runner.run(action_id)  # retried, else escalated: never half-done
        except Exception as exc:
            log.exception("rollback failed", extra={"incident": incident.id})
            self._reload_routes()
            reason = f"rollback could not run: {type(exc).__name__}: {exc}"
            with app.db.session() as session:
                current = service.get(session, incident.id)
                service.note(
                    session,
                    current,
                    at=app.clock.now(),
                    kind="rollback",
                    actor="ripcord",
                    message=f"{reason}; escalating",
                )
                audit.append(
                    session,
                    at=app.clock.now(),
                    actor="ripcord",
                    action="rollback.error",
                    subject=f"incident:{incident.id}",
                    reason=reason,
                )
            self.page(incident, MessageKind.UPDATE, f"escalated: {reason}")
            return
        self.after_step(action_id, step)

    def resume(self) -> None:
        """After a restart: carry on every rollback left mid-way, and start the ones a crash
        prevented from starting (an active incident whose severity calls for one); send
        the escalation pages a crash left unsent; point the registry's serving alias back
        at the routing table's version if a crash left them apart."""
        app = self.app
        self.escalator.flush()
        for model in app.sop.models:  # a crash after an alias moved and before the commit
            app.runner.reconcile(model)
        with app.db.session() as session:
            active = [s.value for s in lifecycle.ACTIVE]
            incidents = list(session.scalars(select(Incident).where(Incident.status.in_(active))))
            actions = {
                a.incident_id: a
                for a in session.scalars(
                    select(Action).where(Action.kind == "rollback").order_by(Action.id)
                )
            }
        for incident in incidents:
            action = actions.get(incident.id)
            if (
                action is not None
                and Step(action.status) is not Step.VALIDATING
                and Step(action.status) is not Step.PROMOTING
            ):
                if not Step(action.status).final:
                    self.after_step(action.id, Step(action.status))
                continue
            response = self.response_for(incident)
            if action is not None or response.rollback != "none":
                approval = (
                    bool(action.data.get("approval"))
                    if action is not None
                    else response.rollback == "approval"
                )
                self.run_rollback(incident, approval=approval)

    def _reload_routes(self) -> None:
        with self.app.db.session() as session:  # memory follows what was really stored
            self.app.routes.load(session)

    def _triage(self, session: Session, signal: Signal, cls: Classification) -> service.Triage:
        app = self.app
        owner_team = app.sop.escalation.teams.get(
            cls.incident_type, app.sop.models[signal.model].owner
        )
        minutes = app.sop.escalation.ack_minutes.get(cls.severity.label, 60)
        deployed = app.registry.deployed_at(session, signal.model, signal.version)
        return service.open_or_join(
            session,
            signal,
            cls,
            owner=owner_team,
            started_at=deployed or signal.at,
            ack_by=signal.at + timedelta(minutes=minutes),
            cooldown=timedelta(minutes=app.sop.triage.cooldown_minutes),
            deployed_at=deployed,
        )

    def _fail_verification(self, session: Session, signal: Signal) -> None:
        check = self.app.verifier.broken_by(signal)
        if check is not None and check.purpose == "rollback" and check.action_id is not None:
            action = session.get(Action, check.action_id)
            assert action is not None
            self.app.rollback.verified(session, action, ok=False, detail=signal.summary)

    def _contain(self, session: Session, incident: Incident, signal: Signal) -> None:
        """Stop the damage now: pull a failing canary, or send all traffic to the fallback."""
        app, at = self.app, self.app.clock.now()
        state = app.routes.state(incident.model)
        if signal.version in state.canary:
            self._pull_canary(session, incident, signal)
            return
        if state.breaker is not BreakerState.OPEN:
            app.routes.apply(
                session,
                incident.model,
                at=at,
                actor="ripcord",
                breaker=BreakerState.OPEN,
                reason=f"incident {incident.id}: {signal.summary}",
            )
        if Status(incident.status) in (Status.OPEN, Status.ACKNOWLEDGED):
            service.transition(
                session,
                incident,
                Status.CONTAINED,
                at=at,
                actor="ripcord",
                reason="circuit breaker open: traffic on the fallback",
            )

    def _pull_canary(self, session: Session, incident: Incident, signal: Signal) -> None:
        """A canary failed on its own share of traffic: take its share away and mark it;
        the serving version was never affected, so there is nothing to roll back."""
        app, at, version = self.app, self.app.clock.now(), signal.version
        state = app.routes.state(incident.model)
        rest = {v: share for v, share in state.canary.items() if v != version}
        app.routes.apply(
            session,
            incident.model,
            at=at,
            actor="ripcord",
            canary=rest,
            reason=f"incident {incident.id}: canary {version} failed: {signal.summary}",
        )
        row = app.registry.find(session, incident.model, version)
        if row is not None:
            app.registry.mark(
                session,
                row,
                Health.BAD,
                at=at,
                actor="ripcord",
                reason=f"canary failed in incident {incident.id}",
            )
        service.transition(
            session,
            incident,
            Status.CONTAINED,
            at=at,
            actor="ripcord",
            reason=f"canary {version} pulled: its traffic is back on {state.serving}",
        )
        service.transition(
            session,
            incident,
            Status.RESOLVED,
            at=at,
            actor="ripcord",
            reason=f"only the canary was affected; {state.serving} kept serving",
        )

    def conclude_rollback(self, action_id: int, *, ok: bool, detail: str) -> None:
        """The rollback's verification window closed: resolve, or try the next candidate."""
        app = self.app
        with app.db.session() as session:
            action = session.get(Action, action_id)
            if action is None:
                raise NotFoundError("action", action_id)
            app.rollback.verified(session, action, ok=ok, detail=detail)
        step = app.runner.run(action_id)  # the verdict is stored before the next candidate
        self.after_step(action_id, step)

    def after_step(self, action_id: int, step: Step) -> None:
        """Start verification, ask for approval, or escalate, as the step requires."""
        app = self.app
        with app.db.session() as session:
            action = session.get(Action, action_id)
            assert action is not None
            incident = service.get(session, action.incident_id)
        if step is Step.VERIFYING:
            app.verifier.start_rollback(action, incident.model)
        elif step is Step.AWAITING_APPROVAL:
            given = action.data.get("approvals", [])
            needed = app.sop.rollback.approvals(Severity(incident.severity))
            self.page(
                incident,
                MessageKind.UPDATE,
                f"approval needed ({len(given)} of {needed}): roll back to "
                f"{action.data['target']} (action {action.id})",
                to=tuple(p for p in app.sop.rollback.approvers if p not in given),
            )
        elif step is Step.ESCALATED:  # the stored reason: no candidate passed, or an outage
            why = action.data.get("outcome", "no version passed validation")
            self.page(incident, MessageKind.UPDATE, f"rollback escalated: {why}")
        elif step is Step.DONE:
            self.page(incident, MessageKind.RESOLVED, f"resolved: {action.data['target']} verified")

    def escalate_overdue(self) -> list[int]:
        """Page the next level for every unacknowledged incident whose deadline passed
        (respond/escalation.py); the timer is stored, so a restart neither repeats nor
        loses a page."""
        return self.escalator.run()

    def send_due_updates(self) -> list[int]:
        """The scheduled updates that fell due: each message promises the next by a time
        (respond/paging.py)."""
        return paging.send_due_updates(self.app, self._updating)

    # -- notifications (respond/paging.py) ----------------------------------------------
    def page(
        self,
        incident: Incident,
        kind: MessageKind,
        title: str,
        to: tuple[str, ...] | None = None,
        team: str | None = None,
        sent: Callable[[], None] | None = None,
    ) -> None:
        """Queue a message to `to` (default: the owner's on-call primary) through `team`'s
        channels; never waits for a channel. `sent` runs once they all went out or failed."""
        paging.page(self.app, incident, kind, title, to=to, team=team, sent=sent)
