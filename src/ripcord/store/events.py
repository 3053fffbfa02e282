"""Writing events: many rows in one INSERT, one transaction per batch.

Events are the one table written at ingestion rate (thousands of rows a second), so they
skip the ORM's unit of work: building an `EventRow` object per event and letting the
session track it cost more than detection itself in a profile of `POST /v1/events`
(benchmarks/ingest.py). Rows are plain dicts. On SQLite they go to the driver's
`executemany` as tuples, through one prepared statement, inside the session's transaction:
SQLAlchemy's Core `insert()` spends as much time again per row in generic parameter
processing as SQLite spends storing it. Each value is still converted by its column type's
own bind processor, so the stored text is what Core writes (`tests/store/test_events.py`
compares the two). Other databases take Core's bulk `insert()`, which sends multi-row
`INSERT ... VALUES` statements ("insertmanyvalues").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

from sqlalchemy import Connection, Table, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from ripcord.events import Event, InferenceEvent
from ripcord.store.tables import EventRow

EVENTS = cast(Table, EventRow.__table__)
#: the columns an `event_row` fills (all but the id, which the database assigns)
COLUMNS = tuple(c.name for c in EVENTS.columns if not c.primary_key)
#: in the sqlite3 driver's parameter style (qmark)
SQLITE_INSERT = (
    f"INSERT INTO {EVENTS.name} ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
)
Processors = list[tuple[str, Callable[[Any], Any] | None]]


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
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        _executemany(connection, rows)
    else:  # Core, not the ORM's bulk path: no per-row bookkeeping of mapped objects
        connection.execute(insert(EVENTS), list(rows))


def _executemany(connection: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """One prepared statement, the rows as tuples (the driver's `executemany`)."""
    processors = _processors(connection.dialect)
    params = [tuple([row[c] if p is None else p(row[c]) for c, p in processors]) for row in rows]
    connection.exec_driver_sql(SQLITE_INSERT, params)


def _processors(dialect: Dialect) -> Processors:
    """Each column's bind processor for `dialect` (None: the value goes as it is), as Core
    applies them: e.g. UTC datetimes to SQLite's text, payloads to JSON."""
    return [(c, EVENTS.c[c].type.dialect_impl(dialect).bind_processor(dialect)) for c in COLUMNS]
