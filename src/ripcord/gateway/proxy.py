"""One request through the gateway: decide, forward, fall back, mirror, record.

The decisions are the guard's (`respond.decide`), so the two data paths cannot drift
apart; what differs is only how a version is called (an HTTP upstream here) and where the
fallback comes from. The gateway's fallback, first that exists: the gateway section's
`fallback_url`; the SOP's fallback rule (a constant answer); the SOP's fallback model,
called at its serving version's upstream. A fallback that fails leaves the request
without an answer (the HTTP layer says why); it never counts toward the breaker.

Everything here runs on the event loop and only reads the routing table in memory (and
counts the breaker's consecutive failures); events and breaker trips go to the runtime
thread, so no request waits for a detector or a database write. A breaker trip is handed
over at once; a request's record (`record`) and its shadow copy (`mirror`) only after its
answer is sent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ripcord.clock import Clock
from ripcord.events import Route
from ripcord.gateway.runtime import Record, Sink
from ripcord.gateway.upstream import Reply, Upstream
from ripcord.respond import decide
from ripcord.respond.decide import Answer, Decision
from ripcord.respond.routing import RoutingTable
from ripcord.sop.gateway import GatewayModel, GatewaySpec
from ripcord.sop.schema import Sop

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Result:
    """What one request got. `reply` is the answer served; None or a reply with an error
    means there was none. `error` is the serving version's failure, if it failed."""

    request_id: str
    model: str
    decision: Decision
    reply: Reply | None
    error: str | None
    latency_ms: float
    features: Mapping[str, Any]
    shadow: str | None  # the shadow version that gets a copy, if any

    @property
    def answered(self) -> bool:
        return self.reply is not None and self.reply.error is None


class Proxy:
    def __init__(
        self,
        sop: Sop,
        routes: RoutingTable,
        clock: Clock,
        upstream: Upstream,
        runtime: Sink,
        *,
        max_shadows: int = 256,
    ) -> None:
        assert sop.gateway is not None
        self.sop = sop
        self.spec: GatewaySpec = sop.gateway
        self.routes = routes
        self.clock = clock
        self.upstream = upstream
        self.runtime = runtime
        self.max_shadows = max_shadows
        self.shadows: set[asyncio.Task[None]] = set()
        self.shadows_skipped = 0

    async def serve(self, model: str, features: Mapping[str, Any], request_id: str) -> Result:
        start = time.perf_counter()
        state = self.routes.state(model)
        features = decide.substitute(state, features)
        breaker = self.routes.breaker(model)
        decision = decide.plan(self.sop.models[model], state, breaker, features, request_id)
        reply: Reply | None = None
        error: str | None = None
        if decision.answer is Answer.MODEL:
            decision, reply, error = await self._champion(model, decision, features)
        if decision.answer is Answer.FALLBACK:
            reply = await self._fallback(model, features)
        elif decision.answer is Answer.REPLACEMENT:
            reply = Reply(decision.replacement)
        latency_ms = (time.perf_counter() - start) * 1000.0
        return Result(request_id, model, decision, reply, error, latency_ms, features, state.shadow)

    async def _champion(
        self, model: str, decision: Decision, features: Mapping[str, Any]
    ) -> tuple[Decision, Reply | None, str | None]:
        """Forward to the chosen version; a failure counts toward the breaker (and trips it
        on the threshold), and the fallback answers instead."""
        reply = await self._call(self.spec.models[model], decision.version, features)
        breaker = self.routes.breaker(model)
        if reply.error is not None:
            if breaker.record_failure():
                reason = f"{breaker.failure_threshold} consecutive upstream failures"
                self.runtime.trip(model, reason)
            return decide.failed(decision), None, reply.error
        breaker.record_success()
        spec = self.sop.models[model]
        return decide.review(spec, decision, reply.prediction), reply, None

    async def _call(self, spec: GatewayModel, version: str, features: Mapping[str, Any]) -> Reply:
        url = spec.url(version)
        if url is None:  # counts as a failure: nobody can serve this version
            return Reply(error=f"version {version!r} has no upstream in the gateway section")
        return await self.upstream.call(spec, url, features)

    async def _fallback(self, model: str, features: Mapping[str, Any]) -> Reply | None:
        """The fallback's answer; None when the model has none."""
        spec = self.spec.models[model]
        if spec.fallback_url is not None:
            return await self.upstream.call(spec, spec.fallback_url, features)
        fallback = self.sop.models[model].fallback
        if fallback is None:
            return None
        if fallback.rule is not None:
            return Reply(fallback.rule["prediction"], fallback.rule.get("confidence"))
        other = fallback.model
        assert other is not None  # the schema requires a rule or a model
        serving = self.routes.state(other).serving
        other_spec = self.spec.models.get(other)
        if serving is None or other_spec is None:
            return Reply(error=f"fallback model {other!r} has no serving upstream")
        return await self._call(other_spec, serving, features)

    def record(self, result: Result) -> None:
        """Hand the request's inference record to the runtime. The HTTP layer calls it once
        the answer is sent (`serve` does not), so the record's few microseconds never
        delay an answer."""
        reply, decision = result.reply, result.decision
        error = result.error
        if error is None and reply is not None and reply.error is not None:
            error = f"fallback: {reply.error}"
        answered = reply is not None and reply.error is None
        self.runtime.record(
            Record(
                model=result.model,
                version=decision.version,
                request_id=result.request_id,
                at=self.clock.now(),
                features=dict(result.features),
                prediction=reply.prediction if answered and reply else None,
                confidence=reply.confidence if answered and reply else None,
                latency_ms=result.latency_ms,
                route=decision.route,
                error=error,
                violations=decision.notes,
            )
        )

    # -- shadow ---------------------------------------------------------------------------
    async def mirror(self, result: Result) -> None:
        """Send a copy to the shadow version in its own task: the caller has its answer
        already, and the shadow's answer, error or delay never reaches it. At most
        `max_shadows` copies are in flight; beyond that a copy is skipped and counted."""
        if result.shadow is None or result.decision.paused is not None:
            return
        if len(self.shadows) >= self.max_shadows:
            self.shadows_skipped += 1
            return
        task = asyncio.get_running_loop().create_task(
            self._shadow(result.model, result.shadow, result.features, result.request_id)
        )
        self.shadows.add(task)
        task.add_done_callback(self.shadows.discard)

    async def _shadow(
        self, model: str, version: str, features: Mapping[str, Any], request_id: str
    ) -> None:
        start = time.perf_counter()
        reply = await self._call(self.spec.models[model], version, features)
        self.runtime.record(
            Record(
                model=model,
                version=version,
                request_id=f"{request_id}:shadow",
                at=self.clock.now(),
                features=dict(features),
                prediction=reply.prediction,
                confidence=reply.confidence,
                latency_ms=(time.perf_counter() - start) * 1000.0,
                route=Route.SHADOW,
                error=reply.error,
            )
        )

    async def close(self) -> None:
        """Cancel the copies still in flight (their answers are never needed)."""
        for task in list(self.shadows):
            task.cancel()
        await asyncio.gather(*self.shadows, return_exceptions=True)
