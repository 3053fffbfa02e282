"""A webhook receiver on loopback that holds every request open until released (or until
`hold_s` passes), then answers `status`; it logs what happened, in order, beside the
test's own events, so a test can assert that something happened before any answer."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

WAIT_S = 30.0  # a deadline for polls, never a duration the test relies on


class Holding:
    def __init__(self, status: int = 200, hold_s: float = 30.0) -> None:
        self.status, self.hold_s = status, hold_s
        self.release = threading.Event()
        self.events: list[str] = []  # "received <recipient>", "answered <recipient>", the test's
        self.bodies: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.url = ""

    def note(self, event: str) -> None:
        with self._lock:
            self.events.append(event)

    def count(self, prefix: str) -> int:
        with self._lock:
            return sum(e.startswith(prefix) for e in self.events)

    def index(self, event: str) -> int:
        with self._lock:
            return self.events.index(event)


def wait_for(condition: Callable[[], bool], what: str) -> None:
    """Poll `condition` until true; fail after WAIT_S seconds."""
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        rec = self.server.holding
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with rec._lock:
            rec.bodies.append(body)
        rec.note(f"received {body['recipient']}")
        rec.release.wait(rec.hold_s)
        rec.note(f"answered {body['recipient']}")  # before the client can hear it
        self.send_response(rec.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, holding: Holding) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.holding = holding


@contextmanager
def holding(status: int = 200, hold_s: float = 30.0) -> Iterator[Holding]:
    """A Holding receiver serving for the block; released on the way out."""
    rec = Holding(status, hold_s)
    server = _Server(rec)
    host, port = server.server_address[:2]
    rec.url = f"http://{host!s}:{port}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        rec.release.set()
        server.shutdown()
        server.server_close()
