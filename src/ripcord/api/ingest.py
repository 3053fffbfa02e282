"""POST /v1/events: batches of inference, label, feedback and change events.

The route reads its body itself. A good batch, the common case, is parsed and validated
in one pass of pydantic-core over the request's bytes (`ParsedBatch`); only a batch that
fails it takes the slow path, item by item through `Ripcord.parse_batch`, which names every
bad item and field exactly as the SDK and CLI do. Both run on a worker thread, so the event
loop only reads bytes and weighs batches against the admission limit.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from ripcord.api.deps import ApiState, Responder, State
from ripcord.api.errors import OVERLOADED, RESPONSES
from ripcord.api.models import REF, EventBatch, IngestResult, ParsedBatch, SignalOut
from ripcord.events import Event

router = APIRouter(tags=["ingestion"])
BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": REF.format(model="EventBatch")}}},
    }
}


@router.post("/v1/events", responses={**RESPONSES, **OVERLOADED}, openapi_extra=BODY)
async def ingest(request: Request, state: State, who: Responder) -> IngestResult:
    """Validate the whole batch first, then store it and run detection on it.

    A bad batch is refused whole (422) with every bad item and field named, e.g.
    `events[2].latency_ms`, or `events[0].model` for a model the SOP file does not know;
    nothing of it is stored. An accepted batch is committed, whole and in one transaction,
    before the answer is sent, and any signal it raised has been triaged and contained.
    Past the server's limit of queued events the batch is refused with 429 and a
    `Retry-After` (seconds) before anything of it is stored: resend it after that.
    Ingestion needs the responder role, because events can set off containment and
    rollbacks.
    """
    body = await request.body()
    # Admission runs here, on the event loop, so a refused batch never waits for a worker
    # thread behind the batches it would queue after; a full queue refuses before parsing.
    state.admission.refuse_if_full()
    events = await run_in_threadpool(parse, state, body)
    with state.admission.admit(len(events)):
        return await run_in_threadpool(_ingest, state, events)


def parse(state: ApiState, body: bytes) -> list[Event]:
    """The batch's events; RequestValidationError or EventError naming what is wrong."""
    try:
        events: list[Event] = ParsedBatch.model_validate_json(body).events
    except ValidationError:
        events = []
    models = state.rc.sop.models
    if events and all(e.model in models for e in events):
        return events
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        error = {"type": "json_invalid", "loc": ("body",), "msg": f"JSON decode error: {exc}"}
        raise RequestValidationError([{**error, "input": None}]) from None
    try:
        batch = EventBatch.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
        ) from None
    return state.rc.parse_batch(batch.events)  # reads only the SOP: safe beside ingestion


def _ingest(state: ApiState, events: list[Event]) -> IngestResult:
    start = time.perf_counter()
    with state.runtime() as rc:
        signals = rc.ingest_stored(events)
    state.metrics.batch_seconds.observe(time.perf_counter() - start)
    keys = [(e.kind, e.model) for e in events]
    state.metrics.counted(keys)
    return IngestResult(
        accepted=len(events),
        by_kind=dict(Counter(kind for kind, _ in keys)),
        signals=[SignalOut.of(s) for s in signals],
    )
