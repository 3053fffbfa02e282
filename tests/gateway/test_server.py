"""How the gateway is served: writes coalesced per turn of the loop, its two routes and
nothing else, request ids, and an upstream call that cannot encode its features."""

from __future__ import annotations

import asyncio
import math
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from ripcord.events import RequestIds
from ripcord.gateway.fake import FakeModel, listen, wait_healthy
from ripcord.gateway.server import Coalescing, CoalescingProtocol
from ripcord.gateway.upstream import Upstream
from ripcord.sop.gateway import GatewayModel
from tests.gateway.conftest import Stack

REQUEST = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"


class Recording(asyncio.Transport):
    """A transport that only remembers what it was asked to send."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[bytes] = []
        self.closed = False

    def write(self, data: Any) -> None:
        self.sent.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_write_buffer_size(self) -> int:
        return 0


def test_writes_in_one_turn_of_the_loop_leave_in_one_send() -> None:
    async def run() -> Recording:
        inner = Recording()
        outer = Coalescing(inner, asyncio.get_running_loop())
        outer.write(b"HTTP/1.1 200 OK\r\n\r\n")
        outer.write(b"")
        outer.write(b'{"a": 1}')
        assert inner.sent == [] and outer.get_write_buffer_size() == 27
        await asyncio.sleep(0)  # the end of the turn
        outer.write(b"next")
        outer.close()  # what waits is sent before the connection closes
        assert inner.closed
        await asyncio.sleep(0)  # the flush scheduled for "next" finds nothing left
        return inner

    inner = asyncio.run(run())
    assert inner.sent == [b'HTTP/1.1 200 OK\r\n\r\n{"a": 1}', b"next"]


@contextmanager
def coalescing_server(app: Any) -> Iterator[int]:
    sock = listen()
    config = uvicorn.Config(app, http=CoalescingProtocol, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    port = sock.getsockname()[1]
    try:
        wait_healthy(f"http://127.0.0.1:{port}", alive=thread.is_alive)
        yield port
    finally:
        server.should_exit = True
        thread.join(10.0)
        sock.close()


def test_uvicorn_on_the_coalescing_protocol_answers_each_request_in_one_segment() -> None:
    with (
        coalescing_server(FakeModel(prediction=1).app) as port,
        socket.create_connection(("127.0.0.1", port), timeout=10.0) as conn,
    ):
        for _ in range(3):  # kept alive
            conn.sendall(REQUEST)
            head, _, body = conn.recv(65536).partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200")
            assert body == b'{"prediction":1,"confidence":0.9}'  # with its headers


def test_only_the_two_routes_answer(stack: Stack) -> None:
    assert stack.client.get("/models/credit-risk/predict").status_code == 405
    assert stack.client.post("/healthz").status_code == 405
    for path in ("/", "/models//predict", "/models/a/b/predict", "/models/credit-risk"):
        answer = stack.client.post(path, json={})
        assert (answer.status_code, answer.json()["error"]) == (404, "not found")
    assert stack.client.post("/models/nope/predict", json={}).json()["error"] == "unknown model"


def test_made_request_ids_are_32_hex_digits_and_never_repeat() -> None:
    ids, other = RequestIds(), RequestIds()
    made = [ids() for _ in range(1000)] + [other() for _ in range(1000)]
    assert len(set(made)) == 2000
    assert all(len(rid) == 32 and int(rid, 16) >= 0 for rid in made)


def test_features_that_are_not_json_are_the_upstreams_failure_not_a_crash() -> None:
    spec = GatewayModel(versions={"v1": "http://127.0.0.1:9"})

    async def call() -> str | None:
        upstream = Upstream(1.0)
        try:
            reply = await upstream.call(spec, "http://127.0.0.1:9/predict", {"x": math.nan})
        finally:
            await upstream.aclose()
        return reply.error

    error = asyncio.run(call())
    assert error is not None and "cannot be sent as JSON" in error
