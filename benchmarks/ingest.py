"""Sustained ingestion through `POST /v1/events`, then twice that load: 429s, nothing lost.

    python benchmarks/ingest.py [--quick] [--seconds 30] [--clients 4] [--batch 500]

Two processes on loopback: the server (uvicorn around `create_app`, a responder token, the
embedded SQLite store, the demo SOP `examples/credit-risk.sop.yaml` with its seven
detectors at the engine's default cadence) and this script, the load generator (httpx,
asyncio). Bodies are built and serialised once, before the clock starts: batches of 500
inference events for `credit-risk`, the six features of the drill's credit model drawn
from its own distribution.

1. Sustained: `--clients` closed-loop clients, each sending its next batch when the last
   one is answered, for `--seconds`. Figures: acknowledged events per second and the p99
   request latency. The first batches (the reference window filling) are a warm-up.
2. Overload: open loop at twice phase 1's rate (request i is sent at t0 + i / rate,
   whatever happened to the ones before) for `--seconds`. The server's queue holds
   `--max-queued-events` (the default 10,000); past it the answer is 429 with
   `Retry-After`, and refused batches are not resent. Counted: answers by status,
   events acknowledged (2xx), and events stored (rows in the database once the server
   has stopped, minus those before the phase); lost = acknowledged - stored.

`--synchronous full` makes SQLite fsync its WAL at every commit (the store's default,
NORMAL, survives a crash of the process but not of the machine). The server's pid is
printed, for a sampling profiler (`py-spy record -p PID`: the work runs on worker threads,
which cProfile would not see). `--quick` runs 8 s phases (under a minute in all).
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples"
MODEL = "credit-risk"
BODIES = 64
WARMUP_BATCHES = 4
T0 = datetime(2026, 1, 1, tzinfo=UTC)


# -- the server (a child process: `ingest.py --serve HOME PORT LIMIT SYNC`) ---------------
def serve(home: Path, port: int, limit: int, synchronous: str) -> None:
    import uvicorn
    from sqlalchemy import event

    from ripcord.api import create_app
    from ripcord.app import Ripcord

    rc = Ripcord.open(home / "credit-risk.sop.yaml", url=db_url(home), home=home)
    if synchronous != "normal":  # after the store's own pragmas (NORMAL), on new connections

        def pragma(connection: Any, _record: Any) -> None:
            connection.execute(f"PRAGMA synchronous={synchronous.upper()}")

        event.listen(rc.db.engine, "connect", pragma)
        rc.db.engine.dispose()
    options: dict[str, Any] = {}
    if "max_queued_events" in inspect.signature(create_app).parameters:
        options["max_queued_events"] = limit  # absent before admission was added
    app = create_app(rc, **options)
    try:
        uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    finally:
        rc.close()


def db_url(home: Path) -> str:
    return f"sqlite:///{home / 'ripcord.db'}"


def prepare(home: Path) -> str:
    """The demo SOP and its golden set in `home`, a migrated database, a responder token."""
    from ripcord import access
    from ripcord.access import Role
    from ripcord.store.db import Database

    shutil.copyfile(EXAMPLE / "credit-risk.sop.yaml", home / "credit-risk.sop.yaml")
    shutil.copytree(EXAMPLE / "golden", home / "golden")
    db = Database.open(db_url(home))
    try:
        with db.session() as session:
            _, token = access.create(
                session, "bench", Role.RESPONDER, at=datetime.now(UTC), actor="bench"
            )
    finally:
        db.dispose()
    return token


def stored(home: Path) -> int:
    with sqlite3.connect(home / "ripcord.db") as connection:
        count: int = connection.execute("SELECT count(*) FROM events").fetchone()[0]
        return count


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def server(home: Path, port: int, args: Any) -> Iterator[tuple[str, int]]:
    limit, sync = str(args.max_queued_events), args.synchronous
    args = [sys.executable, __file__, "--serve", str(home), str(port), limit, sync]
    proc = subprocess.Popen(args)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", trust_env=False).status_code == 200:
                    break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.1)
        print(f"server pid {proc.pid}", file=sys.stderr)
        yield url, proc.pid
    finally:
        proc.send_signal(signal.SIGINT)  # uvicorn stops cleanly; the runtime is closed
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- the load -----------------------------------------------------------------------------
def bodies(batch: int, seed: int = 0) -> list[bytes]:
    """`BODIES` serialised batches of `batch` events drawn from the credit model's data."""
    from ripcord.drills import credit

    rng = np.random.default_rng(seed)
    x, _, regions = credit.sample(BODIES * batch, seed)
    confidence = rng.beta(9, 2, len(x))
    latency = rng.lognormal(np.log(12.0), 0.3, len(x))
    out = []
    for b in range(BODIES):
        events = []
        for i in range(b * batch, (b + 1) * batch):
            events.append(
                {
                    "kind": "inference",
                    "model": MODEL,
                    "version": "v1",
                    "request_id": f"r{i}",
                    "timestamp": (T0 + timedelta(milliseconds=i)).isoformat(),
                    "features": dict(zip(credit.FEATURES, map(float, x[i]), strict=True)),
                    "prediction": int(confidence[i] < 0.8),
                    "confidence": float(confidence[i]),
                    "latency_ms": float(latency[i]),
                    "segment": {"region": str(regions[i])},
                }
            )
        out.append(json.dumps({"events": events}).encode())
    return out


