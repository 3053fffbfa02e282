"""The app factory: `create_app(rc)` builds a FastAPI app around one Ripcord runtime.

Nothing is made at import time: the Prometheus registry, the metrics and the lock that
serialises calls into the runtime (see `deps`) are created here and kept on `app.state`.
The runtime stays the caller's: `ripcord serve` opens it and closes it after the server.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from prometheus_client import CollectorRegistry

import ripcord
from ripcord.api import (
    actions,
    alertmanager,
    deadletters,
    errors,
    incidents,
    ingest,
    metrics,
    targets,
    tokens,
)
from ripcord.api.admission import DEFAULT_MAX_QUEUED_EVENTS, Admission
from ripcord.api.deps import ACTOR_HEADER, ApiState
from ripcord.api.metrics import Metrics
from ripcord.api.models import batch_schema, event_schemas
from ripcord.api.webhook_auth import WebhookAuth
from ripcord.app import Ripcord

log = logging.getLogger(__name__)
#: the collector's first threshold while serving (CPython's default: 700 allocations)
GC_THRESHOLD = 10_000

DESCRIPTION = f"""
Ripcord's service: ingestion, incidents, actions and approvals, the Alertmanager
receiver, dead letters (notifications a channel gave up on: list, replay), metrics.

Send an API token as `Authorization: Bearer <token>` (make one with
`ripcord token create NAME --role ROLE`). Roles, each allowing what the ones before do:
viewer (reads), responder (ingest; ack, assign, comment, severity, resolve; propose a
rollback; replay dead letters), approver (approve, reject), admin (tokens). The token's
name is the actor the audit log records. A server started with `--no-auth` takes
everyone as an admin named by the `{ACTOR_HEADER}` header (or "local").

Errors share one body: `error`, `message` and, for bad input (422), every `problems` item
with its `path` (e.g. `events[2].latency_ms`), `value` and `message`.

Past the server's limit of queued events, ingestion answers 429 (`overloaded`) with a
`Retry-After` in seconds; nothing of that batch was stored, so resend it as it was.
"""


def create_app(
    rc: Ripcord,
    *,
    tokens_required: bool = True,
    tick_s: float = 30.0,
    max_queued_events: int = DEFAULT_MAX_QUEUED_EVENTS,
    alertmanager_auth: WebhookAuth | None = None,
) -> FastAPI:
    """A FastAPI app serving `rc`. `tokens_required=False` is for local use only. Every
    `tick_s` seconds the escalation timers run, so an unacknowledged page escalates even
    when no traffic arrives to drive them. Past `max_queued_events` events admitted and
    not yet answered, ingestion answers 429 with `Retry-After` (see `admission`).
    `alertmanager_auth` (else the SOP's `alertmanager.auth`, its secrets read from the
    environment now) makes the Alertmanager receiver take its own webhook credential
    instead of an API token (see `webhook_auth`)."""
    spec = rc.sop.alertmanager.auth
    if alertmanager_auth is None and spec is not None:
        alertmanager_auth = WebhookAuth.from_spec(spec)
    app = FastAPI(
        lifespan=_ticking(tick_s),
        title="Ripcord",
        version=ripcord.__version__,
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    registry = CollectorRegistry()
    counters = Metrics(registry)
    admission = Admission(max_queued_events, on_refuse=counters.refused.inc)
    state = ApiState(
        rc=rc,
        metrics=counters,
        tokens_required=tokens_required,
        admission=admission,
        alertmanager_auth=alertmanager_auth,
    )
    state.metrics.attach(rc, state.lock)
    app.state.ripcord = state
    errors.install(app)
    for module in (ingest, incidents, actions, targets, alertmanager, deadletters, tokens, metrics):
        app.include_router(module.router)
    app.add_api_route("/healthz", healthz, methods=["GET"], tags=["health"])
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _ticking(tick_s: float) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """A lifespan running the runtime's timers on a thread, under the runtime's lock, with
    the garbage collector set for a server (`long_lived_heap`)."""
    if tick_s <= 0:
        raise ValueError(f"tick_s: {tick_s!r} must be > 0")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        state: ApiState = app.state.ripcord

        def tick() -> None:
            while not stop.wait(tick_s):
                try:
                    with state.lock:
                        state.rc.tick()
                except Exception:  # a failed tick is logged; the next one tries again
                    log.exception("timer tick failed")

        thread = threading.Thread(target=tick, name="ripcord-timers", daemon=True)
        thread.start()
        try:
            with long_lived_heap():
                yield
        finally:
            stop.set()
            thread.join(timeout=5)

    return lifespan


@contextmanager
def long_lived_heap() -> Iterator[None]:
    """CPython's cyclic garbage collector, set for a server for the duration of the block.

    At startup the process holds some 200,000 container objects (the runtime, SQLAlchemy,
    FastAPI, numpy) that live as long as it does. A batch of 500 events allocates thousands
    of short-lived ones; at the default threshold the collector runs several times while a
    batch is in flight and promotes it to the oldest generation, so every twenty batches
    or so a full collection scans the whole heap: 110 ms each, a fifth of the server's CPU
    under `benchmarks/ingest.py`. `gc.freeze()` puts what exists now out of the collector's
    reach (still alive, still freed by reference counting when dropped), and a higher first
    threshold lets a batch die young. Both are undone on the way out, so a test that starts
    and stops apps does not keep their garbage frozen.
    """
    thresholds = gc.get_threshold()
    gc.collect()  # garbage now is collected, not frozen
    gc.freeze()
    gc.set_threshold(max(GC_THRESHOLD, thresholds[0]), *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def healthz() -> dict[str, str]:
    """Liveness: the process answers. Needs no token."""
    return {"status": "ok"}


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema, plus the ingestion body and the event models it refers to (the
    route reads its body itself, so FastAPI does not see them)."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(event_schemas(), EventBatch=batch_schema())
        app.openapi_schema = schema
    return app.openapi_schema
