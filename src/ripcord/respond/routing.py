"""The routing table: where each model's traffic goes, in memory for the guard and in the
database as the truth. Every change is written with its audit row (before and after) in the
caller's transaction; if that transaction fails, `load` puts memory back to what is stored,
so routing is never in an unknown state. The half-open trial share is stored with the rest:
leaving half-open clears it, so a stale share never outlives the step that set it."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypedDict, Unpack

from sqlalchemy import select
from sqlalchemy.orm import Session

from ripcord.respond.breaker import BreakerState, CircuitBreaker, RouteState, check_share
from ripcord.store import audit
from ripcord.store.tables import Routing


class RoutingTable:
    def __init__(self, *, failure_threshold: int = 5, trial_share: float = 0.5) -> None:
        self.failure_threshold = failure_threshold
        self.trial_share = trial_share
        self.breakers: dict[str, CircuitBreaker] = {}

    def load(self, session: Session) -> None:
        """(Re)read every row: memory follows the database. A breaker or a trial share
        that another process moved starts counting afresh, as `apply` does here."""
        for row in session.scalars(select(Routing)):
            self._breaker(row.model).adopt(_state(row))

    def _breaker(self, model: str) -> CircuitBreaker:
        if model not in self.breakers:
            self.breakers[model] = CircuitBreaker(
                RouteState(model, None),
                failure_threshold=self.failure_threshold,
                trial_share=self.trial_share,
            )
        return self.breakers[model]

    def breaker(self, model: str) -> CircuitBreaker:
        return self._breaker(model)

    def state(self, model: str) -> RouteState:
        return self._breaker(model).state

    def apply(
        self,
        session: Session,
        model: str,
        *,
        at: datetime,
        actor: str,
        reason: str,
        **changes: Unpack[RouteChanges],
    ) -> RouteState:
        """Change a model's routing: row, audit (before and after) and memory together."""
        check_share(changes.get("share"))
        row = session.get(Routing, model)
        if row is None:
            row = Routing(
                model=model,
                serving=None,
                breaker=BreakerState.CLOSED.value,
                killed=False,
                revision=0,
                updated_at=at,
            )
            session.add(row)
        cb = self._breaker(model)
        before = cb.state.as_dict()
        for key, value in changes.items():
            setattr(row, key, value.value if isinstance(value, BreakerState) else value)
        if row.breaker != BreakerState.HALF_OPEN.value:
            row.share = None  # a share means something only while half-open
        row.revision, row.updated_at = (row.revision or 0) + 1, at
        state = _state(row)
        cb.adopt(state, reset="breaker" in changes or "share" in changes)
        audit.append(
            session,
            at=at,
            actor=actor,
            action="routing.change",
            subject=f"model:{model}",
            reason=reason,
            before=before,
            after=state.as_dict(),
        )
        return state


class RouteChanges(TypedDict, total=False):
    serving: str | None
    breaker: BreakerState
    killed: bool
    paused: str | None
    canary: dict[str, float]
    shadow: str | None
    disabled_features: dict[str, Any]
    share: float | None


def _state(row: Routing) -> RouteState:
    return RouteState(
        row.model,
        row.serving,
        BreakerState(row.breaker),
        row.killed,
        row.revision or 0,
        paused=row.paused,
        canary=dict(row.canary or {}),
        shadow=row.shadow,
        disabled_features=dict(row.disabled_features or {}),
        share=row.share,
    )
