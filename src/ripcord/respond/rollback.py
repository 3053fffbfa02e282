"""The rollback procedure, persisted step by step in an `actions` row.

    validating ──(candidate passes the golden set)──> awaiting_approval ──(approve)──┐
        │                                             └──(reject)──> rejected         │
        │  └──(policy: auto)──────────────────────────────────────────────────────> promoting
        └──(no candidate passes)──> escalated                                         │
    verifying <───────────────────────────────────────────────────────────────────────┘
        ├──(window clean)──> done         (incident resolved, version marked good)
        └──(signal in window)──> validating (next candidate; traffic back on the fallback)
    validating, promoting ──(the step keeps raising: retries spent)──> escalated

Each step is written with its timeline entry and audit row in one transaction, so a crash
between steps resumes from the last stored state. `start` on an incident that already has a
rollback returns that one: running it twice is a no-op.

A multi-part rollback (the model's `rollback.order` in the SOP, e.g. `[pipeline, model]`)
freezes the plan of its non-model parts at `start` (respond/parts.py) and restores them in
that order inside the promotion, around the model's own promotion; each part's state is
kept in `data["parts"]`. Without `model` in the order, the serving version is kept: it is
validated as the only candidate and verified with the restored parts.

The runtime drives it with respond/runner.py: one transaction per step, a failing step
retried with backoff, then escalated (`escalate`), never half-done.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ripcord.errors import ApprovalError, RegistryError, RipcordError, RollbackError
from ripcord.incidents import service
from ripcord.incidents.lifecycle import Status
from ripcord.registry.artifacts import ArtifactStore
from ripcord.registry.local import Health, LocalRegistry
from ripcord.respond import approvals, parts
from ripcord.respond.breaker import BreakerState
from ripcord.respond.golden import GoldenSet, Validation, validate
from ripcord.respond.plan import plan
from ripcord.respond.routing import RoutingTable
from ripcord.sop.schema import MODEL_PART, Sop
from ripcord.sop.severity import Severity
from ripcord.store.tables import Action, Incident, ModelVersion


class Step(enum.StrEnum):
    VALIDATING = "validating"
    AWAITING_APPROVAL = "awaiting_approval"
    PROMOTING = "promoting"
    VERIFYING = "verifying"
    DONE = "done"
    ESCALATED = "escalated"
    REJECTED = "rejected"  # an approver said no: the traffic stays where containment put it

    @property
    def final(self) -> bool:
        return self in (Step.DONE, Step.ESCALATED, Step.REJECTED)


class StepFailed(RipcordError):
    """A validation attempt that raised (not a candidate that failed the golden set): the
    version it was on, and why; retried, then recorded with the escalation."""

    def __init__(self, version: str, cause: Exception) -> None:
        self.version = version
        super().__init__(f"{type(cause).__name__}: {cause}")


class Rollback:
    def __init__(
        self,
        sop: Sop,
        sop_dir: Path,
        registry: LocalRegistry,
        routes: RoutingTable,
        now: Callable[[], datetime],
        artifacts: ArtifactStore | None = None,
    ) -> None:
        self.sop = sop
        self.sop_dir = sop_dir
        self.registry = registry
        self.routes = routes
        self.now = now
        self.artifacts = artifacts or ArtifactStore()

    # -- entry points ---------------------------------------------------------------------
    def start(self, session: Session, incident: Incident, *, actor: str, approval: bool) -> Action:
        existing = self.find(session, incident.id)
        if existing is not None:
            return existing
        model = incident.model
        bad = incident.version or self.routes.state(model).serving
        at = self.now()
        action = Action(
            incident_id=incident.id,
            kind="rollback",
            status=Step.VALIDATING.value,
            proposed_by=actor,
            created_at=at,
            updated_at=at,
            data={"from": bad, "approval": approval, "tried": [], "target": None},
        )
        spec = self.sop.models[model]
        if spec.rollback.order != (MODEL_PART,):  # the plan of every part, frozen now
            action.data = {**action.data, "parts": parts.plan(session, self.artifacts, model, spec)}
        session.add(action)
        session.flush()
        self._log(session, incident, action, actor, f"rollback proposed from {bad}")
        return action

    def find(self, session: Session, incident_id: int) -> Action | None:
        query = select(Action).where(Action.incident_id == incident_id, Action.kind == "rollback")
        return session.scalars(query.order_by(Action.id.desc())).first()

    def advance(self, session: Session, action: Action) -> Step:
        """Run steps until the procedure must wait (approval, verification) or ends."""
        while self.step(session, action):
            pass
        return Step(action.status)

    def step(self, session: Session, action: Action) -> bool:
        """Run the current step once (one candidate validated, or the promotion); False
        when the procedure must wait or has ended."""
        step = Step(action.status)
        if step is Step.VALIDATING:
            self._validate_next(session, action)
        elif step is Step.PROMOTING:
            self._promote(session, action)
        return step in (Step.VALIDATING, Step.PROMOTING)

    def escalate(
        self, session: Session, action: Action, reason: str, *, failed: StepFailed | None = None
    ) -> None:
        """End the procedure for a human, the traffic where the last committed step left it.
        A validation that could not run is kept with the versions tried, with its error."""
        if failed is not None:
            tried = Validation(failed.version, 0, (), error=str(failed)).as_dict()
            action.data = {**action.data, "tried": [*action.data["tried"], tried]}
        self._set(session, action, Step.ESCALATED, "ripcord", reason)

    def approve(self, session: Session, action: Action, *, actor: str) -> None:
        """Record one approval (in `data["approvals"]`, audited); the rollback goes on once
        the SOP's count for the incident's severity is reached, from distinct approvers."""
        self._check_decider(action, actor)
        if actor == action.proposed_by:
            raise ApprovalError(f"approver: {actor!r} proposed this rollback and cannot approve it")
        given = [*action.data.get("approvals", [])]
        if actor in given:
            raise ApprovalError(f"approver: {actor!r} already approved action {action.id}")
        action.data = {**action.data, "approvals": [*given, actor]}
        incident = service.get(session, action.incident_id)
        needed = self.sop.rollback.approvals(Severity(incident.severity))
        approvals.record(session, incident, action, actor, needed, at=self.now())
        if len(given) + 1 < needed:
            return
        action.approved_by = actor
        self._set(
            session, action, Step.PROMOTING, actor, f"rollback to {action.data['target']} approved"
        )

    def reject(self, session: Session, action: Action, *, actor: str, reason: str) -> None:
        """An approver refuses the rollback; the incident stays contained for a human."""
        self._check_decider(action, actor)
        self._set(
            session,
            action,
            Step.REJECTED,
            actor,
            f"rollback to {action.data['target']} rejected: {reason}",
        )

    def _check_decider(self, action: Action, actor: str) -> None:
        if Step(action.status) is not Step.AWAITING_APPROVAL:
            raise ApprovalError(
                f"action {action.id}: status {action.status} is not awaiting_approval"
            )
        approvals.check_approver(self.sop, actor)

    def verified(self, session: Session, action: Action, *, ok: bool, detail: str) -> None:
        """The verification window closed: resolve, or go back to the next candidate."""
        incident = service.get(session, action.incident_id)
        target = self.registry.get(session, incident.model, action.data["target"])
        at = self.now()
        if ok:
            self.registry.mark(session, target, Health.GOOD, at=at, actor="ripcord", reason=detail)
            parts.mark_verified(session, self.artifacts, incident.model, at=at, reason=detail)
            self.routes.apply(
                session,
                incident.model,
                at=at,
                actor="ripcord",
                reason=detail,
                breaker=BreakerState.CLOSED,
            )
            self._set(session, action, Step.DONE, "ripcord", f"verified: {detail}")
            service.transition(
                session, incident, Status.RESOLVED, at=at, actor="ripcord", reason=detail
            )
            return
        if MODEL_PART in self.sop.models[incident.model].rollback.order:  # else it was kept
            self.registry.mark(session, target, Health.BAD, at=at, actor="ripcord", reason=detail)
        self.routes.apply(
            session,
            incident.model,
            at=at,
            actor="ripcord",
            reason=detail,
            breaker=BreakerState.OPEN,
        )
        service.transition(
            session, incident, Status.CONTAINED, at=at, actor="ripcord", reason=detail
        )
        self._set(session, action, Step.VALIDATING, "ripcord", f"verification failed: {detail}")

    # -- steps ----------------------------------------------------------------------------
    def _validate_next(self, session: Session, action: Action) -> None:
        incident = service.get(session, action.incident_id)
        spec = self.sop.models[incident.model]
        tried = {t["version"] for t in action.data["tried"]}
        pool = self._pool(session, incident.model, action, tried)
        if len(tried) >= self.sop.rollback.max_candidates or not pool:
            self._set(
                session,
                action,
                Step.ESCALATED,
                "ripcord",
                f"no last-known-good version passed ({len(tried)} tried): escalating",
            )
            return
        candidate = pool[0]
        if spec.golden_set is None:
            raise RollbackError(
                f"models.{incident.model}.golden_set: None; a rollback target "
                "cannot be validated without a golden set"
            )
        try:
            result = self._score(candidate, incident.model)
        except Exception as exc:  # an outage or a crashing scorer: retried, not a verdict
            raise StepFailed(candidate.version, exc) from exc
        self._record_validation(session, incident, action, candidate.version, result)
        candidate.validation = result.as_dict()
        self.registry.record_validation(session, candidate, candidate.validation)
        if not result.passed:
            return  # the loop in `advance` tries the next candidate
        # Approvals are for a target: a candidate after a failed verification needs its own
        # (the audit log keeps the earlier ones), and is promoted in its approver's name.
        action.data = {**action.data, "target": candidate.version, "approvals": []}
        action.approved_by = None
        nxt = Step.AWAITING_APPROVAL if action.data["approval"] else Step.PROMOTING
        self._set(session, action, nxt, "ripcord", f"{candidate.version} passed the golden set")

    def _score(self, candidate: ModelVersion, model: str) -> Validation:
        """The candidate on the golden set. A missing or altered artifact is the candidate's
        failure (the next is tried); a registry that cannot be reached is not: it raises."""
        spec = self.sop.models[model]
        assert spec.golden_set is not None
        golden = GoldenSet.load(self.sop_dir / spec.golden_set.path, spec.golden_set.label)
        try:
            predictor = self.registry.load(candidate)
        except RegistryError:
            raise
        except RipcordError as exc:
            return Validation(candidate.version, 0, (), error=str(exc))
        fairness = spec.golden_set.fairness
        return validate(predictor, golden, spec.slas, version=candidate.version, fairness=fairness)

    def _pool(
        self, session: Session, model: str, action: Action, tried: set[str]
    ) -> list[ModelVersion]:
        """The model versions still to try, best first. Without `model` in the SOP's
        rollback order the serving version stays: it is the only one, validated as is."""
        if MODEL_PART not in self.sop.models[model].rollback.order:
            keep = self.routes.state(model).serving or action.data["from"]
            return [] if keep in tried else [self.registry.get(session, model, keep)]
        exclude = tried | {action.data["from"]}
        serving = self.routes.state(model).serving
        choices = plan(session, self.registry, model, exclude=exclude, serving=serving)
        return [self.registry.get(session, model, c.version) for c in choices if c.eligible]

    def _record_validation(
        self, session: Session, incident: Incident, action: Action, version: str, result: Validation
    ) -> None:
        action.data = {**action.data, "tried": [*action.data["tried"], result.as_dict()]}
        verdict = "passed" if result.passed else "failed"
        service.note(
            session,
            incident,
            at=self.now(),
            kind="validation",
            actor="ripcord",
            message=f"golden set ({result.rows} rows): {version} {verdict}",
            data=result.as_dict(),
        )

    def _promote(self, session: Session, action: Action) -> None:
        """The parts the SOP orders before the model, the model, then the parts after it."""
        incident = service.get(session, action.incident_id)
        actor = action.approved_by or "ripcord"
        order = [p["name"] for p in action.data.get("parts", [])]
        split = order.index(MODEL_PART) if MODEL_PART in order else len(order)
        restore = partial(parts.restore_pending, session, self.artifacts, action, incident)
        restore(which=range(split), actor=actor, now=self.now)
        self._promote_model(session, action, incident, actor)
        restore(which=range(split + 1, len(order)), actor=actor, now=self.now)
        self._set(session, action, Step.VERIFYING, actor, f"{action.data['target']} promoted")

    def _promote_model(
        self, session: Session, action: Action, incident: Incident, actor: str
    ) -> None:
        """Mark the implicated version bad, serve the target at the first traffic step with
        the breaker half-open, and move the incident to recovering."""
        target, at = action.data["target"], self.now()
        bad = self.registry.find(session, incident.model, action.data["from"])
        if bad is not None and bad.health != Health.BAD and target != bad.version:
            self.registry.mark(
                session,
                bad,
                Health.BAD,
                at=at,
                actor=actor,
                reason=f"implicated in incident {incident.id}",
            )
        if target != self.routes.state(incident.model).serving:  # config-only: kept
            self.registry.record_deployment(
                session,
                model=incident.model,
                version=target,
                at=at,
                actor=actor,
                kind="rollback",
                reason=f"incident {incident.id}",
            )
        first = self.sop.rollback.traffic_steps[0]  # a new target starts at the first step
        action.data = {**action.data, "traffic_step": 0}
        self.routes.apply(
            session,
            incident.model,
            at=at,
            actor=actor,
            serving=target,
            breaker=BreakerState.HALF_OPEN,
            share=first,
            reason=f"rollback to {target}: {first:.0%} of traffic returns while it is verified",
        )
        service.transition(
            session,
            incident,
            Status.RECOVERING,
            at=at,
            actor=actor,
            reason=f"{target} promoted; verifying",
        )

    def _set(self, session: Session, action: Action, step: Step, actor: str, message: str) -> None:
        before = {"status": action.status}
        action.status, action.updated_at = step.value, self.now()
        if step.final:  # why it ended, for the page and the API
            action.data = {**action.data, "outcome": message}
        incident = service.get(session, action.incident_id)
        self._log(session, incident, action, actor, message, before)

    def _log(
        self,
        session: Session,
        incident: Incident,
        action: Action,
        actor: str,
        message: str,
        before: dict[str, Any] | None = None,
    ) -> None:
        service.record(
            session, incident, at=self.now(), kind="rollback", actor=actor, message=message,
            data={"action": action.id, "status": action.status},
            action=f"rollback.{action.status}", subject=f"action:{action.id}", before=before,
            after={"status": action.status, "target": action.data.get("target")},
        )  # fmt: skip
