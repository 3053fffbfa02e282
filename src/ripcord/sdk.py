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

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from pydantic import ValidationError

from ripcord.detect.base import Signal
from ripcord.errors import PausedError
from ripcord.events import InferenceEvent, RequestIds, Route
from ripcord.registry.base import Scored
from ripcord.respond import decide
from ripcord.respond.breaker import BreakerState, CircuitBreaker
from ripcord.respond.decide import Answer, Decision
from ripcord.respond.refresh import Refresher

if TYPE_CHECKING:
    from ripcord.app import Ripcord

log = logging.getLogger(__name__)
Predict = Callable[[Mapping[str, Any]], Any]
_NOTHING = Scored(None, None)


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


class _Pending(NamedTuple):
    """One call as served, kept until its batch is ingested: a tuple, because the call
    path builds one per call and the pydantic event costs a few microseconds more."""

    served: Served
    features: dict[str, Any]
    segment: dict[str, str]
    at: datetime

    def event(self, model: str) -> InferenceEvent:
        return _event(model, self.served, self.features, self.segment, self.at)


def _event(
    model: str, served: Served, features: dict[str, Any], segment: dict[str, str], at: datetime
) -> InferenceEvent:
    return InferenceEvent(
        model=model,
        version=served.version,
        request_id=served.request_id,
        timestamp=at,
        features=features,
        prediction=served.prediction,
        confidence=served.confidence,
        latency_ms=served.latency_ms,
        error=served.error,
        segment=segment,
        route=served.route,
        violations=served.violations,
    )


class Guard:
    """Routes calls for one model. With `predict` given it serves that function as
    `version`; without, it serves whatever version the routing table names, loaded from the
    registry (and reloaded when a rollback moves the traffic).

    Recording. With `batch` 1 (the default) each call's inference event is ingested before
    the call returns: detection, and the signals' containment, happen on the call that
    raised them. With `batch` over 1 the call path only routes, calls and appends a tuple
    to a buffer of at most `batch` records; the buffer is ingested in one go (one
    transaction, the engine's batch path: the same signals, in the same order) by the call
    that fills it, by the first call at least `batch_s` seconds of the app's clock after
    the oldest record, and by `flush()` / `close()`. Nothing is dropped: a full buffer is
    drained by the call that filled it, so the caller pays for the batch (backpressure),
    and a signal is raised at most `batch` calls or `batch_s` seconds late — containment
    still follows the signal at once. A breaker tripped by model errors opens on the call
    that saw the last error, as with `batch` 1. A guard made by `Ripcord.guard` is drained
    by the runtime's `flush` and `close`, and before it ingests labels or feedback (they
    join their prediction by request id); one built directly is the caller's to flush.
    """

    def __init__(
        self,
        app: Ripcord,
        model: str,
        *,
        predict: Predict | None = None,
        fallback: Predict | None = None,
        version: str | None = None,
        batch: int = 1,
        batch_s: float = 0.05,
    ) -> None:
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise ValueError(f"batch: {batch!r} must be an integer >= 1")
        if not batch_s > 0:
            raise ValueError(f"batch_s: {batch_s!r} must be > 0")
        self.app = app
        self.model = model
        self.spec = app.sop.models[model]
        self.fixed = predict
        self.fixed_version = version or "live"
        self._fixed = self.fixed_version if predict is not None else None
        self.fallback = fallback or self._sop_fallback()
        self.batch = batch
        self.batch_span = timedelta(seconds=batch_s)
        self.rejected = 0  # records the event schema refused at a batch's ingestion
        self._records: list[_Pending] = []
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
        breaker = self.app.routes.breaker(self.model)  # one object per model, for good
        state = breaker.state
        features = decide.substitute(state, features)
        decision = decide.plan(self.spec, state, breaker, features, rid, fixed=self._fixed)
        if decision.paused is not None:
            paused = Served(rid, None, None, decision.route, decision.version, 0.0, decision.notes)
            self._record(paused, features, segment)
            raise PausedError(self.model, decision.paused)
        decision, scored, error = self._serve(decision, breaker, features)
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
        self, decision: Decision, breaker: CircuitBreaker, features: Mapping[str, Any]
    ) -> tuple[Decision, Scored, str | None]:
        """Call the model where the plan says so, then review its answer (see `decide`)."""
        scored, error = _NOTHING, None
        if decision.answer is Answer.MODEL:
            scored, error = self._call(decision.version, breaker, features)
            if error is not None:
                decision = decide.failed(decision)
            else:
                decision = decide.review(self.spec, decision, scored.prediction)
        if decision.answer is Answer.FALLBACK:
            scored = _scored(self._fall_back(features))
        elif decision.answer is Answer.REPLACEMENT:
            scored = Scored(decision.replacement, None)
        elif decision.answer is Answer.NOTHING:
            scored = _NOTHING
        return decision, scored, error

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

    def _call(
        self, version: str, breaker: CircuitBreaker, features: Mapping[str, Any]
    ) -> tuple[Scored, str | None]:
        """The model's answer, or why there is none. Loading the version happens inside the
        call: a registry that is down when a version is first needed fails this call like a
        model error, and the fallback answers."""
        try:
            output = self._predict(version)(features)
        except Exception as exc:  # the model failing is data here, not a crash
            if breaker.record_failure():
                self.app.trip(self.model, reason=f"{breaker.failure_threshold} consecutive errors")
            return _NOTHING, f"{type(exc).__name__}: {exc}"
        breaker.record_success()
        return _scored(output), None

    def _fall_back(self, features: Mapping[str, Any]) -> Any:
        return self.fallback(features) if self.fallback else None

    # -- recording ------------------------------------------------------------------------
    def _record(
        self, served: Served, features: Mapping[str, Any], segment: Mapping[str, str] | None
    ) -> None:
        """One call's record: ingested at once (`batch` 1), or kept until the batch is full
        or its oldest record is `batch_s` old on the app's clock (see the class docstring).
        The features are copied now: a caller may reuse its dict for the next call."""
        at = self.app.clock.now()
        kept = dict(segment) if segment else {}
        if self.batch == 1:
            self.app.ingest(_event(self.model, served, dict(features), kept, at))
            return
        records = self._records
        records.append(_Pending(served, dict(features), kept, at))
        if len(records) >= self.batch or at - records[0].at >= self.batch_span:
            self.flush()

    def flush(self) -> list[Signal]:
        """Detect and store every record kept so far, in call order, in one transaction
        (`Ripcord.ingest_stored`): detection runs on the engine's batch path and the
        signals are handled before this returns. A record the event schema refuses (a
        prediction that is not a scalar) is logged, counted in `rejected` and skipped, so
        it cannot cost the other calls of its batch their records."""
        records, self._records = self._records, []
        if not records:
            return []
        events = []
        for record in records:
            try:
                events.append(record.event(self.model))
            except ValidationError:
                self.rejected += 1
                log.exception("guard record refused", extra={"model": self.model})
        return self.app.ingest_stored(events)

    def close(self) -> None:
        """Flush what is kept (also done by the runtime's `close` for its own guards)."""
        self.flush()

    def __enter__(self) -> Guard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def breaker(self) -> BreakerState:
        return self.app.routes.state(self.model).breaker
