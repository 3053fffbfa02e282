"""Added latency of `ripcord gateway` at a fixed request rate, against calling the model
server directly in the same run.

    python benchmarks/gateway_overhead.py [--quick] [--rate 500] [--seconds 20]

Three processes on loopback: a fake model server (`python -m ripcord.gateway.fake`), the
gateway (`ripcord gateway`, the real command, with the demo SOP's seven detectors and its
contract), and this script, the load generator. Load is open-loop: request i is sent at
t0 + i / rate whatever happened to the ones before, and its latency counts from that
planned moment, so a stall shows up in the figures instead of slowing the load down
(no coordinated omission). Direct and gateway phases alternate in rounds so both see the
same machine; the first second of each phase is a warm-up and is not counted. Beside the
latencies it reports, per request through the gateway, the CPU each process spent and the
time the gateway and the load generator spent runnable but waiting for a core (Linux
schedstat): on a shared machine that wait, not the gateway's own work, makes the p99.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import yaml
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from ripcord.app import Ripcord
from ripcord.drills.demo import MODEL, prepare
from ripcord.gateway.fake import listen, wait_healthy
from ripcord.gateway.transport import StreamTransport, Target, Timeouts
from ripcord.notify import RecordingChannel
from ripcord.store.tables import EventRow

ROW = {
    "income_k": 50.0,
    "debt_ratio": 0.2,
    "age": 40.0,
    "tenure_months": 12.0,
    "late_payments": 0.0,
    "utilization": 0.3,
}
WARMUP_S = 1.0
LIMITS = Timeouts(10.0, 10.0, 10.0)
QS = ("p50", "p99")


@contextmanager
def process(args: list[str], cwd: Path, *, read: bool = False) -> Iterator[subprocess.Popen[str]]:
    out = subprocess.PIPE if read else subprocess.DEVNULL
    proc = subprocess.Popen(args, cwd=cwd, stdout=out, text=True)
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGINT)  # uvicorn shuts down cleanly: events are written
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_ready(url: str, within: float = 60.0) -> None:
    """Until the gateway's runtime process has started (it imports for a few seconds)."""
    deadline = time.monotonic() + within
    while httpx.get(f"{url}/healthz", trust_env=False).json()["runtime"] != "ready":
        if time.monotonic() > deadline:
            raise RuntimeError(f"the gateway's runtime did not start within {within} s")
        time.sleep(0.1)


def free_port() -> int:
    sock = listen()
    port: int = sock.getsockname()[1]
    sock.close()
    return port


def setup(home: Path, model_url: str) -> Path:
    """The demo SOP with a gateway section, v1 registered and deployed."""
    sop = prepare(home / "sop")
    data = yaml.safe_load(sop.read_text())
    data["gateway"] = {"models": {MODEL: {"versions": {"v1": model_url}}}}
    sop.write_text(yaml.safe_dump(data))
    rc = Ripcord.open(sop, home=home, channels={"console": RecordingChannel("console")})
    try:
        rc.register(MODEL, "v1", {"served_by": model_url}, actor="bench")
        rc.deploy(MODEL, "v1", actor="bench")
    finally:
        rc.close()
    return sop


