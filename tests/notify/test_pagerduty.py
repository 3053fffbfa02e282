"""PagerDutyChannel against a real HTTP server on loopback: the Events API v2 body PagerDuty
expects, the severity mapping, one dedup key per incident, 202, 429 with Retry-After."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from typing import Any

import pytest
from pydantic import SecretStr

from ripcord.notify import DeliveryError, MessageKind, Notification, PagerDutyChannel
from ripcord.notify.pagerduty import EVENTS_URL, dedup_key, severity

KEY = "R0UT1NGKEY0123456789abcdefabcdef"
ACCEPTED = b'{"status":"success","message":"Event processed","dedup_key":"ripcord-incident-42"}'


class Waits(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def pagerduty(url: str, waits: Waits | None = None, **options: Any) -> PagerDutyChannel:
    options.setdefault("backoff_s", 0.01)
    waits = waits if waits is not None else Waits()
    return PagerDutyChannel("pd", SecretStr(KEY), url=url, sleep=waits, **options)


def events(receiver: Any) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in receiver.received]


def test_trigger_is_the_exact_events_v2_body(receiver, message: Notification) -> None:
    receiver.reply(202, body=ACCEPTED)
    with pagerduty(receiver.url) as channel:
        assert channel.deliver(message) == 1
    assert receiver.received[0].headers["content-type"] == "application/json"
    assert events(receiver) == [
        {
            "routing_key": KEY,
            "event_action": "trigger",
            "dedup_key": "ripcord-incident-42",
            "client": "Ripcord",
            "payload": {
                "summary": "[SEV-2] pricing: Accuracy under SLA",
                "source": "pricing",
                "severity": "error",
                "timestamp": "2026-01-01T09:30:00+00:00",
                "component": "pricing",
                "group": "ml-pricing",
                "class": "page",
                "custom_details": {
                    "incident_id": 42,
                    "kind": "page",
                    "title": "Accuracy under SLA",
                    "body": "accuracy 0.81 < 0.90 over 500 events\nall traffic",
                    "owner": "alice",
                    "team": "ml-pricing",
                    "ack_by": "2026-01-01T10:30:00+00:00",
                    "detector": "accuracy",
                    "value": 0.81,
                },
            },
        }
    ]


def test_one_dedup_key_from_trigger_to_resolve(receiver, message: Notification) -> None:
    receiver.reply(202, body=ACCEPTED, times=4)
    kinds = [MessageKind.PAGE, MessageKind.UPDATE, MessageKind.ACK, MessageKind.RESOLVED]
    with pagerduty(receiver.url) as channel:
        for kind in kinds:
            channel.send(replace(message, kind=kind, at=message.at))
    sent = events(receiver)
    assert [e["event_action"] for e in sent] == ["trigger", "trigger", "acknowledge", "resolve"]
    assert {e["dedup_key"] for e in sent} == {dedup_key(42)}
    assert sent[2] == {
        "routing_key": KEY,
        "event_action": "acknowledge",
        "dedup_key": dedup_key(42),
    }
    assert sent[3] == {"routing_key": KEY, "event_action": "resolve", "dedup_key": dedup_key(42)}
    other = replace(message, incident_id=43)
    assert dedup_key(other.incident_id) != dedup_key(42)


@pytest.mark.parametrize(
    ("label", "expected"),
    [("SEV-1", "critical"), ("SEV-2", "error"), ("SEV-3", "warning"), ("SEV-4", "info")],
)
def test_severity_mapping(receiver, message: Notification, label: str, expected: str) -> None:
    receiver.reply(202)
    with pagerduty(receiver.url) as channel:
        channel.send(replace(message, severity=label))
    assert events(receiver)[0]["payload"]["severity"] == expected


def test_an_unknown_severity_still_pages() -> None:
    assert severity("sev-1") == "critical"
    assert severity("SEV-9") == "error"


def test_summary_fits_pagerduty_limit(receiver, message: Notification) -> None:
    with pagerduty(receiver.url, source="ml-platform/prod") as channel:
        channel.send(replace(message, title="x\n" * 2000))
    payload = events(receiver)[0]["payload"]
    assert len(payload["summary"]) == 1024 and payload["summary"].endswith("…")
    assert "\n" not in payload["summary"]
    assert payload["source"] == "ml-platform/prod"


def test_incident_type_is_the_class(receiver, message: Notification) -> None:
    with pagerduty(receiver.url) as channel:
        channel.send(replace(message, details={"type": "model_quality", "status": "open"}))
    payload = events(receiver)[0]["payload"]
    assert payload["class"] == "model_quality"
    assert payload["custom_details"]["status"] == "open"


def test_429_honours_retry_after(receiver, message: Notification) -> None:
    receiver.reply(429, headers={"Retry-After": "20"}, body=b"Request Limit Exceeded")
    receiver.reply(202, body=ACCEPTED)
    waits = Waits()
    with pagerduty(receiver.url, waits) as channel:
        assert channel.deliver(message) == 2
    assert waits == [20.0]
    first, second = events(receiver)
    assert first == second


def test_400_is_final(receiver, message: Notification) -> None:
    receiver.reply(400, body=b'{"status":"invalid event","errors":["bad"]}', times=3)
    waits = Waits()
    with pagerduty(receiver.url, waits) as channel, pytest.raises(DeliveryError) as caught:
        channel.send(message)
    assert caught.value.attempts == 1 and waits == []
    assert "HTTP 400" in caught.value.last_error


def test_routing_key_is_never_shown(
    receiver, message: Notification, caplog: pytest.LogCaptureFixture
) -> None:
    echo = json.dumps({"status": "invalid event", "routing_key": KEY}).encode()
    receiver.reply(500, body=echo, times=5)
    caplog.set_level(logging.DEBUG, logger="ripcord")
    channel = pagerduty(receiver.url, retries=1)
    with channel, pytest.raises(DeliveryError) as caught:
        channel.send(message)
    shown = [repr(channel), str(caught.value), caught.value.last_error]
    shown += [f"{r.getMessage()} {r.__dict__}" for r in caplog.records]
    assert len(caplog.records) == 2
    for text in shown:
        assert KEY not in text
    assert "***" in caught.value.last_error


def test_defaults_to_the_official_endpoint() -> None:
    channel = PagerDutyChannel("pd", SecretStr(KEY))
    assert EVENTS_URL == "https://events.pagerduty.com/v2/enqueue"
    assert channel.target == "https://events.pagerduty.com"
    channel.close()


@pytest.mark.parametrize(
    ("options", "field"),
    [({"routing_key": SecretStr(" ")}, "routing_key"), ({"source": ""}, "source"),
     ({"retries": -1}, "retries"), ({"url": "ftp://x/y"}, "url")],
)  # fmt: skip
def test_bad_options_name_the_field(options: dict[str, Any], field: str) -> None:
    options.setdefault("routing_key", SecretStr(KEY))
    with pytest.raises(ValueError, match=field):
        PagerDutyChannel("pd", **options)
