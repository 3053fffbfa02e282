"""Real Alertmanager and Prometheus processes on loopback, for the tests that need them.

`scripts/services.sh` (run by `make test`) installs Debian's packages when they are missing
and it can; without them the tests skip with the reason, except under CI, where they fail.
Each process gets a free port on 127.0.0.1, its own temporary storage and no clustering,
and is stopped (by its own pid) when the test ends.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml

T = TypeVar("T")
STARTUP_S = 20.0
POLL_S = 0.1  # between two looks at something that is not there yet


def binary(package: str, *names: str) -> str:
    """The path of the first of `names` on PATH; else skip (fail under CI) with the reason."""
    for name in names:
        if path := shutil.which(name):
            return path
    reason = (
        f"{' or '.join(names)} is not installed: `make services` installs Debian's "
        f"{package} package when run as root"
    )
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def poll(check: Callable[[], T | None], *, within: float, what: str) -> T:
    """Call `check` until it returns something truthy, or fail after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within} s")
        time.sleep(POLL_S)


@contextmanager
def running(args: list[str], *, url: str, log: Path) -> Iterator[str]:
    """Start `args`, yield `url` once its `/-/ready` answers 200, stop it afterwards."""
    with log.open("wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    try:
        poll(lambda: _ready(url, process, log), within=STARTUP_S, what=f"{args[0]} ready")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _ready(url: str, process: subprocess.Popen[bytes], log: Path) -> bool:
    if process.poll() is not None:
        raise RuntimeError(f"exited with {process.returncode}:\n{log.read_text()[-2000:]}")
    try:
        return httpx.get(f"{url}/-/ready", timeout=1.0).status_code == 200
    except httpx.TransportError:
        return False


def alertmanager(
    folder: Path, webhook: str, token: str, *, routing: dict[str, Any] | None = None
) -> tuple[list[str], str]:
    """The command line and URL of an Alertmanager that sends every alert to `webhook`."""
    config = {
        "route": {
            "receiver": "ripcord",
            "group_by": ["alertname"],
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "1s",
            **(routing or {}),
        },
        "receivers": [
            {
                "name": "ripcord",
                "webhook_configs": [
                    {
                        "url": webhook,
                        "send_resolved": True,
                        "http_config": {"authorization": {"type": "Bearer", "credentials": token}},
                    }
                ],
            }
        ],
    }
    path = folder / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    args = [
        binary("prometheus-alertmanager", "alertmanager", "prometheus-alertmanager"),
        f"--config.file={path}",
        f"--storage.path={folder / 'alertmanager-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
        "--log.level=warn",
    ]
    return args, f"http://127.0.0.1:{port}"


def prometheus(folder: Path, target: str, token: str) -> tuple[list[str], str]:
    """The command line and URL of a Prometheus scraping `target` (host:port) each second."""
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [
            {
                "job_name": "ripcord",
                "authorization": {"type": "Bearer", "credentials": token},
                "static_configs": [{"targets": [target]}],
            }
        ],
    }
    path = folder / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    args = [
        binary("prometheus", "prometheus"),
        f"--config.file={path}",
        f"--storage.tsdb.path={folder / 'prometheus-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    return args, f"http://127.0.0.1:{port}"
