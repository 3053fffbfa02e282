"""Writing events: many rows in one INSERT, one transaction per batch.

Events are the one table written at ingestion rate (thousands of rows a second), so they
skip the ORM's unit of work: building an `EventRow` object per event and letting the
session track it cost more than detection itself in a profile of `POST /v1/events`
(benchmarks/ingest.py). Rows are plain dicts, written with SQLAlchemy's bulk `insert()`,
which sends them as multi-row `INSERT ... VALUES` statements ("insertmanyvalues").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from ripcord.events import Event, InferenceEvent
from ripcord.store.tables import EventRow

EVENTS = cast(Table, EventRow.__table__)


def event_row(event: Event) -> dict[str, Any]:
    """The `events` row of one event; its payload is the event as JSON, defaults filled
    (the same text as `event.model_dump_json()`)."""
    return {
        "kind": event.kind,
        "model": event.model,
        "version": getattr(event, "version", None),
        "request_id": getattr(event, "request_id", None),
        "route": event.route.value if isinstance(event, InferenceEvent) else None,
        "at": event.timestamp,
        # the event itself: the engine's JSON serializer (pydantic-core, see `db`) writes it
        # as `model_dump_json` would, without building the intermediate dict
        "payload": event,
    }


def insert_rows(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Add `rows` inside the caller's transaction: all of them are stored, or none."""
    if rows:  # Core, not the ORM's bulk path: no per-row bookkeeping of mapped objects
        session.connection().execute(insert(EVENTS), list(rows))
