"""WebhookChannel against a real HTTP server on loopback (no mocked transport)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from pydantic import SecretStr

from ripcord.clock import ManualClock
from ripcord.notify import DeliveryError, Notification, WebhookChannel
from ripcord.notify.webhook import retry_after_seconds

SECRET = "s3cr3t-do-not-leak"


class Waits(list[float]):
    """An injected `sleep` that records the waits instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def channel(url: str, waits: Waits, **options: object) -> WebhookChannel:
    options.setdefault("backoff_s", 0.01)
    return WebhookChannel("hook", url, sleep=waits, **options)  # type: ignore[arg-type]


def test_posts_the_exact_json(receiver, message: Notification) -> None:
    with channel(receiver.url, Waits()) as hook:
        assert hook.deliver(message) == 1
    [got] = receiver.received
    assert json.loads(got.body) == message.to_json()
    assert got.path == "/hooks/T0KEN-in-path?team=ml"
    assert got.headers["content-type"] == "application/json"
    assert got.headers["user-agent"].startswith("ripcord/")
    assert "x-ripcord-signature" not in got.headers


def test_signature_verifies_with_the_secret(receiver, message: Notification) -> None:
    with channel(receiver.url, Waits(), secret=SecretStr(SECRET)) as hook:
        hook.send(message)
    [got] = receiver.received
    timestamp = got.headers["x-ripcord-timestamp"]
    assert abs(int(timestamp) - time.time()) < 60
    signed = f"{timestamp}.".encode() + got.body
    expected = "sha256=" + hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(got.headers["x-ripcord-signature"], expected)
    forged = "sha256=" + hmac.new(b"wrong", signed, hashlib.sha256).hexdigest()
    assert not hmac.compare_digest(got.headers["x-ripcord-signature"], forged)


def test_5xx_is_retried_with_growing_jittered_backoff(receiver, message: Notification) -> None:
    receiver.reply(500, times=2)
    waits = Waits()
    with channel(receiver.url, waits, retries=3, backoff_s=0.1) as hook:
        assert hook.deliver(message) == 3
    assert len(receiver.received) == 3
    keys = {r.headers["idempotency-key"] for r in receiver.received}
    assert len(keys) == 1, "every attempt of one message carries the same key"
    assert len(waits) == 2
    assert 0.05 <= waits[0] <= 0.1
    assert 0.1 <= waits[1] <= 0.2


def test_429_honours_retry_after(receiver, message: Notification) -> None:
    receiver.reply(429, headers={"Retry-After": "2"})
    waits = Waits()
    with channel(receiver.url, waits) as hook:
        assert hook.deliver(message) == 2
    assert waits == [2.0]


def test_retry_after_is_capped(receiver, message: Notification) -> None:
    receiver.reply(429, headers={"Retry-After": "3600"})
    waits = Waits()
    with channel(receiver.url, waits, max_retry_after_s=1.5) as hook:
        hook.send(message)
    assert waits == [1.5]


def test_retry_after_as_http_date(receiver, message: Notification) -> None:
    clock = ManualClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    later = format_datetime(clock.now() + timedelta(seconds=7), usegmt=True)
    receiver.reply(503, headers={"Retry-After": later})
    waits = Waits()
    with channel(receiver.url, waits, clock=clock) as hook:
        hook.send(message)
    assert waits == [7.0]


@pytest.mark.parametrize("status", [400, 401, 404, 410, 302])
def test_other_4xx_fail_at_once(receiver, message: Notification, status: int) -> None:
    receiver.reply(status, body=b"bad payload: field 'model' unknown", times=5)
    waits = Waits()
    with channel(receiver.url, waits) as hook, pytest.raises(DeliveryError) as caught:
        hook.send(message)
    assert caught.value.attempts == 1
    assert caught.value.channel == "hook"
    assert f"HTTP {status}" in caught.value.last_error
    assert "field 'model' unknown" in caught.value.last_error
    assert len(receiver.received) == 1
    assert waits == []


