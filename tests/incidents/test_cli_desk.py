"""`ripcord incidents ack|resolve` go through the desk: the SOP's channels hear of them."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from ripcord.app import Ripcord
from ripcord.cli import main
from ripcord.detect.base import Reading, Signal
from ripcord.drills.demo import MODEL
from ripcord.store.db import ENV_URL
from ripcord.store.tables import Delivery, Incident


def kinds(rc: Ripcord, incident_id: int) -> list[str]:
    with rc.db.session() as session:
        query = select(Delivery.kind).where(Delivery.incident_id == incident_id)
        return list(session.scalars(query.order_by(Delivery.id)))


def test_ack_and_resolve_from_the_cli_reach_the_channels(
    sop_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv(ENV_URL, url)
    monkeypatch.chdir(tmp_path)
    rc = Ripcord.open(sop_file, url=url, home=tmp_path)
    try:
        reading = Reading("latency", 120.0, 50.0, "above", window=200)  # SEV-3: paged only
        incident: Incident = rc.responder.handle(
            Signal(MODEL, "v2", "latency", "latency", reading, at=rc.clock.now())
        )
        rc.flush()  # the page goes out on the outbox's thread
        assert kinds(rc, incident.id) == ["page"]
        sop = ["--sop", str(sop_file)]
        assert main(["incidents", "ack", str(incident.id), "--actor", "alice", *sop]) == 0
        assert main(["incidents", "ack", str(incident.id), "--actor", "alice", *sop]) == 0
        assert kinds(rc, incident.id) == ["page", "ack"], "acknowledged once"
        resolve = ["incidents", "resolve", str(incident.id), "--actor", "alice"]
        assert main([*resolve, "--reason", "autoscaler fixed", *sop]) == 0
        assert kinds(rc, incident.id) == ["page", "ack", "resolved"]
    finally:
        rc.close()
