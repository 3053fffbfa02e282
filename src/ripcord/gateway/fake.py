"""A fake model server, the way httpx ships `MockTransport`: tests, drills and benchmarks
put it behind the gateway instead of a real one.

    server = FakeModel(prediction=0, confidence=0.9)
    with running(server.app) as url:      # uvicorn on 127.0.0.1, a port the OS picks
        ...                               # POST {url}/predict → {"prediction": 0, ...}
    server.mode = "fail"                  # now HTTP 500; "hang": answers after `hang_s`

`python -m ripcord.gateway.fake [--port N] [--prediction P]` serves one in its own process
and prints its URL once it listens (the gateway benchmark does this).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

Mode = Literal["ok", "fail", "hang"]
STARTUP_S = 10.0


class FakeModel:
    """Answers every `POST /predict` with a fixed prediction and confidence; remembers the
    bodies it was sent (at most `keep`)."""

    def __init__(
        self, prediction: Any = 0, confidence: float | None = 0.9, *, keep: int = 10_000
    ) -> None:
        self.prediction = prediction
        self.confidence = confidence
        self.mode: Mode = "ok"
        self.hang_s = 5.0
        self.keep = keep
        self.bodies: list[Any] = []
        self.app = Starlette(
            routes=[
                Route("/predict", self.predict, methods=["POST"]),
                Route("/healthz", self.healthz, methods=["GET"]),
            ]
        )

    async def predict(self, request: Request) -> Response:
        body = json.loads(await request.body())
        if len(self.bodies) < self.keep:
            self.bodies.append(body)
        if self.mode == "fail":
            return JSONResponse({"error": "model crashed"}, status_code=500)
        if self.mode == "hang":
            await asyncio.sleep(self.hang_s)
        return JSONResponse({"prediction": self.prediction, "confidence": self.confidence})

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})


def listen(port: int = 0) -> socket.socket:
    """A socket listening on 127.0.0.1 (port 0: one the OS picks).

    The protocol is named on purpose: asyncio sets TCP_NODELAY only on accepted sockets
    whose proto is IPPROTO_TCP, and without it Nagle's algorithm holds a response's body
    behind its headers until the peer's delayed ACK, about 40 ms per request."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(512)
    return sock


@contextmanager
def running(app: Any, *, lifespan: Literal["on", "off"] = "off") -> Iterator[str]:
    """Serve an ASGI app with uvicorn in a thread on loopback; yield its base URL once
    `/healthz` answers. The socket listens before uvicorn starts, so early requests wait in
    the backlog instead of being refused."""
    sock = listen()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config = uvicorn.Config(
        app, log_level="warning", lifespan=lifespan, timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_healthy(url, alive=thread.is_alive)
        yield url
    finally:
        server.should_exit = True
        thread.join(STARTUP_S)
        sock.close()


def wait_healthy(url: str, *, alive: Any = lambda: True, within: float = STARTUP_S) -> None:
    """Poll `{url}/healthz` until it answers 200 (deadline `within` seconds)."""
    deadline = time.monotonic() + within
    while (left := deadline - time.monotonic()) > 0 and alive():
        try:
            if httpx.get(f"{url}/healthz", timeout=left, trust_env=False).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.01)
    raise RuntimeError(f"{url}/healthz did not answer within {within} s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="a fake model server on loopback")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--prediction", default="0")
    parser.add_argument("--confidence", type=float, default=0.9)
    args = parser.parse_args(argv)
    model = FakeModel(json.loads(args.prediction), args.confidence, keep=0)
    sock = listen(args.port)
    sys.stdout.write(f"http://127.0.0.1:{sock.getsockname()[1]}\n")
    sys.stdout.flush()
    config = uvicorn.Config(model.app, log_level="warning", lifespan="off", access_log=False)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C or a benchmark's SIGINT: the end
        uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
