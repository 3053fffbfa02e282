"""Serving the gateway with uvicorn, minus the per-request work it has no use for.

`serve(app, host=..., port=...)` is what `ripcord gateway` runs. Beside switching off the
access log (every request is an inference event already), uvicorn's proxy-headers
middleware and its `Server` header, it changes one thing: uvicorn writes a response's
status line and headers in one `send` and its body in another. On loopback each `send`
runs the whole TCP path of both ends, and with TCP_NODELAY the headers leave as a segment
of their own that wakes the client for nothing; on a small two-core machine that second
write was about a tenth of the gateway's CPU per request (see benchmarks/README.md,
Gateway). `CoalescingProtocol` hands uvicorn a transport whose writes made in one turn of
the event loop leave together, in one `send`, at the end of that turn.
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.protocols.http.auto import AutoHTTPProtocol

Data = bytes | bytearray | memoryview


class Coalescing(asyncio.Transport):
    """Wraps a transport: what is written in one turn of the loop is sent once, at the
    end of the turn (`call_soon`), before anything closes the connection."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self.transport = transport
        self.loop = loop
        self._parts: list[Data] = []

    def write(self, data: Data) -> None:
        if not data:
            return
        if not self._parts:
            self.loop.call_soon(self.flush)
        self._parts.append(data)

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def flush(self) -> None:
        parts, self._parts = self._parts, []
        if parts and not self.transport.is_closing():
            self.transport.write(parts[0] if len(parts) == 1 else b"".join(parts))

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def abort(self) -> None:
        self._parts = []
        self.transport.abort()

    def write_eof(self) -> None:
        self.flush()
        self.transport.write_eof()

    def can_write_eof(self) -> bool:
        return self.transport.can_write_eof()

    def is_closing(self) -> bool:
        return self.transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.transport.get_extra_info(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self.transport.get_protocol()

    def is_reading(self) -> bool:
        return self.transport.is_reading()

    def pause_reading(self) -> None:
        self.transport.pause_reading()

    def resume_reading(self) -> None:
        self.transport.resume_reading()

    def get_write_buffer_size(self) -> int:
        return self.transport.get_write_buffer_size() + sum(map(len, self._parts))

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self.transport.get_write_buffer_limits()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self.transport.set_write_buffer_limits(high, low)


class CoalescingProtocol(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
    """uvicorn's HTTP/1.1 protocol (httptools when installed, else h11) on a
    `Coalescing` transport."""

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(Coalescing(transport, asyncio.get_running_loop()))


def serve(app: Any, *, host: str, port: int) -> None:
    """Run `app` (the gateway's ASGI app) until Ctrl-C or SIGTERM."""
    uvicorn.run(
        app,
        host=host,
        port=port,
        http=CoalescingProtocol,
        access_log=False,  # every request is recorded as an inference event instead
        proxy_headers=False,
        server_header=False,
    )
