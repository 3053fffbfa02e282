"""Calling a model server over HTTP and reading its answer.

One `Upstream` (one bounded pool of kept-alive connections) serves every upstream. It
posts JSON through the lean path of `gateway.transport` rather than an `httpx.AsyncClient`:
httpx's request and response objects (headers, cookies, URL joining) cost about as much
CPU per request as the rest of the upstream call. A call never raises: it returns the
answer or the reason it has none, because to the gateway a model that times out, answers
5xx or answers garbage is broken in the same way — the fallback answers and the breaker
counts the failure.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from ripcord.gateway.transport import StreamTransport, Target, Timeouts
from ripcord.sop.gateway import GatewayModel

#: what an inference event can hold as a prediction
SCALARS = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class Reply:
    """A model server's answer, or why there is none (`error`)."""

    prediction: Any = None
    confidence: float | None = None
    error: str | None = None


def client(timeout_s: float, *, connections: int = 200) -> httpx.AsyncClient:
    """An `httpx.AsyncClient` on the lean transport (see `gateway.transport` for why), for
    callers that want httpx's interface (the gateway benchmark's load generator).
    `trust_env=False`: proxy variables of the environment must not send traffic
    elsewhere."""
    return httpx.AsyncClient(
        transport=StreamTransport(max_connections=connections),
        timeout=timeout_s,
        trust_env=False,
        follow_redirects=False,
    )


def body(spec: GatewayModel, features: Mapping[str, Any]) -> Any:
    """The JSON sent upstream: the features, or the features under `request_field`."""
    return dict(features) if spec.request_field is None else {spec.request_field: dict(features)}


def dig(payload: Any, path: str) -> Any:
    """The value at a dotted path: keys of objects, indices of lists ("predictions.0")."""
    value = payload
    for part in path.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise LookupError(f"the answer has no {path!r}")
    return value


def read(spec: GatewayModel, payload: Any) -> Reply:
    """The prediction and confidence in a server's JSON answer, checked: a prediction must
    be a number, string, boolean or null; a confidence a number in [0, 1] or null."""
    try:
        prediction = dig(payload, spec.prediction)
        confidence = None if spec.confidence is None else dig(payload, spec.confidence)
    except LookupError as exc:
        return Reply(error=str(exc))
    if not isinstance(prediction, SCALARS):
        return Reply(error=f"prediction {spec.prediction!r} is a {type(prediction).__name__}")
    if confidence is None:
        return Reply(prediction)
    if (
        isinstance(confidence, bool)
        or not isinstance(confidence, int | float)
        or not (math.isfinite(confidence) and 0.0 <= confidence <= 1.0)
    ):
        return Reply(error=f"confidence {confidence!r} is not a number in [0, 1]")
    return Reply(prediction, float(confidence))


class Upstream:
    """The gateway's client for every model server: at most `connections` calls in
    flight, each bounded by `timeout_s` (waiting for a connection, opening one, and the
    whole answer, each)."""

    def __init__(self, timeout_s: float, *, connections: int = 200) -> None:
        if not timeout_s > 0:
            raise ValueError(f"timeout_s: {timeout_s!r} must be > 0")
        self.timeout_s = timeout_s
        self.timeouts = Timeouts(timeout_s, timeout_s, timeout_s)
        self.transport = StreamTransport(max_connections=connections)
        self._targets: dict[str, Target] = {}  # each URL parsed once

    async def call(self, spec: GatewayModel, url: str, features: Mapping[str, Any]) -> Reply:
        """POST the features to `url` and read the answer; every failure becomes
        `Reply.error`."""
        target = self._targets.get(url)
        if target is None:
            target = self._targets[url] = Target.parse(url)
        try:  # as httpx encodes `json=`; NaN and infinities are not JSON
            sent = json.dumps(body(spec, features), ensure_ascii=False, allow_nan=False)
        except ValueError as exc:
            return Reply(error=f"the features cannot be sent as JSON: {exc}")
        try:
            status, answer = await self.transport.post_json(target, sent.encode(), self.timeouts)
        except httpx.TimeoutException:
            return Reply(error=f"upstream {url} timed out")
        except httpx.HTTPError as exc:
            return Reply(error=f"upstream {url}: {type(exc).__name__}: {exc}")
        if status != 200:
            return Reply(error=f"upstream {url} answered HTTP {status}")
        try:
            payload = json.loads(answer)
        except ValueError:
            return Reply(error=f"upstream {url} answered something that is not JSON")
        return read(spec, payload)

    async def aclose(self) -> None:
        await self.transport.aclose()
