"""A real HTTP receiver on loopback for the channel tests, and a message to send."""

from __future__ import annotations

import socket
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from ripcord.notify import MessageKind, Notification


@dataclass(frozen=True)
class Reply:
    """What the receiver answers to one request; `hold` waits (for a client timeout)."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    hold: bool = False


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes


class Receiver:
    """Answers POSTs with scripted replies (then 200s) and records every request."""

    def __init__(self) -> None:
        self.url = ""
        self.received: list[Received] = []
        self.release = threading.Event()
        self._replies: deque[Reply] = deque()
        self._lock = threading.Lock()

    def reply(
        self,
        status: int,
        *,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
        hold: bool = False,
        times: int = 1,
    ) -> None:
        """Answer the next `times` requests so (after those already scripted)."""
        reply = Reply(status, dict(headers or {}), body, hold)
        with self._lock:
            self._replies.extend([reply] * times)

    def take(self, received: Received) -> Reply:
        with self._lock:
            self.received.append(received)
            return self._replies.popleft() if self._replies else Reply()


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        headers = {k.lower(): v for k, v in self.headers.items()}
        reply = self.server.receiver.take(Received(self.path, headers, body))
        if reply.hold:
            self.server.receiver.release.wait(5.0)
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: pytest shows our own assertions, not the server's access log."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, receiver: Receiver) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.receiver = receiver

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that timed out and hung up is expected in these tests."""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    server = _Server(rec)
    host, port = server.server_address[:2]
    rec.url = f"http://{host!s}:{port}/hooks/T0KEN-in-path?team=ml"
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        rec.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5.0)


@pytest.fixture
def closed_url() -> str:
    """A loopback url on which nothing listens: connections are refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


@pytest.fixture
def message() -> Notification:
    """A SEV-2 page; tests derive variants with dataclasses.replace."""
    return Notification(
        kind=MessageKind.PAGE,
        incident_id=42,
        model="pricing",
        severity="SEV-2",
        title="Accuracy under SLA",
        body="accuracy 0.81 < 0.90 over 500 events\nall traffic",
        recipient="alice",
        team="ml-pricing",
        at=datetime(2026, 1, 1, 9, 30, tzinfo=UTC),
        ack_by=datetime(2026, 1, 1, 10, 30, tzinfo=UTC),
        details={"detector": "accuracy", "value": 0.81},
    )
