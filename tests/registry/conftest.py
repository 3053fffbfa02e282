"""A real MLflow tracking server (SQLite backend store, local artifact root) on loopback,
credit-risk v1 and v2 registered in it, and a runtime whose SOP points at it.

The server runs once per test module; each test starts from a registry with no Ripcord
tags and no serving alias. `Gate` is a loopback TCP forwarder in front of the server whose
`close()` is an outage: the port stops listening and open connections drop.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from ripcord.app import Ripcord
from ripcord.clock import ManualClock
from ripcord.drills import credit
from ripcord.drills.demo import MODEL
from ripcord.notify import RecordingChannel
from tests.conftest import sop_data
from tests.respond.conftest import V1, V2

# MLflow reads these when it is first imported: nothing may leave the machine.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
SERVER_DEADLINE_S = 180.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _require_mlflow() -> None:
    try:
        import mlflow  # noqa: F401
    except ModuleNotFoundError:
        if os.environ.get("CI"):
            raise
        pytest.skip("mlflow is not installed (pip install -e '.[mlflow]')")


def _wait_healthy(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    """Poll /health until it answers, the server dies, or the deadline passes."""
    deadline = time.monotonic() + SERVER_DEADLINE_S
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        try:
            server.wait(timeout=0.2)  # the pause between polls, and a death detector
        except subprocess.TimeoutExpired:
            continue
        break
    tail = log.read_text(errors="replace")[-3000:]
    raise RuntimeError(f"mlflow server at {url} did not become healthy:\n{tail}")


def _stop(server: subprocess.Popen[bytes]) -> None:
    """The server and the uvicorn worker it spawned share the process group we started."""
    for sig, grace in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(server.pid, sig)
        except ProcessLookupError:
            return
        try:
            server.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    _require_mlflow()
    root = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        *(sys.executable, "-m", "mlflow", "server"),
        *("--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}"),
        *("--artifacts-destination", str(root / "artifacts")),
        *("--host", "127.0.0.1", "--port", str(port), "--workers", "1"),
    ]
    env = {
        **os.environ,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",  # no job runner: faster start
    }
    log = root / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        _wait_healthy(url, server, log)
        yield url
    finally:
        _stop(server)


@dataclass(frozen=True)
class Registered:
    url: str
    run_ids: dict[str, str]  # MLflow version -> the run that logged it


@pytest.fixture(scope="module")
def registered(mlflow_server: str) -> Registered:
    """credit-risk v1 (good) and v2 (broken join) as MLflow versions 1 and 2."""
    import mlflow
    import mlflow.sklearn
    import pandas as pd
    from mlflow.models import infer_signature

    x, _, _ = credit.sample(50, seed=3)
    frame = pd.DataFrame(x, columns=list(credit.FEATURES))
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(mlflow_server)
    try:
        for predictor in (V1, V2):
            with mlflow.start_run():
                mlflow.sklearn.log_model(
                    predictor.estimator,
                    name="model",
                    registered_model_name=MODEL,
                    signature=infer_signature(frame, predictor.estimator.predict(x)),
                    pip_requirements=["scikit-learn"],  # no slow requirement inference
                )
    finally:
        mlflow.set_tracking_uri(previous)
    client = mlflow.MlflowClient(mlflow_server, registry_uri=mlflow_server)
    client.set_model_version_tag(MODEL, "2", "ripcord.parent", "1")
    versions = client.search_model_versions(f"name = '{MODEL}'")
    return Registered(mlflow_server, {v.version: v.run_id for v in versions})


def client_for(url: str) -> Any:
    import mlflow

    return mlflow.MlflowClient(url, registry_uri=url)


@pytest.fixture(autouse=True)
def clean_registry(request: pytest.FixtureRequest) -> None:
    """Each test starts with no serving alias and no Ripcord tags (lineage kept)."""
    if "registered" not in request.fixturenames:
        return
    registered: Registered = request.getfixturevalue("registered")
    client = client_for(registered.url)
    model = client.get_registered_model(MODEL)
    for alias in list(model.aliases or {}):
        client.delete_registered_model_alias(MODEL, alias)
    for version in client.search_model_versions(f"name = '{MODEL}'"):
        for key in version.tags:
            if key.startswith("ripcord.") and key != "ripcord.parent":
                client.delete_model_version_tag(MODEL, version.version, key)


def write_sop(folder: Path, tracking_uri: str) -> Path:
    credit.write_golden(folder / "golden" / "credit-risk.csv", n=300)
    data = sop_data()
    data["registry"] = {"type": "mlflow", "tracking_uri": tracking_uri, "retries": 1}
    # pyfunc's schema enforcement costs milliseconds a call: on a busy CI machine the demo's
    # 50 ms p95 would page for latency, and latency is not what these tests are about.
    data["models"][MODEL]["slas"]["p95_latency_ms"] = 500
    path = folder / "sop.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def open_runtime(
    folder: Path, tracking_uri: str, clock: ManualClock, channel: RecordingChannel
) -> Ripcord:
    return Ripcord.open(
        write_sop(folder, tracking_uri),
        url=f"sqlite:///{folder / 'rc.db'}",
        home=folder,
        clock=clock,
        channels={"console": channel},
        send_inline=True,  # tests read the channel right after an action
    )


@pytest.fixture
def rc_mlflow(
    registered: Registered, tmp_path: Path, clock: ManualClock, channel: RecordingChannel
) -> Iterator[Ripcord]:
    app = open_runtime(tmp_path, registered.url, clock, channel)
    yield app
    app.close()


class Gate:
    """A loopback TCP forwarder to `upstream`; `close()` takes the registry off the air."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                inbound, _ = self.listener.accept()
            except OSError:
                return  # closed
            outbound = socket.create_connection(("127.0.0.1", self.upstream))
            with self.lock:
                self.sockets += [inbound, outbound]
            for src, dst in ((inbound, outbound), (outbound, inbound)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() (Linux)
        self.listener.close()
        with self.lock:
            for s in self.sockets:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()


@pytest.fixture
def gate(registered: Registered) -> Iterator[Gate]:
    port = int(registered.url.rsplit(":", 1)[1])
    g = Gate(port)
    yield g
    g.close()
