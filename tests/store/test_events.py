"""Bulk event writes: the stored payload is the event's JSON, and a batch is all or none."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from ripcord.events import (
    ChangeEvent,
    ChangeKind,
    Event,
    FeedbackEvent,
    InferenceEvent,
    Route,
)
from ripcord.store.db import Database
from ripcord.store.events import EVENTS, event_row, insert_rows
from ripcord.store.tables import EventRow

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_rows_round_trip_as_the_events_json(db: Database) -> None:
    events: list[Event] = [
        InferenceEvent(
            model="m",
            version="v1",
            request_id="r1",
            timestamp=T0,
            features={"x": 0.1, "n": 3, "s": "a", "b": True, "none": None, "big": 1e300},
            prediction=1,
            confidence=0.25,
            latency_ms=4.5,
            segment={"region": "eu"},
            route=Route.FALLBACK,
            violations=("x: -1 is not >= 0",),
        ),
        FeedbackEvent(model="m", timestamp=T0 + timedelta(hours=1), score=-1.0, source="app"),
        ChangeEvent(model="m", timestamp=T0, change=ChangeKind.DEPLOY, version="v2", actor="ci"),
    ]
    with db.session() as session:
        insert_rows(session, [event_row(e) for e in events])
    with db.session() as session:
        rows = list(session.scalars(select(EventRow).order_by(EventRow.id)))
    assert [r.payload for r in rows] == [e.model_dump(mode="json") for e in events]
    assert [(r.kind, r.version, r.request_id, r.route) for r in rows] == [
        ("inference", "v1", "r1", "fallback"),
        ("feedback", None, None, None),
        ("change", "v2", None, None),
    ]
    assert rows[1].at == T0 + timedelta(hours=1) and rows[1].at.tzinfo is not None


def test_a_batch_with_a_bad_row_stores_none_of_it(db: Database) -> None:
    good = event_row(FeedbackEvent(model="m", timestamp=T0, score=1.0))
    with pytest.raises(IntegrityError), db.session() as session:
        insert_rows(session, [good, {**good, "model": None}, good])
    with db.session() as session:
        assert session.scalar(select(func.count(EventRow.id))) == 0


def test_json_columns_write_what_json_dumps_wrote(db: Database) -> None:
    """The serializer changed (pydantic-core for json.dumps); what SQLite keeps did not."""
    import json

    row = event_row(FeedbackEvent(model="m", timestamp=T0, score=0.0))
    payload = {"nan": math.nan, "inf": math.inf, "n": 3, "x": 0.1, "s": "é", "l": [1, None]}
    with db.session() as session:
        insert_rows(session, [{**row, "payload": payload}])
    with db.session() as session:
        back = session.scalars(select(EventRow.payload)).one()
        text = session.connection().exec_driver_sql("SELECT payload FROM events").scalar_one()
    assert math.isnan(back.pop("nan")) and back == {k: v for k, v in payload.items() if k != "nan"}
    assert json.loads(text).keys() == json.loads(json.dumps(payload)).keys()


def test_sqlite_rows_are_stored_as_core_inserts_store_them(db: Database) -> None:
    """On SQLite the rows skip Core's parameter processing; what lands is the same text."""
    east = timezone(timedelta(hours=5, minutes=30))
    events: list[Event] = [
        InferenceEvent(
            model="m",
            version="v1",
            request_id="r1",
            timestamp=datetime(2026, 1, 1, 3, 4, 5, 123456, tzinfo=east),
            features={"x": 0.1, "n": 3, "s": "é", "b": True, "none": None, "nan": math.nan},
            prediction="yes",
            latency_ms=4.5,
            segment={"region": "eu"},
            route=Route.SHADOW,
        ),
        FeedbackEvent(model="m", timestamp=datetime(1, 1, 1, tzinfo=UTC), score=-1.0),
        ChangeEvent(model="m", timestamp=T0, change=ChangeKind.CONFIG, description="a\nb"),
    ]
    rows = [event_row(e) for e in events]
    with db.session() as session:
        session.connection().execute(insert(EVENTS), rows)  # Core, as before
        insert_rows(session, rows)
    with db.session() as session:
        query = "SELECT kind, model, version, request_id, route, at, payload FROM events"
        stored = list(session.connection().exec_driver_sql(f"{query} ORDER BY id"))
    assert stored[:3] == stored[3:]
    assert stored[0][5] == "2025-12-31 21:34:05.123456"


def test_the_same_rows_round_trip_on_postgresql(pg_url: str) -> None:
    database = Database.open(pg_url)
    try:
        events = [
            InferenceEvent(
                model="m",
                version="v1",
                request_id=f"r{i}",
                timestamp=T0 + timedelta(seconds=i),
                features={"x": i / 3, "s": "é"},
                latency_ms=1.0,
            )
            for i in range(600)
        ]
        with database.session() as session:
            insert_rows(session, [event_row(e) for e in events])
        with database.session() as session:
            rows = list(session.scalars(select(EventRow).order_by(EventRow.id)))
        assert [r.payload for r in rows] == [e.model_dump(mode="json") for e in events]
        assert rows[-1].at == T0 + timedelta(seconds=599)
    finally:
        database.dispose()
