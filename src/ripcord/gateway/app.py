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
"""

from __future__ import annotations

import asyncio
import gc
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ripcord.app import Ripcord
from ripcord.clock import Clock, SystemClock
from ripcord.detect import default_registry
from ripcord.errors import InputError, Problem
from ripcord.events import Route as Served
from ripcord.gateway import upstream
from ripcord.gateway.child import RuntimeProcess
from ripcord.gateway.proxy import Proxy, Result
from ripcord.gateway.runtime import RuntimeThread, Sink
from ripcord.respond.decide import Answer
from ripcord.respond.routing import RoutingTable
from ripcord.sop import load as sop_load
from ripcord.sop.schema import Sop
from ripcord.store.db import Database, default_url

REQUEST_ID = "X-Request-Id"
MAX_REQUEST_ID = 200  # an inference event's request id is at most this long


def create_gateway(rc: Ripcord, *, refresh_every: float = 0.5) -> Starlette:
    """A gateway whose runtime loop runs in a thread of this process, on `rc` (which stays
    the caller's to close): for tests and for hosts that embed it. Routing changes stored
    by any process reach it within `refresh_every` seconds (see `respond.refresh`)."""
    return _app(rc.sop, rc.routes, rc.clock, lambda: RuntimeThread(rc, refresh_every=refresh_every))


def create_process_gateway(
    sop_path: Path, *, home: Path, url: str | None = None, refresh_every: float = 0.5
) -> Starlette:
    """What `ripcord gateway` serves: the runtime (detection, response, database writes)
    runs in a child process on the same database, off the request path's GIL, and the
    gateway keeps a mirror of the routing table in step with the stored rows."""
    sop = sop_load.load(sop_path, default_registry())
    db = Database.open(url or default_url(home))
    routes = RoutingTable()
    with db.session() as session:
        routes.load(session)
    return _app(
        sop,
        routes,
        SystemClock(),
        lambda: RuntimeProcess(
            sop_path, db=db, home=home, routes=routes, refresh_every=refresh_every
        ),
        own_process=True,
    )


def _app(
    sop: Sop,
    routes: RoutingTable,
    clock: Clock,
    sink: Callable[[], Sink],
    *,
    own_process: bool = False,
) -> Starlette:
    spec = sop.gateway
    if spec is None or not spec.models:
        problem = Problem("gateway.models", None, "must name each model's version URLs")
        raise InputError("SOP file for the gateway", [problem])
    for model in spec.models:  # made here, before a second thread can look them up
        routes.breaker(model)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        runtime = sink()
        http = upstream.client(spec.timeout_s)
        proxy = Proxy(sop, routes, clock, http, runtime)
        runtime.start()
        app.state.proxy = proxy
        if own_process:  # what exists now lives as long as the server: keep it out of
            gc.collect()  # the collector's full passes, which stall requests for tens of ms
            gc.freeze()
        try:
            yield
        finally:
            await proxy.close()
            await http.aclose()
            await asyncio.to_thread(runtime.stop)

    endpoints = [
        Route("/models/{model}/predict", predict, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
    return Starlette(routes=endpoints, lifespan=lifespan)


def _proxy(request: Request) -> Proxy:
    proxy: Proxy = request.app.state.proxy
    return proxy


async def predict(request: Request) -> JSONResponse:
    proxy = _proxy(request)
    model = request.path_params["model"]
    rid = request.headers.get(REQUEST_ID) or uuid.uuid4().hex
    if model not in proxy.spec.models:
        return _error(404, rid, "unknown model", f"unknown model: {model!r}")
    if len(rid) > MAX_REQUEST_ID:
        problems = [_problem(REQUEST_ID, f"is longer than {MAX_REQUEST_ID} characters")]
        return _error(422, rid[:MAX_REQUEST_ID], "invalid input", "bad request id", problems)
    try:
        features = json.loads(await request.body())
    except ValueError:
        features = None
    if not isinstance(features, dict):
        problems = [_problem("body", "must be a JSON object of features")]
        return _error(422, rid, "invalid input", "the body is not a JSON object", problems)
    result = await proxy.serve(model, features, rid)
    response = _answer(result)
    if result.shadow is not None:  # after the answer is sent; never delays or changes it
        response.background = BackgroundTask(proxy.mirror, result)
    return response


def _answer(result: Result) -> JSONResponse:
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
    return JSONResponse(body, headers={REQUEST_ID: rid})


def _unanswered(result: Result) -> JSONResponse:
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
) -> JSONResponse:
    body: dict[str, Any] = {"error": error, "message": message, "request_id": rid}
    if problems is not None:
        body["problems"] = problems
    return JSONResponse(body, status_code=status, headers={REQUEST_ID: rid})


async def healthz(request: Request) -> JSONResponse:
    """Liveness, the runtime's state (starting, ready, down), records dropped on a full
    runtime queue, shadow copies skipped, and the routing revision each model is served by."""
    proxy = _proxy(request)
    routes = proxy.routes
    return JSONResponse(
        {
            "status": "ok",
            "runtime": proxy.runtime.status,
            "dropped": proxy.runtime.dropped,
            "shadows_skipped": proxy.shadows_skipped,
            "routing": {m: routes.state(m).revision for m in proxy.spec.models},
        }
    )
