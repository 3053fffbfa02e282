"""The guard: wrap a predict function so every call is routed, checked, timed and recorded.

    guard = rc.guard("pricing", predict=my_model, fallback=lambda f: 9.99)
    served = guard({"sku": "A1", "qty": 3})
    served.prediction, served.route, served.request_id

Routing per call: kill switch → nothing served; input breaks the contract → blocked (the
fallback answers, if there is one); breaker open → fallback; else the serving version. An
exception from the model counts toward tripping the breaker and the fallback answers.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ripcord.events import InferenceEvent, Route
from ripcord.registry.base import Scored
from ripcord.respond.breaker import BreakerState
from ripcord.sop.contract import violations

if TYPE_CHECKING:
    from ripcord.app import Ripcord

Predict = Callable[[Mapping[str, Any]], Any]


@dataclass(frozen=True)
class Served:
    request_id: str
    prediction: Any
    confidence: float | None
    route: Route
    version: str
    latency_ms: float
    violations: tuple[str, ...] = ()
    error: str | None = None


def _scored(output: Any) -> Scored:
    """Accept a Scored, a (prediction, confidence) pair, or a bare prediction."""
    if isinstance(output, Scored):
        return output
    if isinstance(output, tuple) and len(output) == 2:
        return Scored(output[0], None if output[1] is None else float(output[1]))
    return Scored(output, None)


class Guard:
    """Routes calls for one model. With `predict` given it serves that function as
    `version`; without, it serves whatever version the routing table names, loaded from the
    registry (and reloaded when a rollback moves the traffic)."""

    def __init__(
        self,
        app: Ripcord,
        model: str,
        *,
        predict: Predict | None = None,
        fallback: Predict | None = None,
        version: str | None = None,
    ) -> None:
        self.app = app
        self.model = model
        self.spec = app.sop.models[model]
        self.fixed = predict
        self.fixed_version = version or "live"
        self.fallback = fallback or self._sop_fallback()
        self._loaded: dict[str, tuple[str, Predict]] = {}

    def _sop_fallback(self) -> Predict | None:
        """The SOP's fallback: a constant rule, or another model's serving version."""
        fallback = self.spec.fallback
        if fallback is None:
            return None
        if fallback.rule is not None:
            answer = Scored(fallback.rule["prediction"], fallback.rule.get("confidence"))
            return lambda _features: answer
        other = fallback.model
        assert other is not None  # the schema requires a rule or a model

        def serve_other(features: Mapping[str, Any]) -> Any:
            loaded = self._serving(other)
            return loaded[1](features) if loaded else None

        return serve_other

    def _champion(self) -> tuple[str, Predict] | None:
        if self.fixed is not None:
            return self.fixed_version, self.fixed
        return self._serving(self.model)

    def _serving(self, model: str) -> tuple[str, Predict] | None:
        """The version the routing table serves for `model`, loaded once per version."""
        serving = self.app.routes.state(model).serving
        if serving is None:
            return None
        cached = self._loaded.get(model)
        if cached is None or cached[0] != serving:
            with self.app.db.session() as session:
                row = self.app.registry.get(session, model, serving)
            predictor = self.app.registry.load(row)
            cached = (serving, lambda features: predictor.predict([features])[0])
            self._loaded[model] = cached
        return cached

    def __call__(
        self,
        features: Mapping[str, Any],
        *,
        request_id: str | None = None,
        segment: Mapping[str, str] | None = None,
    ) -> Served:
        start = time.perf_counter()
        rid = request_id or uuid.uuid4().hex
        state = self.app.routes.state(self.model)
        broken = violations(self.spec.contract, features)
        champion = self._champion()
        route, version, output, error = (
            Route.CHAMPION,
            champion[0] if champion else "none",
            None,
            None,
        )
        if state.killed:
            route = Route.KILLED
        elif broken:
            route, output = Route.BLOCKED, self._fall_back(features)
        elif champion is None or not self.app.routes.breaker(self.model).use_champion():
            route, version, output = Route.FALLBACK, "fallback", self._fall_back(features)
        else:
            output, error = self._call(champion[1], features)
            if error is not None:
                output = self._fall_back(features)
        scored = _scored(output)
        served = Served(
            rid,
            scored.prediction,
            scored.confidence,
            route,
            version,
            (time.perf_counter() - start) * 1000.0,
            broken,
            error,
        )
        self._record(served, features, segment)
        return served

    def _call(self, predict: Predict, features: Mapping[str, Any]) -> tuple[Any, str | None]:
        breaker = self.app.routes.breaker(self.model)
        try:
            output = predict(features)
        except Exception as exc:  # the model failing is data here, not a crash
            if breaker.record_failure():
                self.app.trip(self.model, reason=f"{breaker.failure_threshold} consecutive errors")
            return None, f"{type(exc).__name__}: {exc}"
        breaker.record_success()
        return output, None

    def _fall_back(self, features: Mapping[str, Any]) -> Any:
        return self.fallback(features) if self.fallback else None

    def _record(
        self, served: Served, features: Mapping[str, Any], segment: Mapping[str, str] | None
    ) -> None:
        event = InferenceEvent(
            model=self.model,
            version=served.version,
            request_id=served.request_id,
            timestamp=self.app.clock.now(),
            features=dict(features),
            prediction=served.prediction,
            confidence=served.confidence,
            latency_ms=served.latency_ms,
            error=served.error,
            segment=dict(segment or {}),
            route=served.route,
            violations=served.violations,
        )
        self.app.ingest(event)

    @property
    def breaker(self) -> BreakerState:
        return self.app.routes.state(self.model).breaker
