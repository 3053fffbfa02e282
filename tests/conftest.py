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
    )
    yield app
    app.close()
