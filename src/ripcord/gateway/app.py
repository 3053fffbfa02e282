"""The gateway's ASGI app (Starlette), served by uvicorn.

    POST /models/{model}/predict     JSON object of features → the answer, routed
    GET  /healthz                    liveness, runtime state, drops, routing revisions

A request's id comes from the `X-Request-Id` header (one is made when it is missing) and
goes back in the same header; canary assignment is sticky per id. Answers:

- 200 `{request_id, model, version, route, answered_by, prediction, confidence,
  violations}`: `route` and `version` are what the inference event records (a failed
  upstream stays charged to its version); `answered_by` says whose answer it is: `model`,
  `fallback` (breaker open, upstream failed, input blocked with a fallback to answer) or
  `replacement` (an output guardrail's).
- 503 `{"error": "model paused", "message": …}`: the endpoint is paused.
- 503 `{"error": "model disabled"}`: the kill switch is engaged.
- 422 `{"error": "invalid input", "problems": […]}`: a body that is not a JSON object, or
  input the contract or an input guardrail refuses when the model has no fallback (with a
  fallback, the fallback answers and `violations` names the fields, as the guard does).
- 502 `{"error": "no answer"}`: the upstream failed and there is no working fallback;
  503 the same when the breaker sends traffic to a fallback that does not answer.
- 404 `{"error": "unknown model"}`: a model the gateway section does not name.

Two factories: `create_process_gateway` (what `ripcord gateway` serves: the runtime in a
child process) and `create_gateway(rc)` (the runtime in a thread, on a runtime the caller
owns: tests, embedding).

The app is a bare ASGI callable rather than a Starlette app: two fixed routes do not need
a router, and Starlette's middleware stack, request and response objects cost about a
tenth of the gateway's CPU per request (see benchmarks/README.md, Gateway). Every answer
is built whole before the first byte is sent, so a failure while building it is a clean
500; the request's inference record and the shadow's copy are handed over only after the
answer is sent.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.types import Receive, Scope, Send

from ripcord.app import Ripcord
from ripcord.clock import Clock, SystemClock
from ripcord.detect import default_registry
from ripcord.errors import InputError, Problem
from ripcord.events import RequestIds
from ripcord.events import Route as Served
from ripcord.gateway.child import RuntimeProcess
from ripcord.gateway.proxy import Proxy, Result
from ripcord.gateway.runtime import RuntimeThread, Sink
from ripcord.gateway.upstream import Upstream
from ripcord.respond.decide import Answer
from ripcord.respond.routing import RoutingTable
from ripcord.sop import load as sop_load
from ripcord.sop.schema import Sop
from ripcord.store.db import Database, default_url

log = logging.getLogger(__name__)

REQUEST_ID = "X-Request-Id"
_REQUEST_ID = REQUEST_ID.lower().encode("latin-1")  # ASGI header names are lower case
MAX_REQUEST_ID = 200  # an inference event's request id is at most this long
PREFIX, SUFFIX = "/models/", "/predict"


def create_gateway(rc: Ripcord, *, refresh_every: float = 0.5) -> Gateway:
    """A gateway whose runtime loop runs in a thread of this process, on `rc` (which stays
    the caller's to close): for tests and for hosts that embed it. Routing changes stored
    by any process reach it within `refresh_every` seconds (see `respond.refresh`)."""
    return _gateway(
        rc.sop, rc.routes, rc.clock, lambda: RuntimeThread(rc, refresh_every=refresh_every)
    )


def create_process_gateway(
    sop_path: Path, *, home: Path, url: str | None = None, refresh_every: float = 0.5
) -> Gateway:
    """What `ripcord gateway` serves: the runtime (detection, response, database writes)
    runs in a child process on the same database, off the request path's GIL, and the
    gateway keeps a mirror of the routing table in step with the stored rows."""
    sop = sop_load.load(sop_path, default_registry())
    db = Database.open(url or default_url(home))
    routes = RoutingTable()
    with db.session() as session:
        routes.load(session)
    return _gateway(
        sop,
        routes,
        SystemClock(),
        lambda: RuntimeProcess(
            sop_path, db=db, home=home, routes=routes, refresh_every=refresh_every
        ),
        own_process=True,
    )


def _gateway(
    sop: Sop,
    routes: RoutingTable,
    clock: Clock,
    sink: Callable[[], Sink],
    *,
    own_process: bool = False,
) -> Gateway:
    spec = sop.gateway
    if spec is None or not spec.models:
        problem = Problem("gateway.models", None, "must name each model's version URLs")
        raise InputError("SOP file for the gateway", [problem])
    for model in spec.models:  # made here, before a second thread can look them up
        routes.breaker(model)
    return Gateway(sop, routes, clock, sink, own_process=own_process)


@dataclass
class Response:
    """An HTTP answer, built whole before anything is sent."""

    status: int
    body: dict[str, Any]
    request_id: str | None = None
    result: Result | None = None  # a served request: its shadow copy goes after the answer

    def encode(self) -> tuple[list[tuple[bytes, bytes]], bytes]:
        data = json.dumps(self.body, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        content = data.encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", b"%d" % len(content)),
        ]
        if self.request_id is not None:
            headers.append((_REQUEST_ID, self.request_id.encode("latin-1")))
        return headers, content


class Gateway:
    """The ASGI app: `POST /models/{model}/predict` and `GET /healthz`, with a lifespan
    that starts the runtime, the upstream pool and the proxy, and stops them in turn."""

    def __init__(
        self,
        sop: Sop,
        routes: RoutingTable,
        clock: Clock,
        sink: Callable[[], Sink],
        *,
        own_process: bool = False,
    ) -> None:
        self.sop, self.routes, self.clock, self.sink = sop, routes, clock, sink
        self.own_process = own_process
        self.proxy: Proxy | None = None
        self.ids = RequestIds()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    # -- lifespan -------------------------------------------------------------------------
    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    self.start()
                except Exception as exc:
                    log.exception("gateway failed to start")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def start(self) -> None:
        assert self.sop.gateway is not None
        runtime = self.sink()
        upstream = Upstream(self.sop.gateway.timeout_s)
        self.proxy = Proxy(self.sop, self.routes, self.clock, upstream, runtime)
        runtime.start()
        if self.own_process:  # what exists now lives as long as the server: keep it out of
            gc.collect()  # the collector's full passes, which stall requests for tens of ms
            gc.freeze()

    async def stop(self) -> None:
        proxy, self.proxy = self.proxy, None
        if proxy is None:
            return
        await proxy.close()
        await proxy.upstream.aclose()
        await asyncio.to_thread(proxy.runtime.stop)

    # -- requests -------------------------------------------------------------------------
    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        result: Result | None = None  # a served request, recorded even if its answer fails
        try:
            response = await self._route(scope, receive)
            result = response.result
            headers, content = response.encode()
        except Exception:  # a bug, not the caller's fault: say so, keep serving
            log.exception("gateway request failed", extra={"path": scope.get("path")})
            response = Response(500, {"error": "internal error"})
            headers, content = response.encode()
        try:
            await send(
                {"type": "http.response.start", "status": response.status, "headers": headers}
            )
            await send({"type": "http.response.body", "body": content})
        finally:  # after the answer, sent or not: the record never delays it
            proxy = self.proxy
            if result is not None and proxy is not None:
                proxy.record(result)
        if result is not None and result.shadow is not None and proxy is not None:
            await proxy.mirror(result)  # after the answer: never delays or changes it

    async def _route(self, scope: Scope, receive: Receive) -> Response:
        path: str = scope["path"]
        method: str = scope["method"]
        if path == "/healthz":
            return self._healthz() if method in ("GET", "HEAD") else _not_allowed()
        model = path[len(PREFIX) : -len(SUFFIX)]
        if not (path.startswith(PREFIX) and path.endswith(SUFFIX) and model) or "/" in model:
            return Response(404, {"error": "not found", "message": f"no route {path!r}"})
        if method != "POST":
            return _not_allowed()
        if self.proxy is None:
            return Response(503, {"error": "starting", "message": "the gateway is not started"})
        return await self._predict(self.proxy, model, _request_id(scope) or self.ids(), receive)

    async def _predict(self, proxy: Proxy, model: str, rid: str, receive: Receive) -> Response:
        if model not in proxy.spec.models:
            return _error(404, rid, "unknown model", f"unknown model: {model!r}")
        if len(rid) > MAX_REQUEST_ID:
            problems = [_problem(REQUEST_ID, f"is longer than {MAX_REQUEST_ID} characters")]
            return _error(422, rid[:MAX_REQUEST_ID], "invalid input", "bad request id", problems)
        try:
            features = json.loads(await _body(receive))
        except ValueError:
            features = None
        if not isinstance(features, dict):
            problems = [_problem("body", "must be a JSON object of features")]
            return _error(422, rid, "invalid input", "the body is not a JSON object", problems)
        result = await proxy.serve(model, features, rid)
        response = _answer(result)
        response.result = result
        return response

    def _healthz(self) -> Response:
        """Liveness, the runtime's state (starting, ready, down), records dropped on a full
        runtime queue, shadow copies skipped, and the routing revision each model is
        served by."""
        proxy = self.proxy
        if proxy is None:
            return Response(503, {"status": "starting"})
        routes = proxy.routes
        body = {
            "status": "ok",
            "runtime": proxy.runtime.status,
            "dropped": proxy.runtime.dropped,
            "shadows_skipped": proxy.shadows_skipped,
            "routing": {m: routes.state(m).revision for m in proxy.spec.models},
        }
        return Response(200, body)


def _request_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == _REQUEST_ID:
            return value.decode("latin-1") or None
    return None


async def _body(receive: Receive) -> bytes:
    """The whole request body; a client gone before the end sent an incomplete one."""
    parts = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ValueError("the client disconnected")
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(parts)


def _not_allowed() -> Response:
    return Response(405, {"error": "method not allowed", "message": "see the routes"})


def _answer(result: Result) -> Response:
    decision, rid = result.decision, result.request_id
    if decision.paused is not None:
        return _error(503, rid, "model paused", decision.paused)
    if decision.answer is Answer.NOTHING:
        return _error(503, rid, "model disabled", f"the kill switch of {result.model} is on")
    if not result.answered:
        return _unanswered(result)
    reply = result.reply
    assert reply is not None
    body = {
        "request_id": rid,
        "model": result.model,
        "version": decision.version,
        "route": decision.route.value,
        "answered_by": decision.answer.value,
        "prediction": reply.prediction,
        "confidence": reply.confidence,
        "violations": list(decision.notes),
    }
    return Response(200, body, rid)


def _unanswered(result: Result) -> Response:
    """No answer to give: refused input says which fields; otherwise why nobody answered."""
    decision, rid = result.decision, result.request_id
    refused = decision.route in (Served.BLOCKED, Served.GUARDED) and decision.version == "none"
    if refused:
        problems = [_problem(*note.split(": ", 1)) for note in decision.notes]
        return _error(422, rid, "invalid input", "the input was refused", problems)
    why = result.error or (result.reply.error if result.reply else None)
    if result.error is not None:
        return _error(502, rid, "no answer", f"{why}; the model has no working fallback")
    return _error(503, rid, "no answer", why or f"{result.model} has no fallback")


def _problem(path: str, message: str = "") -> dict[str, str]:
    return {"path": path, "message": message}


def _error(
    status: int, rid: str, error: str, message: str, problems: list[dict[str, str]] | None = None
) -> Response:
    body: dict[str, Any] = {"error": error, "message": message, "request_id": rid}
    if problems is not None:
        body["problems"] = problems
    return Response(status, body, rid)