async def phase(client: StreamTransport, url: str, rate: float, seconds: float) -> np.ndarray:
    """Open-loop load for `seconds`; each latency (ms) from the request's planned start.
    Failed requests count as NaN."""
    n = int(rate * seconds)
    out = np.full(n, np.nan)
    loop = asyncio.get_running_loop()
    t0 = loop.time() + 0.05
    target, body = Target.parse(url), json.dumps(ROW).encode()

    async def one(i: int, planned: float) -> None:
        try:
            status, _ = await client.post_json(target, body, LIMITS)
        except httpx.HTTPError:
            return
        if status == 200:
            out[i] = (loop.time() - planned) * 1000.0

    tasks = []
    for i in range(n):
        planned = t0 + i / rate
        delay = planned - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, planned)))
    await asyncio.gather(*tasks)
    return out[int(rate * WARMUP_S) :] if seconds > 2 * WARMUP_S else out


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def waited_seconds(pid: int) -> float:
    """Seconds the threads of one process spent runnable but waiting for a core (Linux
    schedstat; 0 elsewhere): on a shared machine, where a tail latency comes from."""
    total = 0
    for task in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        try:
            total += int(task.read_text().split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return total / 1e9


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


class Cpu:
    """CPU seconds spent by groups of processes while the gateway is under load, and
    seconds they waited for a core (`waited`)."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups
        self.spent: dict[str, float] = dict.fromkeys(groups, 0.0)
        self.waited: dict[str, float] = dict.fromkeys(groups, 0.0)
        self.requests = 0  # sent to the gateway while measured, warm-up seconds included

    def now(self) -> dict[str, tuple[float, float]]:
        return {
            name: (sum(map(cpu_seconds, pids)), sum(map(waited_seconds, pids)))
            for name, pids in self.groups.items()
        }

    def add(self, before: dict[str, tuple[float, float]]) -> None:
        for name, (spent, waited) in self.now().items():
            self.spent[name] += spent - before[name][0]
            self.waited[name] += waited - before[name][1]


async def load(
    urls: dict[str, str], rate: float, seconds: float, rounds: int, cpu: Cpu
) -> dict[str, Any]:
    samples: dict[str, list[np.ndarray]] = {name: [] for name in urls}
    # the gateway's own lean client (`post_json`, no httpx request or response objects):
    # httpx's default transport costs the load generator ~1.8 ms of CPU per request here,
    # too much to hold 500 requests/s from one process, and every CPU millisecond it spends
    # is one the servers measured wait for on a small machine
    client = StreamTransport(max_connections=256)
    try:
        for url in urls.values():  # open the connections, warm both servers
            await phase(client, url, rate, 1.0)
        for _ in range(rounds):
            for name, url in urls.items():
                gc.collect()  # the load generator's own pauses must not land in a phase
                gc.disable()
                before = cpu.now()
                samples[name].append(await phase(client, url, rate, seconds / rounds))
                gc.enable()
                if name == "gateway":
                    cpu.add(before)
                    cpu.requests += int(rate * seconds / rounds)
    finally:
        await client.aclose()
    return {name: np.concatenate(parts) for name, parts in samples.items()}


def figures(latencies: dict[str, np.ndarray], cpu: Cpu) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, values in latencies.items():
        ok = values[~np.isnan(values)]
        out[f"{name}_p50_ms"] = float(np.percentile(ok, 50))
        out[f"{name}_p99_ms"] = float(np.percentile(ok, 99))
        out[f"{name}_failed"] = int(np.isnan(values).sum())
        out[f"{name}_requests"] = len(values)
    out["gateway_added_p50_ms"] = out["gateway_p50_ms"] - out["direct_p50_ms"]
    out["gateway_added_p99_ms"] = out["gateway_p99_ms"] - out["direct_p99_ms"]
    for name, spent in cpu.spent.items():
        out[f"{name}_cpu_ms_per_request"] = spent * 1000.0 / max(cpu.requests, 1)
        out[f"{name}_wait_ms_per_request"] = cpu.waited[name] * 1000.0 / max(cpu.requests, 1)
    return out


def events(home: Path) -> int:
    from ripcord.store.db import Database

    db = Database.open(f"sqlite:///{home / '.ripcord' / 'ripcord.db'}")
    try:
        with db.session() as session:
            return int(session.scalar(select(func.count()).select_from(EventRow)) or 0)
    finally:
        db.dispose()


def run(rate: float, seconds: float, rounds: int) -> tuple[dict[str, float], int, Any]:
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="ripcord-gateway-bench-") as tmp:
        return _run(python, Path(tmp), rate, seconds, rounds)


def _run(
    python: str, home: Path, rate: float, seconds: float, rounds: int
) -> tuple[dict[str, float], int, Any]:
    with process([python, "-m", "ripcord.gateway.fake"], home, read=True) as model:
        assert model.stdout is not None
        model_url = model.stdout.readline().strip()
        wait_healthy(model_url)
        sop = setup(home, model_url)
        port = free_port()
        ripcord = str(Path(python).parent / "ripcord")  # the installed command
        cli = [ripcord, "gateway", "--sop", str(sop), "--port", str(port)]
        with process(cli, home) as gateway:
            gateway_url = f"http://127.0.0.1:{port}"
            wait_healthy(gateway_url, within=60.0)
            wait_ready(gateway_url)
            urls = {
                "direct": f"{model_url}/predict",
                "gateway": f"{gateway_url}/models/{MODEL}/predict",
            }
            groups = {"gateway": [gateway.pid], "runtime": children(gateway.pid)}
            cpu = Cpu(groups | {"model": [model.pid], "load": [os.getpid()]})
            latencies = asyncio.run(load(urls, rate, seconds, rounds, cpu))
            health = httpx.get(f"{gateway_url}/healthz", trust_env=False).json()
    return figures(latencies, cpu), events(home), health


def show(result: dict[str, float], title: str, recorded: int, dropped: int, load: float) -> None:
    table = Table(title=title)
    for column in ("path", "requests", "failed", "p50", "p99"):
        table.add_column(column, justify="right")
    for name in ("direct", "gateway"):
        cells = [result[f"{name}_{k}"] for k in ("requests", "failed")]
        table.add_row(name, *map(str, cells), *(f"{result[f'{name}_{q}_ms']:.2f}" for q in QS))
    table.add_row("added", "", "", *(f"{result[f'gateway_added_{q}_ms']:.2f}" for q in QS))
    console = Console()
    console.print(table)
    console.print(
        f"inference events recorded by the gateway: {recorded}; dropped on a full queue: "
        f"{dropped}; CPU per request through the gateway (ms): gateway "
        f"{result['gateway_cpu_ms_per_request']:.2f}, its runtime process "
        f"{result['runtime_cpu_ms_per_request']:.2f}, model server "
        f"{result['model_cpu_ms_per_request']:.2f}, load generator "
        f"{result['load_cpu_ms_per_request']:.2f}; waiting for a core (ms per request): "
        f"gateway {result['gateway_wait_ms_per_request']:.2f}, load generator "
        f"{result['load_wait_ms_per_request']:.2f}; {os.cpu_count()} cores, load average "
        f"before the run {load:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="5 s per path instead of 20")
    parser.add_argument("--rate", type=float, default=500.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=None, help="measured seconds per path")
    args = parser.parse_args()
    seconds = args.seconds or (5.0 if args.quick else 20.0)
    load = os.getloadavg()[0]
    result, recorded, health = run(args.rate, seconds, rounds=2 if args.quick else 4)
    title = f"gateway overhead at {args.rate:g} req/s, {seconds:g} s per path (ms)"
    show(result, title, recorded, health["dropped"], load)
    summary = {k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}
    figures = {"rate": args.rate, "seconds": seconds, **summary, "events": recorded}
    print(json.dumps(figures | {"load_average": round(load, 2)}))


if __name__ == "__main__":
    main()
