"""`ripcord gateway` itself: the command in its own process, its runtime in a child
process, a routing change and a breaker trip crossing the store both ways."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from ripcord.app import Ripcord
from ripcord.drills.demo import MODEL
from ripcord.gateway.fake import FakeModel, listen, running, wait_healthy
from ripcord.notify import RecordingChannel
from ripcord.respond import controls
from ripcord.store.tables import EventRow, Routing
from tests.gateway.conftest import GOOD, closed_port_url, poll, write_sop

STARTUP_S = 60.0  # the runtime process imports the scientific stack on a small machine


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[tuple[str, Ripcord, FakeModel]]:
    v1 = FakeModel(prediction=0, confidence=0.9)
    with running(v1.app) as v1_url:
        sop = write_sop(
            tmp_path / "sop.yaml", {"v1": v1_url, "v2": v1_url, "down": closed_port_url()}
        )
        ops = Ripcord.open(sop, home=tmp_path, channels={"console": RecordingChannel("console")})
        ops.register(MODEL, "v1", {}, actor="ci")
        ops.deploy(MODEL, "v1", actor="ci")
        sock = listen()
        port = sock.getsockname()[1]
        sock.close()
        command = [
            str(Path(sys.executable).parent / "ripcord"),
            "gateway",
            "--sop",
            str(sop),
            "--port",
            str(port),
        ]
        proc = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(url, within=STARTUP_S)
            yield url, ops, v1
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(30)
            ops.close()
    assert proc.returncode == 0


def test_the_command_serves_records_and_follows_the_table(
    gateway: tuple[str, Ripcord, FakeModel],
) -> None:
    url, ops, v1 = gateway
    with httpx.Client(base_url=url, trust_env=False, timeout=10.0) as client:
        poll(
            lambda: client.get("/healthz").json()["runtime"] == "ready", within=STARTUP_S, every=0.1
        )
        answer = client.post(f"/models/{MODEL}/predict", json=GOOD, headers={"X-Request-Id": "p1"})
        assert answer.json()["version"] == "v1" and answer.json()["prediction"] == 0

        def stored() -> list[EventRow]:
            with ops.db.session() as session:
                return list(session.scalars(select(EventRow).where(EventRow.request_id == "p1")))

        poll(stored, within=5.0)  # recorded by the runtime process
        controls.kill(ops, MODEL, on=True, actor="alice", reason="stop")
        poll(
            lambda: client.post(f"/models/{MODEL}/predict", json=GOOD).status_code == 503,
            within=10.0,  # the 0.5 s refresh period is tested with an injected clock
        )
        controls.kill(ops, MODEL, on=False, actor="alice", reason="go")
        poll(
            lambda: client.post(f"/models/{MODEL}/predict", json=GOOD).status_code == 200,
            within=10.0,
        )
        v1.mode = "fail"
        for _ in range(5):
            client.post(f"/models/{MODEL}/predict", json=GOOD)

        def tripped() -> bool:
            with ops.db.session() as session:
                return session.get(Routing, MODEL).breaker == "open"  # type: ignore[union-attr]

        poll(tripped, within=5.0)  # committed, with its audit row, by the runtime process
        calls = len(v1.bodies)
        assert client.post(f"/models/{MODEL}/predict", json=GOOD).json()["route"] == "fallback"
        assert len(v1.bodies) == calls
