"""PagerDuty follows the incident through the live API: the page triggers, a person's ack
acknowledges and a resolution by hand resolves, all on the incident's one dedup key
(a real uvicorn server, real SQLite, a loopback receiver standing in for Events API v2)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from ripcord.notify import PagerDutyChannel
from tests.api.conftest import Clients, raise_signal
from tests.notify.conftest import Receiver, receiving

KEY = "R0UT1NGKEY0123456789abcdefabcdef"


@pytest.fixture
def pagerduty() -> Iterator[Receiver]:
    with receiving() as receiver:
        yield receiver


@pytest.fixture
def channel(pagerduty: Receiver) -> Iterator[PagerDutyChannel]:
    """The SOP's teams page through `console`; here that name is a PagerDuty channel."""
    pd = PagerDutyChannel("console", SecretStr(KEY), url=pagerduty.url, sleep=lambda _s: None)
    yield pd
    pd.close()


def sent(receiver: Receiver) -> list[tuple[str, Any]]:
    bodies = [json.loads(r.body) for r in receiver.received]
    return [(b["event_action"], b["dedup_key"]) for b in bodies]


def test_ack_and_resolve_by_hand_reach_pagerduty_on_one_dedup_key(
    app: FastAPI, client: Clients, pagerduty: Receiver
) -> None:
    incident = raise_signal(app, "latency", 120.0, 50.0)  # SEV-3: paged, not contained
    key = f"ripcord-incident-{incident.id}"
    assert sent(pagerduty) == [("trigger", key)]
    alice = client("alice")
    assert alice.post(f"/v1/incidents/{incident.id}/ack").status_code == 200
    assert alice.post(f"/v1/incidents/{incident.id}/ack").status_code == 200
    assert sent(pagerduty) == [("trigger", key), ("acknowledge", key)], "acknowledged once"
    r = alice.post(f"/v1/incidents/{incident.id}/resolve", json={"reason": "autoscaler fixed"})
    assert r.status_code == 200, r.text
    assert sent(pagerduty)[-1] == ("resolve", key)
    r = alice.post(f"/v1/incidents/{incident.id}/resolve", json={"reason": "again"})
    assert r.status_code == 409
    assert len(sent(pagerduty)) == 3, "a refused resolution sends nothing"
