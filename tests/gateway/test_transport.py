"""The gateway's HTTP/1.1 transport against a raw asyncio server on loopback that answers
the ways model servers do: with a length, chunked, until close, closing kept connections,
too slowly, or not in HTTP at all."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
import pytest

from ripcord.gateway.transport import StreamTransport
from tests.gateway.conftest import closed_port_url

Answer = Callable[[bytes], bytes | None]  # request head → raw response (None: hang up)

JSON = b'{"prediction": 1}'
LENGTH = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n" + JSON
CHUNKED = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    b'7\r\n{"predi\r\nA\r\nction": 1}\r\n0\r\n\r\n'
)
UNTIL_CLOSE = b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + JSON


async def serve(answer: Answer, work: Callable[[str], Awaitable[None]]) -> list[int]:
    """Run `work(url)` against a server answering each request with `answer`; return the
    number of requests each connection carried."""
    per_connection: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        per_connection.append(0)
        mine = len(per_connection) - 1
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                break
            length = next(
                (
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                ),
                0,
            )
            await reader.readexactly(length)
            per_connection[mine] += 1
            raw = answer(head)
            if raw is None:
                break
            writer.write(raw)
            await writer.drain()
            if raw is UNTIL_CLOSE:
                break
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        await work(f"http://127.0.0.1:{port}/predict")
    return per_connection


def client(timeout: float = 2.0) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=StreamTransport(max_connections=4), timeout=timeout)


@pytest.mark.parametrize("raw", [LENGTH, CHUNKED, UNTIL_CLOSE])
def test_each_way_of_ending_a_body_is_read(raw: bytes) -> None:
    async def work(url: str) -> None:
        async with client() as http:
            for _ in range(3):
                answer = await http.post(url, json={"a": 1})
                assert (answer.status_code, answer.json()) == (200, {"prediction": 1})

    carried = asyncio.run(serve(lambda head: raw, work))
    assert carried == ([3] if raw is not UNTIL_CLOSE else [1, 1, 1])  # kept alive when it can


def test_a_kept_connection_the_server_closed_is_replaced_once() -> None:
    answers = iter([LENGTH, None, LENGTH])  # the second request finds the connection gone

    async def work(url: str) -> None:
        async with client() as http:
            assert (await http.post(url, json={})).status_code == 200
            assert (await http.post(url, json={})).status_code == 200

    assert asyncio.run(serve(lambda head: next(answers), work)) == [2, 1]


def test_slow_refused_and_garbled_answers_are_httpx_errors() -> None:
    async def hang(url: str) -> None:
        async with client(timeout=0.2) as http:
            with pytest.raises(httpx.ReadTimeout):
                await http.post(url, json={})

    async def garbled(url: str) -> None:
        async with client() as http:
            with pytest.raises(httpx.RemoteProtocolError, match="bad status line"):
                await http.post(url, json={})

    asyncio.run(serve(lambda head: b"", hang))  # answers nothing, keeps the connection
    asyncio.run(serve(lambda head: b"SSH-2.0-OpenSSH\r\n\r\n", garbled))

    async def refused() -> None:
        async with client() as http:
            with pytest.raises(httpx.ConnectError):
                await http.post(f"{closed_port_url()}/predict", json={})

    asyncio.run(refused())
