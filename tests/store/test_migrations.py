"""The Alembic migration against the ORM tables, the UTC timestamp type, the default URL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import StatementError

from ripcord.store.db import ENV_URL, Database, default_url
from ripcord.store.tables import Base, Deployment, UTCDateTime


def differences(db: Database) -> list[object]:
    with db.engine.connect() as connection:
        return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))


def schema(db: Database) -> dict[str, tuple[list[str], list[str]]]:
    """Every table with its column names and index names."""
    insp = inspect(db.engine)
    return {
        table: (
            [c["name"] for c in insp.get_columns(table)],
            sorted(str(i["name"]) for i in insp.get_indexes(table)),
        )
        for table in sorted(insp.get_table_names())
    }


def test_the_migration_builds_exactly_the_orm_tables(db: Database) -> None:
    assert differences(db) == []
    tables = set(inspect(db.engine).get_table_names())
    assert tables == set(Base.metadata.tables) | {"alembic_version"}


def test_the_comparison_does_see_a_schema_that_drifted(db: Database) -> None:
    # A control: without it, an empty diff could mean the comparison looked at nothing.
    with db.engine.begin() as connection:
        connection.execute(text("DROP INDEX ix_incidents_status"))
    diff = differences(db)
    assert [d[0] for d in diff if isinstance(d, tuple)] == ["add_index"]
    assert diff[0][1].name == "ix_incidents_status"  # type: ignore[index]


def head_revision() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from ripcord.store.db import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def test_migrating_twice_is_a_no_op(db: Database, tmp_path: Path) -> None:
    at = datetime(2026, 3, 1, 12, tzinfo=UTC)
    with db.session() as session:
        session.add(Deployment(model="m", version="v1", at=at, actor="ci", kind="deploy"))
    before = schema(db)

    db.migrate()
    again = Database.open(db.url)
    try:
        assert schema(again) == before
        with again.engine.connect() as connection:
            versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
        assert versions == [(head_revision(),)]
        with again.session() as session:
            assert session.scalars(select(Deployment.version)).all() == ["v1"]
    finally:
        again.dispose()
    assert differences(db) == []


@pytest.mark.parametrize(
    "at",
    [
        datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC),
        datetime(2026, 3, 1, 14, 30, tzinfo=timezone(timedelta(hours=2))),
        datetime(2026, 3, 1, 7, 30, tzinfo=timezone(timedelta(hours=-5))),
    ],
)
def test_timestamps_come_back_aware_and_in_utc(db: Database, at: datetime) -> None:
    with db.session() as session:
        session.add(Deployment(model="m", version="v1", at=at, actor="ci", kind="deploy"))
    with db.session() as session:
        stored = session.scalars(select(Deployment.at)).one()
    assert stored == at
    assert stored.utcoffset() == timedelta(0)
    assert stored.tzinfo is UTC
    assert stored.replace(tzinfo=None) == at.astimezone(UTC).replace(tzinfo=None)


def test_a_naive_timestamp_is_refused_by_the_column_type() -> None:
    naive = datetime(2026, 3, 1, 12)
    with pytest.raises(ValueError, match=r"timestamp: datetime\.datetime\(2026, 3, 1, 12, 0\)"):
        UTCDateTime().process_bind_param(naive, sqlite.dialect())


def test_a_naive_timestamp_is_refused_and_nothing_is_stored(db: Database) -> None:
    naive = datetime(2026, 3, 1, 12)
    # SQLAlchemy wraps errors raised while binding parameters in StatementError.
    with pytest.raises(StatementError) as info, db.session() as session:
        session.add(Deployment(model="m", version="v1", at=naive, actor="ci", kind="deploy"))
    assert isinstance(info.value.orig, ValueError)
    assert "must be timezone-aware" in str(info.value.orig)
    with db.session() as session:
        assert session.scalars(select(Deployment)).all() == []


def test_default_url_honours_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(ENV_URL, "postgresql://ripcord@db.example/ripcord")
    assert default_url(tmp_path) == "postgresql://ripcord@db.example/ripcord"
    assert not (tmp_path / ".ripcord").exists()


def test_default_url_is_a_sqlite_file_under_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(ENV_URL, raising=False)
    assert default_url(tmp_path) == f"sqlite:///{tmp_path / '.ripcord' / 'ripcord.db'}"
    assert (tmp_path / ".ripcord").is_dir()


def test_default_url_falls_back_to_the_working_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(ENV_URL, raising=False)
    monkeypatch.chdir(tmp_path)
    assert default_url() == f"sqlite:///{tmp_path / '.ripcord' / 'ripcord.db'}"


def test_open_without_a_url_uses_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'from-env.db'}"
    monkeypatch.setenv(ENV_URL, url)
    opened = Database.open()
    try:
        assert opened.url == url
        assert differences(opened) == []
    finally:
        opened.dispose()
    assert (tmp_path / "from-env.db").is_file()