def test_persistent_5xx_gives_up_after_retries(receiver, message: Notification) -> None:
    receiver.reply(502, times=10)
    waits = Waits()
    with channel(receiver.url, waits, retries=2) as hook, pytest.raises(DeliveryError) as caught:
        hook.send(message)
    assert caught.value.attempts == 3
    assert "HTTP 502" in caught.value.last_error
    assert len(receiver.received) == 3
    assert len(waits) == 2, "no wait after the last attempt"


def test_server_down_gives_up_after_retries(closed_url: str, message: Notification) -> None:
    waits = Waits()
    with channel(closed_url, waits, retries=3) as hook, pytest.raises(DeliveryError) as caught:
        hook.send(message)
    assert caught.value.attempts == 4
    assert "ConnectError" in caught.value.last_error
    assert len(waits) == 3
    assert "after 4 attempts" in str(caught.value)


def test_timeout_is_retried(receiver, message: Notification) -> None:
    receiver.reply(200, hold=True, times=2)
    waits = Waits()
    hook = channel(receiver.url, waits, retries=1, timeout_s=0.05)
    with hook, pytest.raises(DeliveryError) as caught:
        hook.send(message)
    assert caught.value.attempts == 2
    assert "timed out" in caught.value.last_error


def test_secret_and_url_token_never_shown(
    receiver, message: Notification, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.reply(500, times=10)
    caplog.set_level(logging.DEBUG, logger="ripcord")
    hook = channel(receiver.url, Waits(), retries=1, secret=SecretStr(SECRET))
    with hook, pytest.raises(DeliveryError) as caught:
        hook.send(message)
    shown = [repr(hook), str(caught.value), hook.target]
    shown += [f"{r.getMessage()} {r.__dict__}" for r in caplog.records]
    assert len(caplog.records) == 2
    for text in shown:
        assert SECRET not in text
        assert "T0KEN" not in text
    assert "signed=True" in repr(hook)


def test_logs_carry_structured_fields(
    receiver, message: Notification, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.reply(503)
    caplog.set_level(logging.DEBUG, logger="ripcord.notify.webhook")
    with channel(receiver.url, Waits()) as hook:
        hook.send(message)
    failed, delivered = caplog.records
    assert failed.levelno == logging.WARNING
    assert (failed.channel, failed.attempt, failed.status) == ("hook", 1, 503)  # type: ignore[attr-defined]
    assert failed.incident_id == 42  # type: ignore[attr-defined]
    assert delivered.levelno == logging.INFO
    assert delivered.attempt == 2  # type: ignore[attr-defined]


def test_unserialisable_details_still_deliver(receiver, message: Notification) -> None:
    from dataclasses import replace

    odd = replace(message, details={"when": datetime(2026, 1, 1, tzinfo=UTC)})
    with channel(receiver.url, Waits()) as hook:
        hook.send(odd)
    assert json.loads(receiver.received[0].body)["details"]["when"].startswith("2026-01-01")


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"retries": -1}, "retries"),
        ({"timeout_s": 0}, "timeout_s"),
        ({"backoff_s": -0.1}, "backoff_s"),
        ({"secret": SecretStr("")}, "secret"),
    ],
)
def test_bad_options_name_the_field(options: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        WebhookChannel("hook", "http://127.0.0.1:9/x", **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("url", ["ftp://host/T0KEN", "not a url T0KEN", "http:///T0KEN"])
def test_bad_url_is_refused_without_showing_its_path(url: str) -> None:
    with pytest.raises(ValueError, match="url") as caught:
        WebhookChannel("hook", url)
    assert "T0KEN" not in str(caught.value)


def test_retry_after_parsing() -> None:
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert retry_after_seconds(None, now) is None
    assert retry_after_seconds(" 12 ", now) == 12.0
    assert retry_after_seconds("soon", now) is None
    past = format_datetime(now - timedelta(seconds=30), usegmt=True)
    assert retry_after_seconds(past, now) == 0.0
