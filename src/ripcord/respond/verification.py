"""Verification windows: a version proves itself on live traffic before it is trusted.

After a deploy, the new version serves everything and must pass `verification_events`
champion events with no breach to earn a good health mark. After a rollback, traffic comes
back progressively through the half-open breaker — by default 10 %, then 50 %, then 100 %
(`rollback.traffic_steps`) — each step a clean window of its share of the events and a
check that no detector is breached before the next; a signal on the version at any step
fails it, and the rollback goes on to the next candidate. The step reached is stored with
the rollback's action and the share in the routing row, in one transaction, so a restart
resumes at that step and every other process (guards, `ripcord gateway`) serves that share.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ripcord.detect.base import Signal
from ripcord.events import InferenceEvent, Route
from ripcord.incidents import service
from ripcord.registry.local import Health
from ripcord.respond import parts
from ripcord.respond.breaker import BreakerState
from ripcord.store.tables import Action

if TYPE_CHECKING:
    from ripcord.app import Ripcord


@dataclass
class Verification:
    """A window of live events a version must pass: after a deploy, or after a rollback."""

    model: str
    version: str
    needed: int  # events per step
    purpose: str  # "deploy" | "rollback"
    action_id: int | None = None
    seen: int = 0
    step: int = 0
    steps: tuple[float, ...] = (1.0,)


class Verifier:
    def __init__(self, app: Ripcord) -> None:
        self.app = app
        self.active: dict[str, Verification] = {}

    def start_deploy(self, model: str, version: str) -> None:
        needed = self.app.sop.rollback.verification_events
        self.active[model] = Verification(model, version, needed, "deploy")

    def start_rollback(self, action: Action, model: str) -> None:
        """Verify a rollback's target from the traffic step its action has reached. A
        rollback's window already running is kept (a resume); a deploy's gives way to it."""
        current = self.active.get(model)
        if current is not None and current.purpose == "rollback":
            return
        steps = self.app.sop.rollback.traffic_steps
        step = min(int(action.data.get("traffic_step", 0)), len(steps) - 1)
        target = action.data["target"]
        self.app.engine.forget(model, target)  # judged on its own traffic from now on
        needed = math.ceil(self.app.sop.rollback.verification_events / len(steps))
        self.active[model] = Verification(
            model, target, needed, "rollback", action.id, 0, step, steps
        )
        state = self.app.routes.state(model)
        if state.breaker is BreakerState.HALF_OPEN and state.share != steps[step]:  # pre-0007
            with self.app.db.session() as session:
                self.app.routes.apply(
                    session,
                    model,
                    at=self.app.clock.now(),
                    actor="ripcord",
                    reason=f"{target}: traffic step {step + 1}/{len(steps)} resumed",
                    share=steps[step],
                )

    def broken_by(self, signal: Signal) -> Verification | None:
        """A signal on the version under verification ends its window (failed)."""
        check = self.active.get(signal.model)
        if check is None or check.version != signal.version:
            return None
        return self.active.pop(signal.model)

    def count(self, event: InferenceEvent, signals: list[Signal]) -> None:
        check = self.active.get(event.model)
        if check is None or event.version != check.version or event.route is not Route.CHAMPION:
            return
        check.seen += 1
        if any(s.version == check.version for s in signals) or check.seen < check.needed:
            return  # a signal is handled (and fails the window) by the responder
        breached = [
            n for n, r in self.app.engine.readings(check.model, check.version) if r.breached
        ]
        if breached:
            self.finish(check, ok=False, detail=f"still breached: {', '.join(breached)}")
        elif check.step + 1 < len(check.steps):
            self._next_step(check)
        else:
            self.finish(
                check,
                ok=True,
                detail=f"{check.needed * len(check.steps)} live events "
                f"over {len(check.steps)} traffic steps, no breach",
            )

    def _next_step(self, check: Verification) -> None:
        app = self.app
        check.step, check.seen = check.step + 1, 0
        share = check.steps[check.step]
        try:
            self._store_step(check, share)
        except Exception:
            with app.db.session() as session:  # memory follows what was really stored
                app.routes.load(session)
            raise

    def _store_step(self, check: Verification, share: float) -> None:
        """The step reached (with the action) and its share (in the routing row, audited),
        in one transaction: a crash leaves both at the old step or both at the new one."""
        app = self.app
        with app.db.session() as session:
            action = session.get(Action, check.action_id)
            assert action is not None
            action.data = {**action.data, "traffic_step": check.step}
            incident = service.get(session, action.incident_id)
            message = (
                f"{check.version}: traffic step {check.step + 1}/{len(check.steps)}, {share:.0%}"
            )
            service.record(
                session, incident, at=app.clock.now(), kind="rollback", actor="ripcord",
                message=message, data={"share": share}, action="rollback.traffic",
                subject=f"action:{action.id}",
                before={"share": check.steps[check.step - 1]}, after={"share": share},
            )  # fmt: skip
            app.routes.apply(
                session,
                check.model,
                at=app.clock.now(),
                actor="ripcord",
                reason=message,
                share=share,
            )

    def finish(self, check: Verification, *, ok: bool, detail: str) -> None:
        """A window closed: a rollback goes on; a deploy may earn a good mark."""
        app = self.app
        self.active.pop(check.model, None)
        app.store_held()
        if check.purpose == "rollback" and check.action_id is not None:
            app.responder.conclude_rollback(check.action_id, ok=ok, detail=detail)
            return
        if ok:
            with app.db.session() as session:
                row = app.registry.get(session, check.model, check.version)
                app.registry.mark(
                    session,
                    row,
                    Health.GOOD,
                    at=app.clock.now(),
                    actor="ripcord",
                    reason=f"deploy verified: {detail}",
                )
                parts.mark_verified(  # the configs and datasets it served with, too
                    session,
                    app.artifacts,
                    check.model,
                    at=app.clock.now(),
                    reason=f"verified with {check.model}@{check.version}: {detail}",
                )
