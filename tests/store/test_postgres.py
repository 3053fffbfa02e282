"""The store on a real PostgreSQL server: migrations, and an audit chain that stays one
chain when several replicas append at the same time."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from sqlalchemy import func, inspect, select

from ripcord.store import audit
from ripcord.store.db import Database
from ripcord.store.tables import AuditRow, Base


def test_migrations_build_the_whole_schema(pg_url: str) -> None:
    db = Database.open(pg_url)
    try:
        tables = set(inspect(db.engine).get_table_names())
        assert set(Base.metadata.tables) <= tables
        db.migrate()  # a second run is a no-op
    finally:
        db.dispose()


def test_replicas_appending_at_once_keep_one_chain(pg_url: str) -> None:
    replicas = [Database.open(pg_url) for _ in range(4)]
    start = threading.Barrier(len(replicas))
    errors: list[BaseException] = []

    def append_many(db: Database, replica: int) -> None:
        start.wait()
        try:
            for i in range(25):
                with db.session() as session:
                    audit.append(
                        session,
                        at=datetime.now(UTC),
                        actor=f"replica-{replica}",
                        action="test",
                        subject=f"n:{i}",
                        after={"i": i},
                    )
        except BaseException as exc:  # reported below, with the others
            errors.append(exc)

    threads = [threading.Thread(target=append_many, args=(db, n)) for n, db in enumerate(replicas)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        with replicas[0].session() as session:
            assert audit.verify(session).rows == 100
            assert session.scalar(select(func.count(AuditRow.id))) == 100
    finally:
        for db in replicas:
            db.dispose()
