"""POST /v1/events: batches of inference, label, feedback and change events."""

from __future__ import annotations

import time
from collections import Counter

from fastapi import APIRouter

from ripcord.api.deps import Responder, State
from ripcord.api.errors import RESPONSES
from ripcord.api.models import EventBatch, IngestResult, SignalOut

router = APIRouter(tags=["ingestion"])


@router.post("/v1/events", responses=RESPONSES)
def ingest(batch: EventBatch, state: State, who: Responder) -> IngestResult:
    """Validate the whole batch first, then store it and run detection on it.

    A bad batch is refused whole (422) with every bad item and field named, e.g.
    `events[2].latency_ms`, or `events[0].model` for a model the SOP file does not know;
    nothing of it is stored. An accepted batch is on disk before the answer is sent, and any
    signal it raised has been triaged and contained. Ingestion needs the responder role,
    because events can set off containment and rollbacks.
    """
    start = time.perf_counter()
    with state.runtime() as rc:
        signals = rc.ingest_batch(batch.events)
        rc.flush()
    state.metrics.batch_seconds.observe(time.perf_counter() - start)
    keys = [(str(e["kind"]), str(e["model"])) for e in batch.events]
    state.metrics.counted(keys)
    return IngestResult(
        accepted=len(batch.events),
        by_kind=dict(Counter(kind for kind, _ in keys)),
        signals=[SignalOut.of(s) for s in signals],
    )
