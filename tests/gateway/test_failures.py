"""What the gateway answers when things go wrong: upstream down, failing or hanging (the
fallback answers, the breaker trips), kill switch, pause, refused input, guardrails."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ripcord.clock import ManualClock
from ripcord.detect import default_registry
from ripcord.drills.demo import MODEL
from ripcord.gateway.app import Gateway
from ripcord.respond import controls
from ripcord.respond.breaker import RouteState
from ripcord.respond.routing import RoutingTable
from ripcord.sop import load as sop_load
from ripcord.store.tables import Routing
from tests.gateway.conftest import (
    GOOD,
    STRICT,
    TIMEOUT_S,
    Stack,
    closed_port_url,
    poll,
    write_sop,
)


def breaker(stack: Stack, model: str = MODEL) -> str:
    with stack.ops.db.session() as session:
        row = session.scalars(select(Routing).where(Routing.model == model)).one()
        return row.breaker


@pytest.mark.parametrize("mode", ["fail", "hang"])
def test_a_failing_upstream_is_answered_by_the_fallback_and_trips_the_breaker(
    stack: Stack, mode: str
) -> None:
    stack.v1.mode = mode  # type: ignore[assignment]
    start = time.monotonic()
    answers = [stack.predict(rid=f"f{i}").json() for i in range(5)]
    if mode == "hang":  # each waits the gateway's timeout, no longer
        assert time.monotonic() - start < 5 * (TIMEOUT_S + 2.0)  # not the 1 s-plus hang each
    assert {(a["route"], a["version"], a["answered_by"], a["prediction"]) for a in answers} == {
        ("champion", "v1", "fallback", 1)  # the SOP's fallback rule answers
    }
    poll(lambda: breaker(stack) == "open")
    calls = len(stack.v1.bodies)
    after = poll(lambda: (a := stack.predict().json())["route"] == "fallback" and a)
    assert (after["version"], after["prediction"]) == ("fallback", 1)
    assert len(stack.v1.bodies) == calls  # an open breaker sends nothing upstream
    events = poll(lambda: len(stack.events("champion")) >= 5 and stack.events("champion"))
    errors = [e.payload["error"] for e in events if e.request_id.startswith("f")]
    expected = "timed out" if mode == "hang" else "answered HTTP 500"
    assert len(errors) == 5 and all(expected in (e or "") for e in errors)


def test_an_upstream_that_is_down_is_answered_by_the_fallback(stack: Stack) -> None:
    stack.ops.deploy(MODEL, "down", actor="ci", reason="a server nobody started")
    stack.synced()
    answer = stack.predict().json()
    assert (answer["version"], answer["answered_by"], answer["prediction"]) == (
        "down",
        "fallback",
        1,
    )
    event = poll(lambda: [e for e in stack.events("champion") if e.version == "down"])[0]
    assert "ConnectError" in event.payload["error"]


def test_without_a_fallback_a_failure_is_a_bad_gateway(stack: Stack) -> None:
    stack.v1.mode = "fail"
    answer = stack.predict(model=STRICT)
    assert answer.status_code == 502
    assert answer.json()["error"] == "no answer" and "HTTP 500" in answer.json()["message"]


def test_kill_switch_and_pause_answer_503_with_a_clear_error(stack: Stack) -> None:
    controls.kill(stack.ops, MODEL, on=True, actor="alice", reason="clinical review")
    stack.synced()
    killed = stack.predict(rid="k1")
    assert killed.status_code == 503 and killed.json()["error"] == "model disabled"
    controls.kill(stack.ops, MODEL, on=False, actor="alice", reason="cleared")
    controls.pause(stack.ops, MODEL, "maintenance until 14:00 UTC", actor="alice", reason="x")
    stack.synced()
    paused = stack.predict()
    assert paused.status_code == 503
    assert paused.json()["error"] == "model paused"
    assert paused.json()["message"] == "maintenance until 14:00 UTC"
    controls.pause(stack.ops, MODEL, None, actor="alice", reason="back")
    stack.synced()
    assert stack.predict().status_code == 200
    assert stack.v1.bodies == [GOOD]  # neither the killed nor the paused call went upstream
    poll(lambda: [e for e in stack.events("killed") if e.request_id == "k1"])


def test_input_the_contract_refuses_gets_the_fallback_or_a_422_naming_fields(
    stack: Stack,
) -> None:
    bad = GOOD | {"debt_ratio": 7.0}
    blocked = stack.predict(bad).json()
    assert (blocked["route"], blocked["answered_by"], blocked["prediction"]) == (
        "blocked",
        "fallback",
        1,
    )
    assert blocked["violations"] == ["debt_ratio: 7.0 is not <= 1"]
    refused = stack.predict(bad, model=STRICT)  # no fallback: the caller is told why
    assert refused.status_code == 422
    assert refused.json()["problems"] == [{"path": "debt_ratio", "message": "7.0 is not <= 1"}]
    assert stack.v1.bodies == []  # the model never saw the bad input


def test_bad_bodies_and_unknown_models_are_named(stack: Stack) -> None:
    not_object = stack.predict([1, 2, 3])
    assert not_object.status_code == 422
    assert not_object.json()["problems"][0]["path"] == "body"
    unknown = stack.predict(model="pricing")
    assert unknown.status_code == 404 and unknown.json()["error"] == "unknown model"
    too_long = stack.predict(rid="x" * 201)
    assert too_long.status_code == 422


def test_an_output_guardrail_replaces_the_answer(stack: Stack) -> None:
    stack.ops.deploy(STRICT, "s2", actor="ci")  # s2 answers 1; the guardrail allows <= 0.5
    stack.synced(STRICT)
    answer = stack.predict(model=STRICT).json()
    assert (answer["route"], answer["answered_by"], answer["prediction"]) == (
        "guarded",
        "replacement",
        0,
    )
    assert answer["violations"] == ["guardrail:no-ones: 1 > 0.5"]


def test_an_llm_reply_promising_a_discount_is_replaced_before_it_is_served(
    stack: Stack,
) -> None:
    stack.v2.prediction = "Good news: 20% off your next order!"
    stack.ops.deploy(STRICT, "s2", actor="ci")
    stack.synced(STRICT)
    answer = stack.predict(model=STRICT, rid="llm-1").json()
    assert (answer["route"], answer["answered_by"], answer["prediction"]) == (
        "guarded",
        "replacement",
        "A colleague will follow up on pricing.",
    )
    assert answer["violations"] == ["guardrail:no-discount-promises: matched '20% off'"]
    [event] = poll(lambda: [e for e in stack.events("guarded") if e.request_id == "llm-1"])
    assert event.payload["prediction"] == "A colleague will follow up on pricing."
    assert event.payload["violations"] == answer["violations"]


def test_a_disabled_feature_reaches_the_model_as_its_stand_in(stack: Stack) -> None:
    controls.disable_features(
        stack.ops, MODEL, {"late_payments": 1.0}, actor="alice", reason="units changed"
    )
    stack.synced()
    stack.predict(GOOD | {"late_payments": 9.0})
    assert stack.v1.bodies[-1]["late_payments"] == 1.0


class Recorded:
    """A runtime sink that keeps what the request path hands it."""

    dropped = 0
    status = "ready"

    def __init__(self) -> None:
        self.records: list[Any] = []

    def start(self) -> None: ...

    def record(self, record: Any) -> None:
        self.records.append(record)

    def trip(self, model: str, reason: str) -> None: ...

    def stop(self, timeout: float = 10.0) -> None: ...


def test_a_request_is_recorded_after_its_answer_even_if_the_client_is_gone(
    tmp_path: Path,
) -> None:
    down = closed_port_url()  # the upstream refuses: the fallback rule answers
    urls = dict.fromkeys(("v1", "v2", "down"), down)
    sop = sop_load.load(write_sop(tmp_path / "sop.yaml", urls), default_registry())
    routes = RoutingTable()
    routes.breaker(MODEL).adopt(RouteState(MODEL, "v1"))
    sink = Recorded()
    gateway = Gateway(sop, routes, ManualClock(), lambda: sink)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": json.dumps(GOOD).encode()}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "http.response.body":
            assert sink.records == []  # the answer leaves before the record
            raise OSError("the client hung up")

    scope = {"type": "http", "path": f"/models/{MODEL}/predict", "method": "POST"}
    scope["headers"] = [(b"x-request-id", b"gone-1")]

    async def one() -> None:
        gateway.start()
        try:
            with pytest.raises(OSError):
                await gateway(scope, receive, send)  # type: ignore[arg-type]
        finally:
            await gateway.stop()

    asyncio.run(one())
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    [record] = sink.records
    assert (record.request_id, record.version, record.prediction) == ("gone-1", "v1", 1)
    assert record.error is not None  # the upstream's failure, charged to v1
