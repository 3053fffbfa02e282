"""POST /v1/events against a live server: whole batches in, bad batches out whole."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from sqlalchemy import func, select

from ripcord.app import Ripcord
from ripcord.drills.demo import MODEL
from ripcord.store.tables import EventRow
from tests.api.conftest import Clients


def inference(i: int, **overrides: Any) -> dict[str, Any]:
    return {
        "kind": "inference",
        "model": MODEL,
        "version": "v1",
        "request_id": f"r{i}",
        "timestamp": "2026-01-01T00:00:00Z",
        "features": {"income_k": 50.0},
        "prediction": 0,
        "confidence": 0.9,
        "latency_ms": 4.0,
        **overrides,
    }


def stored(rc: Ripcord) -> int:
    with rc.db.session() as session:
        return session.scalar(select(func.count(EventRow.id))) or 0


def test_a_good_batch_is_stored_and_counted(rc: Ripcord, client: Clients) -> None:
    events = [
        inference(0),
        inference(1),
        {
            "kind": "label",
            "model": MODEL,
            "request_id": "r0",
            "label": 1,
            "timestamp": "2026-01-01T00:00:01Z",
        },
        {
            "kind": "feedback",
            "model": MODEL,
            "request_id": "r1",
            "score": -1,
            "timestamp": "2026-01-01T00:00:02+02:00",
            "source": "app",
        },
        {
            "kind": "change",
            "model": MODEL,
            "change": "config",
            "actor": "ci",
            "timestamp": "2026-01-01T00:00:03Z",
        },
    ]
    r = client("alice").post("/v1/events", json={"events": events})
    assert r.status_code == 200, r.text
    assert r.json() == {
        "accepted": 5,
        "by_kind": {"inference": 2, "label": 1, "feedback": 1, "change": 1},
        "signals": [],
    }
    assert stored(rc) == 5  # on disk before the answer, not left in the ingest buffer


def test_a_bad_batch_names_every_bad_item_and_stores_nothing(rc: Ripcord, client: Clients) -> None:
    events = [inference(0), inference(1), inference(2, latency_ms="slow"), inference(3)]
    events[3].pop("request_id")
    r = client("alice").post("/v1/events", json={"events": events})
    assert r.status_code == 422
    body = r.json()
    assert body["error"] == "invalid_input"
    problems = {p["path"]: p for p in body["problems"]}
    assert set(problems) == {"events[2].latency_ms", "events[3].request_id"}
    assert problems["events[2].latency_ms"]["value"] == "slow"
    assert problems["events[3].request_id"] == {
        "path": "events[3].request_id",
        "value": None,
        "message": "is required",
    }
    assert "events[2].latency_ms: 'slow'" in body["message"]
    assert stored(rc) == 0


def test_an_unknown_model_is_refused_with_the_item_named(rc: Ripcord, client: Clients) -> None:
    r = client("alice").post(
        "/v1/events", json={"events": [inference(0), inference(1, model="pricing")]}
    )
    assert r.status_code == 422
    assert r.json()["problems"] == [
        {"path": "events[1].model", "value": "pricing", "message": "is not a model in the SOP file"}
    ]
    assert stored(rc) == 0


def test_malformed_bodies_get_the_same_error_shape(client: Clients) -> None:
    alice = client("alice")
    r = alice.post("/v1/events", json={"events": [inference(0), 7]})
    assert r.status_code == 422
    assert r.json()["problems"][0]["path"] == "events[1]"
    r = alice.post("/v1/events", json={"events": []})
    assert r.status_code == 422
    assert r.json()["problems"][0]["path"] == "events"
    r = alice.post("/v1/events", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422
    bad_time = inference(0, timestamp="0001-01-01T00:00:00+05:00")
    r = alice.post("/v1/events", json={"events": [bad_time]})
    assert r.status_code == 422
    assert r.json()["problems"][0]["message"] == "is out of range once converted to UTC"


def test_concurrent_batches_are_serialised_into_the_runtime(
    rc: Ripcord, server: str, tokens: dict[str, str]
) -> None:
    """Sync endpoints run in a thread pool; the app lock keeps the runtime single-threaded,
    so parallel batches all land, whole, with none lost or doubled."""
    headers = {"Authorization": f"Bearer {tokens['alice']}"}

    def send(worker: int) -> list[int]:
        with httpx.Client(base_url=server, headers=headers, timeout=30.0) as c:
            codes = []
            for b in range(5):
                batch = [inference(worker * 10_000 + b * 100 + i) for i in range(40)]
                codes.append(c.post("/v1/events", json={"events": batch}).status_code)
            return codes

    with ThreadPoolExecutor(8) as pool:
        codes = [code for codes in pool.map(send, range(8)) for code in codes]
    assert codes == [200] * 40
    assert stored(rc) == 8 * 5 * 40
    with rc.db.session() as session:
        distinct = session.scalar(select(func.count(func.distinct(EventRow.request_id))))
    assert distinct == 8 * 5 * 40
