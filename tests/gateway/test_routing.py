"""Routing through the gateway on loopback: serving version, canary, shadow, changes made
by another runtime on the same database, events recorded."""

from __future__ import annotations

import time

from ripcord.drills.demo import MODEL
from ripcord.gateway import REQUEST_ID
from ripcord.respond import controls
from ripcord.respond.breaker import RouteState
from tests.gateway.conftest import GOOD, Stack, poll


def test_the_serving_version_answers_and_every_request_is_recorded(stack: Stack) -> None:
    answers = [stack.predict(rid=f"r{i}") for i in range(20)]
    assert {a.status_code for a in answers} == {200}
    first = answers[0].json()
    assert first == {
        "request_id": "r0",
        "model": MODEL,
        "version": "v1",
        "route": "champion",
        "answered_by": "model",
        "prediction": 0,
        "confidence": 0.9,
        "violations": [],
    }
    assert answers[3].headers[REQUEST_ID] == "r3"
    made = stack.predict()  # no id given: one is made and sent back
    assert (
        made.json()["request_id"] == made.headers[REQUEST_ID]
        and len(made.headers[REQUEST_ID]) == 32
    )
    assert stack.v1.bodies[0] == GOOD and stack.v2.bodies == []
    events = poll(lambda: len(stack.events("champion")) == 21 and stack.events("champion"))
    assert [e.request_id for e in events[:3]] == ["r0", "r1", "r2"]
    payload = events[0].payload
    assert (events[0].version, payload["prediction"], payload["confidence"]) == ("v1", 0, 0.9)
    assert payload["features"] == GOOD and payload["latency_ms"] > 0 and payload["error"] is None


def test_a_canary_gets_its_share_and_each_request_id_sticks(stack: Stack) -> None:
    shares = {"v2": 0.25}
    controls.canary(stack.ops, MODEL, shares, actor="alice", reason="try v2")
    stack.synced()
    ids = [f"user-{i}" for i in range(400)]
    served = {rid: stack.predict(rid=rid).json() for rid in ids}
    expected = RouteState(MODEL, "v1", canary=shares)
    assert all(served[rid]["version"] == expected.version_for(rid) for rid in ids)
    on_canary = [rid for rid in ids if served[rid]["version"] == "v2"]
    assert 0.18 < len(on_canary) / len(ids) < 0.32
    assert {served[rid]["prediction"] for rid in on_canary} == {1}  # v2's own answer
    again = {stack.predict(rid=on_canary[0]).json()["version"] for _ in range(5)}
    assert again == {"v2"}
    assert len(stack.v2.bodies) == len(on_canary) + 5


def test_the_shadow_gets_a_copy_but_its_answer_is_never_served(stack: Stack) -> None:
    controls.shadow(stack.ops, MODEL, "v2", actor="alice", reason="compare v2")
    stack.synced()
    answers = [stack.predict(rid=f"s{i}").json() for i in range(30)]
    assert {(a["version"], a["prediction"]) for a in answers} == {("v1", 0)}
    poll(lambda: len(stack.v2.bodies) == 30)
    shadows = poll(lambda: len(stack.events("shadow")) == 30 and stack.events("shadow"))
    assert {e.version for e in shadows} == {"v2"}
    assert shadows[0].request_id == "s0:shadow" and shadows[0].payload["prediction"] == 1
    stack.v2.mode = "hang"  # a shadow that hangs (1 s each) delays nothing
    start = time.monotonic()
    slow = [stack.predict().json() for _ in range(5)]
    assert time.monotonic() - start < 4.0  # waiting on the shadow would take 5 s
    stack.v2.mode = "fail"  # nor does one that fails change anything
    assert {(a["version"], a["prediction"]) for a in [*slow, stack.predict().json()]} == {("v1", 0)}
    poll(lambda: any(e.payload["error"] for e in stack.events("shadow")))


def test_a_change_through_another_runtime_reaches_the_gateway_within_a_second(
    stack: Stack,
) -> None:
    assert stack.predict().json()["version"] == "v1"
    stack.ops.deploy(MODEL, "v2", actor="ci", reason="new version")
    # the refresher's 0.5 s period is tested with an injected clock (tests/respond/
    # test_refresh.py); wall-clock deadlines here are generous so load cannot flake them
    poll(lambda: stack.predict().json()["version"] == "v2", within=10.0)
    controls.kill(stack.ops, MODEL, on=True, actor="alice", reason="stop")
    poll(lambda: stack.predict().status_code == 503, within=10.0)