@dataclass
class Tally:
    codes: dict[str, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    acked_events: int = 0
    server_cpu_s: float = 0.0
    seconds: float = 0.0  # from the first request sent to the last answer
    offered_per_s: float = 0.0  # open loop: events sent per second of sending

    def add(self, code: str, ms: float, events: int) -> None:
        self.codes[code] = self.codes.get(code, 0) + 1
        if code.startswith("2"):
            self.latencies_ms.append(ms)
            self.acked_events += events


async def post(client: httpx.AsyncClient, body: bytes, tally: Tally, batch: int) -> None:
    start = time.perf_counter()
    try:
        r = await client.post("/v1/events", content=body)
        code = str(r.status_code)
    except httpx.HTTPError as exc:
        code = type(exc).__name__
    tally.add(code, (time.perf_counter() - start) * 1000.0, batch)


async def sustained(client: httpx.AsyncClient, data: list[bytes], args: Any) -> Tally:
    for body in data[:WARMUP_BATCHES]:  # the reference window fills; not counted
        await post(client, body, Tally(), args.batch)
    tally = Tally()
    stop = time.perf_counter() + args.seconds
    sent = iter(range(WARMUP_BATCHES, 10**9))

    async def loop() -> None:
        while time.perf_counter() < stop:
            await post(client, data[next(sent) % len(data)], tally, args.batch)

    start = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(args.clients)))
    tally.seconds = time.perf_counter() - start
    return tally


async def overload(client: httpx.AsyncClient, data: list[bytes], rate: float, args: Any) -> Tally:
    """Open loop: request i at t0 + i * batch / rate events per second."""
    tally = Tally()
    n = max(1, int(rate * args.seconds / args.batch))
    t0 = time.perf_counter() + 0.05
    tasks = []
    for i in range(n):
        delay = t0 + i * args.batch / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(post(client, data[i % len(data)], tally, args.batch)))
    tally.offered_per_s = n * args.batch / (time.perf_counter() - t0 + args.batch / rate)
    await asyncio.gather(*tasks)
    tally.seconds = time.perf_counter() - t0
    return tally


async def drive(
    url: str, pid: int, token: str, data: list[bytes], args: Any, home: Path
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=512, max_keepalive_connections=512)
    async with httpx.AsyncClient(
        base_url=url, headers=headers, limits=limits, timeout=120.0, trust_env=False
    ) as client:
        cpu = cpu_seconds(pid)
        first = await sustained(client, data, args)
        first.server_cpu_s, cpu = cpu_seconds(pid) - cpu, cpu_seconds(pid)
        rate = 2 * first.acked_events / first.seconds
        before = stored(home)  # every phase-1 batch was answered: all committed
        second = await overload(client, data, rate, args)
        second.server_cpu_s = cpu_seconds(pid) - cpu
    return {"sustained": first, "overload": second, "rate": rate, "before": before}


# -- the report ---------------------------------------------------------------------------
def report(run: dict[str, Any], after: int, args: Any) -> dict[str, Any]:
    first: Tally = run["sustained"]
    second: Tally = run["overload"]
    offered = second.offered_per_s
    stored_events = after - run["before"]
    figures = {
        "events_per_s": round(first.acked_events / first.seconds),
        "p99_ms": round(float(np.percentile(first.latencies_ms, 99)), 1),
        "offered_overload_per_s": round(float(offered)),
        "answered_429": second.codes.get("429", 0),
        "acked_events": second.acked_events,
        "stored_events": stored_events,
        "lost_events": second.acked_events - stored_events,
    }
    table = Table(title=f"POST /v1/events, batches of {args.batch}, embedded SQLite")
    columns = ("phase", "offered ev/s", "acked ev/s", "p50 ms", "p99 ms", "server CPU", "answers")
    for column in columns:
        table.add_column(column, justify="left" if column in ("phase", "answers") else "right")
    for name, tally, offered_rate in (
        (f"sustained, {args.clients} clients", first, None),
        ("overload, 2x, open loop", second, offered),
    ):
        lat = tally.latencies_ms or [float("nan")]
        table.add_row(
            name, "closed loop" if offered_rate is None else f"{offered_rate:,.0f}",
            f"{tally.acked_events / tally.seconds:,.0f}", f"{np.percentile(lat, 50):.1f}",
            f"{np.percentile(lat, 99):.1f}", f"{tally.server_cpu_s / tally.seconds:.0%}",
            ", ".join(f"{k}: {v}" for k, v in sorted(tally.codes.items())),
        )  # fmt: skip
    console = Console(width=120)
    console.print(table)
    console.print(
        f"overload: {figures['acked_events']:,} events acknowledged, "
        f"{figures['stored_events']:,} stored, {figures['lost_events']:,} lost"
    )
    return figures


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        home, port, limit, sync = Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
        serve(home, port, limit, sync)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 s phases (under a minute)")
    parser.add_argument("--seconds", type=float, help="length of each phase (default 30)")
    parser.add_argument("--clients", type=int, default=4, help="closed-loop clients (4)")
    parser.add_argument("--batch", type=int, default=500, help="events per request (500)")
    parser.add_argument("--max-queued-events", type=int, default=10_000)
    parser.add_argument(
        "--synchronous",
        choices=("normal", "full"),
        default="normal",
        help="SQLite's synchronous pragma (the store's default: normal)",
    )
    args = parser.parse_args()
    args.seconds = args.seconds or (8.0 if args.quick else 30.0)
    data = bodies(args.batch)
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        token = prepare(home)
        port = free_port()
        with server(home, port, args) as (url, pid):
            run = asyncio.run(drive(url, pid, token, data, args, home))
        figures = report(run, stored(home), args)
    print(json.dumps(figures))


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


if __name__ == "__main__":
    main()
