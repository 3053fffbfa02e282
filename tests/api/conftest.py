"""A real uvicorn server on loopback around a runtime on real SQLite, tokens for each role,
and helpers that raise incidents through the runtime's own triage."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from ripcord import access
from ripcord.access import Role
from ripcord.api import create_app
from ripcord.api.deps import ApiState
from ripcord.app import Ripcord
from ripcord.detect.base import Reading, Signal
from ripcord.drills import credit
from ripcord.drills.demo import MODEL
from ripcord.registry.local import Health
from ripcord.sop.severity import Direction
from ripcord.store.tables import Incident

#: name -> role; carol is the SOP file's approver, dave an approver the SOP does not name
PEOPLE = {
    "root": Role.ADMIN,
    "vera": Role.VIEWER,
    "alice": Role.RESPONDER,
    "carol": Role.APPROVER,
    "dave": Role.APPROVER,
}
STARTUP_S = 10.0


@pytest.fixture
def app(rc: Ripcord) -> FastAPI:
    return create_app(rc)


@pytest.fixture
def tokens(rc: Ripcord) -> dict[str, str]:
    made = {}
    with rc.db.session() as session:
        for name, role in PEOPLE.items():
            _, made[name] = access.create(session, name, role, at=rc.clock.now(), actor="test")
    return made


@contextmanager
def running(app: FastAPI) -> Iterator[str]:
    """Serve `app` with uvicorn in a thread on 127.0.0.1, on a port the OS picks; yield the
    base URL once /healthz answers. The socket listens before uvicorn starts, so the first
    request waits in the backlog instead of being refused: no sleeping, no busy loop."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        _wait_healthy(url, thread)
        yield url
    finally:
        server.should_exit = True
        thread.join(STARTUP_S)
        sock.close()


def _wait_healthy(url: str, thread: threading.Thread) -> None:
    deadline = time.monotonic() + STARTUP_S
    while (left := deadline - time.monotonic()) > 0 and thread.is_alive():
        try:
            if httpx.get(f"{url}/healthz", timeout=left).status_code == 200:
                return
        except httpx.TransportError:
            continue
    raise RuntimeError(f"{url}/healthz did not answer within {STARTUP_S} s")


@pytest.fixture
def server(app: FastAPI) -> Iterator[str]:
    with running(app) as url:
        yield url


Clients = Callable[[str | None], httpx.Client]


@pytest.fixture
def client(server: str, tokens: dict[str, str]) -> Iterator[Clients]:
    """`client("alice")`: an httpx client to the live server with alice's token;
    `client(None)`: one without a token."""
    made: list[httpx.Client] = []

    def make(name: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {tokens[name]}"} if name else {}
        made.append(httpx.Client(base_url=server, headers=headers, timeout=10.0))
        return made[-1]

    yield make
    for c in made:
        c.close()


def state(app: FastAPI) -> ApiState:
    api_state: ApiState = app.state.ripcord
    return api_state


def raise_signal(
    app: FastAPI, family: str, value: float, threshold: float, *, version: str = "v2"
) -> Incident:
    """Feed one breached reading through triage, as a detector would (under the app lock,
    since the server may be running)."""
    with state(app).runtime() as rc:
        direction: Direction = "below" if value < threshold else "above"
        reading = Reading(family, value, threshold, direction, window=200)
        signal = Signal(MODEL, version, family, family, reading, at=rc.clock.now())
        return rc.responder.handle(signal)


def good_v1(rc: Ripcord) -> None:
    """v1 registered and known good, so a rollback has a candidate to validate."""
    rc.register(MODEL, "v1", credit.train(), actor="ci")
    with rc.db.session() as session:
        row = rc.registry.get(session, MODEL, "v1")
        rc.registry.mark(session, row, Health.GOOD, at=rc.clock.now(), actor="ci", reason="test")
