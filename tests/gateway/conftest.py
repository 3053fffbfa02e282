"""The gateway on loopback, for real: fake model servers (uvicorn in threads), the gateway
served by uvicorn with its lifespan, an httpx client, and `ops`, a second Ripcord runtime
on the same SQLite database through which the tests change the routing (as another
process would)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import select

from ripcord.app import Ripcord
from ripcord.drills.demo import MODEL
from ripcord.gateway import REQUEST_ID, create_gateway
from ripcord.gateway.fake import FakeModel, listen, running
from ripcord.notify import RecordingChannel
from ripcord.store.tables import EventRow
from tests.conftest import sop_data

GOOD = {
    "income_k": 50.0,
    "debt_ratio": 0.2,
    "age": 40.0,
    "tenure_months": 12.0,
    "late_payments": 0.0,
    "utilization": 0.3,
}
#: a second model: the same contract, no fallback, an output guardrail
STRICT = "scorer"
TIMEOUT_S = 0.5


def poll(check: Callable[[], Any], *, within: float = 2.0, every: float = 0.01) -> Any:
    """Call `check` until it returns something truthy; fail after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {within} s: {check}")
        time.sleep(every)


def closed_port_url() -> str:
    """A loopback URL nobody listens on: connections are refused."""
    sock = listen()
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"


def write_sop(path: Path, urls: dict[str, str]) -> Path:
    data = sop_data()
    credit = data["models"][MODEL]
    credit["detectors"] = []  # detection is tested elsewhere; keep incidents out of routing
    del credit["golden_set"]  # no rollbacks here
    strict = {k: v for k, v in credit.items() if k != "fallback"}
    strict["guardrails"] = [
        {"name": "no-ones", "on": "output", "max": 0.5, "action": "replace", "replacement": 0},
        {
            "name": "no-discount-promises",
            "on": "output",
            "pattern": r"(?i)\b(\d+ ?%|percent) (off|discount)",
            "action": "replace",
            "replacement": "A colleague will follow up on pricing.",
        },
    ]
    data["models"][STRICT] = strict
    data["gateway"] = {
        "timeout_s": TIMEOUT_S,
        "models": {
            MODEL: {"versions": {v: urls[v] for v in ("v1", "v2", "down")}},
            STRICT: {"versions": {"s1": urls["v1"], "s2": urls["v2"]}},
        },
    }
    path.write_text(yaml.safe_dump(data))
    return path


@dataclass
class Stack:
    url: str
    client: httpx.Client
    ops: Ripcord
    v1: FakeModel
    v2: FakeModel

    def predict(
        self, features: Any = None, *, rid: str | None = None, model: str = MODEL
    ) -> httpx.Response:
        headers = {REQUEST_ID: rid} if rid else {}
        body = GOOD if features is None else features
        return self.client.post(f"/models/{model}/predict", json=body, headers=headers)

    def synced(self, model: str = MODEL, within: float = 10.0) -> float:
        """Seconds until the gateway serves the routing revision `ops` stored last."""
        start = time.monotonic()
        wanted = self.ops.routes.state(model).revision
        poll(lambda: self.client.get("/healthz").json()["routing"][model] >= wanted, within=within)
        return time.monotonic() - start

    def events(self, route: str | None = None) -> list[EventRow]:
        with self.ops.db.session() as session:
            query = select(EventRow).order_by(EventRow.id)
            if route is not None:
                query = query.where(EventRow.route == route)
            return list(session.scalars(query))


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    v1, v2 = FakeModel(prediction=0, confidence=0.9), FakeModel(prediction=1, confidence=0.6)
    v1.hang_s = v2.hang_s = 1.0  # longer than the gateway waits (TIMEOUT_S)
    db = f"sqlite:///{tmp_path / 'gateway.db'}"
    with ExitStack() as stack:
        urls = {"v1": stack.enter_context(running(v1.app)), "down": closed_port_url()}
        urls["v2"] = stack.enter_context(running(v2.app))
        sop = write_sop(tmp_path / "sop.yaml", urls)
        quiet = {"console": RecordingChannel("console")}
        ops = Ripcord.open(sop, url=db, home=tmp_path, channels=quiet)
        stack.callback(ops.close)
        for model, version in ((MODEL, "v1"), (MODEL, "v2"), (MODEL, "down")):
            ops.register(model, version, {"url": urls.get(version)}, actor="ci")
        ops.register(STRICT, "s1", {}, actor="ci")
        ops.register(STRICT, "s2", {}, actor="ci")
        ops.deploy(MODEL, "v1", actor="ci")
        ops.deploy(STRICT, "s1", actor="ci")
        rc = Ripcord.open(sop, url=db, home=tmp_path, channels=quiet)
        stack.callback(rc.close)
        url = stack.enter_context(running(create_gateway(rc), lifespan="on"))
        client = stack.enter_context(httpx.Client(base_url=url, timeout=10.0, trust_env=False))
        yield Stack(url, client, ops, v1, v2)
