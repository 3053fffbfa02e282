"""Overload: past its limit of queued events the server answers 429 with Retry-After,
stores nothing of the refused batch, and stores every event it acknowledged.

The queue is filled deterministically by holding the runtime's lock (as a long batch
would): admitted batches wait on it, and the admission count is polled, never slept on.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from ripcord.api import create_app
from ripcord.api.admission import MAX_RETRY_AFTER_S, Admission, OverloadedError
from ripcord.app import Ripcord
from tests.api.conftest import running, state
from tests.api.daemons import poll
from tests.api.test_ingest import inference, stored

WITHIN_S = 20.0


@pytest.fixture
def small(rc: Ripcord, tokens: dict[str, str]) -> Iterator[tuple[Any, httpx.Client]]:
    """A live server whose queue holds 1,000 events, and alice's client (used once, so
    her token's `last_used_at` is written before the tests hold the lock)."""
    app = create_app(rc, max_queued_events=1_000)
    with running(app) as url:
        headers = {"Authorization": f"Bearer {tokens['alice']}"}
        with httpx.Client(base_url=url, headers=headers, timeout=WITHIN_S) as client:
            assert client.post("/v1/events", json={"events": [inference(-1)]}).status_code == 200
            yield app, client


def batch(start: int, n: int) -> dict[str, Any]:
    return {"events": [inference(start + i) for i in range(n)]}


def test_a_full_queue_answers_429_with_retry_after_and_stores_nothing(
    rc: Ripcord, small: tuple[Any, httpx.Client]
) -> None:
    app, client = small
    admission = state(app).admission
    with ThreadPoolExecutor(2) as pool:
        with state(app).lock:  # the runtime is busy: admitted batches wait
            waiting = [
                pool.submit(client.post, "/v1/events", json=batch(k * 400, 400)) for k in (1, 2)
            ]
            poll(lambda: admission.queued == 800, within=WITHIN_S, what="800 events queued")
            r = client.post("/v1/events", json=batch(10_000, 400))
            assert r.status_code == 429, r.text
            assert 1 <= int(r.headers["Retry-After"]) <= MAX_RETRY_AFTER_S
            body = r.json()
            assert body["error"] == "overloaded"
            assert "800 events queued" in body["message"]
            assert "limit of 1000" in body["message"]
            assert stored(rc) == 1  # the warm-up event only: nothing of the refused batch
            registry = state(app).metrics.registry
            assert registry.get_sample_value("ripcord_ingest_refused_batches_total") == 1
        codes = [f.result().status_code for f in waiting]
    assert codes == [200, 200]
    assert stored(rc) == 1 + 800
    assert admission.queued == 0


def test_driven_past_the_limit_every_acknowledged_event_is_stored(
    rc: Ripcord, small: tuple[Any, httpx.Client], tokens: dict[str, str]
) -> None:
    """Eight clients send 6 batches of 150 each at a server whose queue holds 1,000: some
    are refused while the runtime is held; whatever was answered 2xx is on disk, exactly."""
    app, client = small
    admission = state(app).admission
    url = str(client.base_url)
    headers = {"Authorization": f"Bearer {tokens['alice']}"}
    go = threading.Event()

    def send(worker: int) -> list[tuple[int, int, str | None]]:
        answers = []
        with httpx.Client(base_url=url, headers=headers, timeout=WITHIN_S) as c:
            for b in range(6):
                if b == 1:
                    go.wait(WITHIN_S)
                r = c.post("/v1/events", json=batch(100_000 * (worker + 1) + 1_000 * b, 150))
                answers.append((r.status_code, 150, r.headers.get("Retry-After")))
        return answers

    with ThreadPoolExecutor(8) as pool:
        with state(app).lock:
            futures = [pool.submit(send, w) for w in range(8)]
            poll(lambda: admission.refused >= 1, within=WITHIN_S, what="a batch refused")
            go.set()
        answers = [a for f in futures for a in f.result()]
    codes = {code for code, _, _ in answers}
    assert codes <= {200, 429}, codes  # never a 5xx
    refused = [a for a in answers if a[0] == 429]
    assert refused and all(a[2] is not None and int(a[2]) >= 1 for a in refused)
    acked = sum(n for code, n, _ in answers if code == 200)
    assert acked > 0
    assert stored(rc) == 1 + acked  # + the warm-up event


def test_admission_counts_weighs_and_estimates_the_drain_time() -> None:
    now = [0.0]
    admission = Admission(1_000, clock=lambda: now[0])
    with admission.admit(600):
        with pytest.raises(OverloadedError) as refused, admission.admit(500):
            pass
        assert refused.value.retry_after == 1  # no rate measured yet
        with admission.admit(400):
            assert admission.queued == 1_000  # exactly the limit: admitted
            now[0] += 2.0  # 400 events answered in two seconds: 200 events/s
        assert admission.queued == 600
        with pytest.raises(OverloadedError) as refused, admission.admit(401):
            pass
        assert refused.value.retry_after == 3  # 600 queued at 200 events/s
    assert admission.queued == 0 and admission.refused == 2
    with admission.admit(5_000):  # larger than the limit, but alone: admitted
        assert admission.queued == 5_000


@pytest.mark.parametrize("limit", [0, -1, 1.5, True])
def test_the_limit_must_be_a_positive_int(limit: Any) -> None:
    with pytest.raises(ValueError, match=rf"max_queued_events: {limit!r} must be an int > 0"):
        Admission(limit)


def test_a_full_queue_refuses_before_weighing_the_batch() -> None:
    admission = Admission(1_000)
    admission.refuse_if_full()  # empty: nothing happens
    full = pytest.raises(OverloadedError, match="1000 events queued, at the limit of 1000")
    with admission.admit(1_000), full:
        admission.refuse_if_full()
    admission.refuse_if_full()
    assert admission.refused == 1


def test_the_429_is_documented_with_its_header(rc: Ripcord) -> None:
    operation = create_app(rc).openapi()["paths"]["/v1/events"]["post"]
    assert "Retry-After" in operation["responses"]["429"]["headers"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/EventBatch"}
