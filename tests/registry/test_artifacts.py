"""The config and dataset version store on a real database: lineage, the active pointer,
audited activation with its change event, idempotence; SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from ripcord.errors import InputError, NotFoundError
from ripcord.events import ChangeKind
from ripcord.registry.artifacts import ArtifactStore, TargetKind, digest
from ripcord.store import audit
from ripcord.store.db import Database
from ripcord.store.tables import AuditRow, EventRow

T0 = datetime(2026, 5, 1, 9, tzinfo=UTC)
SHA = hashlib.sha256(b"rows").hexdigest()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, db: Database) -> Iterator[Database]:
    if request.param == "sqlite":
        yield db
        return
    pg = Database.open(request.getfixturevalue("pg_url"))
    yield pg
    pg.dispose()


def record_config(
    db: Database, store: ArtifactStore, document: dict[str, object], minutes: int, **kw: object
) -> str:
    with db.session() as session:
        row = store.record(
            session,
            model="fraud",
            target="threshold",
            kind=TargetKind.CONFIG,
            at=T0 + timedelta(minutes=minutes),
            actor="alice",
            reason="tuning",
            content=document,
            **kw,  # type: ignore[arg-type]
        )
        return row.version


def activate(db: Database, store: ArtifactStore, version: str, minutes: int) -> bool:
    with db.session() as session:
        done = store.activate(
            session,
            model="fraud",
            target="threshold",
            version=version,
            at=T0 + timedelta(minutes=minutes),
            actor="alice",
            change=ChangeKind.CONFIG,
            reason="rollout",
        )
        return done is not None


def test_versions_keep_their_lineage_and_the_pointer_its_history(database: Database) -> None:
    store = ArtifactStore()
    first = record_config(database, store, {"block_above": 0.9}, 0)
    assert activate(database, store, first, 1)
    second = record_config(database, store, {"block_above": 0.8}, 2)
    third = record_config(database, store, {"block_above": 0.7}, 3, version="tight", parent=first)
    assert (first, second, third) == ("r1", "r2", "tight")
    assert activate(database, store, second, 4)
    with database.session() as session:
        rows = {r.version: r for r in store.versions(session, "fraud", "threshold")}
        assert [r.version for r in store.versions(session, "fraud", "threshold")] == [
            "tight",
            "r2",
            "r1",
        ]
        # lineage: the parent defaults to what was active when the version was recorded
        assert (rows["r1"].parent, rows["r2"].parent, rows["tight"].parent) == (None, "r1", "r1")
        assert (rows["r2"].created_by, rows["r2"].reason) == ("alice", "tuning")
        assert rows["r2"].created_at == T0 + timedelta(minutes=2)
        assert rows["r2"].sha256 == digest({"block_above": 0.8})
        active = store.active(session, "fraud", "threshold")
        assert active is not None and active.content == {"block_above": 0.8}
        history = store.history(session, "fraud", "threshold")
        assert [(a.version, a.previous) for a in history] == [("r2", "r1"), ("r1", None)]
        assert store.targets(session, "fraud") == ["threshold"]


def test_activation_is_audited_with_a_change_event_and_is_idempotent(database: Database) -> None:
    store = ArtifactStore()
    first = record_config(database, store, {"block_above": 0.9}, 0)
    second = record_config(database, store, {"block_above": 0.8}, 1)
    activate(database, store, first, 2)
    assert activate(database, store, second, 3)
    assert not activate(database, store, second, 4)  # already active: nothing written
    with database.session() as session:
        rows = session.scalars(
            select(AuditRow).where(AuditRow.action == "artifact.activate").order_by(AuditRow.id)
        ).all()
        assert [(r.before, r.after) for r in rows][1] == (
            {"version": "r1", "sha256": digest({"block_above": 0.9})},
            {"version": "r2", "sha256": digest({"block_above": 0.8}), "incident": None},
        )
        assert len(rows) == 2 and rows[1].subject == "target:fraud/threshold"
        events = session.scalars(select(EventRow).where(EventRow.kind == "change")).all()
        assert [(e.version, e.payload["change"]) for e in events] == [
            ("r1", "config"),
            ("r2", "config"),
        ]
        assert events[1].payload["description"] == "threshold: r1 -> r2; rollout"
        assert events[1].at == T0 + timedelta(minutes=3)
        assert audit.verify(session).rows == 4  # two records, two activations


def test_a_dataset_version_is_its_uri_and_hash(database: Database) -> None:
    store = ArtifactStore()
    with database.session() as session:
        row = store.record(
            session,
            model="fraud",
            target="training",
            kind=TargetKind.DATASET,
            at=T0,
            actor="etl",
            uri="s3://lake/fraud/2026-05-01/",
            sha256=SHA,
            meta={"rows": 120_000},
        )
        assert (row.version, row.uri, row.sha256, row.content) == (
            "r1",
            "s3://lake/fraud/2026-05-01/",
            SHA,
            None,
        )
        assert row.meta == {"rows": 120000}


def test_bad_versions_are_refused_naming_every_field(db: Database) -> None:
    store = ArtifactStore()
    record_config(db, store, {"a": 1}, 0, version="v1")
    with db.session() as session, pytest.raises(InputError) as info:
        store.record(
            session,
            model="fraud",
            target="training",
            kind=TargetKind.DATASET,
            at=T0,
            actor="etl",
            content={"a": 1},
            sha256="abc",
        )
    assert [str(p) for p in info.value.problems] == [
        "content: 'dict' is not used by a dataset: give uri and sha256",
        "uri: None a dataset needs the URI of its data",
        "sha256: 'abc' is not 64 lowercase hex digits",
    ]
    with pytest.raises(InputError) as info:
        record_config(db, store, {"a": 2}, 1, version="v1", parent="v0")
    assert [str(p) for p in info.value.problems] == [
        "version: 'v1' already exists for fraud/threshold",
        "parent: 'v0' is not a version of fraud/threshold",
    ]
    with pytest.raises(InputError, match="version: 'a b' must be 1-100 of"):
        record_config(db, store, {"a": 2}, 1, version="a b")
    with pytest.raises(NotFoundError, match="fraud/threshold@v9"):
        activate(db, store, "v9", 2)
    with db.session() as session:  # nothing half-stored by the refused calls
        assert [r.version for r in store.versions(session, "fraud", "threshold")] == ["v1"]
        assert store.versions(session, "fraud", "training") == []


def test_health_marks_are_audited(db: Database) -> None:
    store = ArtifactStore()
    version = record_config(db, store, {"a": 1}, 0)
    with db.session() as session:
        row = store.get(session, "fraud", "threshold", version)
        store.mark(session, row, "good", at=T0, actor="ripcord", reason="verified")
        store.mark(session, row, "good", at=T0, actor="ripcord", reason="again")  # no change
        marks = session.scalars(select(AuditRow).where(AuditRow.action == "artifact.health"))
        assert [(m.before, m.after, m.subject) for m in marks] == [
            ({"health": "unknown"}, {"health": "good"}, "target:fraud/threshold@r1")
        ]
