"""Routing state and the circuit breaker (pure: the runtime persists what changes).

The breaker is opened by signals (`trip`), not only by exceptions: a model that answers
quickly and wrongly is as broken as one that throws. Half-open lets a share of traffic
through to the serving version while it is verified; the rest stays on the fallback. That
share is part of the stored state (`RouteState.share`, the `routing.share` column), so a
rollback stepping it 10 % → 50 % → 100 % moves every process's guard and gateway, not only
its own.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any


class BreakerState(enum.StrEnum):
    CLOSED = "closed"  # traffic to the serving version
    OPEN = "open"  # traffic to the fallback
    HALF_OPEN = "half_open"  # a trial share to the serving version, the rest to the fallback


@dataclass
class RouteState:
    """Where one model's traffic goes. Mirrors the `routing` row."""

    model: str
    serving: str | None
    breaker: BreakerState = BreakerState.CLOSED
    killed: bool = False
    revision: int = 0
    paused: str | None = None  # a paused endpoint answers this message and nothing else
    canary: dict[str, float] = field(default_factory=dict)  # version -> share of traffic
    shadow: str | None = None  # receives a copy of each request; its answer is never served
    disabled_features: dict[str, Any] = field(default_factory=dict)  # name -> stand-in value
    share: float | None = None  # half-open trial share; None: the breaker's default

    def as_dict(self) -> dict[str, object]:
        return {
            "serving": self.serving,
            "breaker": self.breaker.value,
            "killed": self.killed,
            "paused": self.paused,
            "canary": dict(self.canary),
            "shadow": self.shadow,
            "disabled_features": dict(self.disabled_features),
            "share": self.share,
        }

    def version_for(self, request_id: str) -> str | None:
        """The version that serves this request: a canary for its share of request ids
        (sticky: the same id always lands on the same version), else the serving one."""
        if self.canary:
            point = int(hashlib.blake2b(request_id.encode(), digest_size=8).hexdigest(), 16) / 2**64
            for version, share in sorted(self.canary.items()):
                if point < share:
                    return version
                point -= share
        return self.serving


class CircuitBreaker:
    """Decides champion vs fallback per call and counts consecutive failures."""

    def __init__(
        self, state: RouteState, *, failure_threshold: int = 5, trial_share: float = 0.5
    ) -> None:
        if failure_threshold <= 0:
            raise ValueError(f"failure_threshold: {failure_threshold!r} must be > 0")
        if not 0.0 < trial_share <= 1.0:
            raise ValueError(f"trial_share: {trial_share!r} must be in (0, 1]")
        self.state = state
        self.failure_threshold = failure_threshold
        self.trial_share = trial_share  # the default, when the state names no share
        self._failures = 0
        self._calls = 0
        self._share = _fraction(trial_share if state.share is None else state.share)

    def use_champion(self) -> bool:
        """True: send this call to the serving version; False: to the fallback."""
        breaker = self.state.breaker
        if breaker is BreakerState.CLOSED:
            return True
        if breaker is BreakerState.OPEN:
            return False
        # Half-open: an exact, evenly spread share (no randomness to make drills flaky).
        self._calls += 1
        return self._calls * self._share // 1 > (self._calls - 1) * self._share // 1

    def set_share(self, share: float | None) -> None:
        """The half-open trial share in memory (None: the default). A rollback stepping it
        goes through `RoutingTable.apply(share=...)`, which stores it and calls this."""
        check_share(share)
        self.state.share = share
        self._share = _fraction(self.trial_share if share is None else share)
        self._calls = 0

    def adopt(self, state: RouteState, *, reset: bool = False) -> None:
        """Take a state read from, or just written to, the table. A breaker or a share that
        moved (or `reset`) starts counting afresh, so the new share is exact from its start."""
        before = self.state
        self.state = state
        if reset or state.breaker is not before.breaker:
            self.set(state.breaker)
        if reset or state.share != before.share:
            self.set_share(state.share)

    def record_success(self) -> None:
        self._failures = 0

    def record_failure(self) -> bool:
        """Count a failed call; True when this failure should trip the breaker."""
        self._failures += 1
        return (
            self.state.breaker is not BreakerState.OPEN and self._failures >= self.failure_threshold
        )

    def set(self, breaker: BreakerState) -> None:
        self.state.breaker = breaker
        self._failures = 0
        self._calls = 0


def check_share(share: float | None) -> None:
    if share is not None and not 0.0 < share <= 1.0:
        raise ValueError(f"share: {share!r} must be in (0, 1]")


def _fraction(share: float) -> Fraction:
    return Fraction(share).limit_denominator(10_000)
