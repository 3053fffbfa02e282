"""Shared fixtures: a real SQLite database in a temporary folder, a manual clock, an SOP
built in code (with a real golden set on disk), and a runtime wired to a recording channel."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from ripcord.app import Ripcord
from ripcord.clock import ManualClock
from ripcord.drills import credit
from ripcord.drills.demo import SOP
from ripcord.notify import RecordingChannel
from ripcord.store.db import Database


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database.open(f"sqlite:///{tmp_path / 'ripcord.db'}")
    yield database
    database.dispose()


def sop_data() -> dict[str, Any]:
    """The demo's SOP as a dict, for tests to edit."""
    data: dict[str, Any] = yaml.safe_load(SOP.read_text())
    return data


@pytest.fixture
def sop_file(tmp_path: Path) -> Path:
    credit.write_golden(tmp_path / "golden" / "credit-risk.csv", n=300)
    path = tmp_path / "sop.yaml"
    path.write_text(yaml.safe_dump(sop_data()))
    return path


@pytest.fixture
def channel() -> RecordingChannel:
    return RecordingChannel(name="console")


@pytest.fixture
def rc(
    sop_file: Path, tmp_path: Path, clock: ManualClock, channel: RecordingChannel
) -> Iterator[Ripcord]:
    app = Ripcord.open(
        sop_file,
        url=f"sqlite:///{tmp_path / 'rc.db'}",
        home=tmp_path,
        clock=clock,
        channels={"console": channel},
        send_inline=True,  # tests read the channel right after an action
    )
    yield app
    app.close()


def _postgres_server() -> str:
    import os

    return os.environ.get(
        "RIPCORD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh database on a real PostgreSQL server (see scripts/services.sh), dropped after
    the test. Skipped with the reason when no server is reachable, except under CI."""
    import os
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import OperationalError

    server = make_url(_postgres_server())
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    name = f"ripcord_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        if os.environ.get("CI"):
            raise
        pytest.skip(
            f"no PostgreSQL server at {server.render_as_string(hide_password=True)}: {exc.orig}"
        )
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
