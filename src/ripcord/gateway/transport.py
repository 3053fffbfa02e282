"""A lean HTTP/1.1 transport for `httpx.AsyncClient`, over asyncio streams.

The gateway adds one upstream call to every request, so that call must be cheap. httpx's
default async transport (httpcore over anyio) measured about 1.8 ms of CPU per request on
a small two-core machine: two socket writes per request (headers, then body), anyio cancel
scopes around every read, and, without `sniffio` installed, a failed `import sniffio`
searched on disk twice per request. This transport writes each request in one `write`,
keeps connections alive in a bounded pool, and costs about a quarter of that (see
benchmarks/README.md). It is plugged in the way httpx intends, by overriding the one
method of `httpx.AsyncBaseTransport`; the gateway itself goes one step further and calls
`post_json`, which writes a request head made once per URL and hands back the status and
the body's bytes, without httpx's request and response objects.

What it speaks is what model servers answer: HTTP/1.1 with a `Content-Length` or a
chunked body (or, from HTTP/1.0 servers, a body that ends when the connection closes),
keep-alive, `Connection: close`, `http` and `https`. No proxies, no HTTP/2, no upgrades.

Timeouts: `connect` bounds opening a connection, `pool` waiting for a free one, and
`read` the whole answer after the request is written (not each read), so a server that
trickles bytes is cut off as surely as one that hangs. Errors are httpx's own
(`ConnectError`, `ConnectTimeout`, `ReadTimeout`, `ReadError`, `RemoteProtocolError`,
`PoolTimeout`), so callers handle this transport and httpx's default alike.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

import httpx

T = TypeVar("T")
Key = tuple[str, str, int]
MAX_HEAD = 64 * 1024  # bytes of status line and headers
MAX_BODY = 16 * 1024 * 1024  # an answer larger than this is refused, not buffered
NO_BODY = (204, 304)


class _Stale(httpx.ReadError):
    """The server closed the connection before a byte of the answer: almost always a
    kept-alive connection it had already given up on, so the request goes once more on a
    fresh connection (a server that reads and then crashes gets it twice)."""


@dataclass
class _Conn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    def usable(self) -> bool:
        return not (self.writer.is_closing() or self.reader.at_eof())

    def close(self) -> None:
        self.writer.close()


@dataclass(frozen=True)
class Timeouts:
    """Seconds to wait for a free connection (`pool`), to open one (`connect`) and for the
    whole answer once the request is written (`read`); None waits as long as it takes."""

    pool: float | None = None
    connect: float | None = None
    read: float | None = None


@dataclass(frozen=True)
class Target:
    """A URL the lean path posts JSON to, parsed once: the connection key and the request
    head up to the body's length (`Host` as httpx writes it, no `Accept-Encoding`, so the
    answer comes back unencoded)."""

    key: Key
    head: bytes

    @classmethod
    def parse(cls, url: str | httpx.URL) -> Target:
        url = httpx.URL(url)
        if url.scheme not in ("http", "https"):
            raise ValueError(f"url: {str(url)!r} is not an http(s) URL")
        key = (url.scheme, url.host, url.port or _port(url))
        head = b"".join(
            [
                b"POST ",
                url.raw_path,
                b" HTTP/1.1\r\nHost: ",
                url.netloc,
                b"\r\nAccept: application/json\r\nUser-Agent: ripcord-gateway",
                b"\r\nContent-Type: application/json\r\nContent-Length: ",
            ]
        )
        return cls(key, head)


class StreamTransport(httpx.AsyncBaseTransport):
    """At most `max_connections` requests in flight; idle connections are kept per
    upstream for reuse. Two ways in, over the same pool: httpx's (`handle_async_request`,
    behind an `httpx.AsyncClient`) and `post_json`, the gateway's own, which skips building
    httpx's request and response objects (about a sixth of the gateway's CPU per request)."""

    def __init__(self, *, max_connections: int = 200, ssl_context: ssl.SSLContext | None = None):
        if max_connections <= 0:
            raise ValueError(f"max_connections: {max_connections!r} must be > 0")
        self.max_connections = max_connections
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: dict[Key, deque[_Conn]] = {}
        self._ssl = ssl_context

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        given = request.extensions.get("timeout", {})
        timeouts = Timeouts(given.get("pool"), given.get("connect"), given.get("read"))
        url = request.url
        key = (url.scheme, url.host, url.port or _port(url))
        data = _serialise(request, await request.aread())
        status, headers, body = await self.exchange(key, data, timeouts, request)
        extensions = {"http_version": b"HTTP/1.1"}
        return httpx.Response(status, headers=headers, content=body, extensions=extensions)

    async def post_json(self, target: Target, body: bytes, timeouts: Timeouts) -> tuple[int, bytes]:
        """POST `body` (JSON already) to `target`; the status and the answer's bytes.
        Raises httpx's errors, as an `httpx.AsyncClient` on this transport would."""
        data = b"".join((target.head, b"%d\r\n\r\n" % len(body), body))
        status, _, answer = await self.exchange(target.key, data, timeouts)
        return status, answer

    async def exchange(
        self, key: Key, data: bytes, timeouts: Timeouts, request: httpx.Request | None = None
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """Send one serialised request on a kept or new connection; the status, headers and
        body of the answer. `request` only goes into the errors raised."""
        await _within(self._slots.acquire(), timeouts.pool, httpx.PoolTimeout, request)
        try:
            conn = self._reuse(key)
            if conn is not None:
                try:
                    return await self._exchange(key, conn, data, timeouts.read, request)
                except _Stale:  # a kept connection the server closed before reading: once more
                    pass
            conn = await self._open(key, timeouts.connect, request)
            return await self._exchange(key, conn, data, timeouts.read, request)
        finally:
            self._slots.release()

    async def _exchange(
        self,
        key: Key,
        conn: _Conn,
        data: bytes,
        limit: float | None,
        request: httpx.Request | None,
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        try:
            conn.writer.write(data)
            answer = _read_response(conn.reader, request)
            status, headers, body, keep = await _within(answer, limit, httpx.ReadTimeout, request)
        except BaseException:  # errors, timeouts, cancellation: the connection is spent
            conn.close()
            raise
        self._release(key, conn, keep)
        return status, headers, body

    def _reuse(self, key: Key) -> _Conn | None:
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if conn.usable():
                return conn
            conn.close()
        return None

    def _release(self, key: Key, conn: _Conn, keep: bool) -> None:
        idle = self._idle.setdefault(key, deque())
        if keep and conn.usable() and len(idle) < self.max_connections:
            idle.append(conn)
        else:
            conn.close()

    async def _open(self, key: Key, limit: float | None, request: httpx.Request | None) -> _Conn:
        scheme, host, port = key
        context = None
        if scheme == "https":
            self._ssl = context = self._ssl or ssl.create_default_context()
        try:
            reader, writer = await _within(
                asyncio.open_connection(host, port, ssl=context, limit=MAX_HEAD),
                limit,
                httpx.ConnectTimeout,
                request,
            )
        except OSError as exc:
            raise httpx.ConnectError(f"{host}:{port}: {exc}", request=request) from exc
        return _Conn(reader, writer)

    async def aclose(self) -> None:
        for idle in self._idle.values():
            while idle:
                idle.pop().close()


def _port(url: httpx.URL) -> int:
    return 443 if url.scheme == "https" else 80


async def _within(
    work: Awaitable[T],
    limit: float | None,
    error: type[httpx.TimeoutException],
    request: httpx.Request | None,
) -> T:
    try:
        async with asyncio.timeout(limit):
            return await work
    except TimeoutError:
        raise error(f"no answer within {limit} s", request=request) from None


def _serialise(request: httpx.Request, body: bytes) -> bytes:
    """The request line, headers (httpx has set Host and Content-Length) and body."""
    target = request.url.raw_path
    lines = [request.method.encode("ascii"), b" ", target, b" HTTP/1.1\r\n"]
    for name, value in request.headers.raw:
        lines += (name, b": ", value, b"\r\n")
    lines.append(b"\r\n")
    return b"".join(lines) + body


async def _read_response(
    reader: asyncio.StreamReader, request: httpx.Request | None
) -> tuple[int, list[tuple[bytes, bytes]], bytes, bool]:
    """One response (status, headers, body), and whether the connection may carry
    another."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise httpx.ReadError("the server closed mid-answer", request=request) from exc
        raise _Stale("the server closed the connection", request=request) from exc
    except (asyncio.LimitOverrunError, ValueError) as exc:
        raise httpx.RemoteProtocolError("response headers too large", request=request) from exc
    except ConnectionError as exc:
        raise _Stale(str(exc), request=request) from exc
    status, headers = _parse_head(head, request)
    fields = {name.lower(): value for name, value in headers}
    keep = fields.get(b"connection", b"").lower() != b"close"
    try:
        body, keep = await _read_body(reader, status, fields, keep, request)
    except (asyncio.IncompleteReadError, ConnectionError) as exc:
        raise httpx.ReadError(
            "the server closed the connection mid-answer", request=request
        ) from exc
    return status, headers, body, keep


def _parse_head(
    head: bytes, request: httpx.Request | None
) -> tuple[int, list[tuple[bytes, bytes]]]:
    lines = head[:-4].split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise httpx.RemoteProtocolError(f"bad status line {lines[0][:80]!r}", request=request)
    headers = []
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep:
            raise httpx.RemoteProtocolError(f"bad header line {line[:80]!r}", request=request)
        headers.append((name.strip(), value.strip()))
    return int(parts[1]), headers


async def _read_body(
    reader: asyncio.StreamReader,
    status: int,
    fields: dict[bytes, bytes],
    keep: bool,
    request: httpx.Request | None,
) -> tuple[bytes, bool]:
    if status in NO_BODY or 100 <= status < 200:
        return b"", keep
    if b"chunked" in fields.get(b"transfer-encoding", b"").lower():
        return await _read_chunks(reader, request), keep
    length = fields.get(b"content-length")
    if length is not None:
        if not length.isdigit() or int(length) > MAX_BODY:
            raise httpx.RemoteProtocolError(f"content-length {length[:20]!r}", request=request)
        return await reader.readexactly(int(length)), keep
    parts: list[bytes] = []  # no length: the body ends with the connection
    size = 0
    while part := await reader.read(65536):
        size += len(part)
        if size > MAX_BODY:
            raise httpx.RemoteProtocolError("answer larger than the limit", request=request)
        parts.append(part)
    return b"".join(parts), False


async def _read_chunks(reader: asyncio.StreamReader, request: httpx.Request | None) -> bytes:
    parts: list[bytes] = []
    size = 0
    while True:
        line = await reader.readuntil(b"\r\n")
        try:
            n = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError as exc:
            raise httpx.RemoteProtocolError(
                f"bad chunk size {line[:20]!r}", request=request
            ) from exc
        if n == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers, ignored
                pass
            return b"".join(parts)
        size += n
        if size > MAX_BODY:
            raise httpx.RemoteProtocolError("answer larger than the limit", request=request)
        parts.append(await reader.readexactly(n))
        await reader.readexactly(2)  # the CRLF after each chunk
