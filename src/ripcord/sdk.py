"""The guard: wrap a predict function so every call is routed, checked, timed and recorded.

    guard = rc.guard("pricing", predict=my_model, fallback=lambda f: 9.99)
    served = guard({"sku": "A1", "qty": 3})
    served.prediction, served.route, served.request_id

Routing per call, from the routing table: a paused endpoint raises PausedError; disabled
features get their stand-in values; kill switch → nothing served; input breaks the contract
→ blocked (the fallback answers, if there is one); an input guardrail blocks or rewrites;
breaker open → fallback; else the serving version, or a canary for its share of request ids;
an output guardrail blocks or replaces the answer. An exception from the model counts toward
tripping the breaker and the fallback answers. A shadow version gets a copy of each request;
its answer is recorded, never served.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ripcord.errors import PausedError
from ripcord.events import InferenceEvent, RequestIds, Route
from ripcord.registry.base import Scored
from ripcord.respond import decide
from ripcord.respond.breaker import BreakerState
from ripcord.respond.decide import Answer, Decision
from ripcord.respond.refresh import Refresher

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
        self._loaded: dict[tuple[str, str], Predict] = {}
        self._ids = RequestIds()
        # routing changes committed by another process reach this guard within a second
        self.refresher = Refresher(app.routes, app.db)

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

    def _predict(self, version: str) -> Predict:
        """The function that serves `version`: the wrapped one, or the registry's."""
        return self.fixed if self.fixed is not None else self._load(self.model, version)

    def _serving(self, model: str) -> tuple[str, Predict] | None:
        version = self.app.routes.state(model).serving
        return None if version is None else (version, self._load(model, version))

    def _load(self, model: str, version: str) -> Predict:
        """A registered version's predict function, loaded once."""
        key = (model, version)
        if key not in self._loaded:
            with self.app.db.session() as session:
                row = self.app.registry.get(session, model, version)
            predictor = self.app.registry.load(row)
            self._loaded[key] = lambda features: predictor.predict([features])[0]
        return self._loaded[key]

    def __call__(
        self,
        features: Mapping[str, Any],
        *,
        request_id: str | None = None,
        segment: Mapping[str, str] | None = None,
    ) -> Served:
        start = time.perf_counter()
        rid = request_id or self._ids()
        self.refresher.maybe()
        state = self.app.routes.state(self.model)
        features = decide.substitute(state, features)
        fixed = self.fixed_version if self.fixed is not None else None
        breaker = self.app.routes.breaker(self.model)
        decision = decide.plan(self.spec, state, breaker, features, rid, fixed=fixed)
        if decision.paused is not None:
            paused = Served(rid, None, None, decision.route, decision.version, 0.0, decision.notes)
            self._record(paused, features, segment)
            raise PausedError(self.model, decision.paused)
        decision, output, error = self._serve(decision, features)
        scored = _scored(output)
        served = Served(
            rid,
            scored.prediction,
            scored.confidence,
            decision.route,
            decision.version,
            (time.perf_counter() - start) * 1000.0,
            decision.notes,
            error,
        )
        self._record(served, features, segment)
        if state.shadow is not None and self.fixed is None:
            self._shadow(state.shadow, features, rid, segment)
        return served

    def _serve(
        self, decision: Decision, features: Mapping[str, Any]
    ) -> tuple[Decision, Any, str | None]:
        """Call the model where the plan says so, then review its answer (see `decide`)."""
        output, error = None, None
        if decision.answer is Answer.MODEL:
            # loading the version happens inside the call: a registry that is down when a
            # version is first needed fails this call like a model error, and the fallback answers
            version = decision.version
            output, error = self._call(lambda f: self._predict(version)(f), features)
            if error is not None:
                decision = decide.failed(decision)
            else:
                decision = decide.review(self.spec, decision, _scored(output).prediction)
        if decision.answer is Answer.FALLBACK:
            output = self._fall_back(features)
        elif decision.answer is Answer.REPLACEMENT:
            output = Scored(decision.replacement, None)
        elif decision.answer is Answer.NOTHING:
            output = None
        return decision, output, error

    def _shadow(
        self, version: str, features: Mapping[str, Any], rid: str, segment: Mapping[str, str] | None
    ) -> None:
        """Score a copy on the shadow version; its answer is recorded, never served, and its
        failure never reaches the caller."""
        start = time.perf_counter()
        try:
            output, error = self._load(self.model, version)(features), None
        except Exception as exc:  # the shadow failing is data about the shadow
            output, error = None, f"{type(exc).__name__}: {exc}"
        scored = _scored(output)
        served = Served(
            f"{rid}:shadow",
            scored.prediction,
            scored.confidence,
            Route.SHADOW,
            version,
            (time.perf_counter() - start) * 1000.0,
            (),
            error,
        )
        self._record(served, features, segment)

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
