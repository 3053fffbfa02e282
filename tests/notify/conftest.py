"""Real servers on loopback for the channel tests (an HTTP receiver, SMTP servers with and
without STARTTLS), and a message to send."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy as email_policy
from email.message import EmailMessage
from email.parser import BytesParser
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
    with receiving() as rec:
        yield rec


@contextmanager
def receiving() -> Iterator[Receiver]:
    """A Receiver serving on loopback for the block (for tests outside this folder)."""
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


# -- a real SMTP server on loopback ----------------------------------------------------------


@dataclass
class Mailbox:
    """What the SMTP server received, and replies to script: `refuse` maps a recipient to
    the reply for its RCPT; `data_replies` answer the next DATA commands (then 250)."""

    host: str = "127.0.0.1"
    port: int = 0
    received: list[Any] = field(default_factory=list)  # aiosmtpd Envelopes
    refuse: dict[str, str] = field(default_factory=dict)
    data_replies: deque[str] = field(default_factory=deque)
    logins: list[tuple[str, str]] = field(default_factory=list)

    def messages(self) -> list[EmailMessage]:
        parser = BytesParser(policy=email_policy.default)
        return [parser.parsebytes(e.original_content) for e in self.received]


class _MailHandler:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.box.refuse:
            return self.box.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.box.data_replies:
            return self.box.data_replies.popleft()
        self.box.received.append(envelope)
        return "250 OK: queued"


def _loopback_controller(box: Mailbox, **smtp_options: Any) -> Any:
    from aiosmtpd.controller import Controller

    class LoopbackController(Controller):
        """Binds port 0 and learns the port the OS gave before checking the server is up."""

        def _trigger_server(self) -> None:
            self.port = self.server.sockets[0].getsockname()[1]
            super()._trigger_server()

    return LoopbackController(_MailHandler(box), hostname="127.0.0.1", port=0, **smtp_options)


@pytest.fixture
def smtp_server() -> Iterator[Mailbox]:
    """A plain SMTP server (no TLS, no login) on 127.0.0.1."""
    box = Mailbox()
    controller = _loopback_controller(box)
    controller.start()
    box.port = controller.port
    try:
        yield box
    finally:
        controller.stop()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 (made with the openssl command)."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = str(folder / "cert.pem"), str(folder / "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", key, "-out", cert],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def tls_smtp_server(tls_files: tuple[str, str]) -> Iterator[Mailbox]:
    """An SMTP server that requires STARTTLS and a login (ripcord / hunter2)."""
    from aiosmtpd.smtp import AuthResult

    cert, key = tls_files
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    box = Mailbox()

    def authenticate(
        server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        login, password = auth_data.login.decode(), auth_data.password.decode()
        box.logins.append((login, password))
        return AuthResult(success=(login, password) == ("ripcord", "hunter2"), handled=False)

    controller = _loopback_controller(
        box,
        tls_context=server_tls,
        require_starttls=True,
        authenticator=authenticate,
        auth_require_tls=True,
    )
    controller.start()
    box.port = controller.port
    try:
        yield box
    finally:
        controller.stop()


@pytest.fixture
def client_tls(tls_files: tuple[str, str]) -> ssl.SSLContext:
    """A client context that trusts the test certificate (and verifies the host)."""
    return ssl.create_default_context(cafile=tls_files[0])
