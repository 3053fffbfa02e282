"""Dead letters through the service: a page the channel gave up on is listed and replayed
over HTTP (real uvicorn on loopback, real SQLite), audited with the caller as the actor,
and a replay waiting on a slow receiver does not hold up anyone else's request."""

from __future__ import annotations

import threading

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from ripcord.app import Ripcord
from ripcord.notify import Notification, RecordingChannel
from ripcord.store import audit
from ripcord.store.tables import AuditRow
from tests.api.conftest import Clients, raise_signal

WAIT_S = 5.0


class GatedChannel(RecordingChannel):
    """The package's fake, failing its first send; each send waits for `gate` (open
    unless a test closes it) and sets `entered` once it is waiting."""

    def __init__(self) -> None:
        super().__init__(name="console", fail_times=1)
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()

    def send(self, message: Notification) -> None:
        self.entered.set()
        self.gate.wait(WAIT_S)
        super().send(message)


@pytest.fixture
def channel() -> GatedChannel:
    return GatedChannel()


def a_dead_page(app: FastAPI, client: Clients) -> int:
    incident = raise_signal(app, "latency", 120.0, 50.0)
    [letter] = client("vera").get("/v1/dead-letters").json()
    assert (letter["incident_id"], letter["channel"], letter["kind"]) == (
        incident.id,
        "console",
        "page",
    )
    assert letter["recipient"] == "dmitri"  # latency pages the platform team
    assert letter["replayed_at"] is None
    assert letter["error"] == "injected failure 1 of 1"
    letter_id: int = letter["id"]
    return letter_id


def test_a_dead_page_is_listed_and_replayed_by_a_responder(
    rc: Ripcord, app: FastAPI, client: Clients, channel: GatedChannel
) -> None:
    letter_id = a_dead_page(app, client)
    r = client("vera").post(f"/v1/dead-letters/{letter_id}/replay")
    assert r.status_code == 403, "a viewer reads but does not replay"
    r = client("alice").post(f"/v1/dead-letters/{letter_id}/replay")
    assert r.status_code == 200, r.text
    assert r.json() == {
        "letter_id": letter_id,
        "channel": "console",
        "ok": True,
        "attempts": 1,
        "error": None,
    }
    assert [m.kind.value for m in channel.messages] == ["page"]
    assert client("vera").get("/v1/dead-letters").json() == []
    [done] = client("vera").get("/v1/dead-letters", params={"include_replayed": True}).json()
    assert done["replayed_at"] is not None
    r = client("alice").post(f"/v1/dead-letters/{letter_id}/replay")
    assert r.status_code == 422 and "already replayed" in r.json()["message"]
    assert client("alice").post("/v1/dead-letters/999/replay").status_code == 404
    with rc.db.session() as session:
        row = session.scalars(select(AuditRow).where(AuditRow.action == "notify.replay")).one()
        assert (row.actor, row.subject) == ("alice", f"dead_letter:{letter_id}")
        audit.verify(session)


def test_replay_all_sends_what_is_pending(app: FastAPI, client: Clients) -> None:
    letter_id = a_dead_page(app, client)
    r = client("alice").post("/v1/dead-letters/replay")
    assert r.status_code == 200, r.text
    assert [(x["letter_id"], x["ok"]) for x in r.json()] == [(letter_id, True)]
    assert client("alice").post("/v1/dead-letters/replay").json() == []


def test_a_replay_waiting_on_its_receiver_holds_up_no_one(
    app: FastAPI, client: Clients, channel: GatedChannel
) -> None:
    letter_id = a_dead_page(app, client)
    channel.gate.clear()
    channel.entered.clear()
    answers: list[httpx.Response] = []
    replaying = threading.Thread(
        target=lambda: answers.append(client("alice").post(f"/v1/dead-letters/{letter_id}/replay"))
    )
    replaying.start()
    try:
        assert channel.entered.wait(WAIT_S), "the replay reached the channel"
        # were the send under the lock, this would wait for it and time out
        r = client("vera").get("/v1/incidents", timeout=WAIT_S / 2)
        assert r.status_code == 200 and not answers, "answered while the replay still waits"
    finally:
        channel.gate.set()
        replaying.join(WAIT_S)
    assert answers[0].status_code == 200 and answers[0].json()["ok"] is True
