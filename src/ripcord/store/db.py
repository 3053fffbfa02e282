"""The database: an engine from a URL, migrated to the newest schema with Alembic.

The embedded default is a SQLite file under `.ripcord/` in the current directory;
`RIPCORD_DATABASE_URL` (any SQLAlchemy URL) overrides it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from pydantic_core import to_json
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"
ENV_URL = "RIPCORD_DATABASE_URL"


def default_url(home: Path | None = None) -> str:
    """`RIPCORD_DATABASE_URL`, else a SQLite file under `<home or cwd>/.ripcord/`."""
    if url := os.environ.get(ENV_URL):
        return url
    folder = (home or Path.cwd()) / ".ripcord"
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'ripcord.db'}"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers (the CLI) look while a writer works; foreign keys are off by default.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _json_text(value: Any) -> str:
    """JSON columns' serializer: pydantic-core's (Rust) instead of `json.dumps`, a third of
    the cost of storing an ingested event (benchmarks/ingest.py). It writes what `json.dumps`
    wrote, NaN and infinities included, and also takes pydantic models."""
    return to_json(value).decode()


class Database:
    """An engine and a session factory; `migrate()` brings the schema to head."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = create_engine(url, json_serializer=_json_text)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str | None = None) -> Database:
        db = cls(url or default_url())
        db.migrate()
        return db

    def migrate(self) -> None:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as connection:
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "head")

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed on success, rolled back whole on any error."""
        with self._sessions.begin() as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
