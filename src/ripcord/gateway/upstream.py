"""Calling a model server over HTTP and reading its answer.

One `httpx.AsyncClient` (its own connection pool, bounded) serves every upstream. A call
never raises: it returns the answer or the reason it has none, because to the gateway a
model that times out, answers 5xx or answers garbage is broken in the same way — the
fallback answers and the breaker counts the failure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from ripcord.gateway.transport import StreamTransport
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
    """The shared upstream client, on the lean transport (see `gateway.transport` for why).
    `trust_env=False`: proxy variables of the environment must not send model traffic
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


async def call(
    http: httpx.AsyncClient, spec: GatewayModel, url: str | httpx.URL, features: Mapping[str, Any]
) -> Reply:
    """POST the features to `url` and read the answer; every failure becomes `Reply.error`.
    Pass an `httpx.URL` made once to spare parsing the text on every request."""
    try:
        response = await http.post(url, json=body(spec, features))
    except httpx.TimeoutException:
        return Reply(error=f"upstream {url} timed out")
    except httpx.HTTPError as exc:
        return Reply(error=f"upstream {url}: {type(exc).__name__}: {exc}")
    if response.status_code != 200:
        return Reply(error=f"upstream {url} answered HTTP {response.status_code}")
    try:
        payload = response.json()
    except ValueError:
        return Reply(error=f"upstream {url} answered something that is not JSON")
    return read(spec, payload)
